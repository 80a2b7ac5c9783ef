"""Run a benchmark: batches, one result row per item written as soon as it is scored, resume, shards.

Output folder::

    run.json        the setup (benchmark, model, mode, frames, decoding); a resumed run must match it
    results.jsonl   one row per item, in the benchmark's order (see `make_row`)
    summary.json    the aggregate (per type, overall, counts, errors) and the setup
    summary.md      the same as a readable table

Resume: rows already in the results file are skipped; a line torn by a kill is dropped. Greedy
decoding gives the same completion for an item whichever batch it lands in, so a killed and resumed
run ends with the same rows (up to timings) and totals as an uninterrupted one.

Shards (several processes, e.g. ``accelerate launch``, which sets RANK and WORLD_SIZE): rank r takes
items r, r + W, r + 2W, … and writes ``results.rank{r}-of-{W}.jsonl``; rank 0 then waits until every
shard file holds all its rows, merges them into ``results.jsonl`` and writes the summary.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from spacer_core.cogmap import map_text
from spacer_core.eval.base import Benchmark, BenchmarkError, Item, Score, get_benchmark
from spacer_core.eval.controls import Control, ControlError
from spacer_core.eval.report import render_summary
from spacer_core.parsing import THINK

RESULTS = "results.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
RUN_JSON = "run.json"
SWAP_JSON = "swap.json"  # under --control swap: each item's id -> the video it was shown
# Setup fields a resumed run must share with the run it continues.
RESUME_KEYS = ("benchmark", "model", "data_root", "limit", "mode", "video", "generation", "world_size", "given_map",
               "control")


class RunError(RuntimeError):
    """The output folder cannot be used as asked (existing results, mismatched setup, torn shards)."""


def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the environment ``torchrun``/``accelerate launch`` set."""
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return rank, world, int(os.environ.get("LOCAL_RANK", str(rank)))


def shard(items: Sequence[Item], rank: int, world_size: int) -> list[Item]:
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in range(world_size={world_size})")
    return list(items[rank::world_size])


def results_path(out: Path, rank: int, world_size: int) -> Path:
    return out / (RESULTS if world_size == 1 else f"results.rank{rank}-of-{world_size}.jsonl")


def read_rows(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """The rows of a results file, or of its gzipped copy (``*.gz``: a run's published rows, never
    repaired). An unterminated last line (the process was killed while writing it) is ignored, and
    cut off the file when ``repair``; a bad complete line is an error naming it."""
    if not path.exists():
        return []
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    *lines, tail = data.split(b"\n")  # tail: b"" when the file ends with a newline
    rows = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise RunError(f"{path}:{n}: not a JSON row") from None
    if repair and tail and path.suffix != ".gz":
        with open(path, "r+b") as f:
            f.truncate(len(data) - len(tail))
    return rows


def results_file(run: Path) -> Path:
    """A run folder's rows: its results.jsonl, or the published results.jsonl.gz (docs/results) where
    only that is there."""
    published = run / (RESULTS + ".gz")
    return published if published.is_file() and not (run / RESULTS).is_file() else run / RESULTS


def make_row(item: Item, score: Score | None = None, result=None, error: str | None = None) -> dict[str, Any]:
    """One line of results.jsonl; an item that could not be run has ``error`` set and scores 0."""
    row = {
        "id": item.id,
        "question_type": item.question_type,
        "prediction": score.prediction if score else "",
        "ground_truth": item.ground_truth,
        "score": score.score if score else 0.0,
        "raw": result.raw if result else "",
        "seconds": round(result.seconds, 4) if result else 0.0,
        "error": error,
        "prompt_tokens": result.prompt_tokens if result else 0,
        "completion_tokens": result.completion_tokens if result else 0,
        "meta": item.meta,
    }
    if score:
        row.update(score.extra)
    return row


def _batches(items: Sequence[Item], size: int) -> Iterable[list[Item]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _check_setup(out: Path, setup: dict[str, Any], resume: bool) -> None:
    path = out / RUN_JSON
    if not (resume and path.exists()):
        return
    before = json.loads(path.read_text())
    diff = [k for k in RESUME_KEYS if before.get(k) != setup.get(k)]
    if diff:
        details = "; ".join(f"{k}: {before.get(k)!r} -> {setup.get(k)!r}" for k in diff)
        raise RunError(f"cannot resume {out}: the setup changed ({details})")


def given_map_start(item: Item) -> str:
    """The reasoning's start under ``given_map``: the item's true map, so the score measures
    reasoning from a perfect map (items without a true map start as usual)."""
    return f"{THINK[0]}{map_text(item.true_map)}\n" if item.true_map else ""


def _run_items(benchmark: Benchmark, items: Sequence[Item], reasoner, out: Path, mode: str, *,
               batch_size: int, rank: int, world_size: int, gen: dict[str, Any] | None, progress: bool,
               given_map: bool, control: Control) -> Path:
    """Answer and score this rank's share of ``items`` not yet in its results file, appending rows."""
    from tqdm import tqdm

    from spacer_core.infer import Query
    from spacer_core.video import VideoError

    path = results_path(out, rank, world_size)
    done = {row["id"] for row in read_rows(path, repair=True)}
    mine = shard(items, rank, world_size)
    todo = [it for it in mine if it.id not in done]
    desc = benchmark.name + (f" [rank {rank}/{world_size}]" if world_size > 1 else "")
    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), desc=desc, unit="item", disable=not progress)
    with open(path, "a", encoding="utf-8") as f, bar:
        for batch in _batches(todo, batch_size):
            rows: dict[str, dict[str, Any]] = {}
            ready: list[tuple[Item, Query]] = []
            for item in batch:
                try:
                    clip = control.clip(benchmark, item, reasoner.video)
                except VideoError as err:
                    rows[item.id] = make_row(item, error=str(err))
                    continue
                start = given_map_start(item) if given_map else ""
                ready.append((item, Query(video=clip, **benchmark.query(item, mode), reasoning_start=start)))
            results = reasoner.answer_batch([q for _, q in ready], **(gen or {})) if ready else []
            for (item, _), result in zip(ready, results, strict=True):
                rows[item.id] = make_row(item, benchmark.score(item, result.raw), result)
            for item in batch:  # in the benchmark's order
                f.write(json.dumps(rows[item.id], ensure_ascii=False) + "\n")
            f.flush()
            bar.update(len(batch))
    return path


