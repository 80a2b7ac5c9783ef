"""`spacer eval --bench NAME …` (run a benchmark), `spacer eval compare RUN_A RUN_B …` (table of deltas) and
`spacer eval plot` (their scores as bars)."""

from __future__ import annotations

import argparse
import sys

BENCHMARK_NAMES = "sim, vsibench, vsibench-debiased, stibench, sparbench, videomme, tempcompass, longvideobench"
CONTROL_NAMES = ["blind", "swap", "shuffle", "first-frame"]  # spacer_core.eval.controls.CONTROLS, but "none"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a model on a benchmark (resumable), or compare runs",
        description="Runs a benchmark from local files (layouts: docs/eval.md), writing OUT/results.jsonl "
        "(one row per item, as soon as it is scored), OUT/summary.json and OUT/summary.md. "
        "Use `spacer eval compare RUN_A RUN_B …` to compare finished runs. Under `accelerate launch` "
        "the items are sharded by rank and rank 0 merges the results.",
    )
    parser.add_argument("--bench", help=f"benchmark: {BENCHMARK_NAMES}")
    parser.add_argument("--data-root", default=None,
                        help="benchmark files (default for sim: the bundled assets/sim; required for the others)")
    parser.add_argument("--model", default="tiny", help="tiny (embedded), a checkpoint folder or a hub id")
    parser.add_argument("--out", help="output folder (default: runs/eval/BENCH-DATE-TIME; required when sharded)")
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N items")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="questions per generate call (default 1)")
    parser.add_argument("--mode", default=None, choices=["thinking_map", "thinking", "direct"],
                        help="prompt mode (default: thinking_map for sim/vsibench, thinking for the others)")
    parser.add_argument("--resume", action="store_true", help="continue a run in OUT, skipping items already scored")
    parser.add_argument("--max-new-tokens", type=positive_int, default=None, help="default: 1024 (16 in direct mode)")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 = greedy (default: reproducible and resumable; SpaceR's 0.01 is greedy but "
                        "for near-ties)")
    parser.add_argument("--device", default=None, help="default: cuda:LOCAL_RANK when sharded on GPUs, else auto")
    parser.add_argument("--given-map", action="store_true",
                        help="start every reasoning with the item's true cognitive map, so the score measures "
                        "reasoning from a perfect map (thinking_map mode; compare with a run without it)")
    parser.add_argument("--control", action="append", default=[], choices=CONTROL_NAMES,
                        help="repeatable: after the normal run, run the items again with no video (blind), another "
                        "scene's video (swap), their frames shuffled or their first frame only, each into "
                        "OUT/controls/NAME; the summary adds each control's scores and the gains (normal − "
                        "control) with bootstrap 95%% intervals")
    parser.add_argument("--control-seed", type=int, default=0, help="seed of the swap plan and the shuffles")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)

    sub = parser.add_subparsers(dest="eval_command", metavar="compare|plot|rescore|stress",
                                help="optional: `spacer eval compare RUN_A RUN_B …` compares finished runs; "
                                "`spacer eval plot --out PNG LABEL=RUN,… …` draws their scores; "
                                "`spacer eval rescore RUN …` scores their completions again; "
                                "`spacer eval stress --bench B --out DIR` tests how blind-solvable a benchmark is")
    compare = sub.add_parser("compare", help="per-type scores of runs side by side with deltas (markdown)",
                             description="Reads RUN/summary.json of each run; deltas are against the first run.")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run folders (or their summary.json)")
    compare.add_argument("--out", dest="compare_out", default=None, help="also write the table to this file")
    compare.add_argument("--spread", action="store_true",
                         help="add a column with the mean ± sd of all the runs (seeds of one recipe)")
    plot = sub.add_parser("plot", help="per-type scores of groups of finished runs as bars (mean ± sd a group)",
                          description="Each GROUP is LABEL=RUN[,RUN...]: one bar a question type, the mean over "
                          "the group's runs (seeds of one recipe) with their sd; RUN:CONTROL stands for that "
                          "run's control (e.g. runs/x/eval:swap, from `spacer eval --control swap`). The first "
                          "run's chance/prior is marked.")
    plot.add_argument("groups", nargs="+", metavar="GROUP", help="LABEL=RUN[,RUN...]")
    plot.add_argument("--out", dest="plot_out", required=True, help="the figure (PNG)")
    plot.add_argument("--title", dest="plot_title", default=None)
    rescore = sub.add_parser("rescore", help="score finished runs' completions again with the current scoring",
                             description="Rewrites RUN/results.jsonl and RUN/summary.* (and its controls') from the "
                             "completions already there, with the items from the run's data root: new counts and "
                             "parser fixes reach old runs without generating again.")
    rescore.add_argument("rescore_runs", nargs="+", metavar="RUN", help="finished run folders")
    stress = sub.add_parser("stress", help="how much of a benchmark a model without the video could answer",
                            description="Fits a random forest on the test set's non-visual features (question "
                            "text, options) with k-fold cross-validation and reports, per question type, the "
                            "blind-solvable score beside the chance/prior; writes OUT/stress.json, OUT/stress.md "
                            "and OUT/bias.jsonl (a bias score per item). See docs/eval.md.")
    stress.add_argument("--bench", dest="stress_bench", required=True, help=f"benchmark: {BENCHMARK_NAMES}")
    stress.add_argument("--data-root", dest="stress_root", default=None, help="benchmark files (default for sim: assets/sim)")
    stress.add_argument("--out", dest="stress_out", required=True, help="output folder")
    stress.add_argument("--folds", type=positive_int, default=5, help="cross-validation folds (default 5)")
    stress.add_argument("--seed", type=int, default=0, help="fold and forest seed (default 0)")


