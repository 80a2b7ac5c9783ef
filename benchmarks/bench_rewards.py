"""Parse + score the cognitive maps of 10k generated completions (maps of 1–7 categories).

Completions look like a thinking model's: reasoning, a ``<map>`` (mostly JSON as the prompt's
example shows, some Python-literal and messy text), then an answer. Predicted maps are noisy
copies of the true map: jittered points, missing and extra instances, plural or capitalised
keys, hallucinated categories. Only ``parse_map`` + ``score_map`` are timed (one core, best of
``--repeats`` runs, since the machine may be shared); further lines time the full
``score_completion`` used by the reward functions and parse_map on hostile input. Times are CPU
seconds of this single-threaded process (``time.process_time``).

Goal: ≤ 0.2 s for the 10k parse+score on one core, and at least 5× faster than SpaceR's own
parse+score on the same completions. For that ratio, point ``--spacer-src`` at a checkout of
SpaceR (github.com/OuyangKun10/SpaceR; not shipped here): its ``extract_map.py`` is imported from
there with its logging off, and timed as its reward runs it (first ``<map>`` block by regex,
``extract_map_data``, ``calculate_prediction_score``). The last line prints our seconds, or with
``--spacer-src`` the ratio SpaceR's time / ours.

    python benchmarks/bench_rewards.py [--n 10000] [--seed 0] [--spacer-src PATH/TO/SpaceR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import random
import re
import sys
import time
import types
from pathlib import Path

from spacer_core.cogmap import parse_map, score_map
from spacer_core.prompts import GENERIC_INDOOR_CATEGORIES
from spacer_core.rewards import score_completion, spacer_map_score


def _true_map(rng: random.Random) -> dict[str, list[list[int]]]:
    cats = rng.sample(GENERIC_INDOOR_CATEGORIES, rng.randint(1, 7))
    return {
        c: [[rng.randint(0, 9), rng.randint(0, 9)] for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))]
        for c in cats
    }


def _predicted(rng: random.Random, gt: dict[str, list[list[int]]]) -> dict[str, list[list[int]]]:
    pred = {}
    for cat, pts in gt.items():
        if rng.random() < 0.1:  # forgotten category
            continue
        noisy = [
            [min(9, max(0, x + rng.randint(-2, 2))), min(9, max(0, y + rng.randint(-2, 2)))] for x, y in pts
        ]
        if rng.random() < 0.2:
            noisy.append([rng.randint(0, 9), rng.randint(0, 9)])
        if len(noisy) > 1 and rng.random() < 0.2:
            noisy.pop()
        key = rng.choice((cat, cat, cat, cat + "s", cat.title()))
        pred[key] = noisy
    if rng.random() < 0.2:  # hallucinated category
        pred["unicorn"] = [[rng.randint(0, 9), rng.randint(0, 9)]]
    return pred


def _render(rng: random.Random, pred: dict[str, list[list[int]]]) -> str:
    style = rng.random()
    if style < 0.8:
        body = json.dumps(pred)
    elif style < 0.9:
        body = repr({k: [tuple(p) for p in v] for k, v in pred.items()})
    else:
        body = "; ".join(f"{k}: " + ", ".join(f"({x}, {y})" for x, y in v) for k, v in pred.items())
    return (
        "<think>Let me look at the room. I'll sketch a map first. "
        f"<map>{body}</map> From the map, the chair is left of the table.</think>"
        f"<answer>{rng.choice('ABCD')}</answer>"
    )


# Hostile map text: parse_map must stay under 50 ms on each.
HOSTILE = {
    "1 MB of words": "chair " * 170_000,
    "100k nested brackets": '<map>{"chair": ' + "[" * 100_000 + "1, 2" + "]" * 100_000 + "}</map>",
    "1 MB number": "chair: (" + "9" * 1_000_000 + ", 1)",
    "1 MB of NUL": "\x00" * 1_000_000,
    "1 MB of open pairs": "( 1, " * 200_000,
}


def _best_of(repeats: int, fn) -> float:
    """Best CPU time (this process, one thread) over ``repeats`` runs: on a shared machine, other
    jobs inflate wall time far more than CPU time."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _spacer_parse_and_score(src: Path):
    """SpaceR's map parse + score as its reward calls them, imported from a checkout at ``src``."""
    path = src / "SpaceR-SG-RLVR/src/r1-v/src/open_r1/extract_map.py"
    if not path.is_file():
        raise SystemExit(f"--spacer-src: {path} not found (expected a checkout of OuyangKun10/SpaceR)")
    sys.modules.setdefault("jsonlines", types.ModuleType("jsonlines"))  # only its file reader uses it
    spec = importlib.util.spec_from_file_location("spacer_extract_map", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logging.disable(logging.CRITICAL)  # it logs every parse at INFO: time the parsing, not the logging
    first_map = re.compile(r"<map>\s*(.*?)\s*</map>", re.DOTALL)

    def parse_and_score(text: str, gt: dict, cats: list[str]) -> float:
        m = first_map.search(text)
        pred = module.extract_map_data(m.group(1).strip() if m else "", cats)
        return module.calculate_prediction_score(pred, gt, 10)

    return parse_and_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="completions to score")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spacer-src", type=Path, default=None, help="a checkout of SpaceR, for the speed ratio")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    items = []
    for _ in range(args.n):
        gt = _true_map(rng)
        items.append((_render(rng, _predicted(rng, gt)), gt, list(gt)))

    scores = [score_map(parse_map(text, cats), gt) for text, gt, cats in items]
    parse_score_s = _best_of(args.repeats, lambda: [score_map(parse_map(t, c), gt) for t, gt, c in items])
    full_s = _best_of(
        args.repeats,
        lambda: [score_completion(t, "<answer>A</answer>", "multiple choice", gt, c) for t, gt, c in items],
    )
    hostile_ms = {
        name: 1000 * _best_of(1, lambda text=text: parse_map(text, ["chair"]))
        for name, text in HOSTILE.items()
    }

    print(f"mean map score {sum(scores) / len(scores):.3f} over {args.n} completions")
    worst = max(hostile_ms, key=hostile_ms.get)
    print(f"hostile inputs: worst {hostile_ms[worst]:.1f} ms ({worst}); goal < 50 ms each")
    print(f"score_completion (format + answer + map gate): {full_s:.3f} s")
    print(f"parse_map + score_map, best of {args.repeats}: {parse_score_s:.3f} s (goal <= 0.2 s per 10k)")
    if args.spacer_src is None:
        print(f"{parse_score_s:.4f}")
        return
    theirs = _spacer_parse_and_score(args.spacer_src)
    their_scores = [theirs(t, gt, c) for t, gt, c in items]
    spacer_s = _best_of(args.repeats, lambda: [theirs(t, gt, c) for t, gt, c in items])
    def same(ours: list[float]) -> int:
        return sum(abs(a - b) < 1e-9 for a, b in zip(ours, their_scores, strict=True))

    spacer_rules = [spacer_map_score(t, gt) for t, gt, _ in items]
    print(f"SpaceR's extract_map_data + calculate_prediction_score: {spacer_s:.3f} s")
    print(f"same map score as SpaceR's: {same(spacer_rules)} of {args.n} under reward_rules spacer, "
          f"{same(scores)} under ours (which folds plural keys)")
    print(f"speed ratio SpaceR / ours (goal >= 5): {spacer_s / parse_score_s:.2f}")
    print(f"{spacer_s / parse_score_s:.2f}")


if __name__ == "__main__":
    main()