def merge_shards(items: Sequence[Item], out: Path, world_size: int, wait_timeout: float | None = None,
                 poll: float = 5.0) -> list[dict[str, Any]]:
    """Wait until every shard file holds all its rows, then write them to results.jsonl in item order."""
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    by_id: dict[str, dict[str, Any]] = {}
    for rank in range(world_size):
        want = {it.id for it in shard(items, rank, world_size)}
        path = results_path(out, rank, world_size)
        while True:
            rows = {r["id"]: r for r in read_rows(path)}
            if want <= rows.keys():
                break
            if deadline is not None and time.monotonic() > deadline:
                raise RunError(f"{path} has {len(want & rows.keys())} of its {len(want)} rows after waiting "
                               f"{wait_timeout:g} s; did rank {rank} fail?")
            time.sleep(poll)
        by_id.update({k: rows[k] for k in want})
    merged = [by_id[it.id] for it in items]
    tmp = out / (RESULTS + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in merged), encoding="utf-8")
    tmp.replace(out / RESULTS)
    return merged


def summarize(benchmark: Benchmark, rows: Sequence[dict[str, Any]], setup: dict[str, Any]) -> dict[str, Any]:
    """The summary of a finished run (all scores ×100)."""
    if not rows:
        raise RunError("no result rows to summarize")
    aggregate = benchmark.aggregate(rows)
    summary = {"benchmark": benchmark.name, "title": benchmark.title, "n": len(rows),
               "errors": sum(1 for r in rows if r.get("error")), **aggregate, "setup": setup}
    if setup.get("mode") == "direct":  # an answer alone: no think/answer format to count
        summary.pop("format", None)
    if budget := (setup.get("generation") or {}).get("max_new_tokens"):
        # Completions cut off by the budget usually lose their answer: a budget shorter than the
        # reasoning the model was taught to write scores the budget, not the model.
        cut = Counter(r.get("question_type", "?") for r in rows
                      if not r.get("error") and r.get("completion_tokens", 0) >= budget)
        summary["at_budget"] = {"max_new_tokens": budget, "count": sum(cut.values()), "by_type": dict(sorted(cut.items()))}
    return summary


