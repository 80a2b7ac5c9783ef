"""Cognitive maps: true maps from 3D boxes, parsing model maps, scoring and figures.

A cognitive map is ``dict[category, list[(x, y)]]`` on an N×N grid (N = 10), as in SpaceR.
"""

from __future__ import annotations

import json
import math
import re
import zlib
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
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            _pairs([v for v in map(_finite_float, _NUMBER.findall(item)) if v is not None], out)
        elif type(item) is dict:
            xy = _number(item.get("x")), _number(item.get("y"))
            if None not in xy:
                out.append(xy)
            else:
                stack.extend(reversed(list(item.values())))
        elif type(item) is list:
            nums = [v for v in map(_number, item) if v is not None]
            _pairs(nums, out)
            stack.extend(reversed([v for v in item if type(v) in (list, dict, str) and _number(v) is None]))
    return out


def _number(value: Any) -> float | None:
    """A finite float from a JSON scalar (number, bool or numeric string), else None."""
    if type(value) in (list, dict) or value is None:
        return None
    try:
        num = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return num if math.isfinite(num) else None


# Bounds on the caches' memory: category lists remembered (a dataset has one per video, so the
# oldest is dropped when full rather than all), keys remembered per list (a model writes a few
# spellings of each category), and the longest key remembered (longer ones, which only hostile
# text has, are matched but not kept).
_MAX_MATCHERS = 10_000
_KEYS_PER_MATCHER = 32
_MAX_REMEMBERED_KEY = 64


def spacer_key(name: str) -> str:
    """SpaceR's comparison form of a map key: lower case, stripped, surrounding punctuation off;
    no plurals, articles or ``_``/``-`` folding (so "chairs" is not "chair")."""
    key = name.lower().strip()
    m = _SPACER_KEY.match(key)
    return m.group(1).strip() if m else key


class _KeyMatcher(dict):
    """Raw map key → the requested category it names (None: drop the key). A model writes the
    same few keys over and over, so each key is normalised once and later lookups are one dict
    hit. Few objects per category list: a dataset has thousands of lists. ``spacer``: keys are
    compared in SpaceR's form (`spacer_key`), else in ours (`normalize_category`)."""

    __slots__ = ("categories", "names", "normalize", "spacer")

    def __init__(self, categories: tuple[str, ...] | None, spacer: bool = False) -> None:
        super().__init__()
        self.categories = categories  # None keeps every key
        self.spacer = spacer
        self.normalize = spacer_key if spacer else normalize_category
        # SpaceR compares a cleaned key with the lower-cased category name.
        self.names = None if categories is None else tuple(c.lower() if spacer else normalize_category(c)
                                                           for c in categories)

    def __missing__(self, key: str) -> str | None:
        if self.categories is None:
            cat = key.strip() or None
        else:  # the first requested category with the key's normalised name
            name = self.normalize(key)
            cat = next((c for c, n in zip(self.categories, self.names, strict=True) if n == name), None)
        if len(key) <= _MAX_REMEMBERED_KEY:
            if len(self) >= _KEYS_PER_MATCHER:
                self.clear()
            self[key] = cat
        return cat


_ANY_KEY = _KeyMatcher(None)
_matchers: dict[tuple[tuple[str, ...], bool], _KeyMatcher] = {}


def _key_matcher(categories: Iterable[str] | None, spacer: bool = False) -> _KeyMatcher:
    """The (cached) key matcher for a list of requested categories."""
    if categories is None:
        return _ANY_KEY
    cats = tuple(categories)
    matcher = _matchers.get((cats, spacer))
    if matcher is None:
        matcher = _KeyMatcher(cats, spacer)
        # Drop the oldest until there is room: one may not be enough after racing threads or a lowered
        # bound (another thread may have taken the one we pick).
        while _matchers and len(_matchers) >= _MAX_MATCHERS:
            _matchers.pop(next(iter(_matchers), None), None)
        _matchers[cats, spacer] = matcher
    return matcher


def _finite_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


# Non-finite numbers (1e999, NaN, Infinity) decode to null, which no point accepts.
_JSON = json.JSONDecoder(parse_float=_finite_float, parse_constant=lambda _: None)
_JSON_SPACE = " \t\n\r"  # the whitespace the JSON scanner skips


def _decode(obj: str) -> Any:
    try:
        return _JSON.raw_decode(obj)[0]
    except (ValueError, RecursionError):
        return None


# Fields that name the object in a list of objects ([{"category": "chair", "center": [1, 2]}, …]).
_NAME_FIELDS = ("category", "name", "label", "object", "class", "type")


