"""Cognitive maps: true maps from 3D boxes, parsing model maps, scoring and figures.

A cognitive map is ``dict[category, list[(x, y)]]`` on an N×N grid (N = 10), as in SpaceR.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from spacer_core.parsing import MAP, extract_map

GRID = 10

CogMap = dict[str, list[tuple[float, float]]]


def _cell(value: float, lo: float, hi: float, grid: int) -> int:
    span = hi - lo
    if span <= 0:
        raise ValueError(f"room_bounds must have max > min, got ({lo}, {hi})")
    return min(max(math.floor((value - lo) / span * grid), 0), grid - 1)


def maps_from_boxes(
    objects: Iterable[Mapping[str, Any]],
    room_bounds: tuple[float, float, float, float],
    grid: int = GRID,
) -> dict[str, list[tuple[int, int]]]:
    """True cognitive map from 3D object boxes (the Thinking-in-Space recipe).

    ``objects``: dicts with at least ``"category"`` and ``"center"`` ([x, y, z] in metres; z is the
    height and is dropped). ``room_bounds = (xmin, ymin, xmax, ymax)`` in metres.
    Each centre goes to cell ``clip(floor((x - xmin) / (xmax - xmin) * grid), 0, grid - 1)`` (same
    for y). Categories keep first-seen order, instances keep input order.
    """
    xmin, ymin, xmax, ymax = room_bounds
    out: dict[str, list[tuple[int, int]]] = {}
    for i, obj in enumerate(objects):
        try:
            category, center = obj["category"], obj["center"]
        except KeyError as err:
            raise ValueError(f"object {i} lacks field {err.args[0]!r}") from None
        x, y = float(center[0]), float(center[1])
        out.setdefault(str(category), []).append((_cell(x, xmin, xmax, grid), _cell(y, ymin, ymax, grid)))
    return out


# --- parsing model maps ---------------------------------------------------------------------

# Longest map body parse_map reads: a real 10×10 map of a room is a few hundred characters, so
# this bounds the work on hostile input without touching any plausible map.
MAX_MAP_CHARS = 8_000

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# One token per match; every alternative is a bounded or plain character run, so the scan
# cannot backtrack more than a few characters.
_TOKEN_ALTERNATIVES = (
    rf"[\[(]\s*({_NUM})\s*,\s*({_NUM})\s*[\])]"  # 1, 2: a whole "(x, y)" / "[x, y]" point (before 6)
    r"|([^\W\d][\w\-]*)"  # 3: bare word (unquoted keys, possibly several words)
    r"|([:=])"  # 4: key separator
    rf"|({_NUM})"  # 5: lone number
    r"|([\[\]()])"  # 6: group bracket
    r'|"([^"\n]{0,200})"'  # 7: double-quoted key
    r"|'([^'\n]{0,200})'"  # 8: single-quoted key
)
# The scan: each match first skips the characters no token starts with, which is cheaper than
# trying every alternative at each of them. The skip stops at a character that starts a token or
# at a lone sign, dot or quote (matched as 9 and ignored), or at the end, so it never backs up and
# the tokens are those the alternatives alone find.
_TOKEN = re.compile(r"""[^\w\[\]()"':=+\-.]*(?:""" + _TOKEN_ALTERNATIVES + r"""|([-+.'"])|\Z)""")
_NON_ALNUM = re.compile(r"[\W_]+")
_NUMBER = re.compile(_NUM)
# SpaceR's key cleaning: surrounding punctuation off ("'table'" -> "table"), nothing else.
_SPACER_KEY = re.compile(r"^[^\w\s]*([\w\s]+)[^\w\s]*$")
_ARTICLES = ("the ", "a ", "an ")


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def normalize_category(name: str) -> str:
    """Comparison form of a category name: lower case, punctuation and ``_``/``-`` to single
    spaces, a leading article dropped, the last word made singular ("Coffee_Tables" → "coffee table")."""
    key = _NON_ALNUM.sub(" ", name.lower()).strip()
    for article in _ARTICLES:
        if key.startswith(article):
            key = key[len(article) :]
            break
    head, _, last = key.rpartition(" ")
    return f"{head} {_singular(last)}" if head else _singular(last)


def _pairs(nums: list[float], out: list[tuple[float, float]]) -> None:
    """Append consecutive (x, y) pairs of ``nums`` to ``out``; an odd last number is dropped."""
    for i in range(0, len(nums) - 1, 2):
        out.append((nums[i], nums[i + 1]))


