"""`spacer eval plot`: the per-type scores of labelled groups of finished runs (the seeds of one
recipe, say) as bars, mean ± sd over each group's runs, with the chance/prior marked."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from spacer_core.eval.report import load_summary

OVERALL = "overall"


def parse_group(text: str) -> tuple[str, list[str]]:
    """``LABEL=RUN[,RUN...]`` -> (label, runs); a run ``DIR:CONTROL`` stands for the scores of that
    run's control (`spacer eval --control CONTROL`), kept in its summary."""
    label, sep, runs = text.partition("=")
    if not sep or not label or not runs:
        raise ValueError(f"{text!r}: expected LABEL=RUN[,RUN...]")
    return label, runs.split(",")


def run_scores(run: str) -> tuple[dict[str, float], dict | None]:
    """(overall and per-type scores, the chance/prior) of a run, or of ``DIR:CONTROL``'s control."""
    folder, sep, control = run.rpartition(":")
    if not sep or Path(run).exists():  # no control named (a folder's own name may hold a colon)
        folder, control = run, ""
    summary = load_summary(folder)
    if control:
        controls = (summary.get("controls") or {}).get("scores", {})
        if control not in controls:
            raise ValueError(f"{folder}: no {control!r} control in its summary (it has: "
                             f"{', '.join(c for c in controls if c != 'normal') or 'none'})")
        scores = controls[control]
    else:
        scores = summary
    if "overall" not in scores or "per_type" not in scores:
        raise ValueError(f"{folder}: its summary has no per-type scores (not a `spacer eval` run)")
    return {OVERALL: scores["overall"], **scores["per_type"]}, summary.get("chance")


def group_scores(groups: Sequence[tuple[str, list[str]]]) -> tuple[dict[str, dict[str, tuple[float, float]]], dict | None]:
    """({label: {type: (mean, sd) over the group's runs}}, the first run's chance/prior). The types
    are the first run's, the overall score first; a run without a type leaves it out of its mean."""
    scores = [[run_scores(run) for run in runs] for _, runs in groups]
    types = list(scores[0][0][0])
    table = {}
    for (label, _), runs in zip(groups, scores, strict=True):
        values = {t: [s[t] for s, _ in runs if t in s] for t in types}
        table[label] = {t: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
                        for t, v in values.items() if v}
    return table, scores[0][0][1]


def plot_groups(groups: Sequence[tuple[str, list[str]]], out: str | Path, title: str | None = None) -> Path:
    """Grouped bars (`group_scores`), one bar a group and question type, its sd as an error bar;
    black ticks mark the chance/prior where the first run's summary has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table, chance = group_scores(groups)
    types = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.7 * len(types) * (1 + 0.15 * len(groups))), 4.2))
    width = 0.8 / len(groups)
    for g, (label, runs) in enumerate(groups):
        x = [i + (g - (len(groups) - 1) / 2) * width for i, t in enumerate(types) if t in table[label]]
        mean, sd = zip(*table[label].values(), strict=True)
        ax.bar(x, mean, width, yerr=sd, capsize=2, label=label + (f" ({len(runs)} runs)" if len(runs) > 1 else ""))
    if chance and "per_type" in chance:
        prior = [chance["overall"] if t == OVERALL else chance["per_type"].get(t) for t in types]
        ax.scatter([i for i, p in enumerate(prior) if p is not None], [p for p in prior if p is not None],
                   marker="_", s=400, color="black", zorder=3, label="chance/prior")
    ax.set_xticks(range(len(types)), [t.replace("object_", "").replace("obj_", "") for t in types],
                  rotation=30, ha="right")
    ax.set_ylabel("score (×100)")
    ax.set_ylim(0, 120)
    ax.legend(fontsize=8, ncols=len(groups) + 1, loc="upper left")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
