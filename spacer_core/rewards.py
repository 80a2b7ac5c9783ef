"""SG-RLVR rewards: format, accuracy (with the cognitive-map gate) and the two group rules.

``format_reward`` and ``accuracy_reward`` have TRL's reward-function signature
(``prompts, completions, **kwargs`` with the dataset columns as keyword lists) and accept plain
or conversational completions. Both, and the trainer's rollout log, go through one scorer,
:func:`score_completion`. The group rules (:func:`temporal_bonus`, :func:`length_bonus`) are
pure functions over per-completion numbers; the trainer applies them per group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spacer_core.cogmap import load_map, parse_map, score_map
from spacer_core.metrics import mean_relative_accuracy, mean_rouge_f, word_error_rate
from spacer_core.parsing import extract_answer, extract_map, normalize_option, parse_number

# The whole completion must be <think>…</think> <answer>…</answer> (SpaceR / Video-R1 use
# re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text, re.DOTALL)); checked below in
# linear time with the same meaning.
_THINK_OPEN, _ANSWER_CLOSE = "<think>", "</answer>"
_THINK_TO_ANSWER = re.compile(r"</think>\s*<answer>")


def format_ok(text: str) -> bool:
    """True when ``text`` as a whole matches ``<think>.*?</think>\\s*<answer>.*?</answer>``."""
    if not (text.startswith(_THINK_OPEN) and text.endswith(_ANSWER_CLOSE)):
        return False
    # The earliest "</think>\s*<answer>" leaves the most room for the answer; it only has to end
    # before the final "</answer>" begins.
    m = _THINK_TO_ANSWER.search(text, len(_THINK_OPEN))
    return m is not None and m.end() <= len(text) - len(_ANSWER_CLOSE)


@dataclass(frozen=True)
class RewardTerms:
    """The reward terms of one completion.

    ``answer_accuracy``: the per-problem-type accuracy of the answer alone; ``map_score``: the
    cognitive-map score when the gate computed one, else None; ``accuracy``: the accuracy term
    after the map gate (what the accuracy reward returns)."""

    format: float
    answer_accuracy: float
    map_score: float | None
    accuracy: float
    answer: str | None
    has_map: bool

    @property
    def total(self) -> float:
        return self.format + self.accuracy

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total": self.total}


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def answer_accuracy(answer: str | None, solution: str, problem_type: str, rules: str = "workbench") -> float:
    """Accuracy of an extracted answer against the solution (``<answer>X</answer>`` or plain X).

    multiple choice: 1 if the option letters match (plain string equality when either is not a
    letter); numerical: MRA; OCR: 1 − WER; free-form: mean ROUGE-1/2/L F; regression:
    1 − |p − g| / |g|. All in [0, 1]; a missing answer scores 0. ``rules="spacer"``: as SpaceR's
    released code reads and compares answers (`_SPACER_SCORERS`).
    """
    scorers = _SPACER_SCORERS if rules == "spacer" else _SCORERS
    truth = extract_answer(solution)
    truth = solution.strip() if truth is None else truth
    if problem_type not in scorers:
        raise ValueError(f"problem_type must be one of {sorted(scorers)}, got {problem_type!r}")
    if answer is None:
        return 0.0
    return scorers[problem_type](answer, truth)


def _target(value: float | None, truth: str) -> float:
    if value is None:
        raise ValueError(f"solution: {truth!r} is not a number")
    return value


def _choice(answer: str, truth: str) -> float:
    a, t = normalize_option(answer), normalize_option(truth)
    if a is None or t is None:
        return float(answer.strip() == truth.strip())
    return float(a == t)


def _numerical(answer: str, truth: str) -> float:
    return mean_relative_accuracy(parse_number(answer), _target(parse_number(truth), truth))


def _regression(answer: str, truth: str) -> float:
    pred, target = parse_number(answer), _target(parse_number(truth), truth)
    if pred is None:
        return 0.0
    if target == 0:
        return float(pred == 0)
    return _clip01(1.0 - abs(pred - target) / abs(target))


_SCORERS = {
    "multiple choice": _choice,
    "numerical": _numerical,
    "OCR": lambda answer, truth: _clip01(1.0 - word_error_rate(answer, truth)),
    "free-form": lambda answer, truth: _clip01(mean_rouge_f(answer, truth)),
    "regression": _regression,
}

# Problem types whose answers open the map gate, with the accuracy an answer needs.
_GATE = {"multiple choice": lambda acc: acc == 1.0, "numerical": lambda acc: acc > 0.5}

# --- SpaceR's released rules (reward_rules="spacer") ----------------------------------------

RULES = ("workbench", "spacer")
# SpaceR reads a number as the first of these words found anywhere in the answer, in this order
# ("a"/"an" read as 1), else the first run of digits (no sign, no thousands separator).
_SPACER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "zero": 0, "a": 1, "an": 1,
}  # fmt: skip
_SPACER_WORD_PATTERNS = [(re.compile(rf"\b{word}\b"), float(value)) for word, value in _SPACER_WORDS.items()]
_SPACER_DIGITS = re.compile(r"\d+(\.\d+)?")


def spacer_number(answer: str) -> float | None:
    """A number as SpaceR's numerical reward reads it: "-3" is 3, "1,200" is 1, "two or one" is 1
    (the word list's order, not the text's), "a chair" is 1."""
    text = answer.strip().lower()
    for pattern, value in _SPACER_WORD_PATTERNS:
        if pattern.search(text):
            return value
    m = _SPACER_DIGITS.search(text)
    return float(m.group()) if m else None


def _spacer_float(text: str, separators: bool = False) -> float | None:
    """``float(text)``, or None; ``separators``: commas dropped first (its regression reward does)."""
    try:
        return float(text.replace(",", "") if separators else text)
    except ValueError:
        return None


def _spacer_regression(answer: str, truth: str) -> float:
    pred, target = _spacer_float(answer, separators=True), _target(_spacer_float(truth, separators=True), truth)
    if pred is None:
        return 0.0
    return 1.0 - _clip01((abs(pred - target) + 1e-9) / (abs(target) + 1e-9))


def _spacer_numerical(answer: str, truth: str) -> float:
    return mean_relative_accuracy(spacer_number(answer), _target(_spacer_float(truth), truth))


_SPACER_SCORERS = _SCORERS | {
    "multiple choice": lambda answer, truth: float(answer.strip() == truth.strip()),
    "numerical": _spacer_numerical,
    "regression": _spacer_regression,
}


def spacer_map_score(text: str, true_map: dict) -> float:
    """The map score as SpaceR's reward computes it: the first complete ``<map>`` block (none:
    an empty map), keys matched exactly after lower-casing, coordinates truncated with int()."""
    body = extract_map(text, first=True) or ""
    pred = parse_map(body, list(true_map), spacer_keys=True)
    return score_map({c: [(int(x), int(y)) for x, y in pts] for c, pts in pred.items()}, true_map)


def _score_spacer(text: str, solution: str, problem_type: str, true_map: Any) -> RewardTerms:
    """SpaceR's released accuracy reward: the first ``<answer>`` and ``<map>`` blocks; the gate
    opens on the substrings ``<map>`` and ``</map>`` anywhere (a stray ``</map>`` before an
    unclosed map opens it onto an empty map, which zeroes the reward); map keys must equal the
    true map's after lower-casing and trimming punctuation; coordinates are truncated with int()."""
    answer = extract_answer(text, first=True)
    acc = answer_accuracy(answer, solution, problem_type, "spacer")
    has_map = "<map>" in text and "</map>" in text
    map_score, accuracy = None, acc
    gate = _GATE.get(problem_type)
    if has_map and gate is not None and gate(acc):
        truth_map = load_map(true_map)
        if truth_map:
            map_score = spacer_map_score(text, truth_map)
            accuracy = acc + map_score if map_score > 0 else 0.0
    return RewardTerms(float(format_ok(text)), acc, map_score, accuracy, answer, has_map)