def _points_from_value(value: Any) -> list[tuple[float, float]]:
    """Points in a decoded JSON value: every innermost list contributes its numbers in pairs, so
    ``[x, y]``, ``[[x, y], …]``, ``[[[x, y]]]`` and ``[x, y, z]`` (z dropped) all work; a string
    gives the numbers written in it (``"1, 2"``, ``["(5, 6)"]``), an object its ``x`` and ``y``
    (``{"x": 1, "y": 2}``) or else the points of its values."""
    out: list[tuple[float, float]] = []
    _collect_points(value, out)
    return out


def _collect_points(item: Any, out: list[tuple[float, float]]) -> None:
    kind = type(item)
    if kind is list:  # its own numbers first, then what its nested values hold, in order
        _pairs([v for v in map(_number, item) if v is not None], out)
        for v in item:
            if type(v) in (list, dict) or (type(v) is str and _number(v) is None):
                _collect_points(v, out)
    elif kind is dict:
        x, y = _number(item.get("x")), _number(item.get("y"))
        if x is not None and y is not None:
            out.append((x, y))
        else:
            for v in item.values():
                _collect_points(v, out)
    elif kind is str:
        _pairs([v for v in map(_finite_float, _NUMBER.findall(item)) if v is not None], out)


def _number(value: Any) -> float | None:
    """A finite float from a JSON scalar (number, bool or numeric string), else None."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind not in (int, bool, str):
        return None
    try:
        num = float(value)
    except (ValueError, OverflowError):
        return None
    return num if math.isfinite(num) else None


def spacer_key(name: str) -> str:
    """SpaceR's comparison form of a map key: lower case, stripped, surrounding punctuation off;
    no plurals, articles or ``_``/``-`` folding (so "chairs" is not "chair")."""
    key = name.lower().strip()
    m = _SPACER_KEY.match(key)
    return m.group(1).strip() if m else key


@functools.lru_cache(maxsize=1024)  # a model writes the same few keys over and over
def _comparison_form(name: str, spacer: bool) -> str:
    return spacer_key(name) if spacer else normalize_category(name)


class _Keys:
    """Raw map key → the requested category it names, or None (the key is dropped). ``spacer``:
    keys compare as SpaceR's code compares them (`spacer_key` against the lower-cased category),
    else in our form (`normalize_category`). Without categories every key is kept as written."""

    def __init__(self, categories: Iterable[str] | None, spacer: bool = False) -> None:
        self.categories = None if categories is None else tuple(categories)
        self.spacer = spacer
        self.by_form: dict[str, str] = {}
        for c in self.categories or ():  # the first requested category with a form wins
            self.by_form.setdefault(c.lower() if spacer else _comparison_form(c, False), c)

    def __getitem__(self, key: str) -> str | None:
        if self.categories is None:
            return key.strip() or None
        return self.by_form.get(_comparison_form(key, self.spacer))

def _finite_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


# Non-finite numbers (1e999, NaN, Infinity) decode to null, which no point accepts.
_JSON = json.JSONDecoder(parse_float=_finite_float, parse_constant=lambda _: None)


def _decode_literal(text: str) -> Any:
    """The JSON value at the start of ``text``, or of its translation from a simple Python literal
    (quotes and tuples); None when neither decodes."""
    try:
        return _JSON.raw_decode(text)[0]
    except (ValueError, RecursionError):
        pass
    try:
        return _JSON.raw_decode(text.replace("'", '"').replace("(", "[").replace(")", "]"))[0]
    except (ValueError, RecursionError):
        return None


# Fields that name the object in a list of objects ([{"category": "chair", "center": [1, 2]}, …]).
_NAME_FIELDS = ("category", "name", "label", "object", "class", "type")


def _parse_objects(body: str, keys: _Keys) -> CogMap | None:
    """The map when the body holds a JSON list of objects, each naming its category in one of
    _NAME_FIELDS (or, with requested categories, in any string value) beside its point."""
    items = _decode_literal(body[body.find("[") : body.rfind("]") + 1])
    if type(items) is not list or not any(type(item) is dict for item in items):
        return None
    out: CogMap = {}
    for item in items:
        if type(item) is not dict:
            continue
        field = next((f for f in _NAME_FIELDS if type(item.get(f)) is str), None)
        if field is None and keys.categories is not None:
            field = next((f for f, v in item.items() if type(v) is str and keys[v] is not None), None)
        cat = None if field is None else keys[item[field]]
        if cat is not None:
            out.setdefault(cat, []).extend(_points_from_value({f: v for f, v in item.items() if f != field}))
    return out


def _parse_json(body: str, keys: _Keys) -> CogMap | None:
    """The map when the body holds a JSON object (or a simple Python dict literal) or a list of
    objects, else None."""
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return None
    if 0 <= body.find("[") < start:
        objects = _parse_objects(body, keys)
        if objects is not None:
            return objects
    data = _decode_literal(body[start : end + 1])
    if type(data) is not dict:
        return None
    out: CogMap = {}
    for key, value in data.items():
        cat = keys[key]
        if cat is None:
            continue
        try:  # the usual [[x, y], …]; anything else (the decoder made non-finite numbers None) raises
            points = [(x + 0.0, y + 0.0) for x, y in value]
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int past 1e308
            points = _points_from_value(value)
        out.setdefault(cat, []).extend(points)
    return out


# Words before a point that may name its category in prose ("the chair is at (1, 2)"), and the
# longest category name in words.
_PROSE_WORDS = 8
_NAME_WORDS = 3
_AXES = ("x", "y")  # "x=1, y=2": coordinate labels, not keys


def _named_category(words: list[str], keys: _Keys) -> str | None:
    """The requested category named last in prose ``words`` (the longest name ending there)."""
    words = words[-_PROSE_WORDS:]
    for end in range(len(words), 0, -1):
        for n in range(min(_NAME_WORDS, end), 0, -1):
            cat = keys[" ".join(words[end - n : end])]
            if cat is not None:
                return cat
    return None


def _parse_tokens(body: str, keys: _Keys) -> CogMap:
    """Lenient scan: a key is a quoted string or a run of bare words followed by ``:`` or ``=``;
    the numbers after it, up to the next key, become points — each bracket group's numbers in
    pairs, loose numbers in pairs. With requested categories, a category named in prose before
    numbers is a key too ("the chair is at (1, 2)", "chair x=1, y=2")."""
    out: CogMap = {}
    target: list[tuple[float, float]] | None = None  # the point list of the current key
    nums: list[float] = []  # numbers since the last bracket
    words: list[str] = []  # bare words just before the current token
    quoted: str | None = None  # the previous token when it was a quoted string
    prose = keys.categories is not None
    isfinite = math.isfinite

    def switch(cat: str | None) -> None:
        nonlocal target, nums
        if target is not None:
            _pairs(nums, target)
        target = None if cat is None else out.setdefault(cat, [])
        nums = []

    for m in _TOKEN.finditer(body):
        kind = m.lastindex
        if words and prose and kind in (2, 5, 6):  # numbers after prose: does it name a category?
            cat = _named_category(words, keys)
            if cat is not None:
                switch(cat)
        if kind == 2:  # a point: same as bracket, two numbers, bracket
            if target is not None:
                if nums:
                    _pairs(nums, target)
                x, y = float(m[1]), float(m[2])
                if isfinite(x) and isfinite(y):
                    target.append((x, y))
            if nums:
                nums = []
            if words:
                words = []
            quoted = None
        elif kind == 3:
            words.append(m[3])
            quoted = None
        elif kind == 4:
            label = quoted if quoted is not None else words[-1] if words else ""
            if label.lower() in _AXES:  # "chair x=1": the words before the label may name it
                cat = _named_category(words[:-1], keys) if prose and len(words) > 1 else None
                if cat is not None:
                    switch(cat)
            else:
                key = quoted if quoted is not None else " ".join(words) if words else None
                cat = None if key is None else keys[key]
                # SpaceR's free-text reader only splits at names it knows: an unknown key's
                # numbers go to the entry before it.
                if key is not None and (cat is not None or not keys.spacer):
                    switch(cat)
            words, quoted = [], None
        elif kind == 5:
            value = float(m[5])
            if isfinite(value):
                nums.append(value)
            words, quoted = [], None
        elif kind == 6:
            if target is not None:
                _pairs(nums, target)
            nums, words, quoted = [], [], None
        elif kind == 7 or kind == 8:  # quoted string
            quoted = m[kind]
            words = []
    if target is not None:
        _pairs(nums, target)
    return out


def map_text(cogmap: CogMap) -> str:
    """``<map>{"chair": [[x, y], ...], ...}</map>``: a map as the reasoning writes it (whole numbers
    without a decimal point, as on the 10×10 grid)."""
    def number(v: float) -> float | int:
        return int(v) if float(v).is_integer() else v

    return MAP[0] + json.dumps({c: [[number(v) for v in p] for p in pts] for c, pts in cogmap.items()}) + MAP[1]


def lookup_line(category: str, cells: Sequence[Sequence[float]]) -> str:
    """One category's entry of a map as a derivation reads it out: ``chair: 2, at (1, 5), (0, 7)``
    (``chair: none`` when absent). The lookup stage teaches this format (spacer_core.train.lookup)."""
    if not cells:
        return f"{category}: none"
    return f"{category}: {len(cells)}, at " + ", ".join(f"({x}, {y})" for x, y in cells)


def parse_map(text: str, categories: Iterable[str] | None = None, spacer_keys: bool = False) -> CogMap:
    """Parse a cognitive map out of model text. Never raises; never evaluates code.

    ``text`` may be the inside of ``<map>`` or a whole completion (then the last complete
    ``<map>`` block is read, or the text after an unclosed ``<map>``, or the whole text). JSON is
    tried first (an object of categories, or a list of objects such as
    ``[{"category": "chair", "center": [1, 2]}]``; a point may be ``[x, y]``, ``"1, 2"`` or
    ``{"x": 1, "y": 2}``); anything else (Python literals with quotes and tuples, unquoted keys,
    trailing commas, ``chair: (1, 2), (3,4); table: [5, 6]``, ``x=1, y=2``) goes through a
    linear token scan.

    Keys are matched to ``categories`` case-insensitively, ignoring punctuation, a leading article
    and simple plurals (``spacer_keys``: as SpaceR's code does, lower case and surrounding
    punctuation only, and in free text an unknown key's numbers join the entry before it); other
    keys are dropped, and the output uses the requested spelling. With
    ``categories`` a category named in prose before its numbers counts as a key too ("the chair
    is at (1, 2)"). With ``categories=None`` every key is kept as written. Coordinates stay
    floats (SpaceR truncated with ``int()``); non-finite numbers are dropped. Input beyond
    MAX_MAP_CHARS of the map body is ignored, which keeps the time bounded on hostile input.
    """
    if not isinstance(text, str):
        return {}
    try:
        body = extract_map(text)  # the last complete <map> block,
        if body is None:  # else what follows an unclosed <map>, else the whole text
            start = text.rfind(MAP[0])
            body = text if start < 0 else text[start + len(MAP[0]) :]
        body = body[:MAX_MAP_CHARS]
        keys = _Keys(categories, spacer_keys)
        parsed = _parse_json(body, keys)
        return parsed if parsed is not None else _parse_tokens(body, keys)
    except Exception:  # the contract: a malformed map must never crash a reward or the UI
        return {}


# --- scoring --------------------------------------------------------------------------------


class CategoryScore(NamedTuple):
    """One category of a map comparison. ``pairs`` holds (pred index, true index, distance,
    pair score) for each matched pair; ``weight`` is n_true / Σ n_true (0 for categories only
    in the prediction)."""

    category: str
    n_pred: int
    n_true: int
    accuracy: float
    weight: float
    pairs: tuple[tuple[int, int, float, float], ...]


class MapScore(NamedTuple):
    """A full comparison: the score and its per-category breakdown (true-map categories first,
    then prediction-only ones, each in their map's order)."""

    score: float
    categories: tuple[CategoryScore, ...]


# Matchers: (pred points, true points, grid diagonal) -> the matched (pred index, true index, distance).


def _greedy(pred: Sequence, true: Sequence, diag: float) -> list[tuple[int, int, float]]:
    """SpaceR's greedy matching (cogmap-score.md): every (pred, true) pair by ascending distance,
    ties by pred then true index, each taken while both its points are free."""
    if len(pred) == 1 and len(true) == 1:  # the common case
        (px, py), (tx, ty) = pred[0], true[0]
        return [(0, 0, math.hypot(px - tx, py - ty))]
    ranked = [(math.hypot(px - tx, py - ty), i, j) for i, (px, py) in enumerate(pred) for j, (tx, ty) in enumerate(true)]
    if len(pred) == 1 or len(true) == 1:  # one pair: the first in that order
        d, i, j = min(ranked)
        return [(i, j, d)]
    ranked.sort()
    free_p, free_t = set(range(len(pred))), set(range(len(true)))
    pairs = []
    for d, i, j in ranked:
        if i in free_p and j in free_t:
            free_p.remove(i)
            free_t.remove(j)
            pairs.append((i, j, d))
            if not free_p or not free_t:
                break
    return pairs


def _hungarian(pred: Sequence, true: Sequence, diag: float) -> list[tuple[int, int, float]]:
    """The matching that maximises the summed pair scores (scipy's linear_sum_assignment)."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    d = np.hypot(np.subtract.outer([p[0] for p in pred], [t[0] for t in true]),
                 np.subtract.outer([p[1] for p in pred], [t[1] for t in true]))
    rows, cols = linear_sum_assignment(np.maximum(0.0, 1.0 - d / diag), maximize=True)
    return [(int(i), int(j), float(d[i, j])) for i, j in zip(rows, cols, strict=True)]


_MATCHERS = {"greedy": _greedy, "hungarian": _hungarian}


def _matcher(matching: str):
    try:
        return _MATCHERS[matching]
    except KeyError:
        raise ValueError(f"matching must be one of {sorted(_MATCHERS)}, got {matching!r}") from None


def _accuracy(pred: Sequence, true: Sequence, match, diag: float) -> tuple[float, tuple]:
    """One category's accuracy and its matched (pred index, true index, distance, pair score)."""
    if not (pred and true):
        return (0.0 if pred or true else 1.0), ()
    pairs = tuple((i, j, d, max(0.0, 1.0 - d / diag)) for i, j, d in match(pred, true, diag))
    return sum(pair[3] for pair in pairs) / max(len(pred), len(true)), pairs


def score_map_details(
    pred: Mapping[str, Any], gt: Mapping[str, Any], grid: int = GRID, matching: str = "greedy"
) -> MapScore:
    """SpaceR's cognitive-map score with its per-category breakdown (see cogmap-score.md).

    Per category: both empty → accuracy 1 (weight 0); one empty → 0; else the matched pairs
    (greedy by ascending distance, ties by pred then true index; or ``matching="hungarian"``,
    which maximises the summed pair scores) each score max(0, 1 − d / (grid·√2)), summed and
    divided by max(n_pred, n_true). The score is the n_true-weighted mean; a true map with no
    points scores 1 if the prediction has no points either, else 0. Categories only in the
    prediction weigh 0: hallucinated categories cost nothing, as in SpaceR. Categories are listed
    true-map ones first, then prediction-only ones.
    """
    match, diag = _matcher(matching), grid * math.sqrt(2.0)
    total_true = sum(len(t) for t in gt.values())
    rows = []
    for cat in [*gt, *(c for c in pred if c not in gt)]:
        p, t = pred.get(cat) or (), gt.get(cat) or ()
        acc, pairs = _accuracy(p, t, match, diag)
        rows.append(CategoryScore(cat, len(p), len(t), acc, len(t) / total_true if total_true else 0.0, pairs))
    return MapScore(score_map(pred, gt, grid, matching), tuple(rows))


def score_map(
    pred: Mapping[str, Any], gt: Mapping[str, Any], grid: int = GRID, matching: str = "greedy"
) -> float:
    """SpaceR's cognitive-map score in [0, 1]; see :func:`score_map_details`."""
    match, diag = _matcher(matching), grid * math.sqrt(2.0)
    total_true = sum(map(len, gt.values()))
    if not total_true:
        return 0.0 if any(map(len, pred.values())) else 1.0
    weighted = 0.0
    for cat, true in gt.items():
        p = pred.get(cat)
        if p and true:  # pairs d or more apart score 0
            gain = sum([1.0 - d / diag for _, _, d in match(p, true, diag) if d < diag])
            weighted += gain / max(len(p), len(true)) * len(true)
    return weighted / total_true


def load_map(value: Any, field: str = "cognitive_map") -> CogMap | None:
    """A true map from a dataset cell: a dict, a JSON string, or None / "" (no map → None).

    Raises ValueError naming ``field`` when the value is not a map of category → [[x, y], …].
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ValueError(f"{field}: not valid JSON ({err})") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: expected a dict of category -> [[x, y], ...], got {type(value).__name__}")
    out: CogMap = {}
    for cat, points in value.items():
        try:
            out[str(cat)] = [(float(p[0]), float(p[1])) for p in points]
        except (TypeError, IndexError, ValueError):
            raise ValueError(f"{field}[{cat!r}]: expected a list of [x, y] points, got {points!r}") from None
    return out
