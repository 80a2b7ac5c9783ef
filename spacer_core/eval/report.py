"""Markdown for eval runs: one run's summary.md, and `spacer eval compare` tables with deltas."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _percent(share: Mapping[str, float] | None) -> str:
    """A rate of `spatial._rate` as a percentage, with its count."""
    return "–" if share is None else f"{100 * share['rate']:.0f} (of {share['count']})"


def _frames(video: Mapping[str, Any]) -> str:
    count = f"{video['nframes']} frames" if video.get("nframes") else \
        f"≤{video.get('max_frames')} frames at {video.get('fps')} fps"
    return f"{count}, ≤{video.get('max_pixels')} pixels per frame"


def _decoding(gen: Mapping[str, Any]) -> str:
    how = f"sampling, temperature {gen.get('temperature')}" if gen.get("do_sample") else "greedy"
    return f"{how}, max {gen.get('max_new_tokens')} new tokens"


def _at_budget(cut: Mapping[str, Any]) -> str:
    text = f"{cut['count']} of the completions"
    if cut["count"]:
        text += " (" + ", ".join(f"{t} {n}" for t, n in cut["by_type"].items()) + "): raise --max-new-tokens"
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _mode(setup: Mapping[str, Any]) -> str:
    return str(setup.get("mode", "?")) + (", the true map given" if setup.get("given_map") else "")


def render_summary(summary: Mapping[str, Any]) -> str:
    """summary.md: the setup, the per-type table and the benchmark's extra sections."""
    setup = summary.get("setup", {})
    lines = [f"# {summary.get('title', summary['benchmark'])}: {_fmt(summary['overall'])}", ""]
    settings = [
        ("model", str(setup.get("model", "?"))),
        ("mode", _mode(setup)),
        ("frames", _frames(setup.get("video", {}))),
        ("decoding", _decoding(setup.get("generation", {}))),
        ("items", f"{summary['n']} ({summary.get('errors', 0)} errors, scored 0)"),
        *([("stopped at the token budget", _at_budget(summary["at_budget"]))] if summary.get("at_budget") else []),
        ("data", str(setup.get("data_root", "?"))),
        ("finished", str(setup.get("finished", "?"))),
    ]
    lines += ["| setting | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in settings] + [""]
    counts = summary.get("counts", {})
    per_type = summary.get("per_type", {})
    chance = summary.get("chance")
    header = ["question type", "n", "score"]
    rows = [[t, str(counts.get(t, "")), _fmt(v)] for t, v in sorted(per_type.items())]
    rows.append(["**overall**", str(summary["n"]), f"**{_fmt(summary['overall'])}**"])
    if chance:
        header.append("chance/prior")
        for row in rows[:-1]:
            row.append(_fmt(chance["per_type"].get(row[0])))
        rows[-1].append(_fmt(chance["overall"]))
    lines += ["## Scores by question type (×100)", ""] + _table(header, rows) + [""]
    if chance:
        lines += ["chance/prior: what a model that ignores the video scores: 1/#options for multiple choice, "
                  "and for numerical types the MRA of always answering the train split's median for the type "
                  "(aggregated like the scores).", ""]
    if summary.get("tasks"):
        rows = [[t, _fmt(v)] for t, v in summary["tasks"].items()]
        lines += ["## Tasks (overall = their mean)", ""] + _table(["task", "score"], rows) + [""]
    if summary.get("tiers"):
        rows = [[t, _fmt(v)] for t, v in summary["tiers"].items()]
        lines += ["## Tiers", ""] + _table(["tier", "score"], rows) + [""]
    for group, values in (summary.get("groups") or {}).items():
        rows = [[str(k), _fmt(v)] for k, v in sorted(values.items())]
        lines += [f"## By {group}", ""] + _table([group, "score"], rows) + [""]
    if summary.get("format") or summary.get("names_objects"):
        lines += ["## Format", ""]
        if f := summary.get("format"):
            lines += [f"{100 * f['rate']:.0f}% of the {f['count']} completions are one think/answer pair.", ""]
        if n := summary.get("names_objects"):
            lines += [f"Of the {n['count']} whose question names objects, {100 * n['rate']:.0f}% name every one of "
                      "them in their reasoning (after the map, where there is one).", ""]
    if summary.get("agreement") or summary.get("conclusions") or summary.get("copies"):
        lines += ["## Answers and their reasoning", ""]
        if a := summary.get("agreement"):
            lines += [f"Of the {a['count']} multiple-choice completions whose reasoning arrives at an option, "
                      f"{100 * a['rate']:.0f}% answer with that option.", ""]
        if c := summary.get("conclusions"):
            lines += [f"Of the {c['count']} multiple-choice completions, {100 * c['rate']:.0f}% derive the right "
                      "option's words (before any step that turns them into a letter).", ""]
        if c := summary.get("copies"):
            lines += [f"Of the {c['count']} that go through the options a line each, {100 * c['rate']:.0f}% copy the "
                      "prompt's options exactly, in its order.", ""]
        conclusions, copies = (summary.get(k, {}).get("by_type", {}) for k in ("conclusions", "copies"))
        if conclusions:
            rows = [[t, _percent(conclusions.get(t)), _percent(copies.get(t)), _fmt(summary["per_type"].get(t))]
                    for t in conclusions]
            lines += _table(["question type", "right conclusions (%)", "copies the options (%)", "score"], rows) + [""]
    if summary.get("map"):
        m = summary["map"]
        mean = "–" if m["mean"] is None else f"{m['mean']:.3f}"
        cells = m.get("cells")
        placed = "" if cells is None else (f" Of the true maps' {cells['objects']} objects, {100 * cells['exact']:.0f}% "
                                           f"are in their cell and {100 * cells['near']:.0f}% within one cell.")
        lines += ["## Cognitive maps", "",
                  f"Mean map score {mean} over {m['count']} completions that drew a map.{placed}", ""]
    return "\n".join(lines)


def load_summary(run: str | Path) -> dict[str, Any]:
    """A run's summary.json, from the run folder or the file itself."""
    path = Path(run)
    if path.is_dir():
        path = path / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"{path}: cannot read the run summary ({err.strerror or err})") from None
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _labels(runs: Sequence[str | Path]) -> list[str]:
    """Short column names: the run folders' names, with as many parent folders as make them unique."""
    paths = [Path(r).resolve() for r in runs]
    paths = [p.parent if p.is_file() else p for p in paths]
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        labels = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels):
            break
    return labels


