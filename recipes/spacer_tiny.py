"""spacer-tiny: train the embedded default on CPU and run the miniature ablation.

Every stage is a `spacer` command (printed as it runs), so the recipe can be followed by hand:

  1. spacer data synth      1000 scenes of --world: a train split and a held-out test split
  2. spacer model tiny      the untrained tiny Qwen2.5-VL (the shipped sizes; --whole-categories:
                            one token per category)
  3. spacer train (vision)  the vision warm-up: 2000 steps of 8 clips teach the vision tower what each
                            video token shows (category mix, map cell), from the renderer's truth
  4. spacer train (lookup)  with --lookup-steps N: the decoder alone, on text, learns to copy and to
                            read a category's entry out of a map
  5. spacer train (sft)     cold start on templated think/map/answer targets (--sft-steps of 8 items,
                            --lookup-batch lookup tasks mixed into each), the vision tower frozen
  6. spacer train (rl) ×3   from the same SFT start, same steps, for each of --seeds seeds (--arms: some
                            of them; --rl-lr: another learning rate than configs/tiny/rl.yaml's):
                              grpo      format + accuracy
                              grpo_map  + map reward (the map gate)
                              sg_rlvr   + map + temporal (T-GRPO) + length
  7. spacer eval            every stage on the held-out split; SFT and the seed-0 arms again on the
                            control split (each scene's video replaced by another held-out scene's),
                            with the true map given (--given-map), and on the bundled sample
                            (`spacer eval --bench sim --limit 64`)
  8. report                 RUNS/ablation.md (tables for docs/tiny-ablation.md) + docs/img/tiny_ablation*.png,
                            with paired bootstrap differences between the arms; --results DIR copies it
                            with every evaluation's rows
  9. ship                   --ship STAGE copies that stage's model (sft or an arm, seed 0) to assets/tiny-model

`make tiny-v6` runs v6's chain, the small world's first (docs/tiny-ablation.md, appendix; the shipped
model, v7, is trained by `make tiny-model`):

  python recipes/spacer_tiny.py --world small --whole-categories --lookup-lines --lookup-steps 6000 \
      --lookup-batch 8 --sft-steps 1800 --test-fraction 0.05 --rl-steps 150 --rl-prompts 4 \
      --results docs/results/small_world

With --sft-from the ablation starts from an SFT model trained elsewhere, e.g. the shipped model's
(Makefile): no data or stages of its own before the RL arms, and no untrained model to evaluate.
The RL arms train on --train-file and every model is evaluated on --test-data's held-out split:

  python recipes/spacer_tiny.py --world small --runs tiny-small-v7-rl --sft-from runs/tiny-small-distance-seed1/sft/final \
      --train-file runs/tiny-small-distance/data/train.jsonl --test-data runs/tiny-small-marks/data --nframes 16 \
      --max-new-tokens 640 --rl-tokens 640 --rl-steps 150 --rl-prompts 4 --seeds 3 --results docs/results/v7_rl

The defaults are the VSI-like world's chain (runs/tiny; --world small runs in runs/tiny-small,
--runs NAME in runs/NAME).
Seed 0 of each arm is in RUNS/ARM, seed k in RUNS/ARM_seedK. The RL arms and the evaluations run
--jobs at a time (sharing the cores); each arm is evaluated as soon as it is trained.
Stages whose output already exists are skipped, so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spacer_core.tiny_model import SHIPPED_SIZES  # noqa: E402

# The recipe's folders: runs/tiny for the VSI-like world, runs/tiny-WORLD for another (`configure`).
RUNS = ROOT / "runs" / "tiny"
DATA = RUNS / "data"
TEST_DATA = DATA  # whose test split is evaluated (--test-data)
SWAPPED = RUNS / "data_swapped"
TIMINGS = RUNS / "timings.json"
PLOT = "tiny_ablation.png"  # under docs/img
SPACER = [sys.executable, "-m", "spacer_core.cli"]
ARMS = {
    "grpo": ["--map_reward", "false", "--temporal", "false", "--length_rule", "false"],
    "grpo_map": ["--temporal", "false", "--length_rule", "false"],
    "sg_rlvr": [],
}
SPLITS = ("eval_swapped", "eval_given_map", "eval_sample")  # besides eval, for SFT and each arm's seed 0
LABELS = {"untrained": "untrained", "base_sft": "the --reuse run's SFT", "sft": "SFT only", "grpo": "SFT + GRPO (format + accuracy)",
          "grpo_map": "SFT + GRPO + map reward", "sg_rlvr": "SFT + SG-RLVR (map + temporal + length)"}


# The cores this process may use (the stages' torch threads are shared out of them); OMP_NUM_THREADS,
# when set, caps them.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
CORES = min(CORES, int(os.environ.get("OMP_NUM_THREADS") or CORES))


def run(*args: str, log: Path | None = None, threads: int | None = None) -> float:
    """Run a spacer command with ``threads`` torch threads (default: every core); returns its wall time."""
    print("$ spacer " + " ".join(args), flush=True)
    start = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads or CORES)}
    with open(log, "w") if log else open(os.devnull, "w") as out:
        subprocess.run([*SPACER, *args], check=True, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return time.time() - start


NFRAMES = 8  # frames a clip (configs/tiny/*.yaml)
RL_SAVE_STEPS = 25  # an RL run's checkpoints: a run cut short (a session's end) loses at most this many steps


def configure(world: str, arithmetic: bool = False, drill: bool = False, walls: bool = False,
              nframes: int = NFRAMES, options: bool = False, marks: bool = False, alone: bool = False,
              runs: str | None = None, test_data: Path | None = None) -> None:
    """Point the recipe's folders at ``world``'s runs (stages already done there are skipped);
    tinted walls are other videos, in runs/tiny-WORLD-walls; derivations with the cell arithmetic
    are another data set, in runs/tiny-WORLD-arith, and with the arithmetic stage another chain, in
    runs/tiny-WORLD-arith-drill; derivations that mark the options another data set (-options), and
    with the marks' drill stage another chain (-marks, -marks-alone with marks drilled alone); a
    model reading other than 8 frames another chain, in runs/tiny-WORLD-fN. ``runs``: the folder's
    name instead; ``test_data``: the data whose test split is evaluated instead of the run's own."""
    global RUNS, DATA, TEST_DATA, SWAPPED, TIMINGS, PLOT
    name = runs or (("tiny" if world == "vsi" else f"tiny-{world}") + ("-walls" if walls else "")
            + ("-arith" if arithmetic else "") + ("-drill" if drill else "")
            + ("-options" if options else "") + ("-marks" if marks else "") + ("-alone" if alone else "")
            + (f"-f{nframes}" if nframes != NFRAMES else ""))
    RUNS = ROOT / "runs" / name
    DATA, SWAPPED, TIMINGS = RUNS / "data", RUNS / "data_swapped", RUNS / "timings.json"
    TEST_DATA = test_data or DATA
    PLOT = f"{name.replace('tiny', 'tiny_ablation').replace('-', '_')}.png"


