"""Eval throughput: the same sim items answered at batch 1 and at batch 8 (tiny model, CPU by default).

Runs `spacer_core.eval.evaluate` twice on identical items with greedy decoding, after a warm-up that
also decodes every video once (both timed runs read clips from the cache), and checks that both
runs give the same completions. The last line is ``speedup=X`` (batch-8 items/s over batch-1
items/s; the goal on CPU is ≥ 2).

    python benchmarks/bench_eval.py [--items 32] [--batch-size 8] [--max-new-tokens 64] [--model tiny]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from spacer_core.eval import evaluate, get_benchmark, read_rows
from spacer_core.infer import SpatialReasoner


def sim_items(root: Path | None, count: int):
    """``count`` sim test items (cycled with new ids when the split is smaller)."""
    bench = get_benchmark("sim")
    if root is None:
        root = bench.default_root
        if not (root / "test.jsonl").exists():  # no bundled sample yet: make a small one
            from spacer_core.sim.synth import SynthConfig, synthesize

            root = Path(tempfile.mkdtemp(prefix="bench_eval_sim_"))
            synthesize(root, SynthConfig(scenes=5, test_fraction=0.4), workers=1, progress=False)
    base = bench.load(root)
    items = []
    for i in range(count):
        item = copy.copy(base[i % len(base)])
        item.id = f"{item.id}#{i // len(base)}"
        items.append(item)
    return bench, items, root


def timed_run(bench, items, reasoner, batch_size: int, gen: dict) -> tuple[float, list[str]]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        evaluate(bench, items, reasoner, out, batch_size=batch_size, gen=gen, progress=False)
        seconds = time.perf_counter() - start
        rows = read_rows(Path(out) / "results.jsonl")
    errors = [row["error"] for row in rows if row["error"]]
    if errors:
        raise SystemExit(f"{len(errors)} items failed, e.g. {errors[0]}")
    return seconds, [row["raw"] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=None, help="sim data (default: assets/sim)")
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    bench, items, root = sim_items(args.data_root, args.items)
    reasoner = SpatialReasoner.from_pretrained(args.model, device=args.device, temperature=0)
    gen = {"max_new_tokens": args.max_new_tokens}
    print(f"{len(items)} sim items from {root}; model {args.model} on {reasoner.model.device}, "
          f"{torch.get_num_threads()} threads; {reasoner.video}; greedy, max {args.max_new_tokens} new tokens")
    timed_run(bench, items[: args.batch_size], reasoner, args.batch_size, gen)  # warm-up
    for item in items:  # decode every video once, so that both timed runs read clips from the cache
        bench.clip(item, reasoner.video)
    t1, raw1 = timed_run(bench, items, reasoner, 1, gen)
    tb, rawb = timed_run(bench, items, reasoner, args.batch_size, gen)
    print(f"batch 1: {t1:.2f} s ({len(items) / t1:.2f} items/s)")
    print(f"batch {args.batch_size}: {tb:.2f} s ({len(items) / tb:.2f} items/s)")
    print(f"same completions at both batch sizes: {'yes' if raw1 == rawb else 'NO'}")
    print(f"speedup={t1 / tb:.2f}")


if __name__ == "__main__":
    main()
