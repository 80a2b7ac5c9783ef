"""Pull the tagged parts out of a completion and normalise answers.

Occurrence rules (tags are matched exactly, lower case):
- ``<think>``: the FIRST complete ``<think>…</think>`` block (the reasoning opens the completion).
- ``<map>``: the LAST complete ``<map>…</map>`` block (a model that revises its map writes the
  final one last).
- ``<answer>``: the LAST complete ``<answer>…</answer>`` block.
(``first=True`` reads the first map or answer block, as SpaceR's released code does.)
Contents are returned stripped; a missing or unclosed block gives ``None``. Lookups use
``str.find``/``str.rfind``, so they run in linear time on any input.
"""

from __future__ import annotations

import math
import re

THINK = ("<think>", "</think>")
MAP = ("<map>", "</map>")
ANSWER = ("<answer>", "</answer>")


def _first_block(text: str, tags: tuple[str, str]) -> str | None:
    open_tag, close_tag = tags
    start = text.find(open_tag)
    if start < 0:
        return None
    start += len(open_tag)
    end = text.find(close_tag, start)
    return None if end < 0 else text[start:end].strip()


def _last_block(text: str, tags: tuple[str, str]) -> str | None:
    """The last complete block: the last opening tag that has a closing tag after it, up to the
    first closing tag after it. Stray closing tags after the block (a model repeating
    "2.0</answer>2.0</answer>…") are not part of it, as with SpaceR's non-greedy regex."""
    open_tag, close_tag = tags
    last_close = text.rfind(close_tag)
    if last_close < 0:
        return None
    start = text.rfind(open_tag, 0, last_close)
    if start < 0:
        return None
    start += len(open_tag)
    return text[start : text.find(close_tag, start)].strip()


def extract_think(text: str) -> str | None:
    """Contents of the first ``<think>…</think>`` block, or None."""
    return _first_block(text, THINK)


def extract_map(text: str, first: bool = False) -> str | None:
    """Contents of the last (``first``: the first) ``<map>…</map>`` block, or None."""
    return (_first_block if first else _last_block)(text, MAP)


def extract_answer(text: str, first: bool = False) -> str | None:
    """Contents of the last (``first``: the first) ``<answer>…</answer>`` block, or None."""
    return (_first_block if first else _last_block)(text, ANSWER)


def answer_text(text: str) -> str:
    """The answer of a completion in any mode: the ``<answer>`` contents when tagged, else the
    whole text stripped (direct, non-thinking answers)."""
    tagged = extract_answer(text)
    return text.strip() if tagged is None else tagged


def vsibench_normalize(text: str) -> str:
    """VSI-Bench's official normalisation (lmms-eval's ``fuzzy_matching``): the text up to the
    first single space, every trailing ``.`` removed, then stripped. Only a space splits: in
    ``"A.\nleft"`` or ``"3\nmeters"`` the newline stays inside the first piece, so they match
    nothing, exactly as officially."""
    return text.split(" ")[0].rstrip(".").strip()


# --- option letters -------------------------------------------------------------------------

# "B", "b", "B.", "(B)", "B)", "B:", "B. left", "(b) left" — the letter opens the answer and is
# followed by option punctuation or the end. "a chair" does not match (no punctuation after "a").
_LEADING_LETTER = re.compile(r"\(?([A-Za-z])(?:\)|[.:]|\s*$)")
# "The answer is B", "Answer: (C)", "answer - D" — only capital letters A–J here, so that
# "the answer is a chair" stays unparsed.
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|-)?\s*:?\s*\(?([A-J])(?![A-Za-z'])", re.IGNORECASE)


def normalize_option(text: str) -> str | None:
    """The option letter an answer names, upper case, or None.

    Accepted: "B", "b", "B.", "(B)", "B)", "B: left", "B. left", "**B**", "The answer is B",
    "Answer: (C)". A bare article ("a chair") is not an option.
    """
    s = text.strip().strip("*`\"' ")
    m = _LEADING_LETTER.match(s)
    if m:
        return m.group(1).upper()
    m = _ANSWER_IS.search(s)
    if m and m.group(1).isupper():
        return m.group(1)
    return None


# --- numbers --------------------------------------------------------------------------------

_DIGITS = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d{1,3})?|(?<![\w.])[-+]?\.\d+"
)
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
# Number words only — "a"/"an" are never read as 1 (SpaceR's scorer did, so any answer with the
# article "a" scored as 1).
_WORDS = re.compile(
    r"\b(?:(" + "|".join(_TENS) + r")(?:[\s-]+(" + "|".join(k for k in _UNITS if _UNITS[k] < 10) + r"))?"
    r"|(" + "|".join(_UNITS) + r"))(?:\s+(hundred|thousand))?\b",
    re.IGNORECASE,
)


def parse_number(text: str) -> float | None:
    """The first number in ``text``, or None.

    Handles "3.5 m", "-2", "1,200", ".5", "1e3", "about 42", "three", "twenty-five",
    "two hundred". Whichever comes first wins (digits or words). Non-finite values give None.
    """
    digit = _DIGITS.search(text)
    word = _WORDS.search(text)
    if word and (digit is None or word.start() < digit.start()):
        tens, unit, small, scale = word.groups()
        if tens:
            value = float(_TENS[tens.lower()] + (_UNITS[unit.lower()] if unit else 0))
        else:
            value = float(_UNITS[small.lower()])
        if scale:
            value *= 100 if scale.lower() == "hundred" else 1000
        return value
    if digit is None:
        return None
    value = float(digit.group().replace(",", ""))
    return value if math.isfinite(value) else None