# Synth settings older manifests lack, as they were made.
SYNTH_DEFAULTS = {"world": "vsi", "cell_arithmetic": False, "tinted_walls": False, "option_lines": False}
STARTED: list[str] = []  # the stages this invocation started
# (when this invocation's overlapping stages began, the wall time earlier invocations spent on them)
OVERLAP: dict[str, float] = {}
LOCK = threading.Lock()


def stage(done: Path, timings: dict, name: str, *args: str, log: Path | None = None,
          threads: int | None = None, unrecorded: tuple[str, ...] = (), after: tuple[Path, Path] | None = None) -> None:
    """Run one stage unless its output exists; its wall time is saved at once (a rerun keeps it).
    Each stage's arguments are recorded in RUNS/stages.json: a done stage whose recorded arguments
    differ from these (other options to the recipe) stops the recipe instead of being reused.
    ``unrecorded`` arguments are passed but not recorded: ones that cannot change the result, such
    as an evaluation's --resume (a killed evaluation continues where it stopped). ``after``: (the
    record a killed run left, what it was made from): a record older than its source (a model
    trained again since) stops the recipe instead of being continued."""
    argv = [a.replace(f"{ROOT}/", "") for a in args]  # the checkout may move
    if done.exists():
        recorded = recorded_stages()
        if recorded.get(name, argv) != argv:
            raise SystemExit(f"stage {name} was run with other arguments:\n  {' '.join(recorded[name])}\nnot\n  "
                             f"{' '.join(argv)}\nmove {shown(done)} (and what was trained from it) away")
        print(f"[skip] {name}: {shown(done)} exists", flush=True)
    else:
        if after and after[0].exists() and after[1].exists() and after[0].stat().st_mtime < after[1].stat().st_mtime:
            raise SystemExit(f"{shown(after[0].parent)} holds a killed run of an older {shown(after[1].parent)}: "
                             "move it away")
        STARTED.append(name)
        seconds = run(*args, *unrecorded, log=log, threads=threads)
        with LOCK:
            timings[name] = seconds
            if OVERLAP:  # the wall time so far, kept as each stage ends: a killed invocation's counts too
                timings["rl_and_eval_wall"] = OVERLAP["before"] + time.monotonic() - OVERLAP["start"]
            write_json(TIMINGS, timings)
    with LOCK:  # stages of parallel chains finish in any order
        write_json(RUNS / "stages.json", {**recorded_stages(), name: argv}, indent=1)


def write_json(path: Path, data: dict, indent: int = 2) -> None:
    """``path`` replaced whole: a kill part way leaves the old file, never half of one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=indent))
    os.replace(tmp, path)


def synth_config(data: Path) -> dict:
    """The `spacer data synth` settings ``data`` was made with (its manifest), with the ones older
    manifests lack as they were made."""
    manifest = data / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{shown(data)}: no manifest.json (not `spacer data synth` output)")
    return {**SYNTH_DEFAULTS, **json.loads(manifest.read_text())["config"]}


def recorded_stages() -> dict[str, list[str]]:
    """Each stage's arguments as it was run (RUNS/stages.json, replaced whole by every write)."""
    stages = RUNS / "stages.json"
    return json.loads(stages.read_text()) if stages.exists() else {}


def absolute(path: str) -> Path:
    """A path option as an absolute path: the stages run in the checkout, wherever the recipe was started."""
    return Path(path).resolve()


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def parallel(jobs: int, chains: list[list[tuple]]) -> None:
    """Independent chains of stages (an RL arm, then its evaluation), ``jobs`` chains at a time,
    sharing the cores between them."""
    threads = max(1, CORES // jobs)

    def run_chain(chain):
        for args, kw in chain:
            stage(*args, **kw, threads=threads)

    with ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(run_chain, chain) for chain in chains]:
            future.result()


# the options of the stages up to SFT, which --sft-from skips
BEFORE_RL = ("scenes", "test_fraction", "whole_categories", "lookup_lines", "cell_arithmetic", "tinted_walls",
             "option_lines", "reuse", "lookup_steps", "lookup_batch", "arith_steps", "marks_steps", "marks_alone",
             "sft_steps", "until")


