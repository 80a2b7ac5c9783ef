"""The spacer-tiny recipe's control split (recipes/spacer_tiny.py), on the bundled sim data."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from spacer_core.data import load_dataset_jsonl
from spacer_core.sim.scene import VOCABULARY

ROOT = Path(__file__).resolve().parent.parent
SIM = ROOT / "assets" / "sim"


@pytest.fixture(scope="module")
def recipe(load_recipe):
    return load_recipe("spacer_tiny")


def _write_eval(out: Path, items: list, completion: str) -> None:
    """A `spacer eval` output folder (rows and summary, as the runner makes them): ``completion`` for every item."""
    from spacer_core.eval import get_benchmark
    from spacer_core.eval.runner import make_row, summarize

    bench = get_benchmark("sim")
    result = type("Result", (), {"raw": completion, "seconds": 0.0, "prompt_tokens": 1, "completion_tokens": 1})()
    rows = [make_row(item, bench.score(item, completion), result) for item in items]
    out.mkdir(parents=True)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "summary.json").write_text(json.dumps(summarize(bench, rows, {})))


def _videos(split: Path) -> list[str]:
    return sorted({json.loads(line)["path"] for line in (split / "test.jsonl").read_text().splitlines()})


def test_swapped_split_shows_each_scene_another_scenes_video(recipe, tmp_path):
    out = tmp_path / "swapped"
    recipe.swapped_split(SIM, out)
    videos = _videos(SIM)
    assert len(videos) >= 2
    for own in videos:
        link = out / own
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # survives moving the folder
        assert link.resolve() != (SIM / own).resolve()
        assert link.resolve().parent == (SIM / own).resolve().parent
    assert {(out / v).resolve() for v in videos} == {(SIM / v).resolve() for v in videos}  # a permutation
    # questions, answers and true maps are the held-out split's own, and it loads as a dataset
    records = load_dataset_jsonl(out / "test.jsonl", out, out / "cognitive_map.jsonl")
    originals = load_dataset_jsonl(SIM / "test.jsonl", SIM, SIM / "cognitive_map.jsonl")
    assert [(r["problem"], r["solution"], r.get("cognitive_map")) for r in records] == [
        (r["problem"], r["solution"], r.get("cognitive_map")) for r in originals]


def test_swapped_split_is_rebuilt_when_the_test_split_changes(recipe, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "videos").symlink_to(SIM / "videos")
    shutil.copy2(SIM / "cognitive_map.jsonl", data)
    lines = (SIM / "test.jsonl").read_text().splitlines()
    (data / "test.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "swapped"
    recipe.swapped_split(data, out)
    first = _videos(data)[0]
    (out / "videos" / "stale.mp4").write_bytes(b"")  # a leftover from another data set
    one_scene = [line for line in lines if json.loads(line)["path"] == first]
    (data / "test.jsonl").write_text("\n".join(one_scene) + "\n")
    with pytest.raises(ValueError, match="at least 2 held-out videos, found 1"):
        recipe.swapped_split(data, out)
    (data / "test.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # one question fewer, every scene still there
    recipe.swapped_split(data, out)
    assert (out / "test.jsonl").read_text() == (data / "test.jsonl").read_text()
    assert not (out / "videos" / "stale.mp4").exists()
    assert (out / first).resolve() != (data / first).resolve()


@pytest.mark.parametrize("with_chance", [True, False])
def test_report_tables_from_real_eval_summaries(recipe, tmp_path, monkeypatch, with_chance):
    """The report reads `spacer eval` summaries: with the chance/prior they carry, and without it
    (summaries written before `spacer eval` computed it) the chance cells read "–"."""
    from spacer_core.eval import get_benchmark

    items = get_benchmark("sim").load(SIM)[:12]
    if not with_chance:
        for item in items:
            item.meta.pop("chance", None)
    monkeypatch.setattr(recipe, "ROOT", tmp_path)
    monkeypatch.setattr(recipe, "RUNS", tmp_path / "runs")
    every_name = " ".join(VOCABULARY)
    answers = {"sft": f"<think><map>{{}}</map>{every_name}</think><answer>A</answer>", "grpo": "<answer>B</answer>"}
    for name, completion in answers.items():
        _write_eval(tmp_path / "runs" / "eval" / name, items, completion)
    monkeypatch.setattr(recipe, "ARMS", {"grpo": []})
    if with_chance:  # a recipe that ran the vision warm-up reports what it taught
        held = {"scenes": 4, "tokens": 256, "object_tokens": 117, "class_loss": 0.81, "class_loss_prior": 1.02,
                "category_acc": 0.4614, "category_acc_commonest": 0.1453, "cell_acc": 0.0513, "cell_acc_commonest": 0.1368}
        (tmp_path / "runs" / "vision").mkdir()
        (tmp_path / "runs" / "vision" / "vision_warmup.json").write_text(json.dumps({"held_out": held}))
    if with_chance:  # an arm with a real rollout log (the bundled run) gets its curves drawn
        (tmp_path / "runs" / "grpo").mkdir()
        shutil.copy2(ROOT / "assets" / "runs" / "sg_rlvr_tiny" / "rollouts.jsonl", tmp_path / "runs" / "grpo")
    recipe.report({"sft": 60.0}, seeds=2, rl_line="RL arms: 2 steps.")
    table = (tmp_path / "runs" / "ablation.md").read_text()
    assert "RL arms: 2 steps." in table
    warmup = [line for line in table.splitlines() if line.startswith("Vision warm-up")]
    assert warmup == (["Vision warm-up, on the 117 tokens of the 4 held-out scenes that an object covers at least a "
                       "tenth of: category 46.1% right (always naming the commonest: 14.5%), map cell 5.1% (commonest: "
                       "13.7%); category-mix loss on all 256 tokens 0.81 (the training tokens' mean mix: 1.02)."]
                      if with_chance else [])
    summary = json.loads((tmp_path / "runs" / "eval" / "sft" / "summary.json").read_text())
    overall = next(line for line in table.splitlines() if line.startswith("| **overall**"))
    if with_chance:
        assert overall.startswith(f"| **overall** (VSI-Bench: mean of the tasks) | {summary['chance']['overall']:.1f} |")
    else:
        assert "chance" not in summary and overall.startswith("| **overall** (VSI-Bench: mean of the tasks) | – |")
    assert f"**{summary['overall']:.1f}**" in overall
    assert "| format-valid completions (%) |  | – | 100 | 0 |" in table  # untrained never ran; grpo has no <think>
    assert "| map: objects in their true cell / within one cell (%) |  | – | 0 / 0 | – |" in table  # sft's maps are empty
    # sft's reasoning names every category, so a relative-distance item's option named last, never A
    # (its answer); grpo's completion names no option
    assert "| multiple choice: answers that are the option the reasoning arrives at (%) |  | – | 0 | – |" in table
    assert (tmp_path / "docs" / "img" / "tiny_ablation.png").is_file()
    curves = tmp_path / "docs" / "img" / "tiny_ablation_rl.png"
    assert curves.is_file() == with_chance and ("![RL curves](img/tiny_ablation_rl.png)" in table) == with_chance
    # a derivation naming every category names the question's objects (as the word or its plural);
    # an answer without reasoning is not counted; questions that name no object (room size) are left out
    names = next(line for line in table.splitlines() if line.startswith("| derivations naming"))
    assert names == "| derivations naming every object the question names (%) |  | – | 100 | – |"  # grpo: no reasoning
    # the paired comparison of the two runs on the same 12 items
    paired = next(line for line in table.splitlines() if "−" in line and line.startswith("| SFT + GRPO"))
    sft, grpo = (json.loads((tmp_path / "runs" / "eval" / n / "summary.json").read_text())["overall"] for n in answers)
    assert paired.startswith(f"| SFT + GRPO (format + accuracy) − SFT only | 12 | {grpo - sft:+.1f} | ")

    recipe.publish(tmp_path / "published")
    published = tmp_path / "published"
    assert (published / "ablation.md").read_text() == table.replace("](img/", "](../docs/img/")
    assert "](../docs/img/tiny_ablation.png)" in (published / "ablation.md").read_text()
    for name in answers:
        rows = gzip.open(published / "evals" / "eval" / name / "results.jsonl.gz", "rt").read()
        assert rows == (tmp_path / "runs" / "eval" / name / "results.jsonl").read_text()
        assert (published / "evals" / "eval" / name / "summary.json").is_file()


def test_a_done_stage_run_with_other_arguments_stops_the_recipe(recipe, tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "RUNS", tmp_path)
    monkeypatch.setattr(recipe, "TIMINGS", tmp_path / "timings.json")
    done = tmp_path / "sft" / "final" / "config.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    recipe.stage(done, {}, "sft", "train", "--max_steps", "860")  # done before stages were recorded: adopted
    assert json.loads((tmp_path / "stages.json").read_text()) == {"sft": ["train", "--max_steps", "860"]}
    recipe.stage(done, {}, "sft", "train", "--max_steps", "860")  # the same: skipped
    with pytest.raises(SystemExit, match="stage sft was run with other arguments"):
        recipe.stage(done, {}, "sft", "train", "--max_steps", "1800")


@pytest.mark.slow
def test_a_killed_evaluation_stage_continues_where_it_stopped(recipe, tmp_path, monkeypatch):
    """The real `spacer eval` on two bundled items, killed after one row (summary never written)."""
    monkeypatch.setattr(recipe, "RUNS", tmp_path)
    monkeypatch.setattr(recipe, "TIMINGS", tmp_path / "timings.json")
    out = tmp_path / "eval" / "sft"
    args = ("eval", "--bench", "sim", "--out", str(out), "--no-progress", "--limit", "2", "--max-new-tokens", "16")
    recipe.stage(out / "summary.json", {}, "eval_sft", *args, unrecorded=("--resume",))
    rows = (out / "results.jsonl").read_text().splitlines()
    assert len(rows) == 2
    (out / "summary.json").unlink()
    (out / "results.jsonl").write_text(rows[0] + "\n")
    recipe.stage(out / "summary.json", {}, "eval_sft", *args, unrecorded=("--resume",))
    def answers(lines):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]

    again = (out / "results.jsonl").read_text().splitlines()
    assert again[0] == rows[0] and answers(again) == answers(rows)  # the first row kept, the second redone
    assert json.loads((tmp_path / "stages.json").read_text())["eval_sft"] == list(args)
    # killed again, and then the model is trained again: its rows are not continued
    (out / "summary.json").unlink()
    model = tmp_path / "sft" / "final" / "config.json"
    model.parent.mkdir(parents=True)
    model.write_text("{}")
    os.utime(model, (time.time() + 5, time.time() + 5))
    with pytest.raises(SystemExit, match="holds a killed run of an older"):
        recipe.stage(out / "summary.json", {}, "eval_sft", *args, unrecorded=("--resume",),
                     after=(out / "run.json", model))


def test_reuse_copies_another_runs_stages_with_the_commands_that_made_them(recipe, tmp_path, monkeypatch):
    source, runs = tmp_path / "runs" / "tiny-small", tmp_path / "runs" / "tiny-small-arith"
    monkeypatch.setattr(recipe, "ROOT", tmp_path)
    monkeypatch.setattr(recipe, "RUNS", runs)
    monkeypatch.setattr(recipe, "TIMINGS", runs / "timings.json")
    made = {"build": ["model", "tiny", "--out", "runs/tiny-small/untrained"],
            "vision": ["train", "--model", "runs/tiny-small/untrained", "--output_dir", "runs/tiny-small/vision"]}
    mine = {"build": ("model", "tiny", "--out", str(runs / "untrained")),
            "vision": ("train", "--model", str(runs / "untrained"), "--output_dir", str(runs / "vision"))}
    for folder in ("untrained", "vision/final"):
        (source / folder).mkdir(parents=True)
        (source / folder / "config.json").write_text(json.dumps({"folder": folder}))
    (source / "stages.json").write_text(json.dumps({**made, "sft": ["train"]}))
    (source / "timings.json").write_text(json.dumps({"build": 2.0, "vision": 200.0, "sft": 2700.0}))
    config = {"scenes": 1000, "seed": 1, "world": "small", "lookup_lines": True}
    # the source's manifest is older: written before the tinted_walls option, as it was made
    for folder, derivations in ((source, {}), (runs, {"cell_arithmetic": True, "tinted_walls": False})):
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "manifest.json").write_text(json.dumps({"config": {**config, **derivations}}))
    timings = {"synth": 170.0}
    recipe.reuse(source, mine, timings)
    assert json.loads((runs / "vision" / "final" / "config.json").read_text()) == {"folder": "vision/final"}
    assert (runs / "untrained" / "config.json").is_file()
    assert recipe.recorded_stages() == made  # as run there, and not the other run's SFT
    assert json.loads((runs / "timings.json").read_text()) == {"synth": 170.0, "build": 2.0, "vision": 200.0}
    with pytest.raises(SystemExit, match="its lookup stage was"):  # never run there
        recipe.reuse(source, {"lookup": ("train", "--output_dir", str(runs / "lookup"))}, timings)
    with pytest.raises(SystemExit, match="its vision stage was"):  # run there with other options
        recipe.reuse(source, {"vision": (*mine["vision"], "--max_steps", "9")}, timings)
    for other in ({"seed": 2}, {"tinted_walls": True}):
        (runs / "data" / "manifest.json").write_text(json.dumps({"config": {**config, **other}}))
        with pytest.raises(SystemExit, match="its scenes are not these"):
            recipe.reuse(source, mine, timings)


def test_options_that_cannot_go_together_are_refused(recipe, monkeypatch, capsys):
    for argv, message in ((["--arith-steps", "10"], "--arith-steps needs --cell-arithmetic"),
                          (["--seeds", "0", "--ship", "grpo"], "--ship grpo needs its RL arm"),
                          (["--nframes", "5"], "--nframes must be even"),
                          (["--option-lines", "--marks-steps", "10"], "--marks-steps needs --option-lines and --cell-arithmetic"),
                          (["--marks-alone"], "--marks-alone needs --marks-steps"),
                          (["--until", "arith"], "--until arith needs --arith-steps"),
                          (["--lookup-steps", "9", "--until", "lookup", "--ship", "sft"], "--until stops before")):
        monkeypatch.setattr("sys.argv", ["spacer_tiny.py", *argv])
        with pytest.raises(SystemExit):
            recipe.main()
        assert message in capsys.readouterr().err


class SFTStarted(Exception):
    pass


@pytest.fixture
def recipe_in_tmp(recipe, tmp_path, monkeypatch):
    """The recipe with tmp_path for its checkout (a copy of configs/; runs/ and docs/img made there),
    its folders (and its arms) put back after the test."""
    for name in ("RUNS", "DATA", "TEST_DATA", "SWAPPED", "TIMINGS", "PLOT", "ARMS"):
        monkeypatch.setattr(recipe, name, getattr(recipe, name))
    shutil.copytree(recipe.ROOT / "configs", tmp_path / "configs")
    monkeypatch.setattr(recipe, "ROOT", tmp_path)
    return recipe


@pytest.fixture
def stub_stages(recipe_in_tmp, monkeypatch):
    """The recipe in tmp_path with each `spacer` command replaced by one that leaves the output its
    stage waits for; returns the commands run. The SFT stage stops the recipe (SFTStarted, with its
    arguments), so a run without --until ends there."""
    recipe = recipe_in_tmp
    commands = []

    def run(*args, log=None, threads=None):
        out = Path(args[args.index("--out" if "--out" in args else "--output_dir") + 1])
        if out.name == "sft":
            raise SFTStarted(args)
        commands.append(out.name)
        if args[:2] == ("data", "synth"):
            out.mkdir(parents=True)
            (out / "test.jsonl").write_text("")
            (out / "manifest.json").write_text(json.dumps({"config": {"scenes": 1000, "seed": 1}}))
        else:
            done = out / "config.json" if args[0] == "model" else out / "final" / "config.json"
            done.parent.mkdir(parents=True)
            done.write_text("{}")
        return 1.0

    monkeypatch.setattr(recipe, "run", run)
    return commands


SMALL = ["spacer_tiny.py", "--world", "small", "--test-fraction", "0.05", "--lookup-steps", "10"]
MARKS = ["--cell-arithmetic", "--option-lines", "--arith-steps", "5", "--marks-steps", "5"]


@pytest.mark.parametrize("until, argv, stages", [
    ("vision", [], ["data", "untrained", "vision"]),
    ("lookup", [], ["data", "untrained", "vision", "lookup"]),
    ("marks", MARKS, ["data", "untrained", "vision", "lookup", "arith", "marks"]),
])
def test_until_stops_after_that_stage(recipe, stub_stages, monkeypatch, capsys, until, argv, stages):
    monkeypatch.setattr("sys.argv", [*SMALL, *argv, "--until", until])
    recipe.main()  # no SFT: it would raise
    assert stub_stages == stages
    assert f"stopped after the {until} stage" in capsys.readouterr().out


def test_until_arith_reuses_the_stages_before_it(recipe, stub_stages, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", [*SMALL, "--until", "lookup"])
    recipe.main()
    stub_stages.clear()
    monkeypatch.setattr("sys.argv", [*SMALL, "--cell-arithmetic", "--arith-steps", "5", "--until", "arith",
                                     "--reuse", str(tmp_path / "runs" / "tiny-small")])
    recipe.main()
    assert stub_stages == ["data", "arith"]  # its own data, then the arithmetic alone
    assert recipe.RUNS.name == "tiny-small-arith-drill"
    assert sorted(recipe.recorded_stages()) == ["arith", "build", "lookup", "synth", "vision"]


def test_sft_after_the_marks_stage_drills_the_marks(recipe, stub_stages, monkeypatch):
    """Without --until the chain goes on to SFT, which starts from the marks stage's model and keeps
    drilling the marks (arithmetic tasks with options), alone when --marks-alone."""
    for alone, tasks in (([], ["--lookup_arith_fraction", "0.5", "--lookup_option_marks"]),
                         (["--marks-alone"], ["--lookup_arith_fraction", "0.4", "--lookup_marks_fraction", "0.3",
                                              "--lookup_copy_fraction", "0.1", "--lookup_option_marks"])):
        monkeypatch.setattr("sys.argv", [*SMALL, *MARKS, *alone])
        with pytest.raises(SFTStarted) as sft:
            recipe.main()
        args = list(sft.value.args[0])
        assert args[args.index("--model") + 1] == str(recipe.RUNS / "marks" / "final")
        assert args[args.index("--lookup_world") + 2:] == tasks


def test_each_data_set_has_its_own_run_folder(recipe, monkeypatch):
    for name in ("RUNS", "DATA", "TEST_DATA", "SWAPPED", "TIMINGS", "PLOT", "ARMS"):
        monkeypatch.setattr(recipe, name, getattr(recipe, name))  # configure sets them: put them back after
    recipe.configure("small", arithmetic=True)
    assert (recipe.RUNS.name, recipe.DATA, recipe.PLOT) == ("tiny-small-arith", recipe.RUNS / "data",
                                                            "tiny_ablation_small_arith.png")
    recipe.configure("small", walls=True, nframes=16)
    assert (recipe.RUNS.name, recipe.PLOT) == ("tiny-small-walls-f16", "tiny_ablation_small_walls_f16.png")
    recipe.configure("small", walls=True, arithmetic=True, drill=True, nframes=16, options=True, marks=True)
    assert recipe.RUNS.name == "tiny-small-walls-arith-drill-options-marks-f16"
    recipe.configure("small", walls=True, arithmetic=True, drill=True, nframes=16, options=True, marks=True, alone=True)
    assert recipe.RUNS.name == "tiny-small-walls-arith-drill-options-marks-alone-f16"
    recipe.configure("small", walls=True, nframes=16, runs="tiny-small-v7-rl", test_data=SIM)
    assert (recipe.RUNS.name, recipe.DATA, recipe.TEST_DATA, recipe.PLOT) == (
        "tiny-small-v7-rl", recipe.RUNS / "data", SIM, "tiny_ablation_small_v7_rl.png")
    recipe.configure("vsi")
    assert (recipe.RUNS.name, recipe.PLOT, recipe.TEST_DATA) == ("tiny", "tiny_ablation.png", recipe.DATA)


def test_report_without_arms_compares_sft_with_the_reused_runs(recipe, tmp_path, monkeypatch):
    """--seeds 0 --reuse RUN: the table has the reused run's SFT beside this SFT and no arm columns,
    and the paired difference of the two SFT models on the same items."""
    from spacer_core.eval import get_benchmark

    items = get_benchmark("sim").load(SIM)[:12]
    monkeypatch.setattr(recipe, "ROOT", tmp_path)
    monkeypatch.setattr(recipe, "RUNS", tmp_path / "runs")
    for name, completion in {"sft": "<answer>A</answer>", "base_sft": "<answer>B</answer>"}.items():
        _write_eval(tmp_path / "runs" / "eval" / name, items, completion)
    recipe.report({}, seeds=0, rl_line="No RL arms (--seeds 0).")
    table = (tmp_path / "runs" / "ablation.md").read_text()
    head = next(line for line in table.splitlines() if line.startswith("| question type"))
    assert head == "| question type | chance/prior | untrained | the --reuse run's SFT | SFT only |"
    sft, base = (json.loads((tmp_path / "runs" / "eval" / n / "summary.json").read_text())["overall"]
                 for n in ("sft", "base_sft"))
    assert f"| SFT only − the --reuse run's SFT | 12 | {sft - base:+.1f} | " in table
    assert "| arm | seed 0" not in table  # no seed table


@pytest.fixture
def sft_model(tmp_path) -> Path:
    """An SFT checkpoint trained elsewhere: the shipped tiny model, reading 16 frames a clip."""
    model = tmp_path / "elsewhere" / "sft" / "final"
    shutil.copytree(ROOT / "assets" / "tiny-model", model)
    (model / "spacer_video.json").write_text(json.dumps({"nframes": 16, "min_pixels": 3136, "max_pixels": 12544}))
    return model


def _sft_from(model: Path) -> list[str]:
    """The recipe's command line for an ablation from ``model`` on the bundled sim data."""
    return ["spacer_tiny.py", "--world", "small", "--runs", "v7", "--sft-from", str(model),
            "--train-file", str(SIM / "train.jsonl"), "--test-data", str(SIM), "--nframes", "16"]


