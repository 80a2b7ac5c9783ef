"""The shipped spacer-tiny weights (trained by recipes/spacer_tiny.py) load and answer well-formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacer_core.cogmap import load_map
from spacer_core.data import load_dataset_jsonl
from spacer_core.infer import SpatialReasoner
from spacer_core.rewards import format_ok

SIM = Path(__file__).resolve().parent.parent / "assets" / "sim"


@pytest.fixture(scope="module")
def reasoner():
    return SpatialReasoner.from_pretrained("tiny", temperature=0)


@pytest.fixture(scope="module")
def spatial_items():
    return load_dataset_jsonl(SIM / "test.jsonl", maps=SIM / "cognitive_map.jsonl")


def test_shipped_model_answers_in_the_trained_format(reasoner, spatial_items):
    """Greedy answers on bundled held-out items: <think> with a <map> of the scene's categories,
    then an <answer> of the right kind (an option letter or a number)."""
    items = [r for r in spatial_items if r["question_type"] in ("object_counting", "object_rel_distance")][:2]
    assert len(items) == 2
    for record in items:
        result = reasoner.answer(record["media_path"], record["problem"], record["options"] or None,
                                 mode="thinking_map", categories=record["map_categories"],
                                 problem_type=record["problem_type"], max_new_tokens=320)
        assert format_ok(result.raw), result.raw
        assert result.map, result.raw
        assert set(result.map) <= set(record["map_categories"])
        assert set(result.map) & set(load_map(record["cognitive_map"]))
        if record["problem_type"] == "multiple choice":
            assert result.answer in {option[0] for option in record["options"]}
        else:
            assert float(result.answer) >= 0
