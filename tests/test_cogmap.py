"""Cognitive maps: true maps from boxes, parsing, SpaceR's score (spacer_core.cogmap)."""

from __future__ import annotations

import json
import math
import random
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacer_core import cogmap
from spacer_core.cogmap import (
    load_map,
    maps_from_boxes,
    normalize_category,
    parse_map,
    score_map,
    score_map_details,
)

D = 10 * math.sqrt(2)  # the 10×10 grid's diagonal

# --- maps_from_boxes --------------------------------------------------------------------------


def test_maps_from_boxes_cells_order_and_clipping():
    objects = [
        {"category": "chair", "center": [0.5, 3.99, 1.2]},  # x 0.5/4*10 = 1.25 → 1; y 9.975 → 9
        {"category": "table", "center": [4.0, 0.0, 0.4]},  # on the far wall: 10 → clipped to 9
        {"category": "chair", "center": [-1.0, 2.0, 0.0]},  # outside: -2.5 → clipped to 0; y 5
        {"category": "lamp", "center": [1.6, 1.6, 9.9], "size": [1, 1, 1]},  # 4 → 4; height ignored
    ]
    assert maps_from_boxes(objects, (0.0, 0.0, 4.0, 4.0)) == {
        "chair": [(1, 9), (0, 5)],
        "table": [(9, 0)],
        "lamp": [(4, 4)],
    }


def test_maps_from_boxes_offset_room_and_grid():
    objects = [{"category": "bed", "center": [0.0, 0.0, 0.5]}]
    # x: (0 + 2) / 4 * 10 = 5; y: (0 + 1) / 4 * 10 = 2.5 → 2
    assert maps_from_boxes(objects, (-2.0, -1.0, 2.0, 3.0)) == {"bed": [(5, 2)]}
    # grid 4: x 2/4*4 = 2, y 1/4*4 = 1
    assert maps_from_boxes(objects, (-2.0, -1.0, 2.0, 3.0), grid=4) == {"bed": [(2, 1)]}
    assert maps_from_boxes([], (0, 0, 1, 1)) == {}


def test_maps_from_boxes_bad_input():
    with pytest.raises(ValueError, match="'center'"):
        maps_from_boxes([{"category": "bed"}], (0, 0, 1, 1))
    with pytest.raises(ValueError, match="room_bounds"):
        maps_from_boxes([{"category": "bed", "center": [0, 0, 0]}], (0, 0, 0, 1))


# --- parse_map --------------------------------------------------------------------------------

CATS = ["chair", "table", "coffee table", "TV", "box"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"chair": [[1, 2], [3, 4]], "table": [[5, 6]]}', {"chair": [(1, 2), (3, 4)], "table": [(5, 6)]}),
        ("{'chair': [(1, 2), (3, 4)], 'table': [(5, 6)]}", {"chair": [(1, 2), (3, 4)], "table": [(5, 6)]}),
        ("chair: (1, 2), (3,4); table: [5, 6]", {"chair": [(1, 2), (3, 4)], "table": [(5, 6)]}),
        (
            "{chair: [[1, 2],], table: [[5, 6],],}",
            {"chair": [(1, 2)], "table": [(5, 6)]},
        ),  # unquoted, trailing
        (
            '{"chair": [[[1, 2]]], "table": [[[5, 6]], [[7, 8]]]}',
            {"chair": [(1, 2)], "table": [(5, 6), (7, 8)]},
        ),
        (
            '{"chair": [1, 2], "table": [[5.5, 6.25]]}',
            {"chair": [(1, 2)], "table": [(5.5, 6.25)]},
        ),  # flat pair
        ('{"chair": [[1, 2, 0.4]]}', {"chair": [(1, 2)]}),  # a z coordinate is dropped
        ("chair = [1, 2, 3, 4]", {"chair": [(1, 2), (3, 4)]}),  # loose numbers in pairs
        ('{"chair": []}', {"chair": []}),
        ("coffee table: (2, 2); table: (3, 3)", {"coffee table": [(2, 2)], "table": [(3, 3)]}),
        # forms real models write that SpaceR's parser reads: string coordinates,
        ('{"chair": "1, 2", "table": ["(5, 6)", "[7, 8]"]}', {"chair": [(1, 2)], "table": [(5, 6), (7, 8)]}),
        # prose without colons (the longest name wins: "coffee table", not "table"),
        ("the chair is at (1, 2), a coffee table sits at (3, 4) and the tables at (5, 6) and (7, 8)",
         {"chair": [(1, 2)], "coffee table": [(3, 4)], "table": [(5, 6), (7, 8)]}),
        # a list of objects,
        ('[{"category": "chair", "center": [1, 2]}, {"name": "table", "position": {"x": 5, "y": 6}}]',
         {"chair": [(1, 2)], "table": [(5, 6)]}),
        ("[{'label': 'chair', 'center': (1, 2)}, {'object': 'box', 'center': (3, 4)}, {'center': [0, 0]}]",
         {"chair": [(1, 2)], "box": [(3, 4)]}),
        ('[{"id": 7, "what": "chair", "at": [1, 2]}]', {"chair": [(1, 2)]}),  # named in any string value
        # and x=/y= points
        ("chair: x=1, y=2; table x=5 y=6", {"chair": [(1, 2)], "table": [(5, 6)]}),
        ('{"chair": {"x": 1, "y": 2}, "table": [{"x": 5, "y": 6}, {"x": 7, "y": 8}]}',
         {"chair": [(1, 2)], "table": [(5, 6), (7, 8)]}),
    ],
)
def test_parse_map_formats(text, expected):
    assert parse_map(text, CATS) == expected