def main() -> None:
    global ARMS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--test-fraction", type=float, default=0.025, help="share of the scenes held out")
    parser.add_argument("--rl-steps", type=int, default=60)
    parser.add_argument("--rl-prompts", type=int, default=None,
                        help="prompts (groups of G rollouts) per RL step (default: configs/tiny/rl.yaml's)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="RL seeds per arm (the per-type table is seed 0's; 0: SFT and its evaluations only)")
    parser.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N test items")
    parser.add_argument("--jobs", type=int, default=2, help="RL arms and evaluations run this many at a time "
                        "(sharing the cores; the stages before them use every core)")
    parser.add_argument("--world", choices=["vsi", "small"], default="vsi",
                        help="the scenes' world (spacer data synth --world); small runs in runs/tiny-small")
    parser.add_argument("--whole-categories", action="store_true", help="one token per category (spacer model tiny)")
    parser.add_argument("--lookup-lines", action="store_true", help="derivations start with lookup lines (synth)")
    parser.add_argument("--cell-arithmetic", action="store_true",
                        help="derivations spell out the arithmetic on the map's cells (synth); runs in runs/tiny-WORLD-arith")
    parser.add_argument("--tinted-walls", action="store_true",
                        help="each wall its own tint, so the video shows where things stand (synth); "
                             "runs in runs/tiny-WORLD-walls")
    parser.add_argument("--nframes", type=int, default=NFRAMES,
                        help=f"frames the model reads a clip (the vision, SFT and RL stages; default {NFRAMES}): "
                             "pairs of frames make one video token, so more frames give pairs closer in view; "
                             "runs in runs/tiny-WORLD-fN")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="take the build, vision and lookup stages from this run folder instead of training them "
                             "(it must have made the same scenes and model: e.g. runs/tiny-small for --cell-arithmetic, "
                             "whose data differ from it in the derivations only)")
    parser.add_argument("--arith-steps", type=int, default=0,
                        help="with --cell-arithmetic: an arithmetic stage of this many steps after the lookup stage "
                             "(the lookup stage's tasks, 60%% of them the derivations' cell arithmetic), and SFT's "
                             "mixed-in tasks half arithmetic; runs in runs/tiny-WORLD-arith-drill")
    parser.add_argument("--option-lines", action="store_true",
                        help="multiple-choice derivations end with a line per option, marked (synth)")
    parser.add_argument("--marks-steps", type=int, default=0,
                        help="with --option-lines and --cell-arithmetic: a stage of this many steps before SFT that "
                             "drills marking options (its arithmetic tasks list options in a random order), and "
                             "SFT's mixed-in arithmetic tasks with options too")
    parser.add_argument("--marks-alone", action="store_true",
                        help="with --marks-steps: half the marks stage's tasks are marks alone (options and a "
                             "conclusion; a quarter arithmetic, a fifth lookups), and 30%% of SFT's mixed-in tasks; "
                             "runs in -marks-alone folders")
    parser.add_argument("--max-new-tokens", type=int, default=288, help="the evaluations' completion budget")
    parser.add_argument("--lookup-steps", type=int, default=0,
                        help="the lookup stage between the vision warm-up and SFT (0: none)")
    parser.add_argument("--lookup-batch", type=int, default=0, help="lookup tasks mixed into every SFT step")
    parser.add_argument("--sft-steps", type=int, default=860)
    parser.add_argument("--until", choices=["vision", "lookup", "arith", "marks"], default=None,
                        help="stop after this stage (its model starts other experiments: see the Makefile)")
    parser.add_argument("--results", type=Path, default=None,
                        help="copy the report, the stages' arguments and timings, the warm-up and lookup checks "
                             "and every evaluation's summary and rows (gzipped) to this folder")
    parser.add_argument("--ship", choices=["sft", *ARMS], default=None,
                        help="copy this stage's model (seed 0) to assets/tiny-model (see docs/tiny-ablation.md)")
    parser.add_argument("--sft-from", type=absolute, default=None,
                        help="skip the stages up to SFT: the SFT model is this checkpoint, copied to RUNS/sft/final "
                             "(`spacer model copy`); needs --runs, --train-file and --test-data")
    parser.add_argument("--runs", default=None, help="run in runs/RUNS (default: named after the data options)")
    parser.add_argument("--train-file", type=absolute, default=None,
                        help="the RL arms' train file (default: the run's data/train.jsonl)")
    parser.add_argument("--test-data", type=absolute, default=None,
                        help="a `spacer data synth` folder: its test split is evaluated, and swapped for the control "
                             "(default: the run's data)")
    parser.add_argument("--rl-tokens", type=int, default=None,
                        help="the RL completions' budget (default: configs/tiny/rl.yaml's), the length reward's window "
                             "the same part of it as there")
    parser.add_argument("--rl-lr", type=float, default=None,
                        help="the RL arms' learning rate (default: configs/tiny/rl.yaml's)")
    parser.add_argument("--arms", default=",".join(ARMS),
                        help=f"the RL arms to train, comma-separated (default: all of {', '.join(ARMS)})")
    opts = parser.parse_args()
    unknown = set(opts.arms.split(",")) - set(ARMS)
    if unknown:
        parser.error(f"--arms: unknown arm(s) {', '.join(sorted(unknown))} (arms: {', '.join(ARMS)})")
    ARMS = {name: flags for name, flags in ARMS.items() if name in opts.arms.split(",")}  # what follows reads it
    if opts.seeds < 0 or any(n is not None and n < 1 for n in (opts.rl_prompts, opts.rl_tokens)):
        parser.error("--seeds must be at least 0 (0: no RL arms), --rl-prompts and --rl-tokens at least 1")
    rl_config = yaml.safe_load((ROOT / "configs" / "tiny" / "rl.yaml").read_text())
    group = rl_config["num_generations"]
    rl_prompts = opts.rl_prompts or rl_config["per_device_train_batch_size"] // group
    if opts.arith_steps and not opts.cell_arithmetic:
        parser.error("--arith-steps needs --cell-arithmetic")
    if opts.marks_steps and not (opts.option_lines and opts.cell_arithmetic):
        parser.error("--marks-steps needs --option-lines and --cell-arithmetic")
    needs = {"lookup": opts.lookup_steps, "arith": opts.arith_steps, "marks": opts.marks_steps}
    if opts.until in needs and not needs[opts.until]:
        parser.error(f"--until {opts.until} needs --{opts.until}-steps")
    if opts.until and (opts.results or opts.ship):
        parser.error("--until stops before the evaluations: it cannot go with --results or --ship")
    if opts.marks_alone and not opts.marks_steps:
        parser.error("--marks-alone needs --marks-steps")
    if opts.ship not in (None, "sft", *ARMS):
        parser.error(f"--ship {opts.ship}: that arm is not among --arms")
    if opts.seeds == 0 and opts.ship not in (None, "sft"):
        parser.error(f"--ship {opts.ship} needs its RL arm: --seeds 0 trains none")
    if opts.nframes < 2 or opts.nframes % 2:
        parser.error("--nframes must be even and at least 2 (two frames make one video token)")
    if opts.sft_from:
        missing = [flag for flag, value in (("--runs", opts.runs), ("--train-file", opts.train_file),
                                            ("--test-data", opts.test_data)) if value is None]
        if missing:
            parser.error(f"--sft-from needs {', '.join(missing)}: it makes no data of its own")
        skipped = [f"--{dest.replace('_', '-')}" for dest in BEFORE_RL if getattr(opts, dest) != parser.get_default(dest)]
        if skipped:
            parser.error(f"--sft-from skips the stages up to SFT: {', '.join(skipped)} would be ignored")
        if not (opts.sft_from / "config.json").is_file():
            parser.error(f"--sft-from {shown(opts.sft_from)}: not a checkpoint folder (no config.json)")
        from spacer_core.video import VIDEO_SETTINGS_FILE

        video = opts.sft_from / VIDEO_SETTINGS_FILE
        nframes = json.loads(video.read_text()).get("nframes") if video.is_file() else None
        if nframes not in (None, opts.nframes):
            parser.error(f"--sft-from {shown(opts.sft_from)} reads {nframes} frames a clip (its {VIDEO_SETTINGS_FILE}): "
                         f"pass --nframes {nframes}")
    configure(opts.world, opts.cell_arithmetic, opts.arith_steps > 0, opts.tinted_walls, opts.nframes,
              opts.option_lines, opts.marks_steps > 0, opts.marks_alone, opts.runs, opts.test_data)
    train_file = opts.train_file or DATA / "train.jsonl"
    frames = ["--nframes", str(opts.nframes)] if opts.nframes != NFRAMES else []
    if not opts.sft_from and (DATA / "manifest.json").exists():
        # stages are skipped when their output exists: never mix two data sets
        made = synth_config(DATA)
        wanted = dict(scenes=opts.scenes, test_fraction=opts.test_fraction, world=opts.world,
                      lookup_lines=opts.lookup_lines, cell_arithmetic=opts.cell_arithmetic,
                      tinted_walls=opts.tinted_walls, option_lines=opts.option_lines)
        if {k: made.get(k) for k in wanted} != wanted:
            parser.error(f"{DATA} holds other data ({made}), not {wanted}: move {RUNS} away to start afresh")
    for data in sorted({train_file.parent, TEST_DATA} - {DATA}):  # data made elsewhere: of the same world
        world = synth_config(data)["world"]
        if world != opts.world:
            parser.error(f"{shown(data)} holds scenes of the {world} world, not of --world {opts.world}")
    copied = RUNS / "sft" / "final" / "model.safetensors"
    if opts.sft_from and copied.exists() and not filecmp.cmp(copied, opts.sft_from / "model.safetensors", shallow=False):
        # the same path holds other weights now (a model shipped again): the runs are of the old ones
        parser.error(f"{shown(copied.parent)} is an older copy of {shown(opts.sft_from)} (the weights differ): "
                     f"move {shown(RUNS)} away to start afresh")
    RUNS.mkdir(parents=True, exist_ok=True)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}

    if opts.sft_from:
        stage(RUNS / "sft" / "final" / "config.json", timings, "sft", "model", "copy", str(opts.sft_from),
              str(RUNS / "sft" / "final"))
    elif not train_sft(opts, timings, frames):
        return
    limit = ["--limit", str(opts.eval_limit)] if opts.eval_limit else []
    # with --reuse, that run's SFT model on this run's held-out items: what the other derivations change
    base_sft = opts.reuse / "sft" / "final" if opts.reuse else None
    budget = opts.rl_tokens or rl_config["max_completion_length"]
    # the length reward's window, the same part of the budget as the config's (SpaceR's 320-512 of 1024)
    rl_budget = [] if opts.rl_tokens is None else [
        "--max_completion_length", str(budget),
        "--length_low", str(budget * rl_config["length_low"] // rl_config["max_completion_length"]),
        "--length_high", str(budget * rl_config["length_high"] // rl_config["max_completion_length"])]

    rl_budget += [] if opts.rl_lr is None else ["--learning_rate", str(opts.rl_lr)]
    swapped_split(TEST_DATA, SWAPPED)

    def evaluation(name: str, split: str = "eval") -> tuple:
        """``split``: eval (the held-out split), eval_swapped (the control), eval_given_map (the
        held-out split with each item's true map given as the start of the completion) or eval_sample
        (the acceptance check of the shipped model: `spacer eval --bench sim --limit 64` with no
        other flags, i.e. the bundled assets/sim sample at the default settings)."""
        model = {"untrained": RUNS / name, "base_sft": base_sft}.get(name, RUNS / name / "final")
        if split == "eval_sample":
            where = ["--limit", "64"]
        else:
            where = ["--data-root", str(SWAPPED if split == "eval_swapped" else TEST_DATA), "--batch-size", "8",
                     "--max-new-tokens", str(opts.max_new_tokens), *limit, *(["--given-map"] if split == "eval_given_map" else [])]
        return ((RUNS / split / name / "summary.json", timings, f"{split}_{name}", "eval", "--bench", "sim",
                 "--model", str(model), "--out", str(RUNS / split / name), "--no-progress", *where),
                {"unrecorded": ("--resume",), "after": (RUNS / split / name / "run.json", model / "config.json")})

    def arm(name: str, seed: int) -> list[tuple]:
        run_name = seeded(name, seed)
        # a checkpoint every RL_SAVE_STEPS steps, and a run killed part way continues from its newest
        # one (neither changes what it trains, so neither is recorded)
        resume = ["--resume"] if any((RUNS / run_name).glob("checkpoint-*/trainer_state.json")) else []
        chain = [((RUNS / run_name / "final" / "config.json", timings, f"rl_{run_name}", "train", "--config",
                   "configs/tiny/rl.yaml", "--model", str(RUNS / "sft" / "final"), "--train_file", str(train_file),
                   *frames, *rl_budget, "--output_dir", str(RUNS / run_name), "--max_steps", str(opts.rl_steps),
                   *(["--per_device_train_batch_size", str(opts.rl_prompts * group)] if opts.rl_prompts else []),
                   "--seed", str(seed), *ARMS[name]),
                  {"log": RUNS / f"{run_name}.log",
                   "unrecorded": ("--save_strategy", "steps", "--save_steps", str(RL_SAVE_STEPS), *resume)}),
                 evaluation(run_name)]
        return chain + [evaluation(run_name, split) for split in SPLITS] if seed == 0 else chain

    base = [] if base_sft is None or not (base_sft / "config.json").exists() else [
        [evaluation("base_sft", split) for split in ("eval", "eval_swapped", "eval_given_map")]]
    untrained = [] if opts.sft_from else [[evaluation("untrained")]]  # with --sft-from there is none
    started_before = len(STARTED)
    OVERLAP.update(start=time.monotonic(), before=timings.get("rl_and_eval_wall", 0.0))
    try:
        # SFT's evaluations first (whether its start reads the video and its map decides whether
        # the arms are worth their time), then the longest chains; the untrained one fills a gap
        parallel(opts.jobs, [[evaluation("sft"), *(evaluation("sft", split) for split in SPLITS)]] + base
                 + [arm(name, 0) for name in reversed(ARMS) if opts.seeds] + untrained
                 + [arm(name, seed) for seed in range(1, opts.seeds) for name in reversed(ARMS)])
    finally:
        # The stages above overlap, so the total counts their wall time: summed over the invocations
        # that started any of them, an interrupted one included (one that skips everything adds nothing).
        with LOCK:
            if len(STARTED) > started_before:
                timings["rl_and_eval_wall"] = OVERLAP["before"] + time.monotonic() - OVERLAP["start"]
                write_json(TIMINGS, timings)
            OVERLAP.clear()
    source = f" {shown(opts.sft_from)}" if opts.sft_from else ""
    report(timings, opts.seeds, f"RL arms: {opts.rl_steps} steps of {rl_prompts} prompts × {group} rollouts of up to "
           f"{budget} tokens each, learning rate {opts.rl_lr or rl_config['learning_rate']}, {opts.seeds} seed(s), "
           f"all from the SFT model{source}." if opts.seeds
           else "No RL arms (--seeds 0).", untrained=not opts.sft_from)
    if opts.results:
        publish(opts.results)
    if opts.ship:
        ship(RUNS / opts.ship / "final")


def train_sft(opts: argparse.Namespace, timings: dict, frames: list[str]) -> bool:
    """The stages up to SFT (each skipped when done, or taken from --reuse); False when --until
    stopped before SFT."""
    def stop_after(name: str) -> bool:
        if opts.until == name:
            print(f"stopped after the {name} stage (--until {name})", flush=True)
        return opts.until == name

    train_file = ["--train_file", str(DATA / "train.jsonl")]
    stage(DATA / "test.jsonl", timings, "synth", "data", "synth", "--scenes", str(opts.scenes), "--out", str(DATA),
          "--test-fraction", str(opts.test_fraction), "--seed", "1", "--world", opts.world,
          *(["--lookup-lines"] if opts.lookup_lines else []), *(["--cell-arithmetic"] if opts.cell_arithmetic else []),
          *(["--tinted-walls"] if opts.tinted_walls else []), *(["--option-lines"] if opts.option_lines else []))
    # the stages before SFT: (done marker, name, command, log)
    before_sft = [
        (RUNS / "untrained" / "config.json", "build", ("model", "tiny", "--out", str(RUNS / "untrained"),
         *[f"--size={name}={value}" for name, value in SHIPPED_SIZES.items()],
         *(["--whole-categories"] if opts.whole_categories else [])), None),
        (RUNS / "vision" / "final" / "config.json", "vision", ("train", "--config", "configs/tiny/vision.yaml",
         "--model", str(RUNS / "untrained"), *train_file, "--output_dir", str(RUNS / "vision"), *frames),
         RUNS / "vision.log"),
    ]
    if opts.lookup_steps:
        before_sft.append((RUNS / "lookup" / "final" / "config.json", "lookup", (
            "train", "--config", "configs/tiny/lookup.yaml", "--model", str(RUNS / "vision" / "final"),
            "--lookup_world", opts.world, "--output_dir", str(RUNS / "lookup"), "--max_steps", str(opts.lookup_steps)),
            RUNS / "lookup.log"))
    if opts.reuse:
        reuse(opts.reuse, {name: argv for _, name, argv, _ in before_sft}, timings)
        if stop_after("vision") or stop_after("lookup"):
            return False
    else:
        for done, name, argv, log in before_sft:
            stage(done, timings, name, *argv, log=log)
            if stop_after(name):
                return False
    decoder_start = RUNS / ("lookup" if opts.lookup_steps else "vision") / "final"
    if opts.arith_steps:
        stage(RUNS / "arith" / "final" / "config.json", timings, "arith", "train", "--config",
              "configs/tiny/lookup.yaml", "--model", str(decoder_start), "--lookup_world", opts.world,
              "--output_dir", str(RUNS / "arith"), "--max_steps", str(opts.arith_steps),
              "--lookup_arith_fraction", "0.6", "--lookup_copy_fraction", "0.1", log=RUNS / "arith.log")
        decoder_start = RUNS / "arith" / "final"
    if stop_after("arith"):
        return False
    sft_tasks = ["--lookup_arith_fraction", "0.5"] if opts.arith_steps or opts.marks_steps else []
    if opts.marks_steps:
        # with marks alone a fifth of the tasks stay lookups: without them the lookup is lost within 500 steps
        tasks = (["--lookup_arith_fraction", "0.25", "--lookup_marks_fraction", "0.5", "--lookup_copy_fraction", "0.05"]
                 if opts.marks_alone else ["--lookup_arith_fraction", "0.6", "--lookup_copy_fraction", "0.1"])
        stage(RUNS / "marks" / "final" / "config.json", timings, "marks", "train", "--config",
              "configs/tiny/lookup.yaml", "--model", str(decoder_start), "--lookup_world", opts.world,
              "--output_dir", str(RUNS / "marks"), "--max_steps", str(opts.marks_steps), "--learning_rate", "1e-3",
              *tasks, "--lookup_option_marks", log=RUNS / "marks.log")
        decoder_start = RUNS / "marks" / "final"
        if opts.marks_alone:
            sft_tasks = ["--lookup_arith_fraction", "0.4", "--lookup_marks_fraction", "0.3", "--lookup_copy_fraction", "0.1"]
        sft_tasks += ["--lookup_option_marks"]
    if stop_after("marks"):
        return False
    stage(RUNS / "sft" / "final" / "config.json", timings, "sft", "train", "--config", "configs/tiny/sft.yaml",
          "--model", str(decoder_start), *train_file, "--output_dir", str(RUNS / "sft"), "--max_steps",
          str(opts.sft_steps), "--lookup_batch", str(opts.lookup_batch), "--lookup_world", opts.world,
          *sft_tasks, *frames, log=RUNS / "sft.log")
    return True


def reuse(source: Path, stages: dict[str, tuple[str, ...]], timings: dict) -> None:
    """Copy the stages before SFT (``stages``: name -> the command this run would give it) from the
    run folder ``source`` instead of running them: their models, the commands that made them (as
    run there) and their times. The source must have made them from the same scenes, with these
    commands but for its own folder."""
    def read(path: Path) -> dict:
        if not path.is_file():
            raise SystemExit(f"--reuse {shown(source)}: no {shown(path)}")
        return json.loads(path.read_text())

    derivations_only = {"lookup_lines", "cell_arithmetic", "option_lines"}  # what may differ: not the scenes
    scenes = [{k: v for k, v in {**SYNTH_DEFAULTS, **read(folder / "data" / "manifest.json")["config"]}.items()
               if k not in derivations_only} for folder in (source, RUNS)]
    if scenes[0] != scenes[1]:
        raise SystemExit(f"--reuse {shown(source)}: its scenes are not these ({scenes[0]}, not {scenes[1]})")
    recorded, theirs = read(source / "stages.json"), read(source / "timings.json")
    for name, argv in stages.items():
        folder = argv[argv.index("--out" if name == "build" else "--output_dir") + 1]
        mine = [a.replace(f"{ROOT}/", "") for a in argv]
        made = [a.replace(shown(source), shown(RUNS)) for a in recorded.get(name, [])]
        if made != mine:
            raise SystemExit(f"--reuse {shown(source)}: its {name} stage was\n  {' '.join(recorded.get(name, ['(none)']))}"
                             f"\nnot, for its folder,\n  {' '.join(mine)}")
        if not Path(folder).exists():
            shutil.copytree(source / Path(folder).name, folder)
            print(f"[reuse] {name}: {shown(source / Path(folder).name)}", flush=True)
        # the command that made it, as it was run there
        write_json(RUNS / "stages.json", {**recorded_stages(), name: recorded[name]}, indent=1)
        if name in theirs:  # runs made before timings were kept have none
            timings.setdefault(name, theirs[name])
    write_json(TIMINGS, timings)


def seeded(arm: str, seed: int) -> str:
    return arm if seed == 0 else f"{arm}_seed{seed}"


def swapped_split(data: Path, out: Path) -> None:
    """The control split in ``out``: the held-out questions of ``data``, true maps and answers as
    they are, but each scene's video file is a (relative) link to another held-out scene's video
    (scene i shows scene i + 1, the last shows the first). Rebuilt when ``data``'s test split changes."""
    source = (data / "test.jsonl").read_bytes()
    if (out / "test.jsonl").is_file() and (out / "test.jsonl").read_bytes() == source:
        return  # test.jsonl is written last: the split is complete
    scenes = sorted({json.loads(line)["path"] for line in source.decode().splitlines() if line.strip()})
    if len(scenes) < 2:
        raise ValueError(f"{data / 'test.jsonl'}: the control needs at least 2 held-out videos, found {len(scenes)}")
    shutil.rmtree(out, ignore_errors=True)
    for own, shown in zip(scenes, scenes[1:] + scenes[:1], strict=True):
        link = out / own
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(data / shown, link.parent))
    shutil.copy2(data / "cognitive_map.jsonl", out / "cognitive_map.jsonl")
    shutil.copy2(data / "test.jsonl", out / "test.jsonl")


# --- report -------------------------------------------------------------------------------------


def run_stats(name: str, evals: str = "eval") -> dict | None:
    """A run's figures for the report: its summary, and what the summary counts (format-valid
    completions, reasoning that names the question's objects) as percentages; summaries written
    before `spacer eval` counted them have none (`spacer eval rescore` adds them)."""
    from spacer_core.eval.runner import read_rows
    from spacer_core.sim.cell_arithmetic import offsets_right

    if not (RUNS / evals / name / "summary.json").exists():
        return None
    summary = json.loads((RUNS / evals / name / "summary.json").read_text())
    rows = read_rows(RUNS / evals / name / "results.jsonl")
    spatial = [r for r in rows if r.get("question_type")]
    right, written = map(sum, zip(*(offsets_right(r["raw"] or "") for r in rows), strict=True))

    def percent(key: str) -> float | None:
        return 100 * summary[key]["rate"] if summary.get(key) else None

    return {
        "summary": summary,
        "format_valid": percent("format"),
        "map_rate": 100 * sum("<map>" in (r["raw"] or "") and "</map>" in r["raw"] for r in spatial) / len(spatial),
        "map_score": summary["map"]["mean"],
        "names_objects": percent("names_objects") if evals == "eval" else None,
        "offsets": (100 * right / written, written) if written else None,
    }


def report(timings: dict, seeds: int, rl_line: str, untrained: bool = True) -> None:
    """RUNS/ablation.md and its plots; ``untrained``: with the untrained model's column (a chain
    from --sft-from has none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*(["untrained"] if untrained else []), *(["base_sft"] if (RUNS / "eval" / "base_sft").exists() else []), "sft",
             *(ARMS if seeds else [])]
    stats = {n: run_stats(n) for n in names}
    sample = {n: run_stats(n, "eval_sample") for n in names}
    control = {n: run_stats(n, "eval_swapped") for n in names}
    given = {n: run_stats(n, "eval_given_map") for n in names}
    # what ignoring the video scores (`spacer eval` computes it from the train split, see SimBench.load;
    # summaries written before it did have none)
    chance = stats["sft"]["summary"].get("chance") or {"overall": None, "per_type": {}}
    types = list(stats["sft"]["summary"]["per_type"])
    head = ["question type", "chance/prior", *[LABELS[n] for n in names]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def map_cells(s: dict) -> str:  # summaries written before `spacer eval` counted the cells have none
        cells = s["summary"].get("map", {}).get("cells")
        return "–" if cells is None else f"{100 * cells['exact']:.0f} / {100 * cells['near']:.0f}"

    def row(label: str, runs: dict, cell, first: str = "") -> None:
        """One table row: ``cell(stats)`` for every stage, "–" where the stage was not evaluated."""
        lines.append(f"| {label} | {first} | " + " | ".join("–" if runs[n] is None else cell(runs[n]) for n in names)
                     + " |")

    for t in types:
        row(t, stats, lambda s, t=t: fmt(s["summary"]["per_type"].get(t)), fmt(chance["per_type"].get(t)))
    row("**overall** (VSI-Bench: mean of the tasks)", stats, lambda s: f"**{s['summary']['overall']:.1f}**",
        fmt(chance["overall"]))
    row("format-valid completions (%)", stats, lambda s: fmt(s["format_valid"], 0))
    row("completions with a map (%)", stats, lambda s: f"{s['map_rate']:.0f}")
    row("mean map score (completions with a map)", stats, lambda s: fmt(s["map_score"], 2))
    row("map: objects in their true cell / within one cell (%)", stats, map_cells)
    row("multiple choice: answers that are the option the reasoning arrives at (%)", stats,
        lambda s: fmt(100 * s["summary"]["agreement"]["rate"], 0) if s["summary"].get("agreement") else "–")
    row("derivations naming every object the question names (%)", stats, lambda s: fmt(s["names_objects"], 0))
    if any(s and s["offsets"] for s in stats.values()):  # derivations with the cell arithmetic
        row("cell offsets computed right (%, of those written)", stats,
            lambda s: "–" if s["offsets"] is None else f"{s['offsets'][0]:.0f} (of {s['offsets'][1]})")
    row("bundled sample (`--limit 64`): overall (chance/prior)", sample,
        lambda s: f"{s['summary']['overall']:.1f} ({fmt((s['summary'].get('chance') or {}).get('overall'))})")
    row("bundled sample: format-valid / with a map (%)", sample, lambda s: f"{fmt(s['format_valid'], 0)} / {s['map_rate']:.0f}")
    row("control, another scene's video: overall", control, lambda s: f"{s['summary']['overall']:.1f}")
    row("control, another scene's video: mean map score", control, lambda s: fmt(s["map_score"], 2))
    row("control, another scene's video: objects in their true cell / within one cell (%)", control, map_cells)
    row("the true map given (`--given-map`): overall", given, lambda s: f"{s['summary']['overall']:.1f}")

    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / (len(names) + 1)
    xs = range(len(types))
    ax.bar([x - 0.4 + width / 2 for x in xs], [chance["per_type"].get(t, 0) for t in types], width, label="chance/prior",
           color="#bbbbbb")
    for i, n in enumerate(names):
        if stats[n] is not None:
            ax.bar([x - 0.4 + width * (i + 1.5) for x in xs], [stats[n]["summary"]["per_type"].get(t, 0) for t in types],
                   width, label=LABELS[n])
    ax.set_xticks(list(xs), [t.replace("object_", "").replace("_", "\n") for t in types], fontsize=8)
    ax.set_ylabel("score (accuracy / MRA, ×100)")
    ax.set_title(f"spacer-tiny ablation on {stats['sft']['summary']['n']} held-out sim items")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    img = ROOT / "docs" / "img" / PLOT
    img.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(img, dpi=110)
    curves = rl_curves(seeds, img.with_name(img.stem + "_rl.png"))

    overlapped = "rl_and_eval_wall" in timings  # then the rl_/eval_ stages ran side by side
    total = sum(v for k, v in timings.items() if not (overlapped and k.startswith(("rl_", "eval_")))
                or k == "rl_and_eval_wall")
    timing_lines = [f"| {k} | {v / 60:.1f} min |" for k, v in timings.items()]
    seed_lines = (seed_table(seeds, chance["overall"]) if seeds else []) + comparison_table(seeds)
    warmup = RUNS / "vision" / "vision_warmup.json"
    warmup_lines = [vision_line(json.loads(warmup.read_text())["held_out"]), ""] if warmup.exists() else []
    out = RUNS / "ablation.md"  # its tables go into docs/tiny-ablation.md
    out.write_text("\n".join([
        "<!-- generated by recipes/spacer_tiny.py: tables and timings -->",
        *warmup_lines, rl_line, "", *lines, "", f"![ablation](img/{img.name})", "", *seed_lines,
        *([f"![RL curves](img/{curves.name})", ""] if curves else []),
        "| stage | wall time |", "|---|---|", *timing_lines, f"| **total** | **{total / 60:.1f} min** |", "",
    ]))
    print(out.read_text())


def rl_curves(seeds: int, out: Path) -> Path | None:
    """Each arm's answer accuracy and map score over its RL steps (ordered rollouts, the mean over
    the seeds of a 10-step moving mean), from the runs' rollout logs; None when no arm has one. The
    map score is logged for right answers of the arms with the map reward (the map gate's s)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from spacer_core.train.rollout_log import RolloutLog

    def curve(steps: dict[int, list[dict]], field: str, last: int) -> np.ndarray:
        values = [[r[field] for r in steps.get(t, []) if not r["shuffled"] and r[field] is not None] for t in range(last)]
        per_step = np.array([np.mean(v) if v else np.nan for v in values])
        window = np.ones(10)
        return np.convolve(np.nan_to_num(per_step), window, "valid") / np.convolve(~np.isnan(per_step), window, "valid")

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    drawn, plotted = False, [False, False]
    for i, name in enumerate(ARMS):
        runs = [steps for k in range(seeds) if (steps := RolloutLog(RUNS / seeded(name, k)).by_step())]
        if not runs:
            continue
        drawn = True
        last = min(max(steps) for steps in runs) + 1
        for j, (ax, field) in enumerate(zip(axes, ("answer_accuracy", "map_score"), strict=True)):
            with np.errstate(invalid="ignore"):  # a window without a value is left out of the line
                mean = np.mean([curve(steps, field, last) for steps in runs], axis=0)
            if not np.isnan(mean).all():
                ax.plot(np.arange(len(mean)) + 10, mean, color=f"C{i}", label=LABELS[name])  # one colour an arm
                plotted[j] = True
    if not drawn:
        plt.close(fig)
        return None
    for ax, title in zip(axes, ("answer accuracy of the rollouts", "map score of the right answers"), strict=True):
        ax.set_title(f"{title} (mean of {seeds} seed(s), 10-step moving mean)", fontsize=9)
        ax.set_xlabel("RL step")
    if not plotted[1]:
        axes[1].text(0.5, 0.5, "no arm here has the map reward", ha="center", va="center", transform=axes[1].transAxes)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def vision_line(held: dict) -> str:
    """What the vision warm-up taught, measured on the held-out scenes' tokens."""
    return (f"Vision warm-up, on the {held['object_tokens']} tokens of the {held['scenes']} held-out scenes that an "
            f"object covers at least a tenth of: category {100 * held['category_acc']:.1f}% right (always naming the "
            f"commonest: {100 * held['category_acc_commonest']:.1f}%), map cell {100 * held['cell_acc']:.1f}% "
            f"(commonest: {100 * held['cell_acc_commonest']:.1f}%); category-mix loss on all {held['tokens']} tokens "
            f"{held['class_loss']:.2f} (the training tokens' mean mix: {held['class_loss_prior']:.2f}).")


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def seed_table(seeds: int, chance: float | None) -> list[str]:
    """Overall score of every RL arm for each seed (same SFT start), with mean and spread."""
    head = ["arm", *[f"seed {k}" for k in range(seeds)], "mean ± sd", f"seeds above chance/prior ({fmt(chance)})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in ARMS:
        scores = [run_stats(seeded(name, k)) for k in range(seeds)]
        overall = [s["summary"]["overall"] for s in scores if s is not None]
        spread = f"{statistics.mean(overall):.1f} ± {statistics.stdev(overall):.1f}" if len(overall) > 1 else "–"
        lines.append(f"| {LABELS[name]} | " + " | ".join("–" if s is None else f"{s['summary']['overall']:.1f}"
                                                          for s in scores)
                     + f" | {spread} | {'–' if chance is None else sum(o > chance for o in overall)} of {len(overall)} |")
    return [*lines, ""]


COMPARED = (("sft", "base_sft"), ("sg_rlvr", "grpo"), ("grpo_map", "grpo"), ("grpo", "sft"), ("grpo_map", "sft"), ("sg_rlvr", "sft"))


def comparison_table(seeds: int) -> list[str]:
    """Paired differences on the same held-out items (`controls.paired_gain`: every seed of each arm,
    items resampled, and items and seeds resampled, seed k beside seed k where both arms have every
    seed), and what each stage's own video is worth against the swapped videos, with 95% bootstrap
    intervals."""
    from spacer_core.eval.base import get_benchmark
    from spacer_core.eval.controls import paired_gain
    from spacer_core.eval.runner import read_rows

    def rows(name: str, evals: str = "eval") -> list[list[dict]]:
        names = [seeded(name, k) for k in range(seeds)] if name in ARMS and evals == "eval" else [name]
        return [read_rows(RUNS / evals / n / "results.jsonl") for n in names
                if (RUNS / evals / n / "summary.json").exists()]

    lines = ["| paired difference on the same items (arms: every seed; own video − another's: seed 0) | items | "
             "overall | 95% bootstrap interval (items) | (items and seeds) |",
             "|---|---|---|---|---|"]
    for a, b in COMPARED:
        if not {a, b} <= {"sft", "base_sft", *ARMS}:  # an arm this invocation does not train
            continue
        mine, theirs = rows(a), rows(b)
        if mine and theirs:
            # seed k beside seed k only when both arms have every seed (a missing one would shift them)
            paired = {a, b} <= set(ARMS) and len(mine) == len(theirs) == seeds
            g = paired_gain(get_benchmark("sim"), mine, theirs, runs_too=True, paired_runs=paired)
            (lo, hi), (lo_runs, hi_runs) = g["overall_ci95"], g["overall_ci95_runs"]
            seeds_too = f"{lo_runs:+.1f} to {hi_runs:+.1f}" if len(mine) + len(theirs) > 2 else "–"
            lines.append(f"| {LABELS[a]} − {LABELS[b]} | {g['items']} | {g['overall']:+.1f} | {lo:+.1f} to {hi:+.1f} "
                         f"| {seeds_too} |")
    for name in ["base_sft", "sft", *ARMS]:  # what the video is worth (seed 0 of an arm)
        own, swapped = rows(name)[:1], rows(name, "eval_swapped")
        if own and swapped:
            g = paired_gain(get_benchmark("sim"), own, swapped)
            lo, hi = g["overall_ci95"]
            lines.append(f"| {LABELS[name]}: own video − another scene's | {g['items']} | {g['overall']:+.1f} | "
                         f"{lo:+.1f} to {hi:+.1f} | – |")
    return [*lines, ""]


def publish(dest: Path) -> None:
    """The chain's results, as committed under docs/results: what every figure of the report is made of."""
    import gzip

    shutil.rmtree(dest / "evals", ignore_errors=True)  # only what this writes: evaluations of an earlier chain go
    dest.mkdir(parents=True, exist_ok=True)
    for name, copy in (("stages.json", "stages.json"), ("timings.json", "timings.json"),
                       ("vision/vision_warmup.json", "vision_warmup.json"), ("lookup/lookup.json", "lookup.json"),
                       ("arith/lookup.json", "arith.json"), ("marks/lookup.json", "marks.json")):
        if (RUNS / name).exists():
            shutil.copy2(RUNS / name, dest / copy)
    plots = os.path.relpath(ROOT / "docs" / "img", dest)  # the report's plot, seen from dest
    (dest / "ablation.md").write_text((RUNS / "ablation.md").read_text().replace("](img/", f"]({plots}/"))
    for summary in sorted(s for split in ("eval", *SPLITS) for s in (RUNS / split).glob("*/summary.json")):
        out = dest / "evals" / summary.parent.relative_to(RUNS)
        out.mkdir(parents=True)
        shutil.copy2(summary, out / "summary.json")
        with open(summary.parent / "results.jsonl", "rb") as rows, gzip.GzipFile(out / "results.jsonl.gz", "wb", mtime=0) as gz:
            shutil.copyfileobj(rows, gz)
    print(f"results copied to {shown(dest)}")


def ship(model_dir: Path) -> None:
    from spacer_core.models import copy_model

    dest = ROOT / "assets" / "tiny-model"
    staged = dest.with_name("tiny-model.new")
    shutil.rmtree(staged, ignore_errors=True)
    copy_model(model_dir, staged)  # a bad model_dir stops here, the shipped model untouched
    shutil.rmtree(dest)
    staged.rename(dest)
    print(f"shipped {model_dir} -> {dest}")


if __name__ == "__main__":
    main()
