"""Dense per-token targets for a sampled clip of a rendered scene: what each video token shows.

The renderer knows which object every pixel shows. For each merged video token of Qwen2.5-VL
(two frames × a square of the frame) we give
- the fraction of its pixels showing each category (class 0: the room itself), and
- the map cell (x, y on the 10×10 grid of the cognitive map) of the object covering most of it,
  or -100 (ignored) when objects cover less than `MIN_OBJECT_FRACTION` of it.
At the tiny model's 112×112 frames a token spans a quarter of the frame's side, so most tokens
show mostly room: the category mix, not the commonest category, is what carries the objects.
These are the targets of the vision warm-up (`spacer_core.train.vision_warmup`), a signal on every
token where captions give a few tokens per clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spacer_core.cogmap import GRID, maps_from_boxes
from spacer_core.sim.render import Renderer
from spacer_core.sim.scene import VOCABULARY, room_bounds

CLASSES = ("room", *VOCABULARY)  # class 0 is the room (walls, floor, ceiling); then the categories
IGNORE = -100
PIXELS_PER_TOKEN = 16  # each token's square is rendered at 16×16 pixels (the shown frames are resized anyway)
MIN_OBJECT_FRACTION = 0.1


def token_targets(
    scene: dict[str, Any], frame_indices: Sequence[int], merged_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, cells)`` for the clip made of ``frame_indices`` of ``scene``'s video.

    ``merged_hw``: the clip's merged token grid (grid h and w divided by the spatial merge size).
    Frames pair up in time as the processor's temporal patches do (an odd last frame is repeated).
    Returns ``classes``: float32 (tokens × len(CLASSES)), rows summing to 1, and ``cells``: int64
    (tokens × 2), in the processor's token order (time, row, column)."""
    video = scene.get("video")
    if not video:
        raise ValueError(f"scene {scene.get('scene_id')!r} has no rendered video (no 'video' key)")
    height, width = merged_hw
    if tuple(video["size"]) != (video["size"][0],) * 2 or height != width:
        raise ValueError(f"scene {scene['scene_id']!r}: token targets need square frames, got "
                         f"{video['size']} and a {height}×{width} token grid")
    cameras = video["camera"]
    if max(frame_indices) >= len(cameras):
        raise ValueError(f"scene {scene['scene_id']!r} has {len(cameras)} camera poses, "
                         f"frame {max(frame_indices)} asked")
    objects = scene["objects"]
    unknown = sorted({o["category"] for o in objects} - set(CLASSES))
    if unknown:
        raise ValueError(f"scene {scene['scene_id']!r}: categories outside the generator's vocabulary: {unknown}")
    renderer = Renderer(scene, PIXELS_PER_TOKEN * height)
    frames = list(frame_indices) + list(frame_indices[-1:]) * (len(frame_indices) % 2)
    ids = np.stack([renderer.render(cameras[i])[1] for i in frames])  # F × S × S, -1 = room

    category = np.array([CLASSES.index(o["category"]) for o in objects] + [0])  # id -1 → the room
    cell = np.array(list(_cells(scene)) + [(IGNORE, IGNORE)])
    p = PIXELS_PER_TOKEN
    # (t, 2, h, p, w, p) → (t, h, w, 2·p·p): the pixels of each token
    blocks = ids.reshape(len(frames) // 2, 2, height, p, width, p).transpose(0, 2, 4, 1, 3, 5)
    blocks = blocks.reshape(-1, 2 * p * p)
    n_ids = len(objects) + 1
    counts = np.zeros((len(blocks), n_ids), np.int64)  # per token, pixels of each object (last: room)
    np.add.at(counts, (np.arange(len(blocks))[:, None], blocks), 1)
    classes = np.zeros((len(blocks), len(CLASSES)), np.float32)
    np.add.at(classes.T, category, counts.T.astype(np.float32))
    classes /= blocks.shape[1]
    top = counts[:, :-1].argmax(1) if len(objects) else np.full(len(blocks), -1)
    enough = counts[np.arange(len(blocks)), top] >= MIN_OBJECT_FRACTION * blocks.shape[1]
    return classes, np.where(enough[:, None], cell[top], IGNORE)


def _cells(scene: dict[str, Any]) -> list[tuple[int, int]]:
    """Each object's cell on the cognitive map's grid."""
    bounds = room_bounds(scene)
    return [maps_from_boxes([o], bounds, GRID)[o["category"]][0] for o in scene["objects"]]