def test_sft_from_refuses_what_it_would_ignore_or_get_wrong(recipe, stub_stages, sft_model, tmp_path, monkeypatch,
                                                            capsys):
    no_manifest = tmp_path / "not_synth"
    no_manifest.mkdir()
    argv = _sft_from(sft_model)
    for args, message in (
            (["spacer_tiny.py", "--sft-from", str(sft_model), "--runs", "v7"],
             "--sft-from needs --train-file, --test-data: it makes no data of its own"),
            (argv[:3] + argv[5:], "--sft-from needs --runs: "),
            ([*argv, "--lookup-steps", "10", "--until", "lookup"],
             "--sft-from skips the stages up to SFT: --lookup-steps, --until would be ignored"),
            ([*argv, "--cell-arithmetic", "--reuse", "runs/tiny-small", "--sft-steps", "9"],
             "--cell-arithmetic, --reuse, --sft-steps would be ignored"),
            (argv[:-2], "reads 16 frames a clip (its spacer_video.json): pass --nframes 16"),  # no --nframes 16
            ([*argv, "--world", "vsi"], f"{SIM} holds scenes of the small world, not of --world vsi"),
            ([*argv, "--sft-from", str(tmp_path)], "not a checkpoint folder (no config.json)"),
            ([*argv, "--test-data", str(no_manifest)], "not_synth: no manifest.json"),
            ([*argv, "--rl-tokens", "0"], "--rl-tokens at least 1"),
            ([*argv, "--arms", "grpo,ppo"], "--arms: unknown arm(s) ppo"),
            ([*argv, "--arms", "grpo", "--ship", "sg_rlvr"], "--ship sg_rlvr: that arm is not among --arms")):
        monkeypatch.setattr("sys.argv", args)
        with pytest.raises(SystemExit) as refused:
            recipe.main()
        assert message in capsys.readouterr().err + str(refused.value.code)
    assert stub_stages == [] and not (tmp_path / "runs").exists()  # refused before anything ran or was made


