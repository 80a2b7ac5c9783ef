"""Video controls for `spacer eval --control`: does the model need the video it is shown?

- ``blind``: the same prompt with no video at all (no vision tokens reach the model);
- ``swap``: each item is shown the video of another scene of the same benchmark and source (a
  seeded derangement of the distinct videos: no item ever sees its own), answers unchanged;
- ``shuffle``: the item's own frames in a seeded random order (temporal questions should suffer);
- ``first-frame``: the first frame repeated to the usual count (no motion, one view).

A model that answers from the video falls towards its chance/prior under ``swap``; the gap to the
normal run is what the video contributes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from spacer_core.eval.base import Benchmark, Item
from spacer_core.video import Clip, VideoSettings

CONTROLS = ("none", "blind", "swap", "shuffle", "first-frame")


class ControlError(ValueError):
    """A control that cannot be applied to these items (e.g. a swap with a single video)."""


def _video(item: Item) -> str:
    return item.video or f"images:{item.id}"  # multi-view image items are a "video" of their own


def swap_plan(items: Sequence[Item], seed: int = 0) -> dict[str, Item]:
    """Item id → the item whose video it is shown: within each source (``meta["dataset"]``), the
    distinct videos in a seeded order, each shown in place of the one before it."""
    by_source: dict[str, dict[str, Item]] = {}
    for item in items:
        by_source.setdefault(str(item.meta.get("dataset", "")), {}).setdefault(_video(item), item)
    shown: dict[str, Item] = {}
    for source, videos in sorted(by_source.items()):
        if len(videos) < 2:
            raise ControlError(f"swap needs 2 or more videos per source; source {source or '(none)'!r} has "
                               f"{len(videos)} (a --limit may have kept a single scene)")
        order = sorted(videos)
        random.Random(f"{seed}:{source}").shuffle(order)
        shown.update({own: videos[other] for own, other in zip(order, order[1:] + order[:1], strict=True)})
    return {item.id: shown[_video(item)] for item in items}


def shuffled(clip: Clip, key: str, seed: int = 0) -> Clip:
    """The clip's frames in a seeded order that is never the original one (a 1-frame clip as is)."""
    if clip.num_frames < 2:
        return clip
    rng = random.Random(f"{seed}:{key}")
    order = list(range(clip.num_frames))
    while order == sorted(order):
        rng.shuffle(order)
    return clip.permuted(order)


def first_frame(clip: Clip) -> Clip:
    """The first frame repeated to the clip's frame count, at the clip's timestamps."""
    frames = np.repeat(clip.frames[:1], clip.num_frames, axis=0)
    frames.setflags(write=False)
    return Clip(frames, clip.timestamps, (clip.indices[0],) * clip.num_frames, clip.fps, clip.sample_fps,
                clip.duration, clip.total_frames, clip.path)


class Control:
    """One control applied to every item of a run (``name`` in CONTROLS; "none" shows the own video)."""

    def __init__(self, name: str, items: Sequence[Item], seed: int = 0):
        if name not in CONTROLS:
            raise ControlError(f"control must be one of {', '.join(CONTROLS)}, got {name!r}")
        self.name, self.seed = name, seed
        self.swapped = swap_plan(items, seed) if name == "swap" else {}

    def clip(self, benchmark: Benchmark, item: Item, settings: VideoSettings) -> Clip | None:
        if self.name == "blind":
            return None
        if self.name == "swap":
            return benchmark.clip(self.swapped[item.id], settings)
        clip = benchmark.clip(item, settings)
        if self.name == "shuffle":
            return shuffled(clip, item.id, self.seed)
        if self.name == "first-frame":
            return first_frame(clip)
        return clip
