"""Benchmarks and the resumable runner behind `spacer eval` (layouts of the files: docs/eval.md).

Importing this package registers every benchmark in `BENCHMARKS`: sim, vsibench, stibench,
sparbench (spatial, `spacer_core.eval.spatial`) and videomme, tempcompass, longvideobench
(general video, `spacer_core.eval.video_qa`).
"""

from spacer_core.eval import spatial, video_qa  # noqa: F401  (registers the benchmarks)
from spacer_core.eval.base import BENCHMARKS, Benchmark, BenchmarkError, Item, Score, get_benchmark
from spacer_core.eval.report import compare_runs, render_summary
from spacer_core.eval.runner import RunError, dist_env, evaluate, read_rows, rescore, summarize

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkError",
    "Item",
    "RunError",
    "Score",
    "compare_runs",
    "dist_env",
    "evaluate",
    "get_benchmark",
    "read_rows",
    "render_summary",
    "rescore",
    "summarize",
]
