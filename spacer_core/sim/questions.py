"""VSI-Bench-style questions with exact answers, from a scene's boxes (and, for appearance order,
the rendered per-frame visibility).

Every question type of VSI-Bench is generated, phrased like VSI-Bench, only where it is well posed:
categories that must be unique are unique, every object a question refers to was seen in the video,
and answers keep margins from decision boundaries (distances, angles, first-appearance frames).
Each item also carries a short, true chain of thought (``reasoning``) built from the ground truth:
the true cognitive map as ``<map>{...}</map>`` and one or two sentences that derive the answer.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import lsq_linear

from spacer_core.cogmap import lookup_line, map_text, maps_from_boxes
from spacer_core.sim import cell_arithmetic
from spacer_core.sim.scene import VOCABULARY, footprint_half, room_bounds

MULTIPLE_CHOICE, NUMERICAL = "multiple choice", "numerical"
QUESTION_TYPES: dict[str, str] = {
    "object_counting": NUMERICAL,
    "object_abs_distance": NUMERICAL,
    "object_size_estimation": NUMERICAL,
    "room_size_estimation": NUMERICAL,
    "object_rel_distance": MULTIPLE_CHOICE,
    "object_rel_direction_easy": MULTIPLE_CHOICE,
    "object_rel_direction_medium": MULTIPLE_CHOICE,
    "object_rel_direction_hard": MULTIPLE_CHOICE,
    "route_planning": MULTIPLE_CHOICE,
    "obj_appearance_order": MULTIPLE_CHOICE,
}
# Most items of one type per scene.
PER_SCENE = {
    "object_counting": 2,
    "object_abs_distance": 3,
    "object_size_estimation": 2,
    "room_size_estimation": 1,
    "object_rel_distance": 2,
    "object_rel_direction_easy": 2,
    "object_rel_direction_medium": 2,
    "object_rel_direction_hard": 2,
    "route_planning": 1,
    "obj_appearance_order": 1,
}

# An object is visible in a frame when it covers VISIBLE_FRACTION of the pixels, and "seen" (may be
# asked about, and is on the map) when it is visible in at least SEEN_FRAMES frames.
VISIBLE_FRACTION = 0.003
SEEN_FRAMES = 2
MIN_DISTANCE = 0.3  # m: shortest asked absolute distance
REL_DISTANCE_MARGIN = (0.3, 0.15)  # the closest choice wins by >= 0.3 m and >= 15 %
MIN_LEG = 0.8  # m: shortest distance between objects that define a direction
ANGLE_MARGIN = 12.0  # degrees away from every decision boundary
BACK_ANGLE = 135.0  # "back" / "turn back" from this many degrees on (VSI-Bench's rule)

STANDING_NOTE = 'Assume "standing by" means I am positioned at the center of the {p}.'


@dataclass(frozen=True)
class Question:
    """One generated item; ``answer`` is an option letter or a number as text."""

    question_type: str
    question: str
    options: list[str]
    answer: str
    reasoning: str

    @property
    def problem_type(self) -> str:
        return QUESTION_TYPES[self.question_type]


def _axis_aligned(obj: dict[str, Any]) -> bool:
    quarter = float(obj["yaw"]) / (math.pi / 2)
    return abs(quarter - round(quarter)) < 1e-6


def _rotation(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def box_distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Distance between the closest points of two (yawed) boxes; 0 when they touch or overlap."""
    if _axis_aligned(a) and _axis_aligned(b):
        gaps = []
        for k, (ha, hb) in enumerate(zip(_half_xyz(a), _half_xyz(b), strict=True)):
            gaps.append(max(0.0, abs(a["center"][k] - b["center"][k]) - ha - hb))
        return math.hypot(*gaps)
    # min |(ca + Ra u) - (cb + Rb v)| over u, v inside the half sizes: bounded least squares.
    ha, hb = np.array(a["size"]) / 2, np.array(b["size"]) / 2
    matrix = np.hstack([_rotation(a["yaw"]), -_rotation(b["yaw"])])
    target = np.array(b["center"], float) - np.array(a["center"], float)
    res = lsq_linear(
        matrix, target, bounds=(np.concatenate([-ha, -hb]), np.concatenate([ha, hb])), method="bvls"
    )
    return float(np.linalg.norm(matrix @ res.x - target))


