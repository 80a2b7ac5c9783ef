"""Time `spacer data synth` (default video settings: 16 frames, 256×256, 2 fps) into a temporary folder.

Goal: 100 scenes in under 120 s on 2 cores. ``--compare`` also times one worker on the same scenes,
to show what the process pool buys. CPU seconds are printed too: on a shared machine they show the
cost when wall time does not. The last line prints the wall seconds.

    python benchmarks/bench_synth.py [--scenes 100] [--workers N] [--compare]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from spacer_core.sim.synth import SynthConfig, synthesize


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pool workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(scenes: int, workers: int | None) -> tuple[float, float]:
    """Wall and CPU seconds of one synth run (CPU time tells the cost on a shared machine)."""
    with tempfile.TemporaryDirectory() as out:
        start, cpu = time.perf_counter(), _cpu()
        synthesize(out, SynthConfig(scenes=scenes), workers=workers, progress=False)
        return time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None, help="default: one per CPU core")
    parser.add_argument("--compare", action="store_true", help="also time a single worker")
    args = parser.parse_args()
    workers = args.workers or os.cpu_count() or 1
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    if args.compare:
        single, single_cpu = timed(args.scenes, 1)
        print(f"1 worker: {single:.1f} s wall, {single_cpu:.1f} s CPU")
    seconds, cpu = timed(args.scenes, workers)
    print(
        f"{workers} workers: {seconds:.1f} s wall, {cpu:.1f} s CPU ({cpu / args.scenes:.2f} CPU s per scene)"
    )
    if args.compare:
        print(f"speed-up of {workers} workers over 1: {single / seconds:.2f}x")
    print(
        f"synth {args.scenes} scenes with {workers} workers on {os.cpu_count()} cores: {seconds:.1f} s (goal < 120 s)"
    )


if __name__ == "__main__":
    main()