def test_sft_from_runs_the_ablation_from_that_model(recipe_in_tmp, sft_model, tmp_path, monkeypatch, capsys):
    """The SFT model copied in by the real `spacer model copy`, no stage before it and no untrained
    model; the arms train on --train-file within --rl-tokens, every model is evaluated on
    --test-data. The other `spacer` commands leave what their stage waits for (an evaluation: a
    fixed answer to each item it would evaluate), so the real report and --results are made."""
    from spacer_core.cli import main as spacer
    from spacer_core.eval import get_benchmark

    recipe, commands = recipe_in_tmp, []

    def run(*args, log=None, threads=None):
        commands.append(args)
        if args[:2] == ("model", "copy"):
            assert spacer(list(args)) == 0
        elif args[0] == "train":
            done = Path(args[args.index("--output_dir") + 1]) / "final" / "config.json"
            done.parent.mkdir(parents=True)
            done.write_text("{}")
        else:
            data = Path(args[args.index("--data-root") + 1]) if "--data-root" in args else SIM
            items = get_benchmark("sim").load(data)[:int(args[args.index("--limit") + 1])]
            _write_eval(Path(args[args.index("--out") + 1]), items, "<answer>A</answer>")
        return 1.0

    monkeypatch.setattr(recipe, "run", run)
    argv = [*_sft_from(sft_model), "--rl-tokens", "640", "--rl-steps", "2", "--seeds", "2", "--eval-limit", "3",
            "--max-new-tokens", "640", "--results", str(tmp_path / "published")]
    monkeypatch.setattr("sys.argv", argv)
    runs = tmp_path / "runs" / "v7"
    (runs / "grpo" / "checkpoint-25").mkdir(parents=True)  # a run cut short by an earlier invocation
    (runs / "grpo" / "checkpoint-25" / "trainer_state.json").write_text("{}")
    recipe.main()
    assert commands[0] == ("model", "copy", str(sft_model), str(runs / "sft" / "final"))
    assert (runs / "sft" / "final" / "model.safetensors").read_bytes() == (sft_model / "model.safetensors").read_bytes()
    assert recipe.recorded_stages()["sft"] == ["model", "copy", "elsewhere/sft/final", "runs/v7/sft/final"]
    trained = {c[c.index("--output_dir") + 1]: c for c in commands if c[0] == "train"}
    assert sorted(Path(out).name for out in trained) == ["grpo", "grpo_map", "grpo_map_seed1", "grpo_seed1",
                                                         "sg_rlvr", "sg_rlvr_seed1"]  # the RL arms alone
    for c in trained.values():
        assert c[c.index("--config") + 1] == "configs/tiny/rl.yaml"
        assert c[c.index("--model") + 1] == str(runs / "sft" / "final")
        assert c[c.index("--train_file") + 1] == str(SIM / "train.jsonl")
        assert c[c.index("--nframes") + 1] == "16"
        budget = c.index("--max_completion_length")  # rl.yaml's window, 90-144 of 288, scaled
        assert c[budget:budget + 6] == ("--max_completion_length", "640", "--length_low", "200", "--length_high", "320")
        # checkpoints as it goes, and the one with a checkpoint continues from it
        saves = ("--save_strategy", "steps", "--save_steps", str(recipe.RL_SAVE_STEPS))
        assert c[-5:] == (*saves, "--resume") if Path(c[c.index("--output_dir") + 1]).name == "grpo" else c[-4:] == saves
    recorded = recipe.recorded_stages()["rl_grpo"]  # what cannot change the result is not recorded
    assert "--resume" not in recorded and "--save_steps" not in recorded and recorded[-1] == "false"  # the arm's flags last
    evaluated = {Path(c[c.index("--out") + 1]).relative_to(runs): c for c in commands if c[0] == "eval"}
    assert {out.name for out in evaluated} == {"sft", *(Path(out).name for out in trained)}  # no untrained
    assert len(commands) == 1 + len(trained) + len(evaluated)
    for out, c in evaluated.items():
        data = {"eval": SIM, "eval_given_map": SIM, "eval_swapped": runs / "data_swapped"}.get(out.parent.name)
        if data:
            assert (c[c.index("--data-root") + 1], c[c.index("--max-new-tokens") + 1]) == (str(data), "640")
        else:
            assert out.parent.name == "eval_sample" and "--data-root" not in c
    assert (runs / "data_swapped" / "test.jsonl").read_text() == (SIM / "test.jsonl").read_text()

    table = (runs / "ablation.md").read_text()
    assert ("RL arms: 2 steps of 2 prompts × 4 rollouts of up to 640 tokens each, learning rate 0.0001, 2 seed(s), "
            "all from the SFT model elsewhere/sft/final.") in table
    head = next(line for line in table.splitlines() if line.startswith("| question type"))
    assert head == ("| question type | chance/prior | SFT only | SFT + GRPO (format + accuracy) | SFT + GRPO + map "
                    "reward | SFT + SG-RLVR (map + temporal + length) |")
    # an answer alone has no reasoning to name the questions' objects: not counted (the summaries' count)
    assert "| derivations naming every object the question names (%) |  | – | – | – | – |" in table
    # arms against each other: intervals over the items, and over items and seeds (each arm's two)
    assert ("| SFT + SG-RLVR (map + temporal + length) − SFT + GRPO (format + accuracy) | 3 | +0.0 | +0.0 to +0.0 "
            "| +0.0 to +0.0 |") in table
    assert (tmp_path / "published" / "ablation.md").is_file()
    assert (tmp_path / "published" / "evals" / "eval_swapped" / "sg_rlvr" / "summary.json").is_file()

    commands.clear()
    recipe.main()  # every stage done: skipped
    assert commands == []
    other = tmp_path / "other"
    shutil.copytree(sft_model, other)
    monkeypatch.setattr("sys.argv", [*argv, "--sft-from", str(other)])
    with pytest.raises(SystemExit, match="stage sft was run with other arguments"):
        recipe.main()
    assert commands == []
    # the same path with other weights (a model shipped again since) is refused too
    weights = sft_model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + bytes([weights.read_bytes()[-1] ^ 1]))
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit):
        recipe.main()
    assert "is an older copy of elsewhere/sft/final (the weights differ)" in capsys.readouterr().err
    assert commands == []