def score_completion(
    text: str,
    solution: str,
    problem_type: str,
    true_map: Any = None,
    categories: Sequence[str] | None = None,
    rules: str = "workbench",
) -> RewardTerms:
    """All reward terms of one completion (the single scorer behind both reward functions).

    ``rules="spacer"`` scores as SpaceR's released reward code does, quirks included (see
    `_score_spacer` and docs/design.md; ``categories`` is then ignored: SpaceR parses the true
    map's keys). The default, ``"workbench"``, is described below.

    Map gate (items with a true map): when the completion contains ``<map>…</map>`` and the
    answer is right (multiple choice) or has MRA > 0.5 (numerical), the map is parsed (only
    ``categories``, default the true map's keys) and scored: s > 0 adds s to the accuracy,
    s = 0 zeroes it. ``true_map``: a dict, a JSON string, or None / "" for items without one.
    """
    if rules == "spacer":
        return _score_spacer(text, solution, problem_type, true_map)
    if rules != "workbench":
        raise ValueError(f"rules must be one of {', '.join(RULES)}, got {rules!r}")
    answer = extract_answer(text)
    acc = answer_accuracy(answer, solution, problem_type)
    has_map = extract_map(text) is not None
    map_score = None
    accuracy = acc
    gate = _GATE.get(problem_type)
    if has_map and gate is not None and gate(acc):
        truth_map = load_map(true_map)  # only read when needed: most completions never get here
        if truth_map:
            cats = list(truth_map) if categories is None else categories
            map_score = score_map(parse_map(text, cats), truth_map)
            accuracy = acc + map_score if map_score > 0 else 0.0
    return RewardTerms(float(format_ok(text)), acc, map_score, accuracy, answer, has_map)