def half_size(obj: dict[str, Any]) -> float:
    """The mean of an object's two footprint half extents: what `cell_arithmetic.distance` takes
    off the centres' distance for each object."""
    return sum(footprint_half(obj)) / 2


def _half_xyz(obj: dict[str, Any]) -> tuple[float, float, float]:
    hx, hy = footprint_half(obj)
    return hx, hy, obj["size"][2] / 2


def signed_angle(forward: tuple[float, float], target: tuple[float, float]) -> float:
    """Angle in degrees from ``forward`` to ``target`` in the floor plane, positive = to the left."""
    cross = forward[0] * target[1] - forward[1] * target[0]
    dot = forward[0] * target[0] + forward[1] * target[1]
    return math.degrees(math.atan2(cross, dot))


def _plural(name: str) -> str:
    return name + ("es" if name.endswith(("s", "x", "ch", "sh")) else "s")


def letters(options: list[str]) -> list[str]:
    return [f"{chr(65 + i)}. {o}" for i, o in enumerate(options)]


class _SceneFacts:
    """What questions are built from: objects by category, what was seen, the true map."""

    def __init__(self, scene: dict[str, Any], arithmetic: bool = False, distance_steps: bool = False):
        self.scene = scene
        self.arithmetic = arithmetic  # derivations spell out the cell arithmetic (cell_arithmetic)
        self.distance_steps = distance_steps  # absolute distances from cells and room size (cell_arithmetic.distance)
        self.objects = scene["objects"]
        self.bounds = room_bounds(scene)
        video = scene.get("video")
        self.fps = video["fps"] if video else None
        # Per object: first frame with any pixel, first frame where it is visible (absent: never).
        self.first_pixel: dict[int, int] = {}
        self.first_visible: dict[int, int] = {}
        if video:
            threshold = VISIBLE_FRACTION * video["size"][0] * video["size"][1]
            seen = []
            for obj in self.objects:
                pixels = np.asarray(video["visible_pixels"][str(obj["id"])])
                if (pixels > 0).any():
                    self.first_pixel[obj["id"]] = int(np.argmax(pixels > 0))
                if (pixels >= threshold).sum() >= min(SEEN_FRAMES, len(pixels)):
                    self.first_visible[obj["id"]] = int(np.argmax(pixels >= threshold))
                    seen.append(obj)
        else:  # annotations without a rendered video: every object counts as seen
            seen = list(self.objects)
        self.seen_ids = {o["id"] for o in seen}
        self.by_category: dict[str, list[dict[str, Any]]] = {}
        for obj in sorted(self.objects, key=lambda o: (o["category"], o["id"])):
            self.by_category.setdefault(obj["category"], []).append(obj)
        # Categories whose every instance was seen (counts and "closest instance" are then knowable).
        self.fully_seen = [
            c for c, objs in self.by_category.items() if all(o["id"] in self.seen_ids for o in objs)
        ]
        self.unique = [c for c in self.fully_seen if len(self.by_category[c]) == 1]
        self.cogmap = maps_from_boxes(sorted(seen, key=lambda o: (o["category"], o["id"])), self.bounds)
        self.map_text = map_text(self.cogmap)

    def one(self, category: str) -> dict[str, Any]:
        return self.by_category[category][0]

    def cell(self, obj: dict[str, Any]) -> str:
        x, y = maps_from_boxes([obj], self.bounds)[obj["category"]][0]
        return f"({x}, {y})"

    def at(self, category: str) -> str:
        return f"the {category} {self.cell(self.one(category))}"

    def xy(self, category: str) -> tuple[float, float]:
        c = self.one(category)["center"]
        return c[0], c[1]

    def map_cell(self, category: str) -> tuple[int, int]:
        return self.cogmap[category][0]

    def nearest(self, target: str, category: str) -> float:
        return min(box_distance(self.one(target), o) for o in self.by_category[category])


def _think(facts: _SceneFacts, text: str) -> str:
    return f"{facts.map_text}\n{text}"


