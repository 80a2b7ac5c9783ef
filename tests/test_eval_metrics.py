"""Benchmark scorers and aggregators against hand-computed cases and VSI-Bench's official formulas.

`official_score` / `official_aggregate` restate lmms-eval's VSI-Bench code (fuzzy_matching, to_float,
exact_match, mean_relative_accuracy with np.linspace, the aggregation) independently of the project's
code; the runner tests reuse them to recompute run results.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacer_core.eval import Item, get_benchmark
from spacer_core.eval.spatial import view_change_score

MC = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
      "object_rel_distance", "route_planning", "obj_appearance_order")
NA = ("object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation")


def official_score(completion: str, truth: str, question_type: str) -> float:
    """VSI-Bench's process_results, after the <answer> extraction of the thinking modes."""
    m = re.search(r"<answer>(.*?)</answer>", completion, re.S)
    text = m.group(1).strip() if m else completion
    pred = text.split(" ")[0].rstrip(".").strip()  # lmms-eval's fuzzy_matching
    if question_type in MC:
        return 1.0 if pred.lower() == truth.lower() else 0.0
    try:
        p, t = float(pred), float(truth)
    except ValueError:
        return 0.0
    if not math.isfinite(p):
        return 0.0
    thresholds = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))
    return float((abs(p - t) / t <= 1 - thresholds).mean())


def official_aggregate(rows) -> float:
    """Mean per type; the three rel-direction types averaged into one; overall = mean of the tasks (×100)."""
    per_type: dict[str, list[float]] = {}
    for r in rows:
        per_type.setdefault(r["question_type"], []).append(r["score"])
    tasks = {q: float(np.mean(v)) for q, v in per_type.items() if not q.startswith("object_rel_direction_")}
    directions = [float(np.mean(v)) for q, v in per_type.items() if q.startswith("object_rel_direction_")]
    if directions:
        tasks["object_rel_direction"] = sum(directions) / len(directions)
    return 100.0 * sum(tasks.values()) / len(tasks)


def vsi_item(qtype: str, truth: str, **kw) -> Item:
    problem = "multiple choice" if qtype in MC else "numerical"
    return Item(id="1", question="Q?", ground_truth=truth, question_type=qtype, problem_type=problem, **kw)


@pytest.mark.parametrize("completion, truth, qtype, expected", [
    ("B", "B", "object_rel_distance", 1.0),
    ("b.", "B", "route_planning", 1.0),  # case-insensitive, one trailing dot removed
    ("B. the chair", "B", "object_rel_distance", 1.0),  # first token only
    ("(B)", "B", "object_rel_distance", 0.0),  # no further normalisation (official)
    ("The answer is B", "B", "obj_appearance_order", 0.0),
    ("<think>left of the bed</think><answer>C</answer>", "C", "object_rel_direction_hard", 1.0),
    ("<think>I guess</think> <answer> c </answer>", "C", "object_rel_direction_easy", 1.0),
    ("3.5", "4", "object_abs_distance", 0.8),  # |3.5 − 4| / 4 = 0.125 ≤ 1 − θ for θ = 0.50 … 0.85
    ("3.5 m", "4", "object_abs_distance", 0.8),
    ("<answer>4.</answer>", "4", "object_counting", 1.0),
    ("2.1", "2", "object_size_estimation", 1.0),  # error 0.05 passes θ = 0.95 (≤)
    ("1.5", "1", "room_size_estimation", 0.1),  # error 0.5 passes θ = 0.50 only
    ("0", "7", "object_counting", 0.0),
    ("three", "3", "object_counting", 0.0),  # words are not numbers for VSI-Bench
    ("a", "1", "object_counting", 0.0),  # nor is the article (SpaceR's scorer's bug)
    ("about 3", "3", "object_counting", 0.0),
    ("1.2e1", "12", "object_counting", 1.0),
    ("", "3", "object_counting", 0.0),
    # only a single space splits, and every trailing dot goes (official fuzzy_matching)
    ("A.\nleft", "A", "object_rel_direction_easy", 0.0),
    ("A\tleft", "A", "object_rel_direction_easy", 0.0),
    ("3\nmeters", "3", "object_abs_distance", 0.0),
    ("A..", "A", "route_planning", 1.0),
    ("3..", "3", "object_counting", 1.0),
    ("<answer>A\n</answer>", "A", "route_planning", 1.0),
    (" A", "A", "route_planning", 0.0),  # direct mode: the raw text, whose first piece is ""
    ("A\n", "A", "route_planning", 1.0),  # the final strip
])
def test_vsibench_scores_hand_computed(completion, truth, qtype, expected):
    for name in ("vsibench", "sim"):
        score = get_benchmark(name).score(vsi_item(qtype, truth), completion)
        assert score.score == pytest.approx(expected)
        assert official_score(completion, truth, qtype) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(pred=st.floats(0.01, 50, allow_nan=False), truth=st.floats(0.1, 40), qtype=st.sampled_from(NA))
