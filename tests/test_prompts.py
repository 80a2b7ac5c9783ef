"""Prompt templates (spacer_core.prompts)."""

from __future__ import annotations

import pytest

from spacer_core.cogmap import parse_map
from spacer_core.parsing import extract_map
from spacer_core.prompts import GENERIC_INDOOR_CATEGORIES, MAP_EXAMPLE, build_prompt, format_options
from spacer_core.rewards import format_ok

QUESTION = "Which object is closer to the bed?"
OPTIONS = ["A. chair", "B. table", "C. lamp"]


def test_direct_prompt_is_vsibench_official():
    assert build_prompt(QUESTION, OPTIONS, mode="direct") == (
        "These are frames of a video.\n"
        "Which object is closer to the bed?\n"
        "Options:\nA. chair\nB. table\nC. lamp\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert build_prompt("How many chairs are in this room?", problem_type="numerical", mode="direct") == (
        "These are frames of a video.\n"
        "How many chairs are in this room?\n"
        "Please answer the question using a single word or phrase."
    )


def test_thinking_prompt_has_tags_and_answer_suffix():
    text = build_prompt(QUESTION, OPTIONS, mode="thinking")
    assert text.startswith(QUESTION + "\nOptions:\nA. chair\nB. table\nC. lamp\n")
    assert "<think> </think>" in text and "<answer> </answer>" in text
    assert "option letter" in text and "<map>" not in text


@pytest.mark.parametrize(
    "ptype, phrase",
    [
        ("multiple choice", "option letter"),
        ("numerical", "a number (e.g. 42 or 3.1)"),
        ("regression", "a number (e.g. 42 or 3.1)"),
        ("OCR", "transcribed text"),
        ("free-form", "text answer"),
    ],
)
def test_answer_suffix_per_problem_type(ptype, phrase):
    assert phrase in build_prompt("Q?", problem_type=ptype, mode="thinking")


def test_thinking_map_prompt_lists_categories_and_a_parseable_example():
    text = build_prompt(QUESTION, OPTIONS, mode="thinking_map", categories=["bed", "chair", "lamp"])
    assert "categories: bed, chair, lamp." in text
    assert "10x10 grid" in text and MAP_EXAMPLE in text
    # the example the model is shown parses back into the map it shows
    assert parse_map(extract_map(text)) == {"table": [(0, 3), (5, 7)], "chair": [(9, 3)], "window": [(6, 5)]}
    # a completion that follows the instructions passes the format reward
    assert format_ok(f"<think>{MAP_EXAMPLE} so B</think><answer>B</answer>")


def test_thinking_map_defaults_to_generic_categories():
    text = build_prompt(QUESTION, OPTIONS)  # thinking_map is the default mode
    assert ", ".join(GENERIC_INDOOR_CATEGORIES) in text


def test_options_get_letters_when_missing():
    assert format_options(["chair", " table "]) == ["A. chair", "B. table"]
    assert format_options(["A. chair", "(B) table"]) == ["A. chair", "(B) table"]
    assert "A. chair\nB. table" in build_prompt(QUESTION, ["chair", "table"], mode="direct")


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match="problem_type"):
        build_prompt("Q?", problem_type="yes/no")
    with pytest.raises(ValueError, match="mode"):
        build_prompt("Q?", mode="cot")
    with pytest.raises(ValueError, match="options"):
        format_options([str(i) for i in range(27)])