def test_parse_map_key_matching():
    text = '{"Chairs": [[1, 2]], "chair": [[3, 4]], "Coffee_Tables": [[5, 5]], "tv": [[0, 0]], "boxes": [[9, 9]]}'
    assert parse_map(text, CATS) == {
        "chair": [(1, 2), (3, 4)],  # "Chairs" and "chair" merge under the requested spelling
        "coffee table": [(5, 5)],
        "TV": [(0, 0)],
        "box": [(9, 9)],
    }


def test_parse_map_spacer_keys_as_spacer():
    text = '{"Chairs": [[1, 2]], "chair": [[3, 4]], "Coffee_Tables": [[5, 5]], "\'tv\'": [[0, 0]], "the box": [[9, 9]]}'
    # lower case and surrounding punctuation only: no plurals, no "_" folding, no articles
    assert parse_map(text, CATS, spacer_keys=True) == {"chair": [(3, 4)], "TV": [(0, 0)]}
    assert parse_map("the chairs are at (1, 2); the chair at (3, 4)", CATS, spacer_keys=True) == {"chair": [(3, 4)]}


def test_parse_map_lists_of_objects_and_prose_without_categories():
    assert parse_map('[{"category": "chair", "center": [1, 2]}]') == {"chair": [(1, 2)]}
    # without requested categories a prose word cannot be told from a name: only "key:" keys
    assert parse_map("the chair is at (1, 2); table: (3, 4)") == {"table": [(3, 4)]}


def test_parse_map_drops_unrequested_keys_and_keeps_all_without_categories():
    text = '{"chair": [[1, 2]], "unicorn": [[3, 4]]}'
    assert parse_map(text, ["chair"]) == {"chair": [(1, 2)]}
    assert parse_map(text) == {"chair": [(1, 2)], "unicorn": [(3, 4)]}
    assert parse_map(text, []) == {}


def test_parse_map_whole_completion_reads_last_map_block():
    completion = (
        '<think>draft <map>{"chair": [[0, 0]]}</map> better: <map>{"chair": [[4, 4]], "table": [[1, 1]]}</map>'
        " so the chair is closer.</think><answer>B</answer>"
    )
    assert parse_map(completion, CATS) == {"chair": [(4, 4)], "table": [(1, 1)]}


def test_parse_map_unclosed_map_and_prose():
    assert parse_map('<think><map>{"chair": [[2, 3]]', CATS) == {"chair": [(2, 3)]}
    prose = "I see 3 chairs: at (1, 2) and (3, 4). The table: [5, 6]."
    assert parse_map(prose, CATS) == {"chair": [(1, 2), (3, 4)], "table": [(5, 6)]}