def compare_runs(runs: Sequence[str | Path], spread: bool = False) -> str:
    """A markdown table: overall and each question type, one column per run, and the delta of every
    run after the first against the first; ``spread``: and the mean ± sd of all the runs (seeds of
    one recipe)."""
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    summaries = [load_summary(r) for r in runs]
    labels = _labels(runs)
    types: list[str] = []
    for s in summaries:
        types += [t for t in s.get("per_type", {}) if t not in types]
    header = ["question type", labels[0]]
    for label in labels[1:]:
        header += [label, f"Δ {label}"]
    if spread:
        header.append(f"mean ± sd ({len(runs)} runs)")
    base = summaries[0]

    def cells(get) -> list[str]:
        out = [_fmt(get(base))]
        for s in summaries[1:]:
            a, b = get(base), get(s)
            out += [_fmt(b), "–" if a is None or b is None else f"{b - a:+.1f}"]
        if spread:
            values = [v for v in map(get, summaries) if v is not None]
            out.append(f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else "–")
        return out

    rows = [["**overall**", *cells(lambda s: s.get("overall"))]]
    rows += [[t, *cells(lambda s, t=t: s.get("per_type", {}).get(t))] for t in sorted(types)]
    gains: list[str] = []  # the gains of runs made with --control (spacer_core.eval.controls)
    for s in summaries:
        gains += [g for g in (s.get("controls") or {}).get("gains", {}) if g not in gains]
    rows += [[f"*{g}*", *cells(lambda s, g=g: (s.get("controls") or {}).get("gains", {}).get(g, {}).get("overall"))]
             for g in gains]
    # the sim benchmark's counts of how answers follow reasoning and how maps place objects
    counts = {"format-valid completions (%)": lambda s: (s.get("format") or {}).get("rate"),
              "reasoning that names the question's objects (%)": lambda s: (s.get("names_objects") or {}).get("rate"),
              "answers that follow their reasoning (%)": lambda s: (s.get("agreement") or {}).get("rate"),
              "right conclusions (%)": lambda s: (s.get("conclusions") or {}).get("rate"),
              "option lines that copy the prompt's options (%)": lambda s: (s.get("copies") or {}).get("rate"),
              "map: objects in their cell (%)": lambda s: ((s.get("map") or {}).get("cells") or {}).get("exact"),
              "map: within one cell (%)": lambda s: ((s.get("map") or {}).get("cells") or {}).get("near"),
              "completions cut off by the token budget (%)":
                  lambda s: s["at_budget"]["count"] / s["n"] if s.get("at_budget") else None}
    rows += [[f"*{name}*", *cells(lambda s, get=get: None if get(s) is None else 100 * get(s))]
             for name, get in counts.items() if any(get(s) is not None for s in summaries)]
    benches = sorted({s.get("benchmark", "?") for s in summaries})
    lines = [f"# Compare: {', '.join(benches)} (scores ×100; Δ against {labels[0]})", ""]
    if len(benches) > 1:
        lines += ["Note: these runs are on different benchmarks.", ""]
    lines += [f"- {label}: {s.get('setup', {}).get('model', '?')}, mode {_mode(s.get('setup', {}))}, "
              f"{s.get('n', '?')} items" for label, s in zip(labels, summaries, strict=True)]
    return "\n".join(lines + [""] + _table(header, rows) + _paired(runs, summaries, labels)) + "\n"