def run(args: argparse.Namespace) -> int:
    if args.eval_command == "compare":
        return run_compare(args)
    if args.eval_command == "plot":
        return run_plot(args)
    if args.eval_command == "stress":
        return run_stress(args)
    if args.eval_command == "rescore":
        return run_rescore(args)
    if not args.bench:
        print("error: spacer eval needs --bench (or: spacer eval compare RUN_A RUN_B)", file=sys.stderr)
        return 2
    import time
    from pathlib import Path

    from spacer_core.eval import BenchmarkError, RunError, dist_env, evaluate, get_benchmark

    if not args.out:
        if dist_env()[1] > 1:
            print("error: --out is required when the run is sharded over several processes", file=sys.stderr)
            return 2
        args.out = f"runs/eval/{args.bench}-{time.strftime('%Y%m%d-%H%M%S')}"

    try:
        bench = get_benchmark(args.bench)
        root = args.data_root or bench.default_root
        if root is None:
            raise BenchmarkError(f"--data-root is required for {args.bench} (its layout: docs/eval.md)")
        items = bench.load(Path(root))
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.limit is not None:
        items = items[: args.limit]
    if not items:
        print(f"error: no items to evaluate in {root}", file=sys.stderr)
        return 2

    import torch

    from spacer_core.infer import SpatialReasoner

    rank, world, local_rank = dist_env()
    device = args.device or (f"cuda:{local_rank}" if world > 1 and torch.cuda.is_available() else "auto")
    reasoner = SpatialReasoner.from_pretrained(args.model, device=device, temperature=args.temperature)
    if rank == 0:
        print(f"video sampling: {video_note(reasoner.video)}", file=sys.stderr)
    gen = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
    setup = {"model": args.model, "data_root": str(root), "limit": args.limit}
    options = dict(mode=args.mode, batch_size=args.batch_size, resume=args.resume, rank=rank, world_size=world,
                   setup=setup, gen=gen, progress=not args.no_progress, given_map=args.given_map)
    try:
        summary = evaluate(bench, items, reasoner, args.out, **options)
        controls = {name: evaluate(bench, items, reasoner, Path(args.out) / "controls" / name, control=name,
                                   control_seed=args.control_seed, **options)
                    for name in dict.fromkeys(args.control)}
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if summary is not None and controls:
        from spacer_core.eval.controls import add_controls

        summary = add_controls(bench, Path(args.out), summary, list(controls))
        for gain, g in summary["controls"]["gains"].items():
            lo, hi = g["overall_ci95"]
            print(f"{gain} (normal − {g['control']}): {g['overall']:+.1f} [{lo:+.1f}, {hi:+.1f}]")
    if summary is not None:
        chance = f" (chance/prior {summary['chance']['overall']:.1f})" if summary.get("chance") else ""
        print(f"{bench.title}: overall {summary['overall']:.1f}{chance} on {summary['n']} items "
              f"({summary['errors']} errors); see {Path(args.out) / 'summary.md'}")
    return 0


def video_note(video) -> str:
    """The frame settings in a line, and where they come from: a checkpoint trained on few small frames
    (the tiny one) must carry them in its spacer_video.json, or it is shown frames it never saw."""
    from spacer_core.video import VIDEO_SETTINGS_FILE, VideoSettings

    frames = f"{video.nframes} frames" if video.nframes else f"{video.fps:g} fps, {video.min_frames} to {video.max_frames} frames"
    origin = (f"the defaults; a {VIDEO_SETTINGS_FILE} beside the checkpoint overrides them" if video == VideoSettings()
              else f"the checkpoint's {VIDEO_SETTINGS_FILE}")
    return f"{frames}, {video.min_pixels} to {video.max_pixels} pixels a frame ({origin})"


def run_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spacer_core.eval import compare_runs

    try:
        table = compare_runs(args.runs, spread=args.spread)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table, end="")
    if args.compare_out:
        Path(args.compare_out).write_text(table)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from spacer_core.eval.plots import parse_group, plot_groups

    try:
        out = plot_groups([parse_group(g) for g in args.groups], args.plot_out, args.plot_title)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def run_rescore(args: argparse.Namespace) -> int:
    from spacer_core.eval import RunError, rescore

    for run_dir in args.rescore_runs:
        try:
            summary = rescore(run_dir)
        except RunError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{run_dir}: overall {summary['overall']:.1f} on {summary['n']} items, scored again")
    return 0


def run_stress(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spacer_core.eval import BenchmarkError, get_benchmark
    from spacer_core.eval.stress import STRESS_MD, stress_test, write_stress

    try:
        bench = get_benchmark(args.stress_bench)
        root = args.stress_root or bench.default_root
        if root is None:
            raise BenchmarkError(f"--data-root is required for {args.stress_bench} (its layout: docs/eval.md)")
        summary, rows = stress_test(bench.load(Path(root)), args.folds, args.seed)
    except (BenchmarkError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = write_stress(args.stress_out, bench.name, summary, rows)
    print((out / STRESS_MD).read_text(), end="")
    return 0
