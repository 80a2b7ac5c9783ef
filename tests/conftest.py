"""Shared fixtures: real H.264 videos written with PyAV, and the embedded tiny model."""

from __future__ import annotations

import os
import sys

# One math thread per process: the tiny model's small matmuls gain little from more, and on a busy
# 2-core machine two threads per process made an SFT step 4x slower (6.5 s vs 1.6 s, measured).
# Subprocesses (DDP, CLI) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def write_mp4(path: Path, num_frames: int = 40, size: tuple[int, int] = (240, 320), fps: int = 10) -> Path:
    """A real H.264 mp4: a white bar sweeping right and a frame counter in grey levels, so that
    every frame differs and frame order is recoverable from the pixels."""
    import av

    height, width = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            img = np.zeros((height, width, 3), np.uint8)
            x = int(i * (width - 20) / max(num_frames - 1, 1))
            img[:, x : x + 20] = 255
            img[: height // 4, : width // 4] = int(255 * i / max(num_frames - 1, 1))
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def mp4_file(tmp_path_factory) -> Path:
    """A 4 s, 10 fps, 320×240 H.264 video."""
    return write_mp4(tmp_path_factory.mktemp("video") / "sweep.mp4")


@pytest.fixture(scope="session")
def sim_root(tmp_path_factory) -> Path:
    """A small `spacer data synth` output: 3 scenes (2 train, 1 test), 16 frames of 64×64 (the shipped
    model reads 16 a clip, and a clip cannot give more frames than it has)."""
    from spacer_core.sim.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("sim")
    synthesize(root, SynthConfig(scenes=3, frames=16, size=64, test_fraction=0.34), workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def load_recipe():
    """Import a script of recipes/ (not a package) as a module: ``load_recipe("spacer_tiny")``."""
    import importlib.util

    recipes = Path(__file__).resolve().parent.parent / "recipes"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, recipes / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def untrained_tiny_dir(tmp_path_factory) -> Path:
    """A freshly built, untrained tiny model (the shipped one in assets/ is trained)."""
    from spacer_core.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "untrained")


@pytest.fixture(scope="session")
def tiny():
    """The embedded (shipped, trained) tiny model and its processor, loaded once per test session."""
    from spacer_core.models import load_model

    return load_model("tiny")


@pytest.fixture(scope="session")
def scrambled_tiny_dir(tiny, tmp_path_factory) -> Path:
    """A checkpoint folder: the tiny model with larger random weights, so that its greedy answers
    vary from item to item and equalities between answers do not hold trivially."""
    import copy
    import shutil

    import torch

    from spacer_core.models import TINY_MODEL_DIR

    model = copy.deepcopy(tiny[0])
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3, generator=gen)
    out = tmp_path_factory.mktemp("scrambled")
    model.save_pretrained(out)
    tiny[1].save_pretrained(out)
    shutil.copy(TINY_MODEL_DIR / "spacer_video.json", out)
    return out


# `spacer ARGS` in a process that SIGKILLs itself on the N-th call of a method: a kill at a fixed
# point of a run (after so many steps or batches), not after a sleep.
_KILL_AT_CALL = """
import importlib, os, signal, sys
module, cls_name, method = "{path}".rsplit(".", 2)
cls = getattr(importlib.import_module(module), cls_name)
original, calls = getattr(cls, method), []
def wrapped(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == {call}:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args, **kwargs)
setattr(cls, method, wrapped)
from spacer_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="session")
def killed_at_call():
    """``killed_at_call("pkg.module.Class.method", n, spacer_args, **run_kwargs)``: the finished
    process of `spacer ARGS` killed on the n-th call of that method."""
    import subprocess

    def run(path: str, call: int, args, **kwargs):
        code = _KILL_AT_CALL.format(path=path, call=call)
        return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, **kwargs)

    return run
