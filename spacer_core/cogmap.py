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
_TOKEN = re.compile(
    rf"[\[(]\s*({_NUM})\s*,\s*({_NUM})\s*[\])]"  # 1, 2: a whole "(x, y)" / "[x, y]" point
    r'|"([^"\n]{0,200})"'  # 3: double-quoted key
    r"|'([^'\n]{0,200})'"  # 4: single-quoted key
    rf"|({_NUM})"  # 5: lone number
    r"|([^\W\d][\w\-]*)"  # 6: bare word (unquoted keys, possibly several words)
    r"|([:=])"  # 7: key separator
    r"|([\[\]()])"  # 8: group bracket
)
_NON_ALNUM = re.compile(r"[\W_]+")
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
    if type(value) is list:  # fast path for the usual [[x, y], ...] of numbers
        try:
            pts = [(x + 0.0, y + 0.0) for x, y in value]  # strings raise TypeError: slow path
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


_wanted_cache: dict[tuple[str, ...], dict[str, str]] = {}


def _wanted(categories: Iterable[str] | None) -> dict[str, str] | None:
    """Normalised name → requested spelling of the categories to keep (None: keep every key)."""
    if categories is None:
        return None
    cats = tuple(categories)
    wanted = _wanted_cache.get(cats)
    if wanted is None:
        wanted = {}
        for cat in cats:
            wanted.setdefault(normalize_category(cat), cat)
        if len(_wanted_cache) > 10_000:  # bounded, like _norm_cache
            _wanted_cache.clear()
        _wanted_cache[cats] = wanted
    return wanted


def _category(key: str, wanted: dict[str, str] | None) -> str | None:
    """The requested category a key names, or None to drop it."""
    if wanted is None:
        return key.strip() or None
    norm = _norm_cache.get(key)
    return wanted.get(normalize_category(key) if norm is None else norm)


def _body(text: str) -> str:
    """The text to parse: the last complete <map> block, else what follows an unclosed <map>,
    else the whole text; then capped at MAX_MAP_CHARS."""
    inner = extract_map(text)
    if inner is None:
        start = text.rfind(MAP[0])
        inner = text if start < 0 else text[start + len(MAP[0]) :]
    return inner[:MAX_MAP_CHARS]


# Python literal → JSON for the common repr()-style map: quotes and tuple brackets.
_PY_TO_JSON = str.maketrans("'()", '"[]')
_JSON = json.JSONDecoder()


def _parse_json(body: str, wanted: dict[str, str] | None) -> CogMap | None:
    """The map when the body holds a JSON object (or a simple Python dict literal), else None."""
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return None
    obj = body[start : end + 1]
    try:
        data = _JSON.raw_decode(obj)[0]  # json.loads minus two Python-level wrappers
    except (ValueError, RecursionError):
        try:
            data = _JSON.raw_decode(obj.translate(_PY_TO_JSON))[0]
        except (ValueError, RecursionError):
            return None
    if not isinstance(data, dict):
        return None
    out: CogMap = {}
    for key, value in data.items():
        cat = _category(key, wanted)
        if cat is None:
            continue
        if cat in out:
            out[cat].extend(_points_from_value(value))
        else:
            out[cat] = _points_from_value(value)
    return out


def _parse_tokens(body: str, wanted: dict[str, str] | None) -> CogMap:
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
        if kind == 2:  # a point: same as bracket, two numbers, bracket
            if target is not None:
                _pairs(nums, target)
                x, y = float(m.group(1)), float(m.group(2))
                if math.isfinite(x) and math.isfinite(y):
                    target.append((x, y))
            nums, words, quoted = [], [], None
        elif kind == 5:
            value = float(m.group(5))
            if math.isfinite(value):
                nums.append(value)
            words, quoted = [], None
        elif kind == 6:
            words.append(m.group(6))
            quoted = None
        elif kind == 8:
            if target is not None:
                _pairs(nums, target)
            nums, words, quoted = [], [], None
        elif kind == 7:
            key = quoted if quoted is not None else " ".join(words) if words else None
            if key is not None:
                if target is not None:
                    _pairs(nums, target)
                cat = _category(key, wanted)
                target = None if cat is None else out.setdefault(cat, [])
                nums = []
            words, quoted = [], None
        else:  # 3 or 4: quoted string
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
        wanted = _wanted(categories)
        parsed = _parse_json(body, wanted)
        return parsed if parsed is not None else _parse_tokens(body, wanted)
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
    n, m = len(pred), len(true)
    if n == 1 and m == 1:  # the most common case
        d = hypot(pred[0][0] - true[0][0], pred[0][1] - true[0][1])
        return [(0, 0, d, max(0.0, 1.0 - d / diag))]
    if n == 1 or m == 1:  # one pair: the closest, ties to the lowest index (min/index keep the first)
        if n == 1:
            px, py = pred[0]
            dist = [hypot(px - tx, py - ty) for tx, ty in true]
            d = min(dist)
            i, j = 0, dist.index(d)
        else:
            tx, ty = true[0]
            dist = [hypot(px - tx, py - ty) for px, py in pred]
            d = min(dist)
            i, j = dist.index(d), 0
        return [(i, j, d, max(0.0, 1.0 - d / diag))]
    # (distance, pred index, true index) tuples sort by distance, ties by pred then true index
    cand = sorted(
        [
            (hypot(px - tx, py - ty), i, j)
            for i, (px, py) in enumerate(pred)
            for j, (tx, ty) in enumerate(true)
        ]
    )
    want = min(n, m)
    free_p = [True] * n
    free_t = [True] * m
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


def _compare(pred: Mapping[str, Any], gt: Mapping[str, Any], grid: int, matching: str) -> tuple[float, list]:
    """The score and one (category, n_pred, n_true, accuracy, pairs) row per category."""
    try:
        match = _MATCHERS[matching]
    except KeyError:
        raise ValueError(f"matching must be one of {sorted(_MATCHERS)}, got {matching!r}") from None
    diag = grid * math.sqrt(2.0)
    rows = []
    weighted = 0.0
    total_true = 0
    for cat, t in gt.items():
        p = pred.get(cat)
        n_p, n_t = (0 if p is None else len(p)), len(t)
        total_true += n_t
        if n_p and n_t:
            pairs = match(p, t, diag)
            acc = sum([pair[3] for pair in pairs]) / (n_p if n_p > n_t else n_t)
            weighted += acc * n_t
        else:
            pairs = []
            acc = 0.0 if n_p or n_t else 1.0
        rows.append((cat, n_p, n_t, acc, pairs))
    for cat, p in pred.items():  # categories only in the prediction: weight 0
        if cat not in gt:
            rows.append((cat, len(p), 0, 0.0 if len(p) else 1.0, []))
    if total_true:
        return weighted / total_true, rows
    return (0.0 if any(map(len, pred.values())) else 1.0), rows


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
    score, rows = _compare(pred, gt, grid, matching)
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
    return _compare(pred, gt, grid, matching)[0]


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