def test_parse_map_drops_non_finite_numbers():
    assert parse_map('{"chair": [[1e999, 2], [3, 4]]}', CATS) == {"chair": [(3, 4)]}
    assert parse_map('{"chair": [[NaN, 2], [3, 4]]}', CATS) == {"chair": [(3, 4)]}
    assert parse_map("chair: (1e999, 2), (5, 6)", CATS) == {"chair": [(5, 6)]}
    assert parse_map('{"chair": [[' + "9" * 5000 + ", 2], [3, 4]]}", CATS) == {"chair": [(3, 4)]}


@pytest.mark.parametrize(
    "text", ["", "   ", "B", "no map here", "{}", "[]", "{[}]", None, 42, b'{"chair": [[1, 2]]}']
)
def test_parse_map_garbage_gives_empty(text):
    assert parse_map(text, CATS) == {}


HOSTILE = {
    "1 MB of letters": "a" * 1_000_000,
    "1 MB of words": "chair " * 170_000,
    "100k nested brackets": "[" * 100_000 + "]" * 100_000,
    "100k nested in a map": '<map>{"chair": ' + "[" * 100_000 + "1, 2" + "]" * 100_000 + "}</map>",
    "100k nested dicts": '{"chair":' * 100_000 + "1" + "}" * 100_000,
    "huge number": '{"chair": [[' + "9" * 1_000_000 + ", 1]]}",
    "huge exponent": "chair: (1e99999999999, 2)",
    "NUL bytes": "\x00" * 1_000_000,
    "NUL inside": '<map>{"chair": [[1,\x00 2]]}\x00</map>',
    "quotes": '"' * 1_000_000,
    "separators": "chair:" * 200_000,
    "open parens": "( " * 500_000,
    "open pair": "(" + " " * 1_000_000,
    "map tags": "<map>" * 200_000 + "</map>" * 200_000,
    "surrogates": "\ud800chair: (1, 2)",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_parse_map_hostile_input_is_bounded(name):
    # The < 50 ms goal is measured by benchmarks/bench_rewards.py; this guards against
    # catastrophic backtracking (which would take seconds to minutes) and exceptions.
    t0 = time.perf_counter()
    out = parse_map(HOSTILE[name], CATS)
    assert time.perf_counter() - t0 < 1.0
    assert isinstance(out, dict)
    assert all(isinstance(p, tuple) and all(math.isfinite(v) for v in p) for pts in out.values() for p in pts)


@given(st.text(alphabet=st.sampled_from(list("[](){}:;,='\"-+.eE 0123456789\nchairtbleCT_")), max_size=300))
@settings(max_examples=300, deadline=None)
def test_parse_map_never_raises_on_map_like_text(text):
    out = parse_map(text, CATS)
    assert set(out) <= set(CATS)
    assert all(len(p) == 2 and all(math.isfinite(v) for v in p) for pts in out.values() for p in pts)


def test_normalize_category():
    assert normalize_category("Coffee_Tables!") == "coffee table"
    assert normalize_category("the Boxes") == "box"
    assert normalize_category("shelves") == "shelve"  # only simple plurals
    assert normalize_category("glasses") == "glass"
    assert normalize_category("libraries") == "library"
    assert normalize_category("glass") == "glass"


# The parser's shortcuts must read exactly what the general code reads.

json_scalars = st.one_of(
    st.integers(-3, 12),
    st.integers(10**300, 10**400),  # past the float range
    st.floats(),  # NaN and ±inf included
    st.booleans(),
    st.none(),
    st.sampled_from(["3", "x", "ab", ""]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "bc"]), inner, max_size=2)
    ),
    max_leaves=12,
)


@given(st.one_of(json_values, st.lists(st.lists(json_scalars, min_size=2, max_size=2), max_size=3)))
@settings(max_examples=400, deadline=None)
def test_json_points_read_as_the_general_walk_reads_them(value):
    # parse_map reads the usual [[x, y], ...] without walking the value: the same points either way
    expected = cogmap._points_from_value(json.loads(json.dumps(value)))
    assert parse_map(json.dumps({"chair": value}), ["chair"]) == {"chair": expected}