def _parse_objects(body: str, keys: _KeyMatcher) -> CogMap | None:
    """The map when the body holds a JSON list of objects, each naming its category in one of
    _NAME_FIELDS (or, with requested categories, in any string value) beside its point."""
    text = body[body.find("[") : body.rfind("]") + 1]
    items = _decode(text)
    if items is None:  # a Python literal: quotes and tuples
        items = _decode(text.replace("'", '"').replace("(", "[").replace(")", "]"))
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


def _parse_json(body: str, keys: _KeyMatcher) -> CogMap | None:
    """The map when the body holds a JSON object (or a simple Python dict literal) or a list of
    objects, else None."""
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return None
    if 0 <= body.find("[") < start:
        objects = _parse_objects(body, keys)
        if objects is not None:
            return objects
    obj = body[start : end + 1]
    # After "{" (and whitespace) a JSON object has '"' or "}", and of the Python-literal
    # translation ("'" to '"', "()" to "[]") only "'" can put one there. Decodes that cannot
    # succeed are skipped: a failed decode builds a costly error message.
    first = obj[1]
    if first in _JSON_SPACE:
        first = obj[1:].lstrip(_JSON_SPACE)[0]  # obj ends with "}", so this is not empty
    data = _decode(obj) if first in '"}' else None
    if data is None and first in "\"}'":
        data = _decode(obj.replace("'", '"').replace("(", "[").replace(")", "]"))
    if data is None:
        return None
    out: CogMap = {}
    for key, value in data.items():
        cat = keys[key]
        if cat is None:
            continue
        try:
            # The usual [[x, y], …]: the same points as the general walk, since this only
            # succeeds when every item is two numbers (strings, lists, dicts and null make
            # "+ 0.0" or the unpacking raise) and the decoder turned non-finite numbers into null.
            if len(value) == 1:  # the most common case, without a comprehension
                ((x, y),) = value
                points = [(x + 0.0, y + 0.0)]
            else:
                points = [(x + 0.0, y + 0.0) for x, y in value]
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int past 1e308
            points = _points_from_value(value)
        if cat in out:
            out[cat].extend(points)
        else:
            out[cat] = points
    return out


# Words before a point that may name its category in prose ("the chair is at (1, 2)"), and the
# longest category name in words.
_PROSE_WORDS = 8
_NAME_WORDS = 3
_AXES = ("x", "y")  # "x=1, y=2": coordinate labels, not keys


def _named_category(words: list[str], keys: _KeyMatcher) -> str | None:
    """The requested category named last in prose ``words`` (the longest name ending there)."""
    words = words[-_PROSE_WORDS:]
    for end in range(len(words), 0, -1):
        for n in range(min(_NAME_WORDS, end), 0, -1):
            cat = keys[" ".join(words[end - n : end])]
            if cat is not None:
                return cat
    return None


def _parse_tokens(body: str, keys: _KeyMatcher) -> CogMap:
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
        keys = _key_matcher(categories, spacer_keys)
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


_hypot = math.hypot

# Matchers: (pred points, true points, grid diagonal, pairs) → the summed pair scores, each
# max(0, 1 − d / diag) (written out inline below: this is the hot path of the reward); when
# ``pairs`` is a list, each matched (pred index, true index, distance, pair score) is appended.
# Score-only callers pass None and skip building the pair tuples.


def _two_by_two(d00: float, d01: float, d10: float, d11: float) -> tuple[float, float]:
    """The two distances greedy takes from a 2×2 of distances without NaN, in the order it takes
    them: the first smallest in (pred, true) index order, then the pair left. The tests are the
    sort's order, ties included."""
    if (d00 <= d01 and d00 <= d10) or (d11 < d01 and d11 < d10):  # (0, 0) or (1, 1) comes first
        return (d00, d11) if d00 <= d11 else (d11, d00)
    return (d01, d10) if d01 <= d10 else (d10, d01)


_OTHER_TWO = ((1, 2), (0, 2), (0, 1))  # of rows (columns) 0, 1, 2, the two that are not i


