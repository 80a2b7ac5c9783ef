"""The cell-arithmetic derivations (`spacer data synth --cell-arithmetic`): every step they write is
true arithmetic, their answers are the angle rules' answers on the same cells, and generated items
keep only the questions whose cells give the true answer."""

from __future__ import annotations

import json
import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from spacer_core.sim.cell_arithmetic import closest, direction, turns
from spacer_core.sim.questions import BACK_ANGLE, signed_angle
from spacer_core.sim.synth import SynthConfig, synthesize

cells = st.tuples(st.integers(0, 9), st.integers(0, 9))


def steps_hold(text: str) -> None:
    """Every offset, product, sum, difference and comparison written in ``text`` is true."""
    for a, b, x, y, dx, dy in re.findall(r"\((\d)-(\d), (\d)-(\d)\) = \((-?\d+), (-?\d+)\)", text):
        assert (int(a) - int(b), int(x) - int(y)) == (int(dx), int(dy)), text
    for a, b, p in re.findall(r"(?<![-+] )(-?\d+)\*(-?\d+) = (-?\d+)[,;.]", text):  # a product on its own
        assert int(a) * int(b) == int(p), text
    number = r"(-?\d+)"
    two_products = rf"{number}\*{number} ([-+]) {number}\*{number} = {number} [-+] {number} = {number}"
    for a, b, op, c, d, p, q, r in re.findall(two_products, text):
        assert (int(p), int(q)) == (int(a) * int(b), int(c) * int(d)), text
        assert int(r) == (int(p) - int(q) if op == "-" else int(p) + int(q)), text
    for a, b, c, d, r in re.findall(r"\) (\d)\*(\d) \+ (\d)\*(\d) = (\d+)", text):  # squared cell distances
        assert int(a) == int(b) and int(c) == int(d) and int(a) ** 2 + int(c) ** 2 == int(r), text
    for a, op, b in re.findall(r"(?<![*\d-])(-?\d+) ([<>=]) (-?\d+)[:,]", text):
        assert {"<": int(a) < int(b), ">": int(a) > int(b), "=": int(a) == int(b)}[op], text


def angle_label(kind: str, angle: float) -> str:
    side = "left" if angle > 0 else "right"
    if kind == "easy":
        return side
    if kind == "medium":
        return "back" if abs(angle) >= BACK_ANGLE else side
    return f"{'front' if abs(angle) < 90 else 'back'}-{side}"


def on_boundary(angle: float) -> bool:
    return min(abs(abs(angle) - b) for b in (0, 90, BACK_ANGLE, 180)) < 1e-9


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["easy", "medium", "hard"]), cells, cells, cells)
def test_direction_steps_are_true_and_answer_as_the_angle_does(kind, p, o, q):
    text, label = direction(kind, ("door", "sofa", "bed"), (p, o, q))
    steps_hold(text)
    f, t = (o[0] - p[0], o[1] - p[1]), (q[0] - p[0], q[1] - p[1])
    if f == (0, 0) or t == (0, 0):
        assert label is None
        return
    angle = signed_angle(f, t)
    if on_boundary(angle):  # the cells may leave it undecided, or decide it as the rule does
        assert label is None or label == angle_label(kind, angle)
    else:
        assert label == angle_label(kind, angle)
        assert text.endswith(f"{label}.")


def test_direction_reads_as_documented():
    text, label = direction("hard", ("door", "sofa", "bed"), ((4, 0), (4, 9), (1, 3)))
    assert label == "front-left"
    assert text == ("Facing the sofa: (4-4, 9-0) = (0, 9). To the bed: (1-4, 3-0) = (-3, 3). "
                    "0*3 = 0, 9*-3 = -27; 0 > -27: left. 0*-3 = 0, 9*3 = 27; 0 > -27: front. So front-left.")
    text, label = direction("medium", ("sofa", "door", "bed"), ((4, 5), (4, 0), (4, 8)))
    assert label == "back" and text.endswith("0*0 + -5*3 = 0 + -15 = -15. 15 > 0: back.")


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, min_size=3, max_size=4))
def test_route_turns_are_the_turns_of_the_legs(stops):
    text, labels = turns([f"s{i}" for i in range(len(stops))], stops)
    steps_hold(text)
    legs = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stops, stops[1:], strict=False)]
    if (0, 0) in legs:
        assert labels == [None]
        return
    for (a, b), label in zip(zip(legs, legs[1:], strict=False), labels, strict=True):
        angle = signed_angle(a, b)
        if not on_boundary(angle):
            assert label == angle_label("medium", angle)


@settings(max_examples=200, deadline=None)
@given(cells, st.dictionaries(st.sampled_from(["chair", "lamp", "bed", "sofa"]), st.lists(cells, min_size=1, max_size=3),
                              min_size=2))