def test_vsibench_mra_equals_the_official_formula(pred, truth, qtype):
    completion, gt = f"{pred!r} meters", repr(truth)
    assert get_benchmark("vsibench").score(vsi_item(qtype, gt), completion).score == \
        pytest.approx(official_score(completion, gt, qtype))


def test_vsibench_aggregation_hand_computed():
    rows = [
        {"question_type": "object_rel_direction_easy", "score": 1.0},
        {"question_type": "object_rel_direction_easy", "score": 0.0},  # easy 50
        {"question_type": "object_rel_direction_medium", "score": 1.0},  # medium 100
        {"question_type": "object_rel_direction_hard", "score": 0.0},  # hard 0 -> direction 50
        {"question_type": "object_counting", "score": 0.8},  # 80
        {"question_type": "route_planning", "score": 1.0},
        {"question_type": "route_planning", "score": 0.0},
        {"question_type": "route_planning", "score": 0.0},
        {"question_type": "route_planning", "score": 1.0},  # 50
    ]
    summary = get_benchmark("vsibench").aggregate(rows)
    assert summary["overall"] == pytest.approx(60.0)  # mean(50, 80, 50), not the item mean (53.3)
    assert summary["tasks"] == pytest.approx({"object_rel_direction": 50.0, "object_counting": 80.0,
                                              "route_planning": 50.0})
    assert summary["per_type"]["object_rel_direction_easy"] == pytest.approx(50.0)
    assert summary["counts"]["route_planning"] == 4
    assert official_aggregate(rows) == pytest.approx(60.0)


def test_sim_scores_maps_against_the_true_map():
    bench = get_benchmark("sim")
    item = vsi_item("object_counting", "2", categories=["chair", "table"],
                    true_map={"chair": [(0.0, 0.0), (9.0, 9.0)], "table": [(5.0, 5.0)]})
    exact = bench.score(item, '<think><map>{"chair": [[9, 9], [0, 0]], "table": [[5, 5]]}</map></think><answer>2</answer>')
    assert (exact.score, exact.extra["map_score"]) == (1.0, pytest.approx(1.0))
    # chair: both matched exactly (1 + 1) / 2; table: 5 cells off on a 10×10 grid → 1 − 5 / (10√2)
    off = bench.score(item, '<map>{"chairs": [[0, 0], [9, 9]], "table": [[5, 0]], "sofa": [[1, 1]]}</map>'
                            "<answer>3</answer>")
    assert off.extra["map_score"] == pytest.approx((2 * 1.0 + 1 * (1 - 5 / (10 * math.sqrt(2)))) / 3)
    assert exact.extra["map_cells"] == {"objects": 3, "exact": 3, "near": 3}
    assert off.extra["map_cells"] == {"objects": 3, "exact": 2, "near": 2}  # the table is 5 cells off
    near = bench.score(item, '<map>{"chair": [[1, 1], [9, 8]], "table": [[5, 5], [7, 7]]}</map>')
    assert near.extra["map_cells"] == {"objects": 3, "exact": 1, "near": 3}  # diagonal neighbours count
    assert off.score == pytest.approx(official_score("<answer>3</answer>", "2", "object_counting"))
    assert bench.score(item, "<answer>2</answer>").extra["map_score"] is None  # no map drawn
    rows = [{"question_type": "object_counting", "score": 1.0, "map_score": 1.0},
            {"question_type": "object_counting", "score": 0.0, "map_score": 0.5},
            {"question_type": "object_counting", "score": 0.0, "map_score": None}]
    summary = bench.aggregate(rows)
    assert summary["map"] == {"mean": pytest.approx(0.75), "count": 2}  # rows from before map_cells
    rows[:2] = [{**row, "map_cells": scored.extra["map_cells"]} for row, scored in zip(rows[:2], (exact, near), strict=True)]
    assert bench.aggregate(rows)["map"]["cells"] == {"objects": 6, "exact": pytest.approx(4 / 6), "near": 1.0}
    assert summary["overall"] == pytest.approx(100 / 3)