def _counting(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
    cats = list(facts.fully_seen)
    rng.shuffle(cats)
    cats.sort(key=lambda c: len(facts.by_category[c]) < 2)  # prefer categories with several instances
    out = []
    for cat in cats[:limit]:
        n = len(facts.by_category[cat])
        noun = cat if n == 1 else _plural(cat)
        out.append(
            Question(
                "object_counting",
                f"How many {cat}(s) are in this room?",
                [],
                str(n),
                _think(facts, f"The map lists {n} {noun}, so there {'is' if n == 1 else 'are'} {n}."),
            )
        )
    return out


def _abs_distance(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
    pairs = list(itertools.combinations(facts.unique, 2))
    rng.shuffle(pairs)
    out = []
    for a, b in pairs:
        if len(out) >= limit:
            break
        d = box_distance(facts.one(a), facts.one(b))
        if d < MIN_DISTANCE:
            continue
        if rng.random() < 0.5:
            a, b = b, a
        if facts.distance_steps:
            derivation, _ = cell_arithmetic.distance(
                (a, b), (facts.map_cell(a), facts.map_cell(b)), facts.scene["room"]["size"][:2],
                (half_size(facts.one(a)), half_size(facts.one(b))))
        else:
            derivation = (f"The {a} is at {facts.cell(facts.one(a))} and the {b} at {facts.cell(facts.one(b))}; "
                          f"their closest points are about {d:.1f} m apart.")
        out.append(
            Question(
                "object_abs_distance",
                "Measuring from the closest point of each object, what is the direct distance between "
                f"the {a} and the {b} (in meters)?",
                [],
                f"{d:.1f}",
                _think(facts, derivation),
            )
        )
    return out


def _size(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
    cats = list(facts.unique)
    rng.shuffle(cats)
    out = []
    for cat in cats[:limit]:
        w, d, h = facts.one(cat)["size"]
        cm = round(max(w, d, h) * 100)
        out.append(
            Question(
                "object_size_estimation",
                f"What is the length of the longest dimension (length, width, or height) of the {cat}, measured in centimeters?",
                [],
                str(cm),
                _think(
                    facts,
                    f"{facts.at(cat).capitalize()} is about {w:.2f} x {d:.2f} x {h:.2f} m, "
                    f"so its longest side is about {cm} cm.",
                ),
            )
        )
    return out


def _room_size(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
    w, length = facts.scene["room"]["size"][:2]
    area = w * length
    return [
        Question(
            "room_size_estimation",
            "What is the size of this room (in square meters)? "
            "If multiple rooms are shown, estimate the size of the combined space.",
            [],
            f"{area:.1f}",
            _think(
                facts,
                f"The room is about {w:.1f} m by {length:.1f} m, so its area is about {area:.1f} square meters.",
            ),
        )
    ][:limit]


def _rel_distance(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
    out = []
    targets = list(facts.unique)
    rng.shuffle(targets)
    for target in targets:
        if len(out) >= limit:
            break
        pool = [c for c in facts.fully_seen if c != target]
        if len(pool) < 3:
            continue
        choices = [str(c) for c in rng.choice(pool, size=min(4, len(pool)), replace=False)]
        dist = {c: facts.nearest(target, c) for c in choices}
        ranked = sorted(choices, key=dist.get)
        best, second = dist[ranked[0]], dist[ranked[1]]
        if second - best < max(REL_DISTANCE_MARGIN[0], REL_DISTANCE_MARGIN[1] * second):
            continue
        derivation = f"Distances to the {target}: " + ", ".join(f"{c} {dist[c]:.1f} m" for c in ranked)
        derivation += f". The {ranked[0]} is the closest."
        if facts.arithmetic:
            derivation, closest = cell_arithmetic.closest(
                (target, facts.map_cell(target)), {c: facts.cogmap[c] for c in choices})
            if closest != ranked[0]:
                continue
        out.append(
            Question(
                "object_rel_distance",
                f"Measuring from the closest point of each object, which of these objects ({', '.join(choices)}) "
                f"is the closest to the {target}? If there are multiple instances of an object category, "
                "measure to the closest.",
                letters(choices),
                chr(65 + choices.index(ranked[0])),
                _think(facts, derivation),
            )
        )
    return out


def _direction_label(angle: float, kind: str) -> str | None:
    """The answer for a signed angle (degrees, + = left), or None inside a margin."""
    a, side = abs(angle), ("left" if angle > 0 else "right")
    if kind == "easy":
        return side if ANGLE_MARGIN <= a <= 180 - ANGLE_MARGIN else None
    if kind == "medium":
        if a < 2 * ANGLE_MARGIN or abs(a - BACK_ANGLE) < ANGLE_MARGIN:
            return None
        return "back" if a >= BACK_ANGLE else side
    if min(a, abs(a - 90), 180 - a) < ANGLE_MARGIN:
        return None
    return f"{'front' if a < 90 else 'back'}-{side}"


DIRECTION_OPTIONS = {
    "easy": ["left", "right"],
    "medium": ["left", "right", "back"],
    "hard": ["front-left", "front-right", "back-left", "back-right"],
}
_DIRECTION_ASK = {
    "easy": "is the {q} to the left or the right of the {o}?",
    "medium": "is the {q} to my left, right, or back?",
    "hard": "is the {q} to my front-left, front-right, back-left, or back-right?",
}
_DIRECTION_NOTE = {
    "easy": "",
    "medium": f" An object is to my back if I would have to turn at least {BACK_ANGLE:.0f} degrees in order to face it.",
    "hard": " The directions refer to the quadrants of a Cartesian plane (if I am standing at the origin "
    "and facing along the positive y-axis).",
}


def _leg(facts: _SceneFacts, a: str, b: str) -> tuple[float, float]:
    (ax, ay), (bx, by) = facts.xy(a), facts.xy(b)
    return bx - ax, by - ay


def _balanced(candidates: list[tuple[str, Any]], rng: np.random.Generator, limit: int) -> list[Any]:
    """Up to ``limit`` candidates, each drawn from a uniformly chosen answer label, so that rare
    answers (an object behind me, turning back) are asked about as often as common ones."""
    groups: dict[str, list[Any]] = {}
    for label, payload in candidates:
        groups.setdefault(label, []).append(payload)
    out = []
    while groups and len(out) < limit:
        label = sorted(groups)[int(rng.integers(len(groups)))]
        out.append(groups[label].pop(0))
        if not groups[label]:
            del groups[label]
    return out


def _direction(kind: str) -> Callable[[_SceneFacts, np.random.Generator, int], list[Question]]:
    def generate(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
        triples = list(itertools.permutations(facts.unique, 3))
        rng.shuffle(triples)
        candidates = []
        for p, o, q in triples[:300]:
            facing, target = _leg(facts, p, o), _leg(facts, p, q)
            if math.hypot(*facing) < MIN_LEG or math.hypot(*target) < MIN_LEG:
                continue
            angle = signed_angle(facing, target)
            label = _direction_label(angle, kind)
            if label is None:
                continue
            derivation = (f"Standing at {facts.at(p)} facing {facts.at(o)}, {facts.at(q)} is about "
                          f"{abs(angle):.0f} degrees to my {'left' if angle > 0 else 'right'}, so the answer is {label}.")
            if facts.arithmetic:
                derivation, from_cells = cell_arithmetic.direction(
                    kind, (p, o, q), (facts.map_cell(p), facts.map_cell(o), facts.map_cell(q)))
                if from_cells != label:
                    continue
            candidates.append((label, (p, o, q, label, derivation)))
        out = []
        for p, o, q, label, derivation in _balanced(candidates, rng, limit):
            options = list(DIRECTION_OPTIONS[kind])
            rng.shuffle(options)
            out.append(
                Question(
                    f"object_rel_direction_{kind}",
                    f"If I am standing by the {p} and facing the {o}, "
                    + _DIRECTION_ASK[kind].format(q=q, o=o)
                    + " "
                    + STANDING_NOTE.format(p=p)
                    + _DIRECTION_NOTE[kind],
                    letters(options),
                    chr(65 + options.index(label)),
                    _think(facts, derivation),
                )
            )
        return out

    return generate


TURNS = {"left": "Turn Left", "right": "Turn Right", "back": "Turn Back"}
# The options' words of several BPE pieces each (`spacer model add-words --option-words` makes them
# one token each; as tokens they did not help the tiny model copy them: docs/tiny-ablation.md).
OPTION_WORDS = DIRECTION_OPTIONS["hard"] + list(TURNS.values())
# A two-turn route's options whole ("Turn Left, Turn Back"; `add-words --route-options`), so that
# every option is one token, as a category is (neither made the tiny model copy them: docs/tiny-ablation.md).
ROUTE_OPTIONS = [", ".join(pair) for pair in itertools.product(TURNS.values(), repeat=2)]


def _turn(angle: float) -> str | None:
    a = abs(angle)
    if a < 2 * ANGLE_MARGIN or abs(a - BACK_ANGLE) < ANGLE_MARGIN:
        return None
    return "back" if a >= BACK_ANGLE else ("left" if angle > 0 else "right")


def _route(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
    candidates, tried = [], set()
    for _ in range(300):
        n = int(rng.integers(3, 5))  # start, waypoints, destination: 1 or 2 turns
        if len(facts.unique) < n:
            continue
        stops = tuple(str(c) for c in rng.choice(facts.unique, size=n, replace=False))
        if stops in tried:
            continue
        tried.add(stops)
        legs = [_leg(facts, a, b) for a, b in itertools.pairwise(stops)]
        if min(math.hypot(*leg) for leg in legs) < MIN_LEG:
            continue
        angles = [signed_angle(a, b) for a, b in itertools.pairwise(legs)]
        turns = [_turn(a) for a in angles]
        if None in turns:
            continue
        derivation = " ".join(
            f"At the {stops[i + 1]} the {stops[i + 2]} is {abs(a):.0f} degrees to the {'left' if a > 0 else 'right'}: "
            f"{TURNS[t].lower()}."  # type: ignore[index]
            for i, (a, t) in enumerate(zip(angles, turns, strict=True))
        )
        if facts.arithmetic:
            derivation, from_cells = cell_arithmetic.turns(list(stops), [facts.map_cell(s) for s in stops])
            if from_cells != turns:
                continue
        answer = ", ".join(TURNS[t] for t in turns)  # type: ignore[index]
        candidates.append((answer, (stops, turns, answer, derivation)))
    out = []
    for stops, turns, answer, derivation in _balanced(candidates, rng, limit):
        steps, k = [f"1. Go forward until the {stops[1]}"], 2
        for stop in stops[2:]:
            steps += [f"{k}. [please fill in]", f"{k + 1}. Go forward until the {stop}"]
            k += 2
        others = [", ".join(c) for c in itertools.product(TURNS.values(), repeat=len(turns))]
        others.remove(answer)
        options = [answer] + [str(c) for c in rng.choice(others, size=min(3, len(others)), replace=False)]
        rng.shuffle(options)
        out.append(
            Question(
                "route_planning",
                f"You are a robot beginning at the {stops[0]} facing the {stops[1]}. You want to navigate to the "
                f"{stops[-1]}. You will perform the following actions (Note: for each [please fill in], choose either "
                f"'turn back,' 'turn left,' or 'turn right.'): {' '.join(steps)}. You have reached the final destination.",
                letters(options),
                chr(65 + options.index(answer)),
                # the cell arithmetic reads each stop's cell out in its offsets
                _think(facts, ("" if facts.arithmetic else f"Route: {', '.join(facts.at(s) for s in stops)}. ")
                       + f"{derivation} So: {answer}."),
            )
        )
    return out


def _appearance(facts: _SceneFacts, rng: np.random.Generator, limit: int) -> list[Question]:
    if facts.fps is None:
        return []
    # A category first appears when its first instance becomes visible; for a clear order, no
    # instance of the next category may show a single pixel before that.
    first = {}
    for cat, objs in facts.by_category.items():
        visible = [facts.first_visible[o["id"]] for o in objs if o["id"] in facts.first_visible]
        if visible:
            first[cat] = (
                min(facts.first_pixel[o["id"]] for o in objs if o["id"] in facts.first_pixel),
                min(visible),
            )
    out = []
    cats = sorted(first)
    for _ in range(100):
        if len(cats) < 4:
            break
        chosen = [str(c) for c in rng.choice(cats, size=4, replace=False)]
        order = sorted(chosen, key=lambda c: first[c][1])
        # Unambiguous: each category is clearly visible before the next one shows a single pixel.
        if any(first[a][1] >= first[b][0] for a, b in itertools.pairwise(order)):
            continue
        answer = ", ".join(order)
        others = [", ".join(p) for p in itertools.permutations(order) if list(p) != order]
        options = [answer] + [str(c) for c in rng.choice(others, size=3, replace=False)]
        rng.shuffle(options)
        times = ", ".join(f"{c} at {first[c][1] / facts.fps:.1f} s" for c in order)
        out.append(
            Question(
                "obj_appearance_order",
                "What will be the first-time appearance order of the following categories in the video: "
                f"{', '.join(chosen)}?",
                letters(options),
                chr(65 + options.index(answer)),
                _think(facts, f"First appearances: {times}. So the order is {answer}."),
            )
        )
        if len(out) >= limit:
            break
    return out


GENERATORS: dict[str, Callable[[_SceneFacts, np.random.Generator, int], list[Question]]] = {
    "object_counting": _counting,
    "object_abs_distance": _abs_distance,
    "object_size_estimation": _size,
    "room_size_estimation": _room_size,
    "object_rel_distance": _rel_distance,
    "object_rel_direction_easy": _direction("easy"),
    "object_rel_direction_medium": _direction("medium"),
    "object_rel_direction_hard": _direction("hard"),
    "route_planning": _route,
    "obj_appearance_order": _appearance,
}


def scene_map(scene: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
    """The true 10×10 cognitive map of the objects seen in the video (categories alphabetical)."""
    return _SceneFacts(scene).cogmap


# Category names as a question or a derivation writes them ("chair(s)", "the trash can", "2 lamps"),
# longest first so that a longer name is not read as a shorter one inside it.
_NAMED = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, VOCABULARY), key=len, reverse=True))
                    + r")(?:e?s)?(?![\w-])")


def named_categories(text: str) -> list[str]:
    """The categories a text names (as the word or its plural), in the order it first names them."""
    return list(dict.fromkeys(_NAMED.findall(text)))


def with_lookup_lines(question: Question, cogmap: dict[str, list[tuple[int, int]]]) -> Question:
    """The question with a lookup line (`spacer_core.cogmap.lookup_line`) for each category it
    names between the map and the derivation: ``<map>{…}</map>\nlamp: 2, at (4, 8), (2, 7).\n…``.
    A small decoder answers from its map only when the derivation reads the entries out in the
    format a lookup stage taught it (docs/tiny-ablation.md)."""
    map_part, _, derivation = question.reasoning.partition("\n")
    names = named_categories(question.question)
    if not names:
        return question
    lines = ". ".join(lookup_line(c, cogmap.get(c, [])) for c in names) + "."
    return replace(question, reasoning=f"{map_part}\n{lines}\n{derivation}")


def with_option_lines(question: Question) -> Question:
    """A multiple-choice question whose derivation ends by going through the options (see
    `option_marks`). A small decoder that derives the right conclusion still picks a letter at
    chance when it must find, in the prompt, which letter stands before the conclusion's words
    (docs/tiny-ablation.md); copying the options in order and comparing each with the conclusion is
    the lookup it has learnt."""
    if not question.options:
        return question
    return replace(question, reasoning=f"{question.reasoning}\n{option_marks(question.options, question.answer)}")


def option_marks(options: list[str], answer: str) -> str:
    """For lettered ``options`` and the answer's letter, one line per option as the prompt lists it,
    beside the answer's words and marked: ``A. left vs right: no.`` then ``B. right vs right: yes.``
    Each line starts with the prompt's own tokens ("\\nB."), so copying the option is what an
    induction head does, and the words compared stand side by side."""
    chosen = next(o.split(". ", 1)[1] for o in options if o.startswith(answer + "."))
    return "\n".join(f"{o} vs {chosen}: {'yes' if o.startswith(answer + '.') else 'no'}." for o in options)


def generate_questions(scene: dict[str, Any], seed: int | list[int] = 0, lookup_lines: bool = False,
                       cell_arithmetic: bool = False, option_lines: bool = False,
                       distance_steps: bool = False) -> list[Question]:
    """Up to ``PER_SCENE[type]`` items of every type that is well posed in ``scene``;
    ``lookup_lines``: see `with_lookup_lines`. ``cell_arithmetic``: distance comparisons, directions
    and routes derive their answer in steps on the true map's cells (`spacer_core.sim.cell_arithmetic`),
    and only items whose cells give the true answer are asked. ``option_lines``: see
    `with_option_lines`. ``distance_steps``: absolute distances derive an estimate in steps from the
    cells and the room's size (`cell_arithmetic.distance`); the items and answers stay the same."""
    facts = _SceneFacts(scene, cell_arithmetic, distance_steps)
    out: list[Question] = []
    for qtype, generate in GENERATORS.items():
        rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), list(GENERATORS).index(qtype)])
        out += generate(facts, rng, PER_SCENE[qtype])
    if lookup_lines:
        out = [with_lookup_lines(q, facts.cogmap) for q in out]
    return [with_option_lines(q) for q in out] if option_lines else out
