"""The vision warm-up: per-token targets from the renderer, aligned with the processor's tokens,
and a real warm-up run that teaches the vision tower something it did not know."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spacer_core.cli import main
from spacer_core.cogmap import maps_from_boxes
from spacer_core.inputs import encode
from spacer_core.models import load_model
from spacer_core.sim.render import Renderer, camera_walk
from spacer_core.sim.scene import generate_scene
from spacer_core.sim.token_targets import (
    CLASSES,
    IGNORE,
    MIN_OBJECT_FRACTION,
    PIXELS_PER_TOKEN,
    token_targets,
)
from spacer_core.video import load_clip


@pytest.fixture(scope="module")
def scene():
    scene = generate_scene([7, 3, 0], "scene_0007")
    scene["video"] = {"size": [256, 256], "camera": camera_walk(scene, 8, np.random.default_rng([7, 3, 1]))}
    return scene


def test_token_targets_count_the_renderers_pixels(scene):
    """Each token's mix and cell, recomputed pixel by pixel from the object-id buffers."""
    frames, grid = [0, 2, 5, 7], 3
    classes, cells = token_targets(scene, frames, (grid, grid))
    assert classes.shape == (2 * grid * grid, len(CLASSES)) and cells.shape == (2 * grid * grid, 2)
    np.testing.assert_allclose(classes.sum(1), 1.0, rtol=1e-6)

    renderer = Renderer(scene, PIXELS_PER_TOKEN * grid)
    ids = [renderer.render(scene["video"]["camera"][f])[1] for f in frames]
    room = scene["room"]["size"]
    p = PIXELS_PER_TOKEN
    for token in range(2 * grid * grid):
        t, i, j = token // (grid * grid), token // grid % grid, token % grid
        pixels = np.concatenate([ids[2 * t + k][i * p : (i + 1) * p, j * p : (j + 1) * p].ravel() for k in (0, 1)])
        for c, name in enumerate(CLASSES):
            members = [o["id"] for o in scene["objects"] if o["category"] == name] if c else [-1]
            assert classes[token, c] == pytest.approx(np.isin(pixels, members).mean(), abs=1e-6)
        objects, counts = np.unique(pixels[pixels >= 0], return_counts=True)
        if len(objects) and counts.max() >= MIN_OBJECT_FRACTION * len(pixels):
            obj = scene["objects"][objects[counts.argmax()]]
            assert tuple(cells[token]) == maps_from_boxes([obj], (0, 0, room[0], room[1]))[obj["category"]][0]
        else:
            assert tuple(cells[token]) == (IGNORE, IGNORE)
    assert (cells[:, 0] != IGNORE).any() and (classes[:, 1:].sum(1) > 0).any()  # the walk sees objects


def test_an_odd_last_frame_pairs_with_itself_as_the_processor_pads_it(scene):
    odd, _ = token_targets(scene, [1, 4, 6], (2, 2))
    even, _ = token_targets(scene, [1, 4, 6, 6], (2, 2))
    np.testing.assert_array_equal(odd, even)


def test_token_targets_refuse_what_they_cannot_label(scene):
    with pytest.raises(ValueError, match="no rendered video"):
        token_targets({**scene, "video": None}, [0, 1], (2, 2))
    with pytest.raises(ValueError, match="camera poses"):
        token_targets(scene, [0, 8], (2, 2))
    with pytest.raises(ValueError, match="square"):
        token_targets(scene, [0, 1], (2, 3))
    odd = {**scene, "objects": [*scene["objects"], {**scene["objects"][0], "category": "piano"}]}
    with pytest.raises(ValueError, match=r"scene_0007.*vocabulary.*piano"):
        token_targets(odd, [0, 1], (2, 2))