def test_sim_checks_the_answer_against_the_option_the_reasoning_arrives_at():
    from spacer_core.eval.spatial import conclusion_choice, derivation_choice

    easy = ["A. left", "B. right"]
    # the arithmetic concludes right, the answer says A (a real completion's form)
    wrong = ("<think><map>{}</map>\nFacing the door: (3-1, 9-7) = (2, 2). To the table: (7-1, 3-7) = (6, -4). "
             "2*-4 = -8, 2*6 = 12; -8 < 12: right.</think>\n<answer>A</answer>")
    assert derivation_choice(wrong, easy) == "B"
    hard = ["A. back-right", "B. front-left", "C. back-left", "D. front-right"]
    assert derivation_choice("…: left. 0*-3 = 0, 9*3 = 27; 0 > -27: front. So front-left.</think>", hard) == "B"
    assert derivation_choice("The map lists 2 lamps, so there are 2.", easy) is None
    marked = "…: right.\nA. left: no. B. right: yes.</think><answer>B</answer>"
    assert derivation_choice(marked, easy) == "B"
    assert derivation_choice("A. left: yes. B. right: no.", easy) == "A"  # the mark, not the text named last
    assert derivation_choice("A. left: yes. B. right: yes.", easy) is None  # marks both
    assert derivation_choice("A. left no. B. right: yes.", easy) == "B"  # a mark reaches back one option only
    assert derivation_choice("…: left. I. left: yes.", easy) == "A"  # no option I: the text named last
    lines = "…: right.\nA. left vs right: no.\nB. right vs right: yes.</think><answer>A</answer>"
    assert derivation_choice(lines, easy) == "B"  # --option-lines: each option beside the conclusion
    route = ["A. Turn Left, Turn Right", "B. Turn Right, Turn Right"]
    assert derivation_choice("So: Turn Right, Turn Right.</think>", route) == "B"

    bench = get_benchmark("sim")
    item = vsi_item("object_rel_direction_easy", "B", options=easy)
    rows = [{"question_type": item.question_type, "score": s.score, **s.extra}
            for s in (bench.score(item, wrong), bench.score(item, marked), bench.score(item, "<answer>B</answer>"),
                      bench.score(item, marked.replace("<answer>B", "<answer>b")))]
    assert [r["agrees"] for r in rows] == [False, True, None, True]  # answers are read case-insensitively
    assert bench.aggregate(rows)["agreement"] == {"rate": 2 / 3, "count": 3}
    # the conclusion, apart from the marks that turn it into a letter
    assert [r["concludes"] for r in rows] == [True, True, False, True]
    assert bench.aggregate(rows)["conclusions"] == {"rate": 3 / 4, "count": 4,
                                                    "by_type": {item.question_type: {"rate": 3 / 4, "count": 4}}}
    mismarked = "…: right.\nA. left vs left: yes.\nB. right vs left: no.</think><answer>A</answer>"
    assert (derivation_choice(mismarked, easy), conclusion_choice(mismarked, easy)) == ("A", "B")
    assert conclusion_choice("…: left.\nA. left: yes. B. right: no.", easy) == "A"  # marks on one line
    assert conclusion_choice("The map lists 2 lamps.", easy) is None


@pytest.mark.parametrize("completion, expected", [
    ("<answer>B</answer>", 1.0), ("(b) the lamp", 1.0), ("The answer is B", 1.0), ("B. lamp", 1.0),
    ("<answer>C</answer>", 0.0), ("a lamp", 0.0), ("", 0.0),
])
@pytest.mark.parametrize("name", ["stibench", "videomme", "tempcompass", "longvideobench"])
def test_multiple_choice_benchmarks_score_the_option_letter(name, completion, expected):
    item = Item(id="1", question="Q?", ground_truth="B", question_type="t", problem_type="multiple choice",
                options=["A. sofa", "B. lamp", "C. bed"])
    assert get_benchmark(name).score(item, completion).score == expected