@given(
    st.text(
        alphabet=st.sampled_from(list("[](){}:;,='\"-+.eE 0123456789\n\tchairtbleCT_\x00é٣²")), max_size=200
    )
)
@settings(max_examples=400, deadline=None)
def test_token_scan_skip_finds_the_tokens_of_the_alternatives(text):
    # the scan skips what starts no token in one go; it must find what trying each alternative
    # at every position finds
    plain = re.compile(cogmap._TOKEN_ALTERNATIVES)
    expected = [(m.lastindex, m.groups(), m.end()) for m in plain.finditer(text)]
    scanned = [(m.lastindex, m.groups()[:8], m.end()) for m in cogmap._TOKEN.finditer(text)]
    assert [t for t in scanned if t[0] is not None and t[0] <= 8] == expected


# --- score_map --------------------------------------------------------------------------------

GT = {"table": [[0, 3], [5, 7]], "chair": [[9, 3]], "window": [[6, 5]]}


def test_score_identical_is_one():
    assert score_map(GT, GT) == 1.0
    assert score_map(GT, GT, matching="hungarian") == 1.0


def test_score_hand_computed():
    pred = {"table": [(0, 3), (4, 6)], "chair": [(8, 3), (1, 1)], "unicorn": [(2, 2)]}
    table = (1 + (1 - math.sqrt(2) / D)) / 2  # exact + one off by (1, 1); 2 of 2 instances
    chair = (1 - 1 / D) / 2  # one pair 1 cell away, one extra prediction
    window = 0.0  # missing
    expected = (2 * table + 1 * chair + 1 * window) / 4
    assert score_map(pred, GT) == pytest.approx(expected)
    assert score_map(pred, GT) == pytest.approx(0.59116, abs=1e-5)


def test_score_hallucinated_category_costs_nothing():
    pred = {"table": [(0, 3), (5, 7)], "chair": [(9, 3)], "window": [(6, 5)], "unicorn": [(1, 1), (2, 2)]}
    assert score_map(pred, GT) == 1.0


def test_score_extra_and_missing_instances():
    gt = {"chair": [[1, 1]]}
    assert score_map({"chair": [(1, 1), (5, 5), (9, 9)]}, gt) == pytest.approx(1 / 3)
    assert score_map({"chair": [(1, 1)]}, {"chair": [[1, 1], [4, 4]]}) == pytest.approx(1 / 2)


def test_score_far_pairs_clip_to_zero():
    assert score_map({"chair": [(20, 20)]}, {"chair": [[0, 0]]}) == 0.0
    assert score_map({"chair": [(20, 20)]}, {"chair": [[0, 0]]}, matching="hungarian") == 0.0


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ({}, {}, 1.0),
        ({"chair": []}, {"chair": []}, 1.0),
        ({"chair": [(1, 1)]}, {}, 0.0),  # no true points, some predicted
        ({"chair": [(1, 1)]}, {"chair": []}, 0.0),
        ({}, {"chair": [[1, 1]]}, 0.0),
        ({"chair": []}, {"chair": [[1, 1]]}, 0.0),
    ],
)
def test_score_empty_maps(pred, gt, expected):
    assert score_map(pred, gt) == expected
    assert score_map(pred, gt, matching="hungarian") == expected


def test_score_ties_break_by_pred_then_true_index():
    # both true points are 1 away from the single prediction: the first true point is taken
    details = score_map_details({"chair": [(0, 0)]}, {"chair": [[1, 0], [-1, 0]]})
    assert details.categories[0].pairs == ((0, 0, 1.0, 1 - 1 / D),)
    # both predictions are 1 away from the single true point: the first prediction is taken
    details = score_map_details({"chair": [(0, 0), (2, 0)]}, {"chair": [[1, 0]]})
    assert details.categories[0].pairs == ((0, 0, 1.0, 1 - 1 / D),)


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        # pred 0 is 1 from both true points: the tie goes to true 0, leaving pred 1 with true 1
        ([(0, 0), (3, 0)], [[1, 0], [0, 1]], (2 - 1 / D - math.sqrt(10) / D) / 2),
        # true 1 is sqrt(2) from both predictions: the tie goes to pred 0, leaving pred 1 with true 0
        ([(0, 0), (2, 2)], [[5, 0], [1, 1]], (2 - math.sqrt(2) / D - math.sqrt(13) / D) / 2),
        # 3×3: pred 1 takes true 1 at 0; then preds 0 and 2 are both 1 from true 0: pred 0 takes
        # it, leaving pred 2 with true 2 at 6 (not pred 0 at 4)
        ([(5, 1), (0, 0), (5, -1)], [[5, 0], [0, 0], [5, 5]], (3 - 1 / D - 6 / D) / 3),
    ],
)
def test_greedy_ties_in_small_maps(pred, gt, expected):
    assert score_map({"chair": pred}, {"chair": gt}) == pytest.approx(expected)
    assert score_map_details({"chair": pred}, {"chair": gt}).score == pytest.approx(expected)


