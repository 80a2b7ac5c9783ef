"""Video controls for `spacer eval --control`: does the model need the video it is shown?

- ``blind``: the same prompt with no video at all (no vision tokens reach the model);
- ``swap``: each item is shown the video of another scene of the same benchmark and source (a
  seeded derangement of the distinct videos: no item ever sees its own), answers unchanged;
- ``shuffle``: the item's own frames in a seeded random order (temporal questions should suffer);
- ``first-frame``: the first frame repeated to the usual count (no motion, one view).

A model that answers from the video falls towards its chance/prior under ``swap``; the gap to the
normal run is what the video contributes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spacer_core.eval.base import Benchmark, Item, mean_by
from spacer_core.video import Clip, VideoSettings

CONTROLS = ("none", "blind", "swap", "shuffle", "first-frame")


class ControlError(ValueError):
    """A control that cannot be applied to these items (e.g. a swap with a single video)."""


def _video(item: Item) -> str:
    return item.video or f"images:{item.id}"  # multi-view image items are a "video" of their own


def swap_plan(items: Sequence[Item], seed: int = 0) -> dict[str, Item]:
    """Item id → the item whose video it is shown: within each source (``meta["dataset"]``), the
    distinct videos in a seeded order, each shown in place of the one before it."""
    by_source: dict[str, dict[str, Item]] = {}
    for item in items:
        by_source.setdefault(str(item.meta.get("dataset", "")), {}).setdefault(_video(item), item)
    shown: dict[str, Item] = {}
    for source, videos in sorted(by_source.items()):
        if len(videos) < 2:
            raise ControlError(f"swap needs 2 or more videos per source; source {source or '(none)'!r} has "
                               f"{len(videos)} (a --limit may have kept a single scene)")
        order = sorted(videos)
        random.Random(f"{seed}:{source}").shuffle(order)
        shown.update({own: videos[other] for own, other in zip(order, order[1:] + order[:1], strict=True)})
    return {item.id: shown[_video(item)] for item in items}


def shuffled(clip: Clip, key: str, seed: int = 0) -> Clip:
    """The clip's frames in a seeded order that is never the original one (a 1-frame clip as is)."""
    if clip.num_frames < 2:
        return clip
    rng = random.Random(f"{seed}:{key}")
    order = list(range(clip.num_frames))
    while order == sorted(order):
        rng.shuffle(order)
    return clip.permuted(order)


def first_frame(clip: Clip) -> Clip:
    """The first frame repeated to the clip's frame count, at the clip's timestamps."""
    frames = np.repeat(clip.frames[:1], clip.num_frames, axis=0)
    frames.setflags(write=False)
    return Clip(frames, clip.timestamps, (clip.indices[0],) * clip.num_frames, clip.fps, clip.sample_fps,
                clip.duration, clip.total_frames, clip.path)


class Control:
    """One control applied to every item of a run (``name`` in CONTROLS; "none" shows the own video)."""

    def __init__(self, name: str, items: Sequence[Item], seed: int = 0):
        if name not in CONTROLS:
            raise ControlError(f"control must be one of {', '.join(CONTROLS)}, got {name!r}")
        self.name, self.seed = name, seed
        self.swapped = swap_plan(items, seed) if name == "swap" else {}

    def clip(self, benchmark: Benchmark, item: Item, settings: VideoSettings) -> Clip | None:
        if self.name == "blind":
            return None
        if self.name == "swap":
            return benchmark.clip(self.swapped[item.id], settings)
        clip = benchmark.clip(item, settings)
        if self.name == "shuffle":
            return shuffled(clip, item.id, self.seed)
        if self.name == "first-frame":
            return first_frame(clip)
        return clip


# The gains a summary reports: (name, control subtracted from the normal run).
GAINS = (("vision gain", "blind"), ("order gain", "shuffle"), ("own-video gain", "swap"),
         ("motion gain", "first-frame"))


def _per_type(rows: Sequence[dict]) -> dict[str, float]:
    return mean_by(rows, lambda row: row["question_type"])