def test_item_mean_aggregation_with_groups():
    rows = [{"question_type": "counting", "score": 1.0, "meta": {"duration": "short"}},
            {"question_type": "counting", "score": 0.0, "meta": {"duration": "long"}},
            {"question_type": "ocr", "score": 1.0, "meta": {"duration": "long"}},
            {"question_type": "ocr", "score": 1.0, "meta": {"duration": "long"}}]
    summary = get_benchmark("videomme").aggregate(rows)
    assert summary["overall"] == pytest.approx(75.0)  # 3 of 4 questions
    assert summary["per_type"] == pytest.approx({"counting": 50.0, "ocr": 100.0})
    assert summary["groups"]["duration"] == pytest.approx({"short": 100.0, "long": 200 / 3})


def spar_item(task: str, truth: str, problem: str) -> Item:
    return Item(id="1", question="Q?", ground_truth=truth, question_type=task, problem_type=problem)


def test_sparbench_scores():
    bench = get_benchmark("sparbench")
    assert bench.score(spar_item("position_matching", "C", "multiple choice"), "<answer>C</answer>").score == 1.0
    # single view: the first number; multi-view distance/depth: the last one
    single = spar_item("depth_prediction_oc", "2", "numerical")
    assert bench.score(single, "<answer>2.2 m, not 5</answer>").score == pytest.approx(0.9)  # error 0.1
    multi = spar_item("distance_prediction_oo_mv", "2", "numerical")
    assert bench.score(multi, "<answer>from 5 m down to 2.2 m</answer>").score == pytest.approx(0.9)
    assert bench.score(multi, "<answer>unknown</answer>").score == 0.0
    view = spar_item("view_change_infer", "move_right:1,rotate_left:10", "free-form")
    # axes: right−left 1.1 vs 1 (error 0.1 → 0.9); the other four exact (true 0: absolute error 0) → 1
    assert bench.score(view, "<answer>move_right:1.1, rotate_left:10</answer>").score == pytest.approx(0.98)
    assert view_change_score("turn a bit", "move_right:1") == 0.0
    # a true 0 with a predicted 0.3: absolute error 0.3 ≤ 1 − θ for θ = 0.50 … 0.70 → 0.5 on that axis
    assert view_change_score("move_up:0.3,move_right:1", "move_right:1") == pytest.approx((4 + 0.5) / 5)


def test_sparbench_aggregates_task_means_and_tiers():
    rows = [
        {"question_type": "depth_prediction_oc", "score": 1.0, "meta": {"img_type": "single-view"}},
        {"question_type": "depth_prediction_oc", "score": 0.0, "meta": {"img_type": "single-view"}},  # 50, low
        {"question_type": "camera_motion_infer", "score": 1.0, "meta": {"img_type": "multi-view"}},  # 100, middle
        {"question_type": "spatial_imagination_oo", "score": 0.0, "meta": {"img_type": "single-view"}},  # 0, high
        {"question_type": "spatial_imagination_oc", "score": 0.3, "meta": {"img_type": "single-view"}},  # 30, high
    ]
    summary = get_benchmark("sparbench").aggregate(rows)
    assert summary["overall"] == pytest.approx((50 + 100 + 0 + 30) / 4)
    assert summary["tiers"] == pytest.approx({"low": 50.0, "middle": 100.0, "high": 15.0})
    assert summary["groups"]["img_type"] == pytest.approx({"single-view": (50 + 0 + 30) / 3, "multi-view": 100.0})