def test_greedy_nan_distances_keep_the_sort_order():
    # distances [[inf, nan], [0, inf]]: NaN compares false both ways, so the sort leaves (0, 0)
    # first; both pairs taken are at inf and score 0 (a 2×2 rule that assumed no NaN gives 0.5)
    pred, gt = {"chair": [(0, math.inf), (0, 0)]}, {"chair": [[0, 0], [0, math.inf]]}
    assert score_map(pred, gt) == 0.0
    assert [p[:2] for p in score_map_details(pred, gt).categories[0].pairs] == [(0, 0), (1, 1)]


def test_greedy_is_suboptimal_where_hungarian_is_not():
    pred = {"chair": [(0, 0), (2, 0)]}
    gt = {"chair": [[1.1, 0], [3.5, 0]]}
    # greedy takes (pred 1, true 0) at 0.9 first, leaving (pred 0, true 1) at 3.5
    assert score_map(pred, gt) == pytest.approx((2 - 4.4 / D) / 2)
    # the optimal matching is (0, 0) at 1.1 and (1, 1) at 1.5
    assert score_map(pred, gt, matching="hungarian") == pytest.approx((2 - 2.6 / D) / 2)
    hung = score_map_details(pred, gt, matching="hungarian").categories[0].pairs
    assert [(i, j) for i, j, _, _ in hung] == [(0, 0), (1, 1)]


def test_score_grid_size_changes_the_diagonal():
    assert score_map({"chair": [(0, 0)]}, {"chair": [[3, 4]]}, grid=5) == pytest.approx(
        1 - 5 / (5 * math.sqrt(2))
    )


def test_score_details_breakdown():
    pred = {"chair": [(8, 3)], "unicorn": [(1, 1)], "table": [(0, 3)]}
    details = score_map_details(pred, GT)
    assert [c.category for c in details.categories] == ["table", "chair", "window", "unicorn"]
    by_cat = {c.category: c for c in details.categories}
    assert (
        by_cat["table"].weight == 0.5 and by_cat["chair"].weight == 0.25 and by_cat["unicorn"].weight == 0.0
    )
    assert (by_cat["table"].n_pred, by_cat["table"].n_true) == (1, 2)
    assert by_cat["table"].accuracy == 0.5
    assert by_cat["window"].accuracy == 0.0 and by_cat["window"].pairs == ()
    assert by_cat["unicorn"].accuracy == 0.0
    assert details.score == pytest.approx(sum(c.accuracy * c.weight for c in details.categories))
    assert details.score == score_map(pred, GT)


def test_score_bad_matching():
    with pytest.raises(ValueError, match="matching"):
        score_map(GT, GT, matching="optimal")


points = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=4)
maps = st.dictionaries(st.sampled_from(["chair", "table", "sofa", "bed", "lamp"]), points, max_size=5)


@given(maps, maps)
@settings(max_examples=300, deadline=None)
def test_score_properties(pred, gt):
    greedy = score_map(pred, gt)
    hungarian = score_map(pred, gt, matching="hungarian")
    assert 0.0 <= greedy <= 1.0 and 0.0 <= hungarian <= 1.0
    assert greedy <= hungarian + 1e-12
    assert score_map(gt, gt) == 1.0 and score_map(gt, gt, matching="hungarian") == 1.0