def evaluate(benchmark: Benchmark, items: Sequence[Item], reasoner, out: str | Path, *, mode: str | None = None,
             batch_size: int = 1, resume: bool = False, rank: int = 0, world_size: int = 1,
             setup: dict[str, Any] | None = None, gen: dict[str, Any] | None = None, progress: bool = True,
             wait_timeout: float | None = None, given_map: bool = False, control: str = "none",
             control_seed: int = 0) -> dict[str, Any] | None:
    """Run ``items`` of ``benchmark`` with ``reasoner`` (`spacer_core.infer.SpatialReasoner`) into ``out``.

    Returns the summary (written to summary.json / summary.md) on rank 0, None on other ranks.
    ``setup``: extra fields recorded in run.json and the summary (model name, data root, limit…).
    ``given_map``: every reasoning starts with the item's true map (`given_map_start`), a probe of
    reasoning apart from perception; thinking_map mode only. ``control``: show each item another
    scene's video, its frames shuffled or its first frame only (`spacer_core.eval.controls`, seeded
    by ``control_seed``); a swap's plan is written to swap.json.
    """
    mode = mode or benchmark.default_mode
    if given_map and mode != "thinking_map":
        raise RunError(f"given_map needs the thinking_map mode (the map is part of its reasoning), not {mode!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    seen: set[str] = set()
    for item in items:  # rows, resume and merging all key on the id
        if item.id in seen:
            raise RunError(f"{benchmark.name}: item id {item.id!r} appears more than once")
        seen.add(item.id)
    # Decoding settings that are plain values (objects such as logits processors are not recorded).
    generation = {k: v for k, v in reasoner.generation_kwargs([mode], **(gen or {})).items()
                  if v is None or isinstance(v, bool | int | float | str)}
    setup = {"benchmark": benchmark.name, **(setup or {}), "mode": mode, "video": asdict(reasoner.video),
             "generation": generation, "world_size": world_size, "items": len(items)}
    if given_map:  # recorded only when on, so runs from before the option still resume
        setup["given_map"] = True
    try:
        shown = Control(control, items, control_seed)
    except ControlError as err:
        raise RunError(str(err)) from None
    if control != "none":  # likewise
        setup["control"] = {"name": control, "seed": control_seed}
    existing = results_path(out, rank, world_size)
    if existing.exists() and not resume:
        raise RunError(f"{existing} already exists: pass --resume to continue that run, or choose another --out")
    _check_setup(out, setup, resume)
    if rank == 0:
        started = {**setup, "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (out / RUN_JSON).write_text(json.dumps(started, indent=2) + "\n")
        if shown.swapped:
            plan = {item_id: other.video or other.id for item_id, other in shown.swapped.items()}
            (out / SWAP_JSON).write_text(json.dumps(plan, indent=1) + "\n")
    path = _run_items(benchmark, items, reasoner, out, mode, batch_size=batch_size, rank=rank,
                      world_size=world_size, gen=gen, progress=progress, given_map=given_map, control=shown)
    if rank != 0:
        return None
    rows = merge_shards(items, out, world_size, wait_timeout) if world_size > 1 else read_rows(path)
    summary = summarize(benchmark, rows, {**setup, "batch_size": batch_size,
                                          "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    (out / SUMMARY_JSON).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (out / SUMMARY_MD).write_text(render_summary(summary))
    return summary


def rescore(out: str | Path) -> dict[str, Any]:
    """Score a finished run's completions again with the benchmark's current scoring (a count added
    since, a parser fixed) without generating them again: rewrites results.jsonl (or the published
    results.jsonl.gz, docs/results) and the summary, and those of its controls
    (``out/controls/NAME``). The items come from the run's data root."""
    from spacer_core.eval.controls import add_controls

    out = Path(out)
    if not (out / SUMMARY_JSON).is_file():
        raise RunError(f"{out}: no {SUMMARY_JSON}; rescore needs a finished run")
    setup = json.loads((out / SUMMARY_JSON).read_text())["setup"]
    try:
        benchmark = get_benchmark(setup["benchmark"])
        items = {item.id: item for item in benchmark.load(Path(setup["data_root"]))}
    except BenchmarkError as err:
        raise RunError(f"{out}: {err}") from None
    rows = _score_again(results_file(out), items, benchmark, setup["data_root"])
    summary = summarize(benchmark, rows, setup)
    (out / SUMMARY_JSON).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (out / SUMMARY_MD).write_text(render_summary(summary))
    controls = sorted(p.name for p in (out / "controls").glob("*") if results_file(p).is_file())
    for name in controls:
        folder = out / "controls" / name
        if (folder / SUMMARY_JSON).is_file():
            rescore(folder)
        else:  # a published control keeps its rows alone (recipes/eval_model.sh), on the same items
            _score_again(results_file(folder), items, benchmark, setup["data_root"])
    return add_controls(benchmark, out, summary, controls) if controls else summary


def _score_again(results: Path, items: dict[str, Item], benchmark: Benchmark, data_root: str) -> list[dict[str, Any]]:
    """`rescore`'s rows: ``results``' completions scored again, written back in place."""
    rows = []
    for row in read_rows(results):
        if row.get("error"):
            rows.append(row)
            continue
        if row["id"] not in items:
            raise RunError(f"{results}: item {row['id']!r} is not in {data_root}")
        item = items[row["id"]]
        result = SimpleNamespace(**{k: row[k] for k in ("raw", "seconds", "prompt_tokens", "completion_tokens")})
        rows.append(make_row(item, benchmark.score(item, row["raw"]), result))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    tmp = results.with_name(results.name + ".tmp")
    tmp.write_bytes(gzip.compress(text, mtime=0) if results.suffix == ".gz" else text)
    tmp.replace(results)
    return rows
