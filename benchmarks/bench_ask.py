"""Ask latency: the app's Ask handler (`spacer_ui.ask.make_ask`, as the Ask button and ``/ask`` call
it) on bundled samples with the app's defaults for the shipped model (thinking_map, its frames,
1024 new tokens, the Ask tab's temperature), timed from the click to the finished answer and map.

The goal is an Ask within 3 s on CPU. One sample of each question type (the first of its type) is
asked after a warm-up ask; the last line is ``slowest_over_goal=X`` (the slowest Ask's seconds / 3).

    python benchmarks/bench_ask.py [--model tiny] [--threads N] [--all]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

GOAL_S = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: the app's, one for a model as small as the tiny one)")
    parser.add_argument("--all", action="store_true", help="every bundled sample, not one a question type")
    args = parser.parse_args()

    from spacer_ui import model as app_model
    from spacer_ui.ask import make_ask, pick_sample
    from spacer_ui.samples import sim_items

    if args.threads:  # instead of the app's rule (one thread for a small model: ONE_THREAD_BELOW)
        app_model.ONE_THREAD_BELOW = 0
        torch.set_num_threads(args.threads)
    host = app_model.ModelHost(args.model)
    ask = make_ask(host, max_upload_mb=200)
    items = list(sim_items().values())
    if not args.all:
        first = {}
        for item in items:
            first.setdefault(item.question_type, item)
        items = list(first.values())
    frames = host.get().video.nframes or 16

    def timed(item) -> tuple[float, str]:
        video, question, options, categories = pick_sample(item.id)
        start = time.perf_counter()
        *_, last = ask(video, question, options, "thinking_map", frames, 1024, categories=categories, sample=item.id)
        return time.perf_counter() - start, last[-1]

    timed(items[-1])  # warm-up (first video decode, first forward pass) on a sample not timed unless --all
    seconds = []
    for item in items:
        s, status = timed(item)
        seconds.append(s)
        print(f"{s:5.2f} s  {item.question_type:28s} {status}")
    print(f"{len(seconds)} asks at {frames} frames, {torch.get_num_threads()} thread(s): median {statistics.median(seconds):.2f} s, "
          f"slowest {max(seconds):.2f} s (goal {GOAL_S:g} s)")
    print(f"slowest_over_goal={max(seconds) / GOAL_S:.2f}")


if __name__ == "__main__":
    main()