def _greedy(pred: Sequence, true: Sequence, diag: float, pairs: list | None) -> float:
    """SpaceR's greedy matching (cogmap-score.md): all pairs by ascending distance, ties by pred
    then true index, each taken while both its points are free.

    Small cases take shortcuts that find the same pairs in the same order, hence the same sum:
    one pair (min and index keep the first smallest), and for a score only, a 2×2, a 2 × m or
    n × 2 (the first pair, then the closest left in the other row or column), and a 3×3 (the
    first pair, then the 2×2 left). NaN distances, which the sort orders its own way, and the
    rest go through the sort."""
    n, m = len(pred), len(true)
    if n == 1 or m == 1:
        if n == 1 and m == 1:  # the most common case
            d = _hypot(pred[0][0] - true[0][0], pred[0][1] - true[0][1])
            k = 0
        else:  # (hypot(b - a) is hypot(a - b): it takes absolute values)
            (x, y), others = (pred[0], true) if n == 1 else (true[0], pred)
            if len(others) == 2:  # min() and index() of two, without the list
                (ax, ay), (bx, by) = others
                d0, d1 = _hypot(x - ax, y - ay), _hypot(x - bx, y - by)
                d, k = (d1, 1) if d1 < d0 else (d0, 0)
            else:
                dist = [_hypot(x - ox, y - oy) for ox, oy in others]
                d = min(dist)
                k = 0 if pairs is None else dist.index(d)
        g = 1.0 - d / diag
        g = g if g > 0.0 else 0.0
        if pairs is not None:
            pairs.append((0, k, d, g) if n == 1 else (k, 0, d, g))
        return g
    if n == 2 and m == 2 and pairs is None:
        (ax, ay), (bx, by) = pred
        (cx, cy), (ex, ey) = true
        d00, d01 = _hypot(ax - cx, ay - cy), _hypot(ax - ex, ay - ey)
        d10, d11 = _hypot(bx - cx, by - cy), _hypot(bx - ex, by - ey)
        if d00 + d01 + d10 + d11 == d00 + d01 + d10 + d11:  # no NaN (distances are >= 0)
            d1, d2 = _two_by_two(d00, d01, d10, d11)
            g1, g2 = 1.0 - d1 / diag, 1.0 - d2 / diag
            return (g1 if g1 > 0.0 else 0.0) + (g2 if g2 > 0.0 else 0.0)
    dist = [_hypot(px - tx, py - ty) for px, py in pred for tx, ty in true]  # pair (i, j) at i·m + j
    total = sum(dist)
    if total != total:  # NaN: the order sorting (distance, i·m + j) gives, as for (distance, i, j)
        order = [k for _, k in sorted(zip(dist, range(n * m), strict=True))]
    elif pairs is None and (n == 2 or m == 2 or n == m == 3):
        d1 = min(dist)  # the first pair: row-major order is the (i, j) order
        i, j = divmod(dist.index(d1), m)
        if n == 3 and m == 3:
            (r0, r1), (c0, c1) = _OTHER_TWO[i], _OTHER_TWO[j]
            d2, d3 = _two_by_two(dist[3 * r0 + c0], dist[3 * r0 + c1], dist[3 * r1 + c0], dist[3 * r1 + c1])
            g1, g2, g3 = 1.0 - d1 / diag, 1.0 - d2 / diag, 1.0 - d3 / diag
            return sum([g1 if g1 > 0.0 else 0.0, g2 if g2 > 0.0 else 0.0, g3 if g3 > 0.0 else 0.0])
        # Two pairs: the second is the closest left in the other pred's row or the other true
        # point's column (when only infs are left, any of them scores 0).
        rest = dist[(1 - i) * m : (2 - i) * m] if n == 2 else dist[1 - j :: 2]
        rest[j if n == 2 else i] = math.inf
        g1, g2 = 1.0 - d1 / diag, 1.0 - min(rest) / diag
        return (g1 if g1 > 0.0 else 0.0) + (g2 if g2 > 0.0 else 0.0)
    else:  # no NaN: a stable sort by distance keeps ties in (i, j) order
        order = sorted(range(n * m), key=dist.__getitem__)
    want = min(n, m)
    free_p = [True] * n
    free_t = [True] * m
    gains = []
    for k in order:
        i, j = divmod(k, m)
        if free_p[i] and free_t[j]:
            free_p[i] = free_t[j] = False
            d = dist[k]
            g = 1.0 - d / diag
            g = g if g > 0.0 else 0.0
            gains.append(g)
            if pairs is not None:
                pairs.append((i, j, d, g))
            if len(gains) == want:
                break
    return sum(gains)