def test_arms_and_rl_lr_choose_what_is_trained(recipe_in_tmp, sft_model, monkeypatch):
    """--arms trains (and reports) those arms alone; --rl-lr is each arm's recorded learning rate. The
    overlapping stages' wall time is saved as each of them ends."""
    from spacer_core.cli import main as spacer
    from spacer_core.eval import get_benchmark

    recipe, trained = recipe_in_tmp, []

    def run(*args, log=None, threads=None):
        if args[:2] == ("model", "copy"):
            assert spacer(list(args)) == 0
            return 1.0
        out = Path(args[args.index("--output_dir" if args[0] == "train" else "--out") + 1])
        if args[0] == "train":
            if out.name == "grpo_seed1":  # a later stage: the wall time so far is already on disk (a kill keeps it)
                assert json.loads(recipe.TIMINGS.read_text())["rl_and_eval_wall"] > 0
            trained.append(args)
            (out / "final").mkdir(parents=True)
            (out / "final" / "config.json").write_text("{}")
        else:
            _write_eval(out, get_benchmark("sim").load(SIM)[:3], "<answer>A</answer>")
        return 1.0

    monkeypatch.setattr(recipe, "run", run)
    monkeypatch.setattr("sys.argv", [*_sft_from(sft_model), "--arms", "grpo", "--rl-lr", "2e-5", "--seeds", "2"])
    recipe.main()
    assert [Path(c[c.index("--output_dir") + 1]).name for c in trained] == ["grpo", "grpo_seed1"]
    for c in trained:
        assert c[c.index("--learning_rate") + 1] == "2e-05"
    recorded = recipe.recorded_stages()["rl_grpo"]  # another learning rate is another run
    assert recorded[recorded.index("--learning_rate") + 1] == "2e-05"
    table = (recipe.RUNS / "ablation.md").read_text()
    assert "learning rate 2e-05, 2 seed(s)" in table
    head = next(line for line in table.splitlines() if line.startswith("| question type"))
    assert head == "| question type | chance/prior | SFT only | SFT + GRPO (format + accuracy) |"


