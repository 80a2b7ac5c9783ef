"""The blind stress test (`spacer eval stress`): it finds a shortcut planted in a fixture set and none
in a balanced one; its files and command."""

from __future__ import annotations

import json
import random

import pytest

from spacer_core.cli import main
from spacer_core.eval import Item
from spacer_core.eval.stress import BIAS_JSONL, STRESS_JSON, features, stress_test

CATEGORIES = ["chair", "table", "lamp", "sofa", "bed", "plant"]
LETTERS = "ABCD"


def counting(i: int, answer: int) -> Item:
    category = CATEGORIES[i % len(CATEGORIES)]
    return Item(id=f"c{i}", question=f"How many {category}(s) are in this room?", ground_truth=str(answer),
                question_type="object_counting", problem_type="numerical")


def closest(i: int, right: str, rng: random.Random) -> Item:
    names = rng.sample(CATEGORIES, 4)
    return Item(id=f"m{i}", question=f"Which of these objects is the closest to the {rng.choice(CATEGORIES)}?",
                ground_truth=right, question_type="object_rel_distance", problem_type="multiple choice",
                options=[f"{letter}. {name}" for letter, name in zip(LETTERS, names, strict=True)])


def test_a_planted_shortcut_is_found():
    rng = random.Random(0)
    # counts decided by the category named; the right option is always the one naming a sofa
    items = [counting(i, 1 + CATEGORIES.index(CATEGORIES[i % 6])) for i in range(120)]
    for i in range(120):
        item = closest(i, "A", rng)
        sofa = rng.choice(LETTERS)
        names = [o.split(". ")[1] for o in item.options]
        names[names.index("sofa") if "sofa" in names else 0] = names[LETTERS.index(sofa)]
        names[LETTERS.index(sofa)] = "sofa"
        item.options = [f"{letter}. {name}" for letter, name in zip(LETTERS, names, strict=True)]
        item.ground_truth = sofa
        items.append(item)
    summary, rows = stress_test(items, folds=5, seed=0)
    counts, choice = summary["per_type"]["object_counting"], summary["per_type"]["object_rel_distance"]
    assert counts["blind"] > 90 and counts["blind"] > counts["prior"] + 40
    assert choice["blind"] > 90 and choice["prior"] == pytest.approx(25.0)
    assert len(rows) == 240 and len({r["id"] for r in rows}) == 240
    assert all(0 <= r["bias"] <= 1 for r in rows)


def test_a_balanced_set_is_not_blind_solvable():
    rng = random.Random(1)
    items = [counting(i, rng.randint(1, 6)) for i in range(120)]  # counts unrelated to the question
    items += [closest(i, rng.choice(LETTERS), rng) for i in range(120)]  # letters unrelated to the options
    summary, _ = stress_test(items, folds=5, seed=0)
    for t in summary["per_type"].values():  # nothing to find: no better than the prior
        assert t["blind"] < t["prior"] + 8, summary


def test_features_hold_no_answer():
    item = counting(0, 3)
    assert not any("3" in key for key in features(item))


def test_stress_command_writes_its_files(tmp_path, capsys):
    assert main(["eval", "stress", "--bench", "sim", "--out", str(tmp_path), "--folds", "3"]) == 0
    assert "| **mean over types** |" in capsys.readouterr().out
    summary = json.loads((tmp_path / STRESS_JSON).read_text())
    assert summary["benchmark"] == "sim" and summary["folds"] == 3 and "object_counting" in summary["per_type"]
    rows = [json.loads(line) for line in (tmp_path / BIAS_JSONL).read_text().splitlines()]
    assert sum(t["n"] for t in summary["per_type"].values()) == len(rows)


def test_a_numerical_item_without_a_number_is_named():
    items = [counting(0, 3), counting(1, 2)]
    items[1].ground_truth = "many"
    with pytest.raises(ValueError, match="item c1: ground truth 'many' of a numerical question is not a number"):
        stress_test(items)
