"""The bundled samples (assets/sim): test questions with their videos, answers and true maps."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from spacer_core.cogmap import CogMap, load_map

if TYPE_CHECKING:
    from spacer_core.eval import Item

SIM_TEST = "sim"  # the benchmark whose items are the samples: assets/sim/test.jsonl


@functools.cache
def sim_items() -> dict[str, Item]:
    """The sim test items by id, read (and validated) by the sim benchmark's own loader."""
    from spacer_core.eval import get_benchmark

    bench = get_benchmark(SIM_TEST)
    return {item.id: item for item in bench.load(bench.default_root)}


def sample_choices() -> list[tuple[str, str]]:
    """(label, id) of every sample for a dropdown, e.g. "scene_0002 · object counting · How many …"."""
    out = []
    for item in sim_items().values():
        kind = item.question_type.replace("_", " ")
        question = item.question if len(item.question) <= 70 else item.question[:67] + "…"
        out.append((f"{item.meta.get('scene')} · {kind} · {question}", item.id))
    return out


@functools.cache
def scene_maps() -> dict[str, CogMap]:
    """The true map of every bundled scene by video id (assets/sim/cognitive_map.jsonl)."""
    from spacer_core.data import load_cognitive_maps
    from spacer_core.eval import get_benchmark

    table = load_cognitive_maps(get_benchmark(SIM_TEST).default_root / "cognitive_map.jsonl")
    return {vid: load_map(entry["cognitive_map"], f"{vid}.cognitive_map") for vid, entry in table.items()}