# --- TRL reward functions -------------------------------------------------------------------


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversation whose last message's content
    is a string or a list of content items (``{"type": "text", "text": …}``)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    raise ValueError(f"completions: expected a string or a list of messages, got {type(completion).__name__}")


def _column(kwargs: dict[str, Any], name: str, n: int, required: bool = True) -> list[Any]:
    values = kwargs.get(name)
    if values is None:
        if required:
            raise ValueError(f"accuracy_reward needs the dataset column {name!r}")
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def format_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 per completion that is exactly ``<think>…</think> <answer>…</answer>``, else 0.0."""
    return [float(format_ok(completion_text(c))) for c in completions]


def accuracy_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    """Accuracy after the map gate, per completion (see :func:`score_completion`).

    Columns: ``solution``, ``problem_type`` (required); ``cognitive_map`` and
    ``map_categories`` (optional).
    """
    return [t.accuracy for t in score_completions(completions, **kwargs)]


def spacer_accuracy_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    """:func:`accuracy_reward` under SpaceR's released rules (``rules="spacer"``)."""
    return [t.accuracy for t in score_completions(completions, rules="spacer", **kwargs)]


def score_completions(completions: list[Any], rules: str = "workbench", **kwargs: Any) -> list[RewardTerms]:
    """:func:`score_completion` over a batch, reading the dataset columns from ``kwargs``."""
    n = len(completions)
    solutions = _column(kwargs, "solution", n)
    types = _column(kwargs, "problem_type", n)
    maps = _column(kwargs, "cognitive_map", n, required=False)
    cats = _column(kwargs, "map_categories", n, required=False)
    return [
        score_completion(completion_text(c), s, p, m, k or None, rules)
        for c, s, p, m, k in zip(completions, solutions, types, maps, cats, strict=True)
    ]


# --- group rules ----------------------------------------------------------------------------


def _floats(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values]  # works for lists, numpy arrays and 1-D tensors


def temporal_bonus(
    ordered_acc: Iterable[Any],
    shuffled_acc: Iterable[Any],
    alpha: float = 0.3,
    ratio: float = 1.0,
    min_acc: float = 0.1,
    rules: str = "workbench",
) -> list[float]:
    """T-GRPO's temporal bonus for each ordered-frame completion of a group.

    With p = mean accuracy of the ordered group and p̃ = mean accuracy of the completions on the
    same clip with shuffled frames: if p ≥ ratio · p̃, every ordered completion with accuracy
    > ``min_acc`` gets +``alpha`` (0.3); otherwise no bonus. SpaceR's released code uses
    ratio = 0.8; Video-R1's author says it should be 1.0 (Video-R1 issue #74), the default here.
    Without shuffled completions there is nothing to compare, so no bonus. ``rules="spacer"``
    computes the means and both comparisons in float32, as SpaceR's trainer does on its reward
    tensors (the default computes in float64).
    """
    ordered, shuffled = _floats(ordered_acc), _floats(shuffled_acc)
    if not ordered or not shuffled:
        return [0.0] * len(ordered)
    if rules == "spacer":
        acc = np.asarray(ordered, dtype=np.float32)
        p, p_shuffled = acc.mean(dtype=np.float32), np.asarray(shuffled, dtype=np.float32).mean(dtype=np.float32)
        passed, right = bool(p >= np.float32(ratio) * p_shuffled), (acc > np.float32(min_acc)).tolist()
    else:
        p, p_shuffled = sum(ordered) / len(ordered), sum(shuffled) / len(shuffled)
        passed, right = p >= ratio * p_shuffled, [a > min_acc for a in ordered]
    return [alpha if passed and r else 0.0 for r in right]


def length_bonus(
    acc: Iterable[Any],
    lengths: Iterable[Any],
    low: int = 320,
    high: int = 512,
    bonus: float = 0.2,
    min_acc: float = 0.1,
) -> list[float]:
    """SpaceR's length rule for one group: if more than one completion has accuracy > ``min_acc``,
    each of those whose length (tokens, EOS included) lies in [``low``, ``high``] gets +``bonus``.
    """
    accs, lens = _floats(acc), _floats(lengths)
    if len(accs) != len(lens):
        raise ValueError(f"length_bonus: {len(accs)} accuracies but {len(lens)} lengths")
    if sum(a > min_acc for a in accs) <= 1:
        return [0.0] * len(accs)
    return [bonus if a > min_acc and low <= n <= high else 0.0 for a, n in zip(accs, lens, strict=True)]