def paired_gain(benchmark: Benchmark, mine: Sequence[Sequence[dict]], theirs: Sequence[Sequence[dict]],
                resamples: int = 1000, seed: int = 0, runs_too: bool = False, paired_runs: bool = False) -> dict:
    """``mine`` − ``theirs`` on the items every run of both sides scored, overall (as the benchmark
    aggregates) and per question type, with a paired bootstrap 95% interval. Each side is one run's
    rows or several (seeds of an arm); a resample draws items with replacement and takes every run's
    row of each drawn item on both sides, so the interval covers item sampling with the runs fixed.
    ``runs_too`` adds ``overall_ci95_runs``, whose resamples also draw each side's runs with
    replacement, so it covers the seeds' spread as well (with a few seeds it can barely reach past
    their range: a lower bound on the width); with ``paired_runs`` the k-th run of each side are
    drawn together (seed k of one arm beside seed k of another: the same seed). Resampling starts
    from ``seed`` in every call: a gain's interval does not depend on which other gains were
    computed before it."""
    runs = [{r["id"]: r for r in rows} for rows in [*mine, *theirs]]
    ids = [i for i in runs[0] if all(i in run for run in runs[1:])]
    if not ids:
        raise ValueError("the two sides share no scored item")
    if paired_runs and len(mine) != len(theirs):
        raise ValueError(f"paired runs need as many on each side, got {len(mine)} and {len(theirs)}")
    ours, others = list(range(len(mine))), list(range(len(mine), len(runs)))

    def delta(items: Sequence[str], a_runs: Sequence[int] = ours, b_runs: Sequence[int] = others):
        a = [runs[k][i] for k in a_runs for i in items]
        b = [runs[k][i] for k in b_runs for i in items]
        pa, pb = _per_type(a), _per_type(b)
        return benchmark.aggregate(a)["overall"] - benchmark.aggregate(b)["overall"], {t: pa[t] - pb[t] for t in pa}

    overall, per_type = delta(ids)
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))
    samples = [delta([ids[k] for k in idx]) for idx in draws]

    def interval(values: list[float]) -> list[float]:
        return [round(float(np.percentile(values, 2.5)), 2), round(float(np.percentile(values, 97.5)), 2)]

    out = {"items": len(ids), "overall": overall, "overall_ci95": interval([s[0] for s in samples]),
           "per_type": {t: {"gain": g, "ci95": interval([s[1][t] for s in samples if t in s[1]])}
                        for t, g in per_type.items()}}
    if runs_too:
        picks = np.random.default_rng(seed + 1)  # the item draws stay those of the interval above
        with_runs = []
        for idx in draws:
            a_runs = picks.integers(0, len(mine), size=len(mine))
            b_runs = a_runs if paired_runs else picks.integers(0, len(theirs), size=len(theirs))
            with_runs.append(delta([ids[k] for k in idx], [ours[k] for k in a_runs], [others[k] for k in b_runs])[0])
        out["overall_ci95_runs"] = interval(with_runs)
    return out


def control_report(benchmark: Benchmark, normal: Sequence[dict], controls: dict[str, Sequence[dict]],
                   resamples: int = 1000, seed: int = 0) -> dict:
    """Scores of the normal run and of each control (overall as the benchmark aggregates it, and per
    question type), and each gain of GAINS whose control ran (`paired_gain`: normal − control)."""
    out: dict = {"scores": {"normal": {"overall": benchmark.aggregate(normal)["overall"], "per_type": _per_type(normal)}}}
    for name, rows in controls.items():
        out["scores"][name] = {"overall": benchmark.aggregate(rows)["overall"], "per_type": _per_type(rows)}
    out["gains"] = {gain: {"control": name, **paired_gain(benchmark, [normal], [controls[name]], resamples, seed)}
                    for gain, name in GAINS if name in controls}
    return out


def render_controls(report: dict) -> str:
    """The summary.md section: scores with and without the video, and the gains with their intervals."""
    names = list(report["scores"])
    types = sorted({t for s in report["scores"].values() for t in s["per_type"]})
    lines = ["## Controls: the same items without their own video (×100)", "",
             "| question type | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in types:
        cells = [report["scores"][n]["per_type"].get(t) for n in names]
        lines.append(f"| {t} | " + " | ".join("–" if c is None else f"{c:.1f}" for c in cells) + " |")
    lines.append("| **overall** | " + " | ".join(f"**{report['scores'][n]['overall']:.1f}**" for n in names) + " |")
    for gain, g in report["gains"].items():
        lo, hi = g["overall_ci95"]
        lines += ["", f"**{gain}** (normal − {g['control']}, {g['items']} items): {g['overall']:+.1f} "
                  f"(95% bootstrap interval {lo:+.1f} to {hi:+.1f}); by type: "
                  + ", ".join(f"{t} {v['gain']:+.1f}" for t, v in sorted(g["per_type"].items()))]
    return "\n".join(lines) + "\n"


def add_controls(benchmark: Benchmark, out: Path, summary: dict, names: Sequence[str]) -> dict:
    """The normal run's summary (in ``out``) with the `control_report` of its controls, whose runs
    are in ``out/controls/NAME``; summary.json and summary.md are rewritten with them."""
    from spacer_core.eval.report import render_summary
    from spacer_core.eval.runner import SUMMARY_JSON, SUMMARY_MD, read_rows, results_file

    rows = {name: read_rows(results_file(out / "controls" / name)) for name in names}
    summary = {**summary, "controls": control_report(benchmark, read_rows(results_file(out)), rows)}
    (out / SUMMARY_JSON).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (out / SUMMARY_MD).write_text(render_summary(summary) + "\n" + render_controls(summary["controls"]))
    return summary
