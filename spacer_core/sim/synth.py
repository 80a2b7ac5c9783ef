"""`spacer data synth`: generate scenes, render videos, write QA, maps and the parquet.

Output layout (all paths relative to ``out``)::

    scenes/scene_0000.json    scene (room, objects) + video (camera walk, per-frame visibility)
    videos/scene_0000.mp4     H.264 video of the walk
    train.jsonl, test.jsonl   SpaceR-151k-style items, split by scene
    cognitive_map.jsonl       true 10×10 maps, one line per video
    vsibench_test.parquet     the test items as VSI-Bench rows (videos: videos/{scene_name}.mp4)
    manifest.json             the parameters of the run and the counts
"""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spacer_core.sim.questions import Question, generate_questions, scene_map
from spacer_core.sim.render import TINTED_WALLS, check_video_params, render_scene
from spacer_core.sim.scene import generate_scene, get_world
from spacer_core.sim.writers import (
    cognitive_map_record,
    dataset_record,
    split_scenes,
    write_jsonl,
    write_vsibench_parquet,
)


@dataclass(frozen=True)
class SynthConfig:
    scenes: int = 10
    seed: int = 0
    frames: int = 16
    fps: int = 2
    size: int = 256
    test_fraction: float = 0.2
    lookup_lines: bool = False  # derivations read the question's map entries out first (questions.with_lookup_lines)
    world: str = "vsi"  # what rooms hold (scene.WORLDS)
    cell_arithmetic: bool = False  # derivations spell out the arithmetic on the map's cells (cell_arithmetic)
    tinted_walls: bool = False  # each wall its own tint (render.TINTED_WALLS): every frame shows the heading
    option_lines: bool = False  # multiple-choice derivations end by marking each option (questions.with_option_lines)
    distance_steps: bool = False  # absolute distances derived in steps from cells and room size (cell_arithmetic.distance)

    def __post_init__(self) -> None:
        if self.scenes < 1:
            raise ValueError(f"need at least one scene, got {self.scenes}")
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"test fraction must be in [0, 1), got {self.test_fraction}")
        check_video_params(self.frames, self.fps, self.size)
        get_world(self.world)


@dataclass(frozen=True)
class _SceneResult:
    scene_id: str
    video_path: str
    cogmap: dict[str, list[tuple[int, int]]]
    questions: list[Question]


# What the scenes and videos depend on: with these unchanged, `synthesize(keep_videos=True)` writes
# new questions for the videos already rendered.
VIDEO_FIELDS = ("scenes", "seed", "frames", "fps", "size", "world", "tinted_walls")


def scene_name(index: int) -> str:
    return f"scene_{index:04d}"


def _build_scene(job: tuple[int, SynthConfig, str, bool]) -> _SceneResult:
    """Scene ``index`` from scratch, or, with ``keep``, from its rendered scene file; every random
    choice is seeded by (seed, index, step)."""
    index, config, out, keep = job
    sid = scene_name(index)
    rel = f"videos/{sid}.mp4"
    scene_file = Path(out) / "scenes" / f"{sid}.json"
    if keep:
        scene = json.loads(scene_file.read_text(encoding="utf-8"))
    else:
        scene = generate_scene([config.seed, index, 0], sid, config.world)
        if config.tinted_walls:
            scene["room"]["walls"] = [list(c) for c in TINTED_WALLS]
        render_scene(
            scene, Path(out) / rel, rel, config.frames, config.fps, config.size, seed=[config.seed, index, 1]
        )
        scene_file.write_text(json.dumps(scene, indent=1) + "\n", encoding="utf-8")
    return _SceneResult(sid, rel, scene_map(scene), generate_questions(
        scene, [config.seed, index, 2], config.lookup_lines, config.cell_arithmetic, config.option_lines,
        config.distance_steps))


def _check_kept(out: Path, config: SynthConfig) -> None:
    """The videos in ``out`` were rendered with ``config``'s video settings, and all are there."""
    manifest_file = out / "manifest.json"
    if not manifest_file.exists():
        raise ValueError(f"keep videos: {manifest_file} not found (synthesize the videos first)")
    made = json.loads(manifest_file.read_text(encoding="utf-8"))["config"]
    for name in VIDEO_FIELDS:
        if made.get(name) != getattr(config, name):
            raise ValueError(f"keep videos: {manifest_file} has {name} = {made.get(name)!r}, "
                             f"this run asks for {getattr(config, name)!r}")
    for i in range(config.scenes):
        for path in (out / "scenes" / f"{scene_name(i)}.json", out / "videos" / f"{scene_name(i)}.mp4"):
            if not path.exists():
                raise ValueError(f"keep videos: {path} is missing")


def _remove_stale(folder: Path, keep: set[str], suffix: str) -> None:
    """Scene files of an earlier, larger run in the same folder would mix into this dataset."""
    for path in folder.glob(f"scene_*{suffix}"):
        if path.stem not in keep:
            path.unlink()


def synthesize(
    out: str | Path, config: SynthConfig, workers: int | None = None, progress: bool = True,
    keep_videos: bool = False,
) -> dict[str, Any]:
    """Write a dataset of ``config.scenes`` scenes under ``out``; returns the manifest.
    ``keep_videos``: the scenes and videos in ``out`` stay and only the questions and the files made
    from them are written again (`VIDEO_FIELDS` must match the manifest there; ValueError if not)."""
    out = Path(out)
    if keep_videos:
        _check_kept(out, config)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    ids = {scene_name(i) for i in range(config.scenes)}
    _remove_stale(out / "scenes", ids, ".json")
    _remove_stale(out / "videos", ids, ".mp4")

    jobs = [(i, config, str(out), keep_videos) for i in range(config.scenes)]
    workers = max(1, min(workers or os.cpu_count() or 1, config.scenes))
    with ExitStack() as stack:
        imap = map if workers == 1 else stack.enter_context(get_context("spawn").Pool(workers)).imap
        done = imap(_build_scene, jobs)
        results = list(tqdm(done, total=len(jobs), desc="synth scenes", unit="scene", disable=not progress))

    test_ids = split_scenes([r.scene_id for r in results], config.test_fraction)
    train, test, maps = [], [], []
    for result in results:
        categories = list(result.cogmap)
        for q in result.questions:
            record = dataset_record(len(train) + len(test), result.scene_id, result.video_path, q, categories)
            (test if result.scene_id in test_ids else train).append(record)
        maps.append(cognitive_map_record(result.scene_id, result.cogmap))
    write_jsonl(train, out / "train.jsonl")
    write_jsonl(test, out / "test.jsonl")
    write_jsonl(maps, out / "cognitive_map.jsonl")
    write_vsibench_parquet(test, out / "vsibench_test.parquet")
    manifest = {
        "config": asdict(config),
        "scenes": len(results),
        "test_scenes": sorted(test_ids),
        "items": {"train": len(train), "test": len(test)},
        "question_types": dict(sorted(Counter(r["question_type"] for r in train + test).items())),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