def test_sim_counts_option_lines_that_copy_the_prompts_options():
    """The option lines of seed 1 of the half-way balanced SFT: right conclusions, but options copied
    in an order of their own (docs/results/budget_640/balanced-0.5-seed1, item 547)."""
    from spacer_core.eval.report import render_summary
    from spacer_core.eval.spatial import copies_options

    hard = ["A. front-right", "B. back-left", "C. back-right", "D. front-left"]
    copied = ("…So front-left.\nA. front-right vs front-left: no.\nB. back-left vs front-left: no.\n"
              "C. back-right vs front-left: no.\nD. front-left vs front-left: yes.</think>\n<answer>D</answer>")
    own_order = copied.replace("A. front-right", "A. front-left").replace("D. front-left vs", "D. front-right vs")
    assert copies_options(copied, hard) is True
    assert copies_options(own_order, hard) is False
    assert copies_options(copied.replace("\nD. front-left vs front-left: yes.", ""), hard) is False  # one left out
    assert copies_options("…So front-left.</think>\n<answer>D</answer>", hard) is None  # no option lines

    bench = get_benchmark("sim")
    item = vsi_item("object_rel_direction_hard", "D", options=hard)
    rows = [{"question_type": item.question_type, "score": s.score, **s.extra}
            for s in (bench.score(item, c) for c in (copied, own_order, "<answer>D</answer>"))]
    assert [r["copies"] for r in rows] == [True, False, None]
    easy = vsi_item("object_rel_direction_easy", "A", options=["A. left", "B. right"])
    lines = "…: left.\nA. left vs left: yes.\nB. right vs left: no.</think><answer>A</answer>"
    rows.append({"question_type": easy.question_type, "score": 1.0, **bench.score(easy, lines).extra})
    summary = {**bench.aggregate(rows), "benchmark": "sim", "n": 4}
    assert {k: v for k, v in summary["copies"].items() if k != "by_type"} == {"rate": 2 / 3, "count": 3}
    # per type: the hard directions conclude right twice in 3 (a bare answer concludes nothing) and copy once in 2
    assert summary["copies"]["by_type"] == {"object_rel_direction_hard": {"rate": 0.5, "count": 2},
                                            "object_rel_direction_easy": {"rate": 1.0, "count": 1}}
    assert summary["conclusions"]["by_type"]["object_rel_direction_hard"] == {"rate": 2 / 3, "count": 3}
    text = render_summary(summary)
    assert "67% copy the prompt's options exactly" in text
    assert "| object_rel_direction_hard | 67 (of 3) | 50 (of 2) | 100.0 |" in text


def test_sim_counts_well_formed_completions_and_reasoning_that_names_the_objects():
    """`spacer eval`'s format and naming counts (the shipped model's goals: ≥ 95% and ≥ 90%), on
    completions in the forms the tiny model writes."""
    from spacer_core.eval.report import render_summary

    bench = get_benchmark("sim")
    item = replace(vsi_item("object_counting", "2"), question="How many lamp(s) are in this room?")
    named = "<think><map>{\"lamp\": [[1, 2], [3, 4]]}</map>\nlamp: 2, at (1, 2), (3, 4).\nThe map lists 2 lamps, so there are 2.</think><answer>2</answer>"
    unnamed = named.replace("lamp: 2, at (1, 2), (3, 4).\nThe map lists 2 lamps", "The map lists 2 chairs")
    only_in_map = named.replace("lamp: 2, at (1, 2), (3, 4).\nThe map lists 2 lamps", "So")
    cut_off = named[:30]  # stopped by the token budget inside its map
    rows = [{"question_type": item.question_type, "score": s.score, **s.extra}
            for s in (bench.score(item, c) for c in (named, unnamed, only_in_map, cut_off))]
    assert [r["format_ok"] for r in rows] == [True, True, True, False]
    assert [r["names_objects"] for r in rows] == [True, False, False, False]  # the map's keys do not count
    room = replace(vsi_item("room_size_estimation", "20"), question="What is the size of this room (in square meters)?")
    assert "names_objects" not in bench.score(room, named).extra  # names no object: not counted
    # --mode thinking draws no map: all its reasoning counts; a bare answer (direct mode) is not counted
    assert bench.score(item, "<think>There are 2 lamps.</think><answer>2</answer>").extra["names_objects"] is True
    assert "names_objects" not in bench.score(item, "<answer>2</answer>").extra
    summary = {**bench.aggregate(rows), "benchmark": "sim", "n": 4, "overall": 50.0}
    assert summary["format"] == {"rate": 3 / 4, "count": 4}
    assert summary["names_objects"] == {"rate": 1 / 4, "count": 4}
    text = render_summary(summary)
    assert "75% of the 4 completions are one think/answer pair." in text
    assert "Of the 4 whose question names objects, 25% name every one" in text
