"""reward_rules: our defaults ("workbench") against SpaceR's released reward code ("spacer").

Each case is built so that the two rules disagree on it, and says what SpaceR's code does
(docs/design.md has the table). Well-formed completions score the same under both.
"""

from __future__ import annotations

import json

import pytest

from spacer_core.rewards import score_completion, spacer_number, temporal_bonus
from spacer_core.train.config import parse

TRUE_MAP = {"chair": [[1, 2], [7, 7]], "table": [[5, 5]]}
GOOD_MAP = '<map>{"chair": [[1, 2], [7, 7]], "table": [[5, 5]]}</map>'


def both(text: str, solution: str, problem_type: str, true_map=TRUE_MAP):
    return tuple(score_completion(text, solution, problem_type, json.dumps(true_map), rules=rules)
                 for rules in ("workbench", "spacer"))


@pytest.mark.parametrize("answer, truth, problem_type", [
    ("B", "B", "multiple choice"),
    ("3", "3", "numerical"),
    ("2.5", "3", "numerical"),
])
def test_well_formed_completions_score_the_same(answer, truth, problem_type):
    text = f"<think>{GOOD_MAP} The map lists it.</think>\n<answer>{answer}</answer>"
    ours, spacer = both(text, f"<answer>{truth}</answer>", problem_type)
    assert ours == spacer
    assert ours.map_score == pytest.approx(1.0)


def test_first_answer_block():
    text = "<think>x</think><answer>A</answer> on reflection <answer>B</answer>"
    ours, spacer = both(text, "<answer>B</answer>", "multiple choice", {})
    assert (ours.answer, ours.accuracy) == ("B", 1.0)  # the last block: a revised answer
    assert (spacer.answer, spacer.accuracy) == ("A", 0.0)


def test_first_map_block():
    draft = '<map>{"chair": [[9, 9]]}</map>'
    text = f"<think>{draft} no, {GOOD_MAP}</think><answer>B</answer>"
    ours, spacer = both(text, "<answer>B</answer>", "multiple choice")
    assert ours.map_score == pytest.approx(1.0)
    assert spacer.map_score < 0.5  # the draft, with one chair far off and no table


def test_coordinates_truncated_with_int():
    text = '<think><map>{"chair": [[1.9, 2.9], [7.5, 7.5]], "table": [[5.99, 5]]}</map></think><answer>B</answer>'
    ours, spacer = both(text, "<answer>B</answer>", "multiple choice")
    assert spacer.map_score == 1.0  # 1.9 -> 1, 2.9 -> 2, ...
    assert ours.map_score < 1.0


def test_map_keys_exact_after_lower_casing():
    text = '<think><map>{"Chairs": [[1, 2], [7, 7]], "TABLE": [[5, 5]]}</map></think><answer>B</answer>'
    ours, spacer = both(text, "<answer>B</answer>", "multiple choice")
    assert ours.map_score == pytest.approx(1.0)
    assert spacer.map_score == pytest.approx(1 / 3)  # only the table counts (weight 1 of 3)


def test_stray_closing_map_tag_opens_the_gate_onto_nothing():
    text = '<think>I will draw </map> a map: <map>{"chair": [[1, 2]]</think><answer>B</answer>'
    ours, spacer = both(text, "<answer>B</answer>", "multiple choice")
    assert (ours.has_map, ours.accuracy) == (False, 1.0)  # no complete map: no gate
    assert (spacer.has_map, spacer.map_score, spacer.accuracy) == (True, 0.0, 0.0)  # right answer zeroed


@pytest.mark.parametrize("answer", ["A.", "a", "(A)", "A. left"])
def test_multiple_choice_strict_string(answer):
    ours, spacer = both(f"<answer>{answer}</answer>", "<answer>A</answer>", "multiple choice", {})
    assert (ours.accuracy, spacer.accuracy) == (1.0, 0.0)


@pytest.mark.parametrize("answer, read", [
    ("-3", 3.0),  # no sign
    ("1,200", 1.0),  # no thousands separator
    ("two or one", 1.0),  # the word list's order, not the text's
    ("a few, about 3", 1.0),  # "a" is 1
    ("3.5 meters", 3.5),
    ("none", None),
])
def test_spacer_number_reading(answer, read):
    assert spacer_number(answer) == read


@pytest.mark.parametrize("answer, truth, ours_acc, spacer_acc", [
    ("-3", "3", 0.0, 1.0),
    ("1,200", "1200", 1.0, 0.0),
    ("two or one", "2", 1.0, 0.1),  # 1 against 2: relative error 0.5 passes θ = 0.50 only
    ("a few, about 3", "3", 1.0, 0.0),
])
def test_numerical_number_reading(answer, truth, ours_acc, spacer_acc):
    ours, spacer = both(f"<answer>{answer}</answer>", f"<answer>{truth}</answer>", "numerical", {})
    assert (ours.accuracy, spacer.accuracy) == (ours_acc, spacer_acc)


@pytest.mark.parametrize("answer, truth, ours_acc, spacer_acc", [
    ("3.5 m", "3.5", 1.0, 0.0),  # SpaceR: float() of the whole answer
    ("0", "0", 1.0, 0.0),  # SpaceR: (|0 - 0| + 1e-9) / (0 + 1e-9) = 1 -> reward 0
    ("1,000", "1000", 1.0, 1.0),
])
def test_regression(answer, truth, ours_acc, spacer_acc):
    ours, spacer = both(f"<answer>{answer}</answer>", f"<answer>{truth}</answer>", "regression", {})
    assert (ours.accuracy, spacer.accuracy) == (pytest.approx(ours_acc), pytest.approx(spacer_acc))


def test_bad_data_raises_under_both_rules():
    for rules in ("workbench", "spacer"):
        with pytest.raises(ValueError, match="not a number"):
            score_completion("<answer>3</answer>", "<answer>many</answer>", "numerical", rules=rules)
        with pytest.raises(ValueError, match="problem_type"):
            score_completion("<answer>3</answer>", "<answer>3</answer>", "essay", rules=rules)
    with pytest.raises(ValueError, match="rules"):
        score_completion("<answer>3</answer>", "<answer>3</answer>", "numerical", rules="open-r1")


def test_temporal_rule_in_float32():
    # p = 0.6 and 0.8 * p_shuffled = 0.8 * 0.75: equal in float32, not in float64 (0.6000000000000001)
    ordered, shuffled = [0.9, 0.3, 0.5, 0.4, 0.3, 0.9, 0.7, 0.8], [0.9, 0.6]
    assert temporal_bonus(ordered, shuffled, ratio=0.8) == [0.0] * 8
    assert temporal_bonus(ordered, shuffled, ratio=0.8, rules="spacer") == [0.3] * 8
    # away from the boundary both agree, and completions with accuracy <= 0.1 get nothing
    assert temporal_bonus([1.0, 0.1], [0.2], rules="spacer") == temporal_bonus([1.0, 0.1], [0.2]) == [0.3, 0.0]


def test_trainer_config_switch(tmp_path):
    cpu = ["--output_dir", str(tmp_path), "--bf16", "false"]
    _, config = parse(None, "rl", ["--reward_rules", "spacer", *cpu])
    assert config.reward_rules == "spacer"
    _, default = parse(None, "rl", cpu)
    assert default.reward_rules == "workbench"
    with pytest.raises(ValueError, match="reward_rules must be one of workbench, spacer"):
        parse(None, "rl", ["--reward_rules", "r1", *cpu])