@pytest.mark.slow
def test_sft_from_end_to_end_at_toy_size(recipe_in_tmp, sft_model, tmp_path, monkeypatch):
    """The real commands: one RL step of one arm from the copied model on the bundled data, and the
    evaluations of both models on two held-out items (the bundled sample's `--limit 64`, the same
    for any --sft-from, left out)."""
    recipe = recipe_in_tmp
    monkeypatch.setattr(recipe, "ARMS", {"sg_rlvr": []})  # the arm with every reward: the length window too
    monkeypatch.setattr(recipe, "SPLITS", ("eval_swapped", "eval_given_map"))
    monkeypatch.setattr("sys.argv", [*_sft_from(sft_model), "--rl-tokens", "32", "--rl-steps", "1", "--rl-prompts", "1",
                                     "--seeds", "1", "--eval-limit", "2", "--max-new-tokens", "32"])
    recipe.main()
    runs = tmp_path / "runs" / "v7"
    assert json.loads((runs / "sg_rlvr" / "final" / "spacer_video.json").read_text())["nframes"] == 16
    assert json.loads((runs / "sg_rlvr" / "spacer_args.json").read_text())["train_file"] == str(SIM / "train.jsonl")
    metrics = json.loads((runs / "sg_rlvr" / "metrics.jsonl").read_text().splitlines()[0])
    assert metrics["completions/max_length"] <= 32  # --rl-tokens (the shipped model writes hundreds)
    for split in ("eval", "eval_swapped", "eval_given_map"):
        for name in ("sft", "sg_rlvr"):
            assert json.loads((runs / split / name / "summary.json").read_text())["n"] == 2
    assert sorted(recipe.recorded_stages()) == ["eval_given_map_sft", "eval_given_map_sg_rlvr", "eval_sft",
                                                "eval_sg_rlvr", "eval_swapped_sft", "eval_swapped_sg_rlvr",
                                                "rl_sg_rlvr", "sft"]
    head = next(line for line in (runs / "ablation.md").read_text().splitlines() if line.startswith("| question type"))
    assert head == "| question type | chance/prior | SFT only | SFT + SG-RLVR (map + temporal + length) |"