@given(maps)
@settings(max_examples=200, deadline=None)
def test_parse_json_round_trip(m):
    assert parse_map(json.dumps(m), list(m)) == {
        k: [(float(x), float(y)) for x, y in v] for k, v in m.items()
    }


def _spec_score(pred, gt, grid=10):
    """cogmap-score.md word for word: the oracle for score_map's shortcuts (one pair, 2×2, the
    sort by distance alone). Returns the score and each true category's pairs."""
    diag = grid * math.sqrt(2)
    weighted, total, pairs_by_cat = 0.0, 0, {}
    for cat, t in gt.items():
        p = pred.get(cat, [])
        total += len(t)
        cand = sorted(
            (math.hypot(px - tx, py - ty), i, j)
            for i, (px, py) in enumerate(p)
            for j, (tx, ty) in enumerate(t)
        )
        pairs, used_p, used_t = [], set(), set()
        for d, i, j in cand:
            if i not in used_p and j not in used_t and len(pairs) < min(len(p), len(t)):
                used_p.add(i)
                used_t.add(j)
                pairs.append((i, j, d, max(0.0, 1.0 - d / diag)))
        pairs_by_cat[cat] = tuple(pairs)
        if p and t:
            weighted += sum(pair[3] for pair in pairs) / max(len(p), len(t)) * len(t)
    if total:
        return weighted / total, pairs_by_cat
    return (0.0 if any(pred.values()) else 1.0), pairs_by_cat


coords = st.one_of(st.integers(0, 3), st.floats(-1, 11), st.sampled_from([0.5, 40.0, 1e9]))  # ties, far pairs
tie_points = st.lists(st.tuples(coords, coords), max_size=4)
tie_maps = st.dictionaries(st.sampled_from(["chair", "table", "sofa"]), tie_points, max_size=3)


@given(tie_maps, tie_maps, st.sampled_from([10, 3]))
@settings(max_examples=300, deadline=None)
def test_greedy_matches_the_spec(pred, gt, grid):
    expected, pairs = _spec_score(pred, gt, grid)
    assert score_map(pred, gt, grid) == expected  # exactly: same pairs, summed in the same order
    details = score_map_details(pred, gt, grid)
    assert details.score == expected
    assert [c.pairs for c in details.categories[: len(gt)]] == [pairs[cat] for cat in gt]


several = st.lists(st.tuples(coords, coords), min_size=2, max_size=4)


@given(several, several)
@settings(max_examples=300, deadline=None)
def test_greedy_matches_the_spec_on_several_instances(pred, true):
    # several instances per category, without the other categories' dilution
    assert score_map({"chair": pred}, {"chair": true}) == _spec_score({"chair": pred}, {"chair": true})[0]


def test_greedy_matches_the_spec_on_many_random_maps():
    # Ties (small integers) decide which pairs are taken; a sum of three rounds differently in
    # another order now and then (random floats): many random maps catch both. NaN distances
    # (inf - inf) must be ordered as the spec's sort orders them.
    rng = random.Random(0)

    def coord():
        r = rng.random()
        return rng.randint(0, 3) if r < 0.6 else rng.uniform(0, 10) if r < 0.98 else math.inf

    for _ in range(4000):
        pred, true = ({"chair": [(coord(), coord()) for _ in range(rng.randint(2, 4))]} for _ in range(2))
        assert score_map(pred, true) == _spec_score(pred, true)[0]


# --- load_map ---------------------------------------------------------------------------------


def test_load_map():
    assert load_map(None) is None and load_map("") is None and load_map("  ") is None
    assert load_map({"chair": [[1, 2]]}) == {"chair": [(1.0, 2.0)]}
    assert load_map('{"chair": [[1, 2]], "bed": []}') == {"chair": [(1.0, 2.0)], "bed": []}
    with pytest.raises(ValueError, match="cognitive_map: not valid JSON"):
        load_map("{chair: [[1, 2]]")
    with pytest.raises(ValueError, match=r"cognitive_map\['chair'\]"):
        load_map({"chair": [1, 2]})
    with pytest.raises(ValueError, match="my_field"):
        load_map("[1, 2]", field="my_field")


# --- figures ----------------------------------------------------------------------------------