def test_closest_is_the_nearest_instance(target, choices):
    text, best = closest(("table", target), choices)
    steps_hold(text)
    nearest = {c: min(math.dist(target, x) for x in xs) for c, xs in choices.items()}
    ranked = sorted(nearest, key=nearest.get)
    if nearest[ranked[0]] == nearest[ranked[1]]:
        assert best is None
    else:
        assert best == ranked[0] and text.endswith(f"The {best} is the closest: {round(nearest[best] ** 2)}.")


def test_synthesized_items_derive_their_answer(tmp_path):
    """On freshly rendered scenes: each derivation with the cell arithmetic ends in the item's answer,
    its steps are true, and its offsets read the cells of the map it starts with."""
    synthesize(tmp_path, SynthConfig(scenes=16, seed=4, size=128, world="small", lookup_lines=True,
                                     cell_arithmetic=True), workers=1, progress=False)
    items = [json.loads(line) for name in ("train.jsonl", "test.jsonl")
             for line in (tmp_path / name).read_text().splitlines()]
    checked = 0
    for item in items:
        kind = item["question_type"]
        if kind not in ("object_rel_distance", "route_planning") and not kind.startswith("object_rel_direction"):
            continue
        checked += 1
        steps_hold(item["reasoning"])
        answer = dict(o.split(". ", 1) for o in item["options"])[re.search(r"<answer>(\w)</answer>", item["solution"])[1]]
        derivation = item["reasoning"].rsplit("\n", 1)[1]
        if kind == "route_planning":
            assert derivation.endswith(f"So: {answer}.")
            assert [t.lower() for t in answer.split(", ")] == [f"turn {m}" for m in re.findall(r": (left|right|back)\.",
                                                                                                 derivation)]
        elif kind == "object_rel_distance":
            assert f"The {answer} is the closest" in derivation
        else:
            assert derivation.endswith(f"{answer}.")
        cogmap = {k: [tuple(c) for c in v] for k, v in json.loads(re.search(r"<map>(.*)</map>", item["reasoning"])[1]).items()}
        for name, x, y in re.findall(r"(?:Facing|To) the (\w+): \((\d)-\d, (\d)-\d\)", derivation):
            assert (int(x), int(y)) == cogmap[name][0]
    assert checked >= 20


