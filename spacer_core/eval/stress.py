"""`spacer eval stress`: how much of a benchmark can be answered without its videos.

A test-set stress test in the manner of "Benchmark Designers Should Train on the Test Set"
(Brown et al., 2025, which built VSI-Bench-Debiased): for each question type, a random forest
(scikit-learn) learns the answer from the test set's non-visual features only, and every item is
answered by a forest fitted on the other folds (k-fold cross-validation), so no item is answered by
a forest that saw it. Features: the question's words and its first words (its template), the
number of options and each option's text at its letter. Multiple choice: the forest picks the
letter; numerical: it predicts the value (in log space, as MRA is relative).

Per type, the blind-solvable score (VSI-Bench scoring of those answers) stands beside the
chance/prior (1/#options; for numbers the MRA of the other folds' median), and each item gets a
bias score: the probability the forest gave its right letter, or the MRA of its predicted value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacer_core.eval.base import Item
from spacer_core.metrics import mean_relative_accuracy

STRESS_JSON, STRESS_MD, BIAS_JSONL = "stress.json", "stress.md", "bias.jsonl"
_WORD = re.compile(r"[a-z]+")
_TEMPLATE_WORDS = 6


def features(item: Item) -> dict[str, float]:
    """What a question says without its video: its words, its first words, its options."""
    words = _WORD.findall(item.question.lower())
    out = {f"word={w}": 1.0 for w in words}
    out["template=" + " ".join(words[:_TEMPLATE_WORDS])] = 1.0
    for option in item.options or []:
        letter, _, text = option.partition(".")
        out[f"option {letter.strip()}={text.strip().lower()}"] = 1.0
    out["options"] = float(len(item.options or []))
    return out


def _letter(option: str) -> str:
    return option.partition(".")[0].strip()


def _number(item: Item) -> float:
    try:
        return float(item.ground_truth)
    except ValueError:
        raise ValueError(f"item {item.id}: ground truth {item.ground_truth!r} of a numerical question is not a number") from None


def _folds(n: int, k: int, seed: int):
    from sklearn.model_selection import KFold

    return KFold(n_splits=min(k, n), shuffle=True, random_state=seed).split(range(n))


def _stress_type(items: Sequence[Item], k: int, seed: int) -> list[dict[str, Any]]:
    """Out-of-fold blind answers of one question type: per item its blind score, prior and bias."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.feature_extraction import DictVectorizer

    x = DictVectorizer().fit_transform([features(it) for it in items])
    numerical = items[0].problem_type == "numerical"
    truth = [_number(it) if numerical else it.ground_truth.strip().upper() for it in items]
    rows: list[dict[str, Any]] = [{} for _ in items]
    for train, test in _folds(len(items), k, seed):
        if numerical:
            y = np.log([max(truth[i], 1e-6) for i in train])
            forest = RandomForestRegressor(n_estimators=100, random_state=seed).fit(x[train], y)
            median = float(np.median([truth[i] for i in train]))
            for i, value in zip(test, np.exp(forest.predict(x[test])), strict=True):
                score = mean_relative_accuracy(float(value), truth[i])
                rows[i] = {"blind": score, "bias": score, "prior": mean_relative_accuracy(median, truth[i]),
                           "blind_prediction": round(float(value), 3)}
            continue
        labels = [truth[i] for i in train]
        if len(set(labels)) == 1:  # one letter in the training folds: the forest can only say it
            probs = np.ones((len(test), 1))
            classes = np.array(labels[:1])
        else:
            forest = RandomForestClassifier(n_estimators=100, random_state=seed).fit(x[train], labels)
            probs, classes = forest.predict_proba(x[test]), forest.classes_
        for i, p in zip(test, probs, strict=True):
            letters = [_letter(o) for o in items[i].options or []]
            allowed = [j for j, c in enumerate(classes) if c in letters] or list(range(len(classes)))
            pick = classes[max(allowed, key=lambda j: p[j])]
            right = next((p[j] for j, c in enumerate(classes) if c == truth[i]), 0.0)
            rows[i] = {"blind": float(pick == truth[i]), "bias": round(float(right), 4),
                       "prior": 1.0 / max(len(letters), 1), "blind_prediction": str(pick)}
    return rows


def stress_test(items: Sequence[Item], folds: int = 5, seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-item rows). The summary has, per question type, the item count, the
    blind-solvable score and the chance/prior (×100), and their means over the types."""
    by_type: dict[str, list[Item]] = {}
    for item in items:
        by_type.setdefault(item.question_type, []).append(item)
    per_type, rows = {}, []
    for qtype, group in sorted(by_type.items()):
        if len(group) < 2:  # nothing to learn from
            continue
        scored = _stress_type(group, folds, seed)
        per_type[qtype] = {"n": len(group), "blind": 100 * sum(r["blind"] for r in scored) / len(group),
                           "prior": 100 * sum(r["prior"] for r in scored) / len(group)}
        rows += [{"id": it.id, "question_type": qtype, **r} for it, r in zip(group, scored, strict=True)]
    if not per_type:
        raise ValueError("stress test: no question type has 2 or more items")
    mean = {key: sum(t[key] for t in per_type.values()) / len(per_type) for key in ("blind", "prior")}
    return {"folds": folds, "seed": seed, "per_type": per_type, "mean_over_types": mean}, rows


def render_stress(summary: dict[str, Any], bench: str) -> str:
    lines = [f"# Blind stress test: {bench}", "",
             f"A random forest on the questions' text and options alone ({summary['folds']}-fold cross-validation, "
             "each item answered by a forest that never saw it).", "",
             "| question type | items | blind-solvable | chance/prior | blind − prior |", "|---|---|---|---|---|"]
    for qtype, t in summary["per_type"].items():
        lines.append(f"| {qtype} | {t['n']} | {t['blind']:.1f} | {t['prior']:.1f} | {t['blind'] - t['prior']:+.1f} |")
    m = summary["mean_over_types"]
    lines.append(f"| **mean over types** | | **{m['blind']:.1f}** | **{m['prior']:.1f}** | "
                 f"**{m['blind'] - m['prior']:+.1f}** |")
    return "\n".join(lines) + "\n"


def write_stress(out: str | Path, bench: str, summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / STRESS_JSON).write_text(json.dumps({"benchmark": bench, **summary}, indent=2) + "\n")
    (out / STRESS_MD).write_text(render_stress(summary, bench))
    (out / BIAS_JSONL).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out
