"""What a benchmark is: items, a loader, a prompt per item, a scorer and an aggregator; the registry.

A benchmark reads its files from a local folder (layouts in docs/eval.md) into `Item`s. The runner
turns each item into a clip (`Benchmark.clip`) and a question (`Benchmark.query`), generates, then
scores the completion (`Benchmark.score`) into one result row; `Benchmark.aggregate` turns the rows
into the summary. Rows carry everything the aggregator needs, so a summary can always be recomputed
from ``results.jsonl`` alone.

Rows that failed (unreadable video) have ``error`` set and score 0: they count as wrong answers,
as a model that cannot see the video would answer wrong.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacer_core.cogmap import CogMap
from spacer_core.parsing import answer_text, normalize_option

if TYPE_CHECKING:
    from spacer_core.video import Clip, VideoSettings


class BenchmarkError(ValueError):
    """A benchmark's files are missing or malformed; the message names the file and the field."""


@dataclass
class Item:
    """One benchmark question.

    ``video``: the video file; ``images``: encoded images shown as the frames of one clip (SPAR-Bench's
    multi-view items) when there is no video. ``categories``: what to map in thinking_map mode (None:
    the benchmark's list). ``meta``: grouping fields copied into the result row (duration, tier…).
    """

    id: str
    question: str
    ground_truth: str
    question_type: str
    problem_type: str
    options: list[str] | None = None
    video: str | None = None
    images: list[bytes] | None = None
    categories: list[str] | None = None
    true_map: CogMap | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Score:
    """The scored completion: ``score`` in [0, 1], the normalised ``prediction``, and extra row fields."""

    score: float
    prediction: str
    extra: dict[str, Any] = field(default_factory=dict)


class Benchmark:
    """Base class; subclasses set the class attributes and implement `load`, `score`, `aggregate`."""

    name: str = ""
    title: str = ""
    default_mode: str = "thinking"
    default_root: Path | None = None
    map_categories: Sequence[str] | None = None  # what thinking_map asks for when an item has none

    def load(self, root: Path) -> list[Item]:
        raise NotImplementedError

    def clip(self, item: Item, settings: VideoSettings) -> Clip:
        """The frames the model sees (raises `spacer_core.video.VideoError` naming the file)."""
        return settings.load(item.video)

    def query(self, item: Item, mode: str) -> dict[str, Any]:
        """Keyword arguments of `spacer_core.infer.Query` (all but the video) for this item."""
        categories = item.categories or self.map_categories
        return dict(question=item.question, options=item.options, mode=mode, problem_type=item.problem_type,
                    categories=list(categories) if categories else None)

    def score(self, item: Item, completion: str) -> Score:
        raise NotImplementedError

    def aggregate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``overall``, ``per_type`` and ``counts`` (scores ×100) plus benchmark-specific sections."""
        raise NotImplementedError


# --- registry ---------------------------------------------------------------------------------

BENCHMARKS: dict[str, Benchmark] = {}


def register(cls: type[Benchmark]) -> type[Benchmark]:
    """Class decorator: add one instance of a benchmark to `BENCHMARKS` under its name."""
    BENCHMARKS[cls.name] = cls()
    return cls


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}") from None


# --- shared scoring and aggregation -----------------------------------------------------------


def score_choice(completion: str, truth: str) -> Score:
    """Multiple choice by option letter: the letter the answer names (`normalize_option` of the
    ``<answer>`` text, or of the whole completion when untagged) against the true letter."""
    text = answer_text(completion)
    letter = normalize_option(text)
    return Score(float(letter is not None and letter == truth.strip().upper()), letter or text)


def mean_by(rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any]) -> dict[str, float]:
    """Mean score ×100 per value of ``key(row)`` (rows whose key is None are left out)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        k = key(row)
        if k is not None:
            sums[str(k)] += float(row["score"])
            counts[str(k)] += 1
    return {k: 100.0 * sums[k] / counts[k] for k in counts}


def count_by(rows: Iterable[Mapping[str, Any]], field_name: str = "question_type") -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[str(row[field_name])] += 1
    return dict(counts)


def item_mean_summary(rows: Sequence[Mapping[str, Any]], groups: Sequence[str] = ()) -> dict[str, Any]:
    """Overall = mean over items; ``per_type`` = mean per question type; ``groups``: means per value
    of each named ``meta`` field (e.g. Video-MME's duration)."""
    if not rows:
        raise BenchmarkError("no result rows to aggregate")
    out: dict[str, Any] = {
        "overall": 100.0 * sum(float(r["score"]) for r in rows) / len(rows),
        "per_type": mean_by(rows, lambda r: r["question_type"]),
        "counts": count_by(rows),
    }
    for g in groups:
        out.setdefault("groups", {})[g] = mean_by(rows, lambda r, g=g: (r.get("meta") or {}).get(g))
    return out


# --- reading files ----------------------------------------------------------------------------


def find_file(root: Path, candidates: Sequence[str], what: str) -> Path:
    """``root`` itself when it is a file, else the first existing candidate (glob patterns allowed)."""
    if root.is_file():
        return root
    if not root.is_dir():
        raise BenchmarkError(f"data root {root} does not exist")
    for pattern in candidates:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    raise BenchmarkError(f"no {what} in {root} (looked for {', '.join(candidates)}); see docs/eval.md")


def read_parquet(paths: Path | Sequence[Path], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of one or more parquet files as dicts, after checking that the columns exist."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in [paths] if isinstance(paths, Path) else paths:
        try:
            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises several types for unreadable files
            raise BenchmarkError(f"{path}: cannot read parquet ({err})") from None
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise BenchmarkError(f"{path}: missing column(s) {missing}; found {table.column_names}")
        rows += table.to_pylist()
    return rows


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise BenchmarkError(f"{path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise BenchmarkError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def field_of(record: Mapping[str, Any], name: str, where: str, types: type | tuple[type, ...] = object) -> Any:
    """``record[name]``, checked against ``types``; a BenchmarkError names ``where`` and the field."""
    if name not in record or record[name] is None:
        raise BenchmarkError(f"{where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, types):
        raise BenchmarkError(f"{where}: field {name!r}: unexpected value {value!r}")
    return value
