"""Answer metrics and VSI-Bench scoring (spacer_core.metrics)."""

from __future__ import annotations

import pytest

from spacer_core.metrics import (
    exact_match,
    mean_relative_accuracy,
    mean_rouge_f,
    rouge_scores,
    vsibench_aggregate,
    vsibench_score,
    word_error_rate,
)


def test_exact_match():
    assert exact_match(" B ", "b") == 1.0
    assert exact_match("B.", "B") == 0.0


@pytest.mark.parametrize(
    "pred, target, expected",
    [
        (3.0, 3.0, 1.0),
        (1.05, 1.0, 1.0),  # error 0.05 ≤ 1 − 0.95: passes every threshold (boundary included)
        (1.1, 1.0, 0.9),  # error 0.10: passes θ = 0.50 … 0.90
        (0.9, 1.0, 0.9),
        (1.26, 1.0, 0.5),  # error 0.26: passes θ = 0.50 … 0.70
        (1.5, 1.0, 0.1),  # error 0.50: passes θ = 0.50 only
        (0.49, 1.0, 0.0),
        (4.0, 3.5, 0.8),  # error 1/7 ≈ 0.143: passes θ = 0.50 … 0.85
        (-2.2, -2.0, 0.9),  # relative to |t|
        (0.0, 0.0, 1.0),
        (0.1, 0.0, 0.0),
        ("3.5 m", 3.5, 1.0),
        ("about twelve", "12", 1.0),
        ("a chair", 1.0, 0.0),  # the article is not 1
        (None, 2.0, 0.0),
        (float("nan"), 2.0, 0.0),
    ],
)
def test_mean_relative_accuracy(pred, target, expected):
    assert mean_relative_accuracy(pred, target) == pytest.approx(expected)


def test_mean_relative_accuracy_needs_a_numeric_target():
    with pytest.raises(ValueError, match="target"):
        mean_relative_accuracy(1.0, "many")


@pytest.mark.parametrize(
    "hyp, ref, expected",
    [
        ("the cat sat", "the cat sat", 0.0),
        ("the cat sit", "the cat sat", 1 / 3),  # one substitution
        ("the cat", "the cat sat", 1 / 3),  # one deletion
        ("the big cat sat", "the cat sat", 1 / 3),  # one insertion
        ("sat cat the", "the cat sat", 2 / 3),  # two substitutions
        ("a b c d e f", "x", 6.0),  # can exceed 1
        ("", "the cat", 1.0),
        ("", "", 0.0),
        ("words", "", 1.0),
    ],
)
def test_word_error_rate(hyp, ref, expected):
    assert word_error_rate(hyp, ref) == pytest.approx(expected)


def test_rouge_hand_computed():
    # pred "the cat" vs ref "the cat sat": unigrams P 1, R 2/3 → F 0.8; bigrams P 1, R 1/2 → F 2/3;
    # LCS 2 → F 0.8
    scores = rouge_scores("the cat", "the cat sat")
    assert scores == pytest.approx({"rouge1": 0.8, "rouge2": 2 / 3, "rougeL": 0.8})
    assert mean_rouge_f("the cat", "the cat sat") == pytest.approx((0.8 + 2 / 3 + 0.8) / 3)


def test_rouge_uses_stemming():
    assert mean_rouge_f("cats running", "cat run") == pytest.approx(1.0)
    assert mean_rouge_f("dogs", "cat") == 0.0


@pytest.mark.parametrize(
    "completion, truth, qtype, expected",
    [
        ("B", "B", "object_rel_distance", 1.0),
        ("b.", "B", "route_planning", 1.0),
        ("B. left", "B", "object_rel_direction_easy", 1.0),
        ("The answer is B", "B", "object_rel_direction_hard", 0.0),  # official: first token only
        ("<think>hmm</think><answer>C</answer>", "C", "obj_appearance_order", 1.0),
        ("<think>B</think><answer>C</answer>", "B", "obj_appearance_order", 0.0),
        ("3.5", "3.5", "object_abs_distance", 1.0),
        ("3.5 meters", "3.5", "object_abs_distance", 1.0),
        ("4.", "3.5", "object_abs_distance", 0.8),
        ("about 3", "3", "object_counting", 0.0),  # first token is not a number
        ("three", "3", "object_counting", 0.0),  # official float() parsing: words score 0
        # error 0.2 sits on the θ = 0.80 boundary; in float64 (as the official code computes it)
        # 0.2 > 1 - 0.8, so only θ = 0.50 … 0.75 pass
        ("<answer>24</answer>", "20", "room_size_estimation", 0.6),
        ("nan", "20", "object_size_estimation", 0.0),
    ],
)
def test_vsibench_score(completion, truth, qtype, expected):
    assert vsibench_score(completion, truth, qtype) == pytest.approx(expected)


def test_vsibench_score_unknown_type():
    with pytest.raises(ValueError, match="question_type"):
        vsibench_score("B", "B", "object_color")


def test_vsibench_aggregate():
    rows = [
        *({"question_type": "object_rel_direction_easy", "score": s} for s in (1, 1, 1, 0)),  # 75
        {"question_type": "object_rel_direction_medium", "score": 0},  # 0
        {"question_type": "object_rel_direction_hard", "score": 1},  # 100
        {"question_type": "object_rel_distance", "score": 0.5},
        {"question_type": "route_planning", "score": 0.2},
        {"question_type": "obj_appearance_order", "score": 0.4},
        *({"question_type": "object_abs_distance", "score": s} for s in (0.2, 0.6)),  # 40
        {"question_type": "object_counting", "score": 0.9},
        {"question_type": "object_size_estimation", "score": 0.3},
        {"question_type": "room_size_estimation", "score": 0.1},
    ]
    out = vsibench_aggregate(rows)
    rel_dir = (75 + 0 + 100) / 3  # unweighted (a weighted mean would be 66.7)
    assert out["tasks"]["object_rel_direction"] == pytest.approx(rel_dir)
    assert len(out["tasks"]) == 8
    assert out["per_type"]["object_rel_direction_easy"] == pytest.approx(75)
    assert out["tasks"]["object_abs_distance"] == pytest.approx(40)
    assert out["counts"]["object_rel_direction_easy"] == 4
    assert out["overall"] == pytest.approx((rel_dir + 50 + 20 + 40 + 40 + 90 + 30 + 10) / 8)


def test_vsibench_aggregate_bad_rows():
    with pytest.raises(ValueError, match="row 1: missing field 'score'"):
        vsibench_aggregate(
            [{"question_type": "route_planning", "score": 1}, {"question_type": "route_planning"}]
        )
    with pytest.raises(ValueError, match="no rows"):
        vsibench_aggregate([])
