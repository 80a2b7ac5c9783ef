"""SG-RLVR rewards: format, accuracy with the map gate, TRL signature, group rules."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spacer_core.rewards import (
    accuracy_reward,
    answer_accuracy,
    completion_text,
    format_ok,
    format_reward,
    length_bonus,
    score_completion,
    score_completions,
    temporal_bonus,
)

D = 10 * math.sqrt(2)


# --- format -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, ok",
    [
        ("<think>x</think><answer>B</answer>", True),
        ("<think>\nmulti\nline\n</think>\n\n<answer>\nB\n</answer>", True),
        ("<think></think><answer></answer>", True),
        ("<think>a</think>b <answer>B</answer>", False),  # text between </think> and <answer>
        ("<think>a</think>b</think><answer>B</answer>", True),  # .*? can run to the second </think>
        ("<think>x</think><answer>B</answer>\n", False),  # nothing may follow
        (" <think>x</think><answer>B</answer>", False),  # nor precede
        ("<think>x</think>", False),
        ("<answer>B</answer>", False),
        ("<think>x</think><answer>B", False),
        ("<think>x</think><answer></answer>", True),
        ("<think>x</think><answer>", False),
        ("<think>x</think><answer>B</answer>tail</answer>", True),
        ("", False),
    ],
)
def test_format_ok(text, ok):
    assert format_ok(text) is ok


FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
pieces = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x", "<", ">", "/"])


@given(st.lists(pieces, max_size=14).map("".join))
@settings(max_examples=500, deadline=None)
def test_format_ok_matches_the_reference_regex(text):
    assert format_ok(text) is (FORMAT.fullmatch(text) is not None)


# --- answer accuracy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, solution, ptype, expected",
    [
        ("B", "<answer>B</answer>", "multiple choice", 1.0),
        ("B. left", "B", "multiple choice", 1.0),
        ("(b)", "<answer> B </answer>", "multiple choice", 1.0),
        ("The answer is B", "B", "multiple choice", 1.0),
        ("C", "B", "multiple choice", 0.0),
        ("a chair", "A", "multiple choice", 0.0),
        ("yes", "yes", "multiple choice", 1.0),  # not letters: plain equality
        ("3.5 m", "<answer>3.5</answer>", "numerical", 1.0),
        ("4", "3.5", "numerical", 0.8),
        ("twelve", "12", "numerical", 1.0),
        ("no idea", "12", "numerical", 0.0),
        ("hello world", "hello word", "OCR", 0.5),
        ("a b c d e", "x", "OCR", 0.0),  # WER 5 clipped
        ("the cat", "the cat sat", "free-form", (0.8 + 2 / 3 + 0.8) / 3),
        ("2.5", "2", "regression", 0.75),
        ("5", "2", "regression", 0.0),  # clipped
        ("0", "0", "regression", 1.0),
        ("nothing", "2", "regression", 0.0),
        (None, "B", "multiple choice", 0.0),
    ],
)
def test_answer_accuracy(answer, solution, ptype, expected):
    assert answer_accuracy(answer, solution, ptype) == pytest.approx(expected)


def test_answer_accuracy_errors_name_the_field():
    with pytest.raises(ValueError, match="problem_type"):
        answer_accuracy("B", "B", "yes/no")
    with pytest.raises(ValueError, match="solution"):
        answer_accuracy("3", "<answer>many</answer>", "numerical")


# --- the map gate -----------------------------------------------------------------------------

TRUE_MAP = {"chair": [[1, 1]], "table": [[5, 5], [7, 7]]}
GOOD_MAP = '{"chair": [[1, 2]], "table": [[5, 5], [7, 7]]}'  # chair one cell off
GOOD_SCORE = (1 * (1 - 1 / D) + 2 * 1.0) / 3


def completion(answer: str, map_text: str | None = GOOD_MAP) -> str:
    body = "I look around." + (f" <map>{map_text}</map>" if map_text is not None else "")
    return f"<think>{body}</think><answer>{answer}</answer>"


def test_gate_right_answer_adds_map_score():
    terms = score_completion(completion("B"), "<answer>B</answer>", "multiple choice", TRUE_MAP)
    assert terms.format == 1.0 and terms.answer_accuracy == 1.0 and terms.has_map
    assert terms.map_score == pytest.approx(GOOD_SCORE)
    assert terms.accuracy == pytest.approx(1.0 + GOOD_SCORE)
    assert terms.total == pytest.approx(2.0 + GOOD_SCORE)
    assert terms.as_dict()["total"] == pytest.approx(terms.total)


def test_gate_zero_map_score_zeroes_accuracy():
    wrong_map = '{"sofa": [[1, 1]]}'  # no requested category: parses to {} → score 0
    terms = score_completion(completion("B", wrong_map), "B", "multiple choice", TRUE_MAP)
    assert terms.map_score == 0.0 and terms.answer_accuracy == 1.0 and terms.accuracy == 0.0
    far_map = '{"chair": [[20, 20]], "table": [[-20, -20]]}'  # every pair beyond the diagonal
    assert score_completion(completion("B", far_map), "B", "multiple choice", TRUE_MAP).accuracy == 0.0


def test_gate_closed_for_wrong_answer_or_no_map():
    wrong = score_completion(completion("C"), "B", "multiple choice", TRUE_MAP)
    assert (wrong.accuracy, wrong.map_score) == (0.0, None)
    no_map = score_completion(completion("B", None), "B", "multiple choice", TRUE_MAP)
    assert (no_map.accuracy, no_map.map_score, no_map.has_map) == (1.0, None, False)
    unclosed = score_completion("<think><map>{}</think><answer>B</answer>", "B", "multiple choice", TRUE_MAP)
    assert (unclosed.accuracy, unclosed.map_score, unclosed.has_map) == (1.0, None, False)


@pytest.mark.parametrize("true_map", [None, "", {}])
def test_gate_closed_without_a_true_map(true_map):
    terms = score_completion(completion("B", '{"sofa": [[1, 1]]}'), "B", "multiple choice", true_map)
    assert (terms.accuracy, terms.map_score) == (1.0, None)


def test_gate_numerical_needs_mra_above_half():
    opened = score_completion(completion("1.1"), "1", "numerical", TRUE_MAP)  # MRA 0.9
    assert opened.accuracy == pytest.approx(0.9 + GOOD_SCORE)
    closed = score_completion(completion("1.26"), "1", "numerical", TRUE_MAP)  # MRA 0.5, not > 0.5
    assert (closed.accuracy, closed.map_score) == (pytest.approx(0.5), None)


def test_gate_only_for_choice_and_numerical():
    terms = score_completion(completion("the cat sat"), "the cat sat", "free-form", TRUE_MAP)
    assert (terms.accuracy, terms.map_score) == (pytest.approx(1.0), None)


def test_gate_accepts_json_map_and_restricts_categories():
    as_json = score_completion(completion("B"), "B", "multiple choice", json.dumps(TRUE_MAP))
    assert as_json.accuracy == pytest.approx(1.0 + GOOD_SCORE)
    # only "table" is parsed: the chair guess is ignored, so chair counts as missing
    only_table = score_completion(completion("B"), "B", "multiple choice", TRUE_MAP, categories=["table"])
    assert only_table.map_score == pytest.approx(2 / 3)


def test_missing_answer_tag_scores_zero():
    terms = score_completion("<think>B</think> B", "B", "multiple choice")
    assert (terms.format, terms.accuracy, terms.answer) == (0.0, 0.0, None)


# --- TRL reward functions ---------------------------------------------------------------------


def test_reward_functions_with_trl_keywords():
    completions = [
        [{"role": "assistant", "content": completion("B")}],  # conversational
        completion("C"),  # plain
        [{"role": "assistant", "content": [{"type": "text", "text": completion("3")}]}],  # content items
        "B",  # wrong format, right answer but no tags
    ]
    columns = {
        "solution": ["<answer>B</answer>", "<answer>B</answer>", "<answer>3</answer>", "B"],
        "problem_type": ["multiple choice", "multiple choice", "numerical", "multiple choice"],
        "cognitive_map": [TRUE_MAP, json.dumps(TRUE_MAP), None, ""],
        "map_categories": [["chair", "table"], None, None, None],
        "completion_ids": [[1], [2], [3], [4]],  # TRL passes these too
        "trainer_state": object(),
    }
    prompts = ["q"] * 4
    assert format_reward(prompts, completions, **columns) == [1.0, 1.0, 1.0, 0.0]
    assert accuracy_reward(prompts, completions, **columns) == pytest.approx(
        [1.0 + GOOD_SCORE, 0.0, 1.0, 0.0]
    )
    terms = score_completions(completions, **columns)
    assert [t.map_score for t in terms] == [pytest.approx(GOOD_SCORE), None, None, None]


def test_reward_function_column_errors():
    with pytest.raises(ValueError, match="'problem_type'"):
        accuracy_reward(["q"], ["B"], solution=["B"])
    with pytest.raises(ValueError, match="'solution' has 2 values for 1 completions"):
        accuracy_reward(["q"], ["B"], solution=["B", "C"], problem_type=["multiple choice"])
    with pytest.raises(ValueError, match="completions"):
        completion_text(42)


# --- group rules ------------------------------------------------------------------------------


def test_temporal_bonus():
    ordered = [1.0, 0.0, 0.5, 0.05]  # mean 0.3875
    assert temporal_bonus(ordered, [0.2, 0.4]) == [0.3, 0.0, 0.3, 0.0]  # 0.3875 ≥ 0.3; 0.05 ≤ 0.1
    assert temporal_bonus(ordered, [0.4, 0.4]) == [0.0] * 4  # 0.3875 < 1.0 · 0.4
    assert temporal_bonus(ordered, [0.4, 0.4], ratio=0.8) == [0.3, 0.0, 0.3, 0.0]  # released code
    assert temporal_bonus([0.5, 0.5], [0.5]) == [0.3, 0.3]  # p = p̃ counts
    assert temporal_bonus([0.5, 0.5], [0.0], alpha=0.1, min_acc=0.6) == [0.0, 0.0]
    assert temporal_bonus([1.0, 1.0], [], alpha=0.1) == [0.0, 0.0]  # nothing to compare
    assert temporal_bonus(torch.tensor([1.0, 0.0]), torch.tensor([0.2])) == [0.3, 0.0]


def test_length_bonus():
    acc = [1.0, 0.5, 0.0, 0.05, 1.2]
    lengths = [320, 600, 400, 400, 512]
    assert length_bonus(acc, lengths) == [0.2, 0.0, 0.0, 0.0, 0.2]  # bounds inclusive
    assert length_bonus([1.0, 1.0], [319, 513]) == [0.0, 0.0]
    assert length_bonus([1.0, 0.0], [400, 400]) == [0.0, 0.0]  # only one correct completion
    assert length_bonus([1.0, 1.0], [100, 150], low=100, high=120, bonus=0.5) == [0.5, 0.0]
    assert length_bonus(torch.tensor([1.0, 1.0]), torch.tensor([400, 400])) == [0.2, 0.2]
    with pytest.raises(ValueError, match="2 accuracies but 1 lengths"):
        length_bonus([1.0, 1.0], [400])
