"""Answer metrics (exact match, MRA, WER, ROUGE) and VSI-Bench scoring and aggregation."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import numpy as np

from spacer_core.parsing import extract_answer, parse_number, vsibench_normalize

# VSI-Bench's confidence thresholds θ ∈ {0.50, 0.55, …, 0.95}; an answer passes θ when its
# relative error is ≤ 1 − θ. Computed in float64 exactly as the official code does
# (1 − np.linspace(0.5, 0.95, 10), compared without slack), so that boundary cases round the
# same way and scores equal the official ones to the last bit.
MRA_TOLERANCES = tuple(1.0 - float(c) for c in np.linspace(0.5, 0.95, 10))

MULTIPLE_CHOICE_TYPES = frozenset(
    {
        "object_rel_direction_easy",
        "object_rel_direction_medium",
        "object_rel_direction_hard",
        "object_rel_distance",
        "route_planning",
        "obj_appearance_order",
    }
)
NUMERICAL_TYPES = frozenset(
    {"object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation"}
)
REL_DIRECTION = "object_rel_direction"


def vsi_task(question_type: str) -> str:
    """The VSI-Bench task of a question type: the three object_rel_direction_* types are one task."""
    return REL_DIRECTION if question_type.startswith(REL_DIRECTION + "_") else question_type


def exact_match(pred: str, target: str) -> float:
    """1.0 when the stripped strings are equal ignoring case, else 0.0."""
    return float(pred.strip().lower() == target.strip().lower())


def _as_number(value: float | int | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_number(value)
    value = float(value)
    return value if math.isfinite(value) else None


def mean_relative_accuracy(pred: float | int | str | None, target: float | int | str) -> float:
    """VSI-Bench's MRA: the share of the 10 thresholds θ = 0.50 … 0.95 with |p − t| / |t| ≤ 1 − θ.

    Strings are read with :func:`~spacer_core.parsing.parse_number`; a non-number scores 0.
    A target of 0 (undefined relative error) scores 1 only for an exact 0.
    """
    p, t = _as_number(pred), _as_number(target)
    if t is None:
        raise ValueError(f"mean_relative_accuracy: target {target!r} is not a number")
    if p is None:
        return 0.0
    if t == 0:
        return float(p == 0)
    err = abs(p - t) / abs(t)
    return sum(err <= tol for tol in MRA_TOLERANCES) / len(MRA_TOLERANCES)


def word_error_rate(hypothesis: str, reference: str) -> float:
    """Word-level Levenshtein distance / number of reference words (can exceed 1).

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    hyp, ref = hypothesis.split(), reference.split()
    if not ref:
        return float(bool(hyp))
    prev = list(range(len(hyp) + 1))  # edit distances of ref[:0] to every prefix of hyp
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1] / len(ref)


@cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge_scores(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-measures (rouge-score, Porter stemming on)."""
    scores = _rouge_scorer().score(reference, prediction)
    return {name: s.fmeasure for name, s in scores.items()}


def mean_rouge_f(prediction: str, reference: str) -> float:
    """Mean of the ROUGE-1/2/L F-measures, in [0, 1] (SpaceR's free-form reward)."""
    scores = rouge_scores(prediction, reference)
    return sum(scores.values()) / len(scores)


# --- VSI-Bench ------------------------------------------------------------------------------


def vsibench_prediction(completion: str) -> str:
    """What VSI-Bench scores of a completion: the ``<answer>`` contents when tagged (thinking
    modes), else the completion exactly as generated (direct mode; the official code does not strip
    it), normalised by the official `vsibench_normalize`."""
    tagged = extract_answer(completion)
    return vsibench_normalize(completion if tagged is None else tagged)


def vsibench_score(completion: str, ground_truth: str, question_type: str) -> float:
    """Score one VSI-Bench answer exactly as the official code (lmms-eval's ``vsibench`` task) does,
    on `vsibench_prediction`: multiple choice, case-insensitive equality with the true letter;
    numerical, the MRA of ``float(prediction)`` (anything ``float`` rejects, or a non-finite value,
    scores 0)."""
    pred = vsibench_prediction(completion)
    if question_type in MULTIPLE_CHOICE_TYPES:
        return exact_match(pred, ground_truth)
    if question_type in NUMERICAL_TYPES:
        try:
            value = float(pred)
        except ValueError:
            return 0.0
        return mean_relative_accuracy(value if math.isfinite(value) else None, float(ground_truth))
    raise ValueError(f"question_type: unknown VSI-Bench type {question_type!r}")


def vsibench_aggregate(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate per-question scores (rows with ``question_type`` and ``score`` in [0, 1]).

    Returns ``{"overall", "tasks", "per_type", "counts"}``, all scores ×100: ``per_type`` is the
    mean per question type; ``tasks`` the same with the three object_rel_direction_* types
    averaged (unweighted) into ``object_rel_direction``; ``overall`` the plain mean of the tasks
    (the 8 VSI-Bench tasks when all types are present). On a partial run (``--limit``) the
    object_rel_direction types present are averaged and absent tasks are left out of the mean; the
    official code needs all three direction types (it raises ``KeyError`` otherwise).
    """
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for i, row in enumerate(rows):
        try:
            qtype, score = row["question_type"], float(row["score"])
        except KeyError as err:
            raise ValueError(f"row {i}: missing field {err.args[0]!r}") from None
        sums[qtype] += score
        counts[qtype] += 1
    if not counts:
        raise ValueError("vsibench_aggregate: no rows")
    per_type = {q: 100.0 * sums[q] / counts[q] for q in counts}
    tasks: dict[str, float] = {}
    rel_dir = [v for q, v in per_type.items() if vsi_task(q) == REL_DIRECTION]
    for q, v in per_type.items():
        if vsi_task(q) == REL_DIRECTION:
            tasks.setdefault(REL_DIRECTION, sum(rel_dir) / len(rel_dir))
        else:
            tasks[q] = v
    return {
        "overall": sum(tasks.values()) / len(tasks),
        "tasks": tasks,
        "per_type": per_type,
        "counts": dict(counts),
    }