def test_synth_command_records_the_option_and_changes_only_the_derivations(tmp_path):
    """`spacer data synth --cell-arithmetic`: the manifest says so, and the scenes (their video
    records with every object's visible pixels a frame) and maps are those of the same command
    without it: a variant of a data set, not another world."""
    from spacer_core.cli import main

    args = ["data", "synth", "--scenes", "3", "--frames", "6", "--size", "96", "--world", "small", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--cell-arithmetic", "--out", str(tmp_path / "arith")]) == 0
    config = json.loads((tmp_path / "arith" / "manifest.json").read_text())["config"]
    assert config["cell_arithmetic"] is True
    assert json.loads((tmp_path / "plain" / "manifest.json").read_text())["config"]["cell_arithmetic"] is False
    for name in ("scenes/scene_0001.json", "scenes/scene_0002.json", "cognitive_map.jsonl"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "arith" / name).read_bytes(), name


def test_offsets_right_counts_the_differences_a_text_computes():
    from spacer_core.sim.cell_arithmetic import offsets_right

    text, _ = direction("hard", ("door", "sofa", "bed"), ((4, 0), (4, 9), (1, 3)))
    assert offsets_right(text) == (4, 4)
    # a model's completion: the operands copied, one difference wrong
    assert offsets_right("Facing the sofa: (2-7, 0-3) = (-2, -3). To the door: (9-7, 4-3) = (2, 1).") == (3, 4)
    assert offsets_right("The map lists 2 lamps, so there are 2.") == (0, 0)


def tenths(text: str) -> int:
    whole, _, tenth = text.partition(".")
    return int(whole) * 10 + int(tenth)


@settings(max_examples=300, deadline=None)
@given(cells, cells, st.floats(4.0, 7.5), st.floats(4.0, 7.5), st.floats(0.05, 1.2), st.floats(0.05, 1.2))
def test_distance_steps_are_true_and_end_near_the_centres_distance_less_the_halves(a, b, width, length, ha, hb):
    from spacer_core.sim.cell_arithmetic import distance

    text, estimate = distance(("bed", "lamp"), (a, b), (width, length), (ha, hb))
    steps_hold(text)
    num = r"(\d+\.\d)"
    room = re.match(rf"The room is about {num} m by {num} m, so a cell is {num} m by {num} m\. ", text)
    w, ln, cw, cl = (tenths(v) for v in room.groups())
    assert abs(w - width * 10) <= 0.5 + 1e-6 and abs(ln - length * 10) <= 0.5 + 1e-6
    assert (cw, cl) == ((w + 5) // 10, (ln + 5) // 10)  # a tenth of each side, to 0.1 m, halves up
    legs = re.findall(rf"(\d)\*{num} = {num} m", text)
    assert [tenths(p) for _, _, p in legs] == [int(k) * tenths(c) for k, c, _ in legs]
    assert [int(k) for k, _, _ in legs] == [abs(b[0] - a[0]), abs(b[1] - a[1])]
    long_, short, long2, half, centres = (tenths(v) for v in re.search(
        rf"{num} \+ {num}/2 = {num} \+ {num} = {num} m between the centres", text).groups())
    assert long_ == long2 == max(tenths(p) for *_, p in legs) and short == min(tenths(p) for *_, p in legs)
    assert half == (short + 1) // 2 and centres == long_ + half
    # the longer leg plus half the shorter is within 12% (and the rounding) of the hypotenuse
    assert abs(centres - math.hypot(long_, short)) <= 0.12 * math.hypot(long_, short) + 1
    h1, h2, halves = (tenths(v) for v in re.search(rf"Half of each: {num} \+ {num} = {num} m\.", text).groups())
    assert abs(h1 - ha * 10) <= 0.5 + 1e-6 and abs(h2 - hb * 10) <= 0.5 + 1e-6
    assert halves == h1 + h2
    if centres - halves >= 1:
        assert text.endswith(f"= {estimate:.1f} m.") and round(estimate * 10) == centres - halves
    else:
        assert text.endswith("is below 0.1, so about 0.1 m.") and estimate == 0.1


def test_distance_steps_beat_the_median_answer_on_true_maps():
    """On 300 generated rooms (every object seen), the estimates the distance derivations end on
    score far above the median answer: the steps carry the answer, not the prior."""
    import statistics

    from spacer_core.metrics import mean_relative_accuracy
    from spacer_core.sim.questions import generate_questions
    from spacer_core.sim.scene import generate_scene

    items = [q for s in range(300) for q in generate_questions(generate_scene(s, world="small"), s, distance_steps=True)
             if q.question_type == "object_abs_distance"]
    assert len(items) >= 300
    median = statistics.median(float(q.answer) for q in items)
    steps = statistics.mean(mean_relative_accuracy(re.search(r"(\d+\.\d) m\.$", q.reasoning)[1], q.answer) for q in items)
    prior = statistics.mean(mean_relative_accuracy(median, q.answer) for q in items)
    assert steps > prior + 0.15, (steps, prior)


def test_distance_steps_rewrite_only_the_derivations_of_kept_videos(tmp_path, capsys):
    """`spacer data synth --distance-steps --keep-videos` on a data set already rendered: the videos
    and scenes are not touched, every item is the same but the absolute distances' derivations, and
    those read the map's cells. Settings that would change the videos are refused, naming the field."""
    from spacer_core.cli import main

    out = tmp_path / "data"
    args = ["data", "synth", "--scenes", "3", "--frames", "6", "--size", "96", "--world", "small", "--workers", "1",
            "--lookup-lines", "--out", str(out)]
    assert main(args) == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [*out.glob("videos/*"), *out.glob("scenes/*")]}
    plain = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert main([*args, "--distance-steps", "--keep-videos"]) == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
    steps = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert json.loads((out / "manifest.json").read_text())["config"]["distance_steps"] is True
    assert len(steps) == len(plain) and any(q["question_type"] == "object_abs_distance" for q in steps)
    for old, new in zip(plain, steps, strict=True):
        assert {k: v for k, v in old.items() if k != "reasoning"} == {k: v for k, v in new.items() if k != "reasoning"}
        if new["question_type"] != "object_abs_distance":
            assert new["reasoning"] == old["reasoning"]
            continue
        steps_hold(new["reasoning"])
        cogmap = json.loads(re.search(r"<map>(.*)</map>", new["reasoning"])[1])
        a, b = re.search(r"between the (\w+) and the (\w+)", new["problem"]).groups()
        (ax, ay), (bx, by) = cogmap[a][0], cogmap[b][0]
        assert f"From the {a} to the {b}: ({bx}-{ax}, {by}-{ay})" in new["reasoning"]
    assert main([*args, "--size", "128", "--keep-videos"]) == 2  # the last --size counts
    assert f"keep videos: {out / 'manifest.json'} has size = 96, this run asks for 128" in capsys.readouterr().out
    assert main([*args[:-1], str(tmp_path / "empty"), "--keep-videos"]) == 2
    assert "manifest.json not found" in capsys.readouterr().out