def _hungarian(pred: Sequence, true: Sequence, diag: float, pairs: list | None) -> float:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    d = np.hypot(
        np.subtract.outer([p[0] for p in pred], [t[0] for t in true]),
        np.subtract.outer([p[1] for p in pred], [t[1] for t in true]),
    )
    gain = np.maximum(0.0, 1.0 - d / diag)
    rows, cols = linear_sum_assignment(gain, maximize=True)  # maximises the summed pair scores
    matched = [(int(i), int(j), float(d[i, j]), float(gain[i, j])) for i, j in zip(rows, cols, strict=True)]
    if pairs is not None:
        pairs.extend(matched)
    return sum([pair[3] for pair in matched])


_MATCHERS = {"greedy": _greedy, "hungarian": _hungarian}
_SQRT2 = math.sqrt(2.0)


def _compare(
    pred: Mapping[str, Any], gt: Mapping[str, Any], grid: int, matching: str, rows: list | None = None
) -> float:
    """The score; with a ``rows`` list, also appends one (category, n_pred, n_true, accuracy,
    pairs) row per category (true-map categories first, then prediction-only ones)."""
    try:
        match = _MATCHERS[matching]
    except KeyError:
        raise ValueError(f"matching must be one of {sorted(_MATCHERS)}, got {matching!r}") from None
    diag = grid * _SQRT2
    weighted = 0.0
    total_true = 0
    for cat, t in gt.items():
        p = pred.get(cat)
        n_p, n_t = (0 if p is None else len(p)), len(t)
        total_true += n_t
        if rows is None:  # score only
            if n_p == 1 and n_t == 1 and match is _greedy:  # the most common case, inline:
                d = _hypot(p[0][0] - t[0][0], p[0][1] - t[0][1])  # _greedy's one pair
                g = 1.0 - d / diag
                weighted += g if g > 0.0 else 0.0
            elif n_p and n_t:
                weighted += match(p, t, diag, None) / (n_p if n_p > n_t else n_t) * n_t
            continue
        pairs: list = []
        if n_p and n_t:
            acc = match(p, t, diag, pairs) / (n_p if n_p > n_t else n_t)
            weighted += acc * n_t
        else:
            acc = 0.0 if n_p or n_t else 1.0
        rows.append((cat, n_p, n_t, acc, pairs))
    if rows is not None:
        for cat, p in pred.items():  # categories only in the prediction: weight 0
            if cat not in gt:
                rows.append((cat, len(p), 0, 0.0 if len(p) else 1.0, []))
    if total_true:
        return weighted / total_true
    return 0.0 if any(map(len, pred.values())) else 1.0


def score_map_details(
    pred: Mapping[str, Any], gt: Mapping[str, Any], grid: int = GRID, matching: str = "greedy"
) -> MapScore:
    """SpaceR's cognitive-map score with its per-category breakdown (see cogmap-score.md).

    Per category: both empty → accuracy 1 (weight 0); one empty → 0; else the matched pairs
    (greedy by ascending distance, ties by pred then true index; or ``matching="hungarian"``,
    which maximises the summed pair scores) each score max(0, 1 − d / (grid·√2)), summed and
    divided by max(n_pred, n_true). The score is the n_true-weighted mean; a true map with no
    points scores 1 if the prediction has no points either, else 0.
    """
    rows: list = []
    score = _compare(pred, gt, grid, matching, rows)
    total_true = sum(row[2] for row in rows)
    return MapScore(
        score,
        tuple(
            CategoryScore(cat, n_p, n_t, acc, n_t / total_true if total_true else 0.0, tuple(pairs))
            for cat, n_p, n_t, acc, pairs in rows
        ),
    )


def score_map(
    pred: Mapping[str, Any], gt: Mapping[str, Any], grid: int = GRID, matching: str = "greedy"
) -> float:
    """SpaceR's cognitive-map score in [0, 1]; see :func:`score_map_details`."""
    return _compare(pred, gt, grid, matching)


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


# --- figures --------------------------------------------------------------------------------


def category_color(name: str) -> str:
    """A stable colour for a category ("Chairs" and "chair" match across maps, figures and
    processes): the common indoor categories get distinct colours of plotly's Dark24 palette in a
    fixed order; any other name gets one of the remaining colours by a CRC of its name."""
    from plotly.colors import qualitative

    from spacer_core.prompts import GENERIC_INDOOR_CATEGORIES

    palette = qualitative.Dark24
    name = normalize_category(name)
    known = [normalize_category(c) for c in GENERIC_INDOOR_CATEGORIES]
    if name in known:
        return palette[known.index(name)]
    spare = len(palette) - len(known)
    return palette[len(known) + zlib.crc32(name.encode()) % spare]


