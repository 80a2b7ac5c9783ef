"""Cognitive maps: true maps from 3D boxes, parsing model maps, scoring and figures.

A cognitive map is ``dict[category, list[(x, y)]]`` on an N×N grid (N = 10), as in SpaceR.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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
MAX_MAP_CHARS = 20_000

# One token per match; every alternative is a plain character run, so the scan cannot backtrack.
_TOKEN = re.compile(
    r'"([^"\n]{0,200})"'  # 1 double-quoted key
    r"|'([^'\n]{0,200})'"  # 2 single-quoted key
    r"|([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"  # 3 number
    r"|([A-Za-z_][A-Za-z0-9_\-]*)"  # 4 bare word (unquoted keys, possibly several words)
    r"|([:=])"  # 5 key separator
    r"|([\[\]()])"  # 6 group bracket
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ARTICLES = ("the ", "a ", "an ")
_norm_cache: dict[str, str] = {}


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
    key = _norm_cache.get(name)
    if key is None:
        key = _NON_ALNUM.sub(" ", name.lower()).strip()
        for article in _ARTICLES:
            if key.startswith(article):
                key = key[len(article) :]
                break
        head, _, last = key.rpartition(" ")
        key = f"{head} {_singular(last)}" if head else _singular(last)
        if len(_norm_cache) > 50_000:  # keys come from model text: keep the cache bounded
            _norm_cache.clear()
        _norm_cache[name] = key
    return key


def _pairs(nums: list[float], out: list[tuple[float, float]]) -> None:
    """Append consecutive (x, y) pairs of ``nums`` to ``out``; an odd last number is dropped."""
    for i in range(0, len(nums) - 1, 2):
        out.append((nums[i], nums[i + 1]))


def _points_from_value(value: Any) -> list[tuple[float, float]]:
    """Points in a decoded JSON value: every innermost list contributes its numbers in pairs, so
    ``[x, y]``, ``[[x, y], …]``, ``[[[x, y]]]`` and ``[x, y, z]`` (z dropped) all work."""
    if type(value) is list:  # fast path for the usual [[x, y], ...]
        try:
            pts = [(float(x), float(y)) for x, y in value]
            if math.isfinite(sum(map(sum, pts))):
                return pts
        except (TypeError, ValueError, OverflowError):
            pass
    out: list[tuple[float, float]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is not list:
            continue
        nums = [v for v in map(_number, item) if v is not None]
        _pairs(nums, out)
        stack.extend(reversed([v for v in item if type(v) is list]))
    return out


def _number(value: Any) -> float | None:
    """A finite float from a JSON scalar (number, bool or numeric string), else None."""
    if type(value) is list or value is None:
        return None
    try:
        num = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return num if math.isfinite(num) else None


_resolver_cache: dict[tuple[str, ...], dict[str, str]] = {}


def _resolver(categories: Iterable[str] | None) -> Callable[[str], str | None]:
    """Map a key as written to the requested category it names, or None to drop it."""
    if categories is None:
        return lambda key: key.strip() or None
    cats = tuple(categories)
    wanted = _resolver_cache.get(cats)
    if wanted is None:
        wanted = {}
        for cat in cats:
            wanted.setdefault(normalize_category(cat), cat)
        if len(_resolver_cache) > 10_000:
            _resolver_cache.clear()
        _resolver_cache[cats] = wanted
    get = wanted.get
    return lambda key: get(normalize_category(key))


def _body(text: str) -> str:
    """The text to parse: the last complete <map> block, else what follows an unclosed <map>,
    else the whole text; then capped at MAX_MAP_CHARS."""
    inner = extract_map(text)
    if inner is None:
        start = text.rfind(MAP[0])
        inner = text if start < 0 else text[start + len(MAP[0]) :]
    return inner[:MAX_MAP_CHARS]


def _parse_json(body: str, resolve: Callable[[str], str | None]) -> CogMap | None:
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(body[start : end + 1])
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    out: CogMap = {}
    for key, value in data.items():
        cat = resolve(key)
        if cat is not None:
            out.setdefault(cat, []).extend(_points_from_value(value))
    return out


def _parse_tokens(body: str, resolve: Callable[[str], str | None]) -> CogMap:
    """Lenient scan: a key is a quoted string or a run of bare words followed by ``:`` or ``=``;
    the numbers after it, up to the next key, become points — each bracket group's numbers in
    pairs, loose numbers in pairs."""
    out: CogMap = {}
    target: list[tuple[float, float]] | None = None  # the point list of the current key
    nums: list[float] = []  # numbers since the last bracket
    words: list[str] = []  # bare words just before the current token
    quoted: str | None = None  # the previous token when it was a quoted string
    for m in _TOKEN.finditer(body):
        kind = m.lastindex
        if kind == 3:
            value = float(m.group(3))
            if math.isfinite(value):
                nums.append(value)
            words, quoted = [], None
        elif kind == 4:
            words.append(m.group(4))
            quoted = None
        elif kind == 6:
            if target is not None:
                _pairs(nums, target)
            nums, words, quoted = [], [], None
        elif kind == 5:
            key = quoted if quoted is not None else " ".join(words) if words else None
            if key is not None:
                if target is not None:
                    _pairs(nums, target)
                cat = resolve(key)
                target = None if cat is None else out.setdefault(cat, [])
                nums = []
            words, quoted = [], None
        else:  # quoted string
            quoted = m.group(kind)
            words = []
    if target is not None:
        _pairs(nums, target)
    return out


def parse_map(text: str, categories: Iterable[str] | None = None) -> CogMap:
    """Parse a cognitive map out of model text. Never raises; never evaluates code.

    ``text`` may be the inside of ``<map>`` or a whole completion (then the last complete
    ``<map>`` block is read, or the text after an unclosed ``<map>``, or the whole text). JSON is
    tried first; anything else (Python literals with quotes and tuples, unquoted keys, trailing
    commas, ``chair: (1, 2), (3,4); table: [5, 6]``) goes through a linear token scan.

    Keys are matched to ``categories`` case-insensitively, ignoring punctuation, a leading article
    and simple plurals; other keys are dropped, and the output uses the requested spelling.
    With ``categories=None`` every key is kept as written. Coordinates stay floats (SpaceR
    truncated with ``int()``); non-finite numbers are dropped. Input beyond MAX_MAP_CHARS of the
    map body is ignored, which keeps the time bounded on hostile input.
    """
    if not isinstance(text, str):
        return {}
    try:
        body = _body(text)
        resolve = _resolver(categories)
        parsed = _parse_json(body, resolve)
        return parsed if parsed is not None else _parse_tokens(body, resolve)
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


def _greedy(pred: Sequence, true: Sequence, diag: float) -> list[tuple[int, int, float, float]]:
    hypot = math.hypot
    if len(pred) == 1 and len(true) == 1:  # the most common case: no sorting needed
        d = hypot(pred[0][0] - true[0][0], pred[0][1] - true[0][1])
        return [(0, 0, d, max(0.0, 1.0 - d / diag))]
    # (distance, pred index, true index) tuples order by distance, ties by pred then true index
    cand = [(hypot(px - tx, py - ty), i, j) for i, (px, py) in enumerate(pred) for j, (tx, ty) in enumerate(true)]
    if len(pred) == 1 or len(true) == 1:  # a single pair is taken: the first in that order
        d, i, j = min(cand)
        return [(i, j, d, max(0.0, 1.0 - d / diag))]
    cand.sort()
    want = min(len(pred), len(true))
    free_p = [True] * len(pred)
    free_t = [True] * len(true)
    pairs = []
    for d, i, j in cand:
        if free_p[i] and free_t[j]:
            free_p[i] = free_t[j] = False
            pairs.append((i, j, d, max(0.0, 1.0 - d / diag)))
            if len(pairs) == want:
                break
    return pairs


def _hungarian(pred: list, true: list, diag: float) -> list[tuple[int, int, float, float]]:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    d = np.hypot(
        np.subtract.outer([p[0] for p in pred], [t[0] for t in true]),
        np.subtract.outer([p[1] for p in pred], [t[1] for t in true]),
    )
    gain = np.maximum(0.0, 1.0 - d / diag)
    rows, cols = linear_sum_assignment(gain, maximize=True)  # maximises the summed pair scores
    return [(int(i), int(j), float(d[i, j]), float(gain[i, j])) for i, j in zip(rows, cols, strict=True)]


_MATCHERS = {"greedy": _greedy, "hungarian": _hungarian}


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
    try:
        match = _MATCHERS[matching]
    except KeyError:
        raise ValueError(f"matching must be one of {sorted(_MATCHERS)}, got {matching!r}") from None
    diag = grid * math.sqrt(2.0)
    total_true = sum(map(len, gt.values()))
    rows = []
    weighted = 0.0
    for cat in (*gt, *(c for c in pred if c not in gt)):
        p = pred.get(cat) or ()
        t = gt.get(cat) or ()
        n_p, n_t = len(p), len(t)
        if n_p and n_t:
            pairs = tuple(match(p, t, diag))
            acc = sum([pair[3] for pair in pairs]) / (n_p if n_p > n_t else n_t)
        else:
            pairs = ()
            acc = 0.0 if n_p or n_t else 1.0
        weighted += acc * n_t
        rows.append(CategoryScore(cat, n_p, n_t, acc, n_t / total_true if total_true else 0.0, pairs))
    if total_true:
        score = weighted / total_true
    else:
        score = 0.0 if any(map(len, pred.values())) else 1.0
    return MapScore(score, tuple(rows))


def score_map(pred: Mapping[str, Any], gt: Mapping[str, Any], grid: int = GRID, matching: str = "greedy") -> float:
    """SpaceR's cognitive-map score in [0, 1]; see :func:`score_map_details`."""
    return score_map_details(pred, gt, grid, matching).score


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
