"""Tag extraction and answer normalisation (spacer_core.parsing)."""

from __future__ import annotations

import pytest

from spacer_core.parsing import (
    answer_text,
    extract_answer,
    extract_map,
    extract_think,
    normalize_option,
    parse_number,
    vsibench_normalize,
)

COMPLETION = (
    '<think> first thought <map>{"a": [[1, 2]]}</map> wait <map>{"a": [[3, 4]]}</map> </think>'
    "<think>second</think>\n<answer> A </answer> trailing <answer>C</answer>"
)


def test_think_is_first_block():
    assert extract_think(COMPLETION).startswith("first thought")
    assert extract_think("<think>x</think><think>y</think>") == "x"


def test_map_is_last_block():
    assert extract_map(COMPLETION) == '{"a": [[3, 4]]}'


def test_answer_is_last_block_stripped():
    assert extract_answer(COMPLETION) == "C"
    assert extract_answer("<answer>  3.5 m \n</answer>") == "3.5 m"


@pytest.mark.parametrize(
    "text",
    ["", "no tags", "<answer>open only", "close only</answer>", "</answer><answer>", "<ANSWER>B</ANSWER>"],
)
def test_missing_or_unclosed_answer_is_none(text):
    assert extract_answer(text) is None


def test_unclosed_think_and_map_are_none():
    assert extract_think("<think>never closed") is None
    assert extract_map("<map>{'a': [[1, 2]]}") is None


def test_answer_text_falls_back_to_whole_text():
    assert answer_text("<think>x</think><answer>B</answer>") == "B"
    assert answer_text("  B. left\n") == "B. left"


@pytest.mark.parametrize(
    "raw, expected",
    [("B. left", "B"), ("b", "b"), ("3.5", "3.5"), ("3.", "3"), ("12 chairs", "12"), ("", ""), ("  \n", ""),
     ("A.\nleft", "A.\nleft"), ("A\tleft", "A\tleft"), ("A..", "A"), (" A", ""), ("3\n", "3")],
)
def test_vsibench_normalize(raw, expected):
    assert vsibench_normalize(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("B", "B"),
        ("b", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        ("B)", "B"),
        ("B. left", "B"),
        ("(c) the sofa", "C"),
        ("D: behind", "D"),
        ("**A**", "A"),
        ("The answer is B", "B"),
        ("The answer is (C).", "C"),
        ("Answer: D", "D"),
        ("a chair", None),  # the article is not option A
        ("the answer is a chair", None),
        ("I think so", None),
        ("left", None),
        ("", None),
    ],
)
def test_normalize_option(raw, expected):
    assert normalize_option(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("3.5 m", 3.5),
        ("3.5m", 3.5),
        ("1,200", 1200.0),
        ("1,200.5 square metres", 1200.5),
        ("about 42", 42.0),
        ("-2", -2.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("three", 3.0),
        ("Three chairs", 3.0),
        ("twenty-five", 25.0),
        ("thirty one", 31.0),
        ("two hundred", 200.0),
        ("zero", 0.0),
        ("there are 2 tables and three chairs", 2.0),
        ("three chairs and 2 tables", 3.0),
    ],
)
def test_parse_number(raw, expected):
    assert parse_number(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    "raw", ["a chair", "an apple", "A", "none", "", "about a metre", "1e999", "version v2"]
)
def test_parse_number_rejects_non_numbers(raw):
    assert parse_number(raw) is None