class _Layer(NamedTuple):
    category: str
    color: str
    pred: list[tuple[float, float]]  # drawn at cell centres (x + 0.5, y + 0.5)
    true: list[tuple[float, float]]
    links: list[tuple[tuple[float, float], tuple[float, float]]]  # matched (pred, true) pairs


def _layers(
    pred: Mapping[str, Any], gt: Mapping[str, Any] | None, grid: int, matching: str
) -> tuple[list[_Layer], float | None]:
    def centres(points: Any) -> list[tuple[float, float]]:
        return [(float(p[0]) + 0.5, float(p[1]) + 0.5) for p in (points or ())]

    if gt is None:
        return [_Layer(c, category_color(c), centres(v), [], []) for c, v in pred.items()], None
    details = score_map_details(pred, gt, grid, matching)
    layers = []
    for row in details.categories:
        p, t = centres(pred.get(row.category)), centres(gt.get(row.category))
        links = [(p[i], t[j]) for i, j, _, _ in row.pairs]
        layers.append(_Layer(row.category, category_color(row.category), p, t, links))
    return layers, details.score


def _title(score: float | None, title: str | None) -> str:
    text = title or "Cognitive map"
    return text if score is None else f"{text} — score {score:.3f}"


def map_figure(
    pred: Mapping[str, Any],
    gt: Mapping[str, Any] | None = None,
    grid: int = GRID,
    title: str | None = None,
    matching: str = "greedy",
):
    """Plotly figure of a predicted map (crosses) over the true map (dots): one colour per
    category, matched pairs joined by dashed lines, the score in the title when ``gt`` is given."""
    import plotly.graph_objects as go

    layers, score = _layers(pred, gt, grid, matching)
    fig = go.Figure()
    for layer in layers:
        style = {"legendgroup": layer.category, "mode": "markers"}
        for a, b in layer.links:
            fig.add_trace(
                go.Scatter(
                    x=[a[0], b[0]], y=[a[1], b[1]], mode="lines", legendgroup=layer.category,
                    line={"color": layer.color, "dash": "dash", "width": 1.5}, showlegend=False,
                    hoverinfo="skip",
                )
            )  # fmt: skip
        if layer.true:
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in layer.true], y=[p[1] for p in layer.true], name=f"{layer.category} (true)",
                    marker={"color": layer.color, "size": 13, "symbol": "circle", "opacity": 0.55}, **style,
                )
            )  # fmt: skip
        if layer.pred:
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in layer.pred], y=[p[1] for p in layer.pred], name=f"{layer.category} (pred)",
                    marker={"color": layer.color, "size": 11, "symbol": "x"}, **style,
                )
            )  # fmt: skip
    axis = {"range": [0, grid], "dtick": 1, "showgrid": True, "zeroline": False, "showticklabels": False}
    fig.update_layout(
        title=_title(score, title),
        xaxis=axis,
        yaxis=axis | {"scaleanchor": "x", "scaleratio": 1},
        template="plotly_white",
        legend={"title": "dot = true, × = predicted"},
        margin={"l": 20, "r": 20, "t": 50, "b": 20},
    )
    return fig


def map_figure_mpl(
    pred: Mapping[str, Any],
    gt: Mapping[str, Any] | None = None,
    grid: int = GRID,
    title: str | None = None,
    matching: str = "greedy",
):
    """Matplotlib twin of :func:`map_figure` for static export (a ``matplotlib.figure.Figure``,
    no pyplot state)."""
    from matplotlib.figure import Figure

    layers, score = _layers(pred, gt, grid, matching)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for layer in layers:
        for a, b in layer.links:
            ax.plot([a[0], b[0]], [a[1], b[1]], "--", color=layer.color, linewidth=1)
        if layer.true:
            xs, ys = zip(*layer.true, strict=True)
            ax.scatter(xs, ys, s=120, color=layer.color, alpha=0.55, label=f"{layer.category} (true)")
        if layer.pred:
            xs, ys = zip(*layer.pred, strict=True)
            ax.scatter(xs, ys, s=70, color=layer.color, marker="x", label=f"{layer.category} (pred)")
    ax.set_xlim(0, grid)
    ax.set_ylim(0, grid)
    ax.set_xticks(range(grid + 1))
    ax.set_yticks(range(grid + 1))
    ax.tick_params(labelbottom=False, labelleft=False, length=0)
    ax.grid(True, linewidth=0.5, alpha=0.5)
    ax.set_aspect("equal")
    ax.set_title(_title(score, title))
    if layers:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    return fig