def test_processor_tokens_are_in_time_row_column_order(sim_root, untrained_tiny_dir):
    """token_targets assumes merged token k of a clip is (time, row, column) in raster order: check
    it against the pixels the processor packed into each token."""
    _, processor = load_model(untrained_tiny_dir, device="cpu")
    clip = load_clip(next((sim_root / "videos").glob("*.mp4")), nframes=4, min_pixels=3136, max_pixels=56 * 56)
    enc = encode(processor, ["<|vision_start|><|video_pad|><|vision_end|>"], [clip])
    vp = processor.video_processor
    t, h, w = enc["video_grid_thw"][0].tolist()
    merge, patch, tp = vp.merge_size, vp.patch_size, vp.temporal_patch_size
    # pixel_values rows: patches, each channels × temporal × patch × patch, normalised
    values = enc["pixel_values_videos"].view(-1, 3, tp, patch, patch)
    mean, std = torch.tensor(vp.image_mean).view(1, 3, 1, 1, 1), torch.tensor(vp.image_std).view(1, 3, 1, 1, 1)
    token_means = (values * std + mean).view(-1, merge * merge, 3, tp * patch * patch).mean((1, 3)) * 255
    frames = torch.from_numpy(clip.frames.astype(np.float32))
    side = merge * patch
    expected = torch.stack([
        frames[tp * ti : tp * ti + tp, i * side : (i + 1) * side, j * side : (j + 1) * side].mean((0, 1, 2))
        for ti in range(t) for i in range(h // merge) for j in range(w // merge)
    ])
    assert torch.allclose(token_means, expected, atol=1.0)


@pytest.mark.slow
def test_vision_warmup_learns_what_tokens_show_and_leaves_the_decoder(tmp_path, untrained_tiny_dir):
    """A real warm-up on the bundled sim sample: on the held-out scenes, the vision tower names each
    token's object category far more often than always naming the commonest one."""
    out, start = tmp_path / "vision", tmp_path / "start"
    shutil.copytree(untrained_tiny_dir, start)  # recommending other frames than the run's
    (start / "spacer_video.json").write_text(json.dumps({"nframes": 4, "min_pixels": 3136}))
    args = ["train", "--stage", "vision", "--model", str(start), "--train_file", "assets/sim/train.jsonl",
            "--output_dir", str(out), "--use_cpu", "true", "--max_steps", "150", "--per_device_train_batch_size", "4",
            "--learning_rate", "2e-3", "--warmup_steps", "10", "--nframes", "8", "--min_pixels", "3136",
            "--max_pixels", "12544", "--logging_steps", "50", "--report_to", "none"]
    assert main(args) == 0
    metrics = json.loads((out / "vision_warmup.json").read_text())
    held = metrics["held_out"]
    manifest = json.loads((Path(__file__).resolve().parent.parent / "assets" / "sim" / "manifest.json").read_text())
    held_scenes = len(manifest["test_scenes"])
    assert metrics["train_scenes"] == manifest["scenes"] - held_scenes and held["scenes"] == held_scenes
    assert held["object_tokens"] > 50
    assert held["category_acc"] > held["category_acc_commonest"] + 0.15
    assert held["class_loss"] < held["class_loss_prior"]
    assert metrics["log"][-1]["loss"] < metrics["log"][0]["loss"]

    before, after = load_file(untrained_tiny_dir / "model.safetensors"), load_file(out / "final" / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".visual." in k or k.startswith("visual.") for k in changed)
    assert len(changed) == sum(".visual." in k or k.startswith("visual.") for k in before)  # every vision weight
    load_model(out / "final", device="cpu")  # a complete checkpoint, with the model's video defaults
    # the frames it was trained on, not its start's
    saved = json.loads((out / "final" / "spacer_video.json").read_text())
    assert saved == {"nframes": 8, "min_pixels": 3136, "max_pixels": 12544}


def test_vision_warmup_needs_the_scene_files(tmp_path, sim_root, untrained_tiny_dir, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text((sim_root / "train.jsonl").read_text())
    (data / "videos").symlink_to(sim_root / "videos")
    rc = main(["train", "--stage", "vision", "--model", str(untrained_tiny_dir), "--train_file", str(data / "train.jsonl"),
               "--output_dir", str(tmp_path / "out"), "--use_cpu", "true", "--max_steps", "2", "--report_to", "none"])
    assert rc == 2
    assert "scenes/scene_000" in capsys.readouterr().err
    (data / "scenes").mkdir()
    for scene in (sim_root / "scenes").glob("*.json"):
        (data / "scenes" / scene.name).write_text(scene.read_text()[:50])  # truncated
    rc = main(["train", "--stage", "vision", "--model", str(untrained_tiny_dir), "--train_file", str(data / "train.jsonl"),
               "--output_dir", str(tmp_path / "out2"), "--use_cpu", "true", "--max_steps", "2", "--report_to", "none"])
    assert rc == 2
    assert "scene_000" in (err := capsys.readouterr().err) and "not a scene file" in err
