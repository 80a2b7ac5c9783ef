"""The shipped spacer-tiny weights (`make tiny-model`, docs/tiny-ablation.md) load and answer well-formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacer_core.cogmap import load_map, score_map
from spacer_core.data import load_dataset_jsonl
from spacer_core.infer import Query, SpatialReasoner
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
                                 problem_type=record["problem_type"], max_new_tokens=640)
        assert format_ok(result.raw), result.raw
        assert result.map, result.raw
        assert set(result.map) <= set(record["map_categories"])
        assert set(result.map) & set(load_map(record["cognitive_map"]))
        if record["problem_type"] == "multiple choice":
            assert result.answer in {option[0] for option in record["options"]}
        else:
            assert float(result.answer) >= 0


def test_shipped_model_maps_follow_the_video(reasoner, spatial_items):
    """On every bundled test scene, the same counting question asked with the scene's own video and
    with the next test scene's video (greedy): the imagined maps differ, and they score higher
    against the true map with the own video, on average over the scenes."""
    first = {}
    for record in spatial_items:
        if record["question_type"] == "object_counting":
            first.setdefault(record["scene_id"], record)
    scenes = sorted(first)
    assert len(scenes) >= 4
    own_scores, swapped_scores = [], []
    for scene, other in zip(scenes, scenes[1:] + scenes[:1], strict=True):
        record = first[scene]

        def ask(video, record=record):
            return Query(video, record["problem"], None, "thinking_map", record["map_categories"], record["problem_type"])

        own, swapped = reasoner.answer_batch([ask(record["media_path"]), ask(first[other]["media_path"])],
                                             max_new_tokens=640)
        assert own.map and swapped.map and own.map != swapped.map, (scene, own.raw, swapped.raw)
        truth = load_map(record["cognitive_map"])
        own_scores.append(score_map(own.map, truth))
        swapped_scores.append(score_map(swapped.map, truth))
    assert sum(own_scores) / len(own_scores) > sum(swapped_scores) / len(swapped_scores) + 0.03, (own_scores, swapped_scores)