def _paired(runs: Sequence[str | Path], summaries: Sequence[dict], labels: Sequence[str]) -> list[str]:
    """Each later run − the first on the items both scored, with a paired bootstrap interval
    (`controls.paired_gain`), where both runs kept their rows, share a benchmark and ask the same
    items: rows pair by id, so an id whose type, true answer or scene differs between the runs
    (two data sets numbered alike) gives a note instead."""
    from spacer_core.eval import BenchmarkError, get_benchmark
    from spacer_core.eval.controls import paired_gain
    from spacer_core.eval.runner import read_rows, results_file

    def rows(run: str | Path) -> list[dict] | None:
        found = results_file(Path(run).parent if Path(run).is_file() else Path(run))
        return read_rows(found) if found.is_file() else None

    base, name = rows(runs[0]), summaries[0].get("benchmark")
    lines = []
    for run, s, label in zip(runs[1:], summaries[1:], labels[1:], strict=True):
        mine = rows(run)
        if base is None or mine is None or s.get("benchmark") != name:
            continue
        theirs = {r["id"]: r for r in base}
        differ = [r["id"] for r in mine if r["id"] in theirs and _asked(r) != _asked(theirs[r["id"]])]
        if differ:
            lines.append(f"- {label} and {labels[0]}: no paired difference, their items differ (id {differ[0]} "
                         f"asks another question in each, and {len(differ) - 1} more)")
            continue
        try:
            g = paired_gain(get_benchmark(name), [mine], [base])
        except (BenchmarkError, ValueError):  # a benchmark this version lacks, or no item in common
            continue
        lo, hi = g["overall_ci95"]
        lines.append(f"- {label} − {labels[0]} on the {g['items']} items both scored: {g['overall']:+.1f} "
                     f"(paired bootstrap 95% interval {lo:+.1f} to {hi:+.1f})")
    return ["", *lines] if lines else []


def _asked(row: Mapping[str, Any]) -> tuple:
    """What a row's item asked, as far as its row tells: type, true answer, scene or video."""
    meta = row.get("meta") or {}
    return row.get("question_type"), row.get("ground_truth"), meta.get("scene"), meta.get("video")
