"""Prompt templates: the question part of the user turn (the video goes in as its own content item).

Modes:
- ``thinking_map``: SpaceR's map-imagination prompt for spatial items — reason in ``<think>``,
  optionally sketching a cognitive map of the listed categories on a 10×10 grid inside
  ``<map>`` (within the reasoning), then answer in ``<answer>``.
- ``thinking``: the plain thinking prompt (``<think>`` then ``<answer>``).
- ``direct``: VSI-Bench's official non-thinking prompt (no tags; greedy, 16 new tokens).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

PROBLEM_TYPES = ("multiple choice", "numerical", "OCR", "free-form", "regression")
MODES = ("thinking_map", "thinking", "direct")

# Categories to map when a scene's own list is unknown (common indoor objects of ScanNet-style
# scenes, as VSI-Bench asks about).
GENERIC_INDOOR_CATEGORIES = (
    "chair", "table", "sofa", "bed", "desk", "cabinet", "shelf", "door", "window", "tv",
    "lamp", "sink", "toilet", "refrigerator", "trash can", "plant",
)  # fmt: skip

MAP_EXAMPLE = '<map>{"table": [[0, 3], [5, 7]], "chair": [[9, 3]], "window": [[6, 5]]}</map>'

# What goes inside <answer>, per problem type.
ANSWER_SUFFIX = {
    "multiple choice": "Put only the option letter (e.g. A, B, C, D) inside <answer> </answer>.",
    "numerical": "Put only a number (e.g. 42 or 3.1) inside <answer> </answer>.",
    "OCR": "Put the transcribed text inside <answer> </answer>.",
    "free-form": "Put your text answer inside <answer> </answer>.",
    "regression": "Put only a number (e.g. 42 or 3.1) inside <answer> </answer>.",
}

THINK_INSTRUCTION = (
    "Think step by step inside <think> </think>, then give the final answer inside <answer> </answer>."
)

MAP_INSTRUCTION = (
    "If it helps, first imagine a cognitive map of the whole scene inside your thinking: find the "
    "objects of these categories: {categories}. Estimate the centre of every instance on a 10x10 grid "
    "covering the scene (x and y from 0 to 9) and write the map as a dict inside <map> </map>, listing "
    "all instances of a category, e.g. {example}."
)

# VSI-Bench (lmms-eval ``vsibench``) official wording.
DIRECT_PRE = "These are frames of a video."
DIRECT_POST = {
    "multiple choice": "Answer with the option's letter from the given choices directly.",
    "numerical": "Please answer the question using a single word or phrase.",
}

_LETTERED = re.compile(r"^\s*\(?[A-Z][.):]")


def format_options(options: Sequence[str]) -> list[str]:
    """Options as "A. …" lines; options that already start with a letter ("A. left") are kept."""
    if all(_LETTERED.match(o) for o in options):
        return [o.strip() for o in options]
    if len(options) > 26:
        raise ValueError(f"options: at most 26 supported, got {len(options)}")
    return [f"{letter}. {o.strip()}" for letter, o in zip(string.ascii_uppercase, options, strict=False)]


def build_prompt(
    question: str,
    options: Sequence[str] | None = None,
    problem_type: str = "multiple choice",
    mode: str = "thinking_map",
    categories: Sequence[str] | None = None,
) -> str:
    """The text of the user turn for one question.

    ``categories``: the object categories to map (``thinking_map`` only); defaults to
    :data:`GENERIC_INDOOR_CATEGORIES`. ``direct`` supports the two VSI-Bench answer types;
    other problem types use the free-form wording there.
    """
    if problem_type not in ANSWER_SUFFIX:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    lines = [question.strip()]
    if options:
        lines += ["Options:", *format_options(options)]
    if mode == "direct":
        post = DIRECT_POST.get(problem_type, DIRECT_POST["numerical"])
        return "\n".join([DIRECT_PRE, *lines, post])
    if mode == "thinking_map":
        cats = ", ".join(categories if categories else GENERIC_INDOOR_CATEGORIES)
        lines.append(MAP_INSTRUCTION.format(categories=cats, example=MAP_EXAMPLE))
    lines.append(f"{THINK_INSTRUCTION} {ANSWER_SUFFIX[problem_type]}")
    return "\n".join(lines)
