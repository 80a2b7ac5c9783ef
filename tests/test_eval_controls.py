"""`spacer eval --control`: swap shows every item another scene's video, never its own; shuffle
permutes the frames and keeps their count; first-frame repeats one frame; a run records its control
and resumes only under the same one; `spacer eval rescore` scores a finished run and its controls again."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from spacer_core.cli import build_parser, main
from spacer_core.eval import Item, get_benchmark, read_rows
from spacer_core.eval.base import mean_by
from spacer_core.eval.controls import CONTROLS, Control, ControlError, first_frame, shuffled, swap_plan
from spacer_core.video import VideoSettings

SMALL = VideoSettings(nframes=8, min_pixels=28 * 28 * 4, max_pixels=112 * 112)


@pytest.fixture(scope="module")
def items():
    bench = get_benchmark("sim")
    return bench.load(bench.default_root)  # the bundled sample: 9 held-out scenes


def test_swap_shows_another_scenes_video_and_never_its_own(items):
    plan = swap_plan(items, seed=0)
    assert set(plan) == {it.id for it in items}
    assert all(plan[it.id].video != it.video for it in items)
    videos = {it.video for it in items}
    assert len(videos) >= 2 and {other.video for other in plan.values()} == videos  # a derangement of the videos
    same = {it.video: plan[it.id].video for it in items}
    assert all(same[it.video] == plan[it.id].video for it in items)  # one scene, one replacement
    assert swap_plan(items, seed=0) == plan  # seeded


def test_swap_keeps_to_one_source_and_needs_two_videos():
    def item(i, dataset, video):
        return Item(id=str(i), question="q", ground_truth="1", question_type="object_counting",
                    problem_type="numerical", video=video, meta={"dataset": dataset})

    items = [item(0, "scannet", "a.mp4"), item(1, "scannet", "b.mp4"), item(2, "arkit", "c.mp4"),
             item(3, "arkit", "d.mp4"), item(4, "arkit", "c.mp4")]
    plan = swap_plan(items)
    assert {plan["0"].video, plan["1"].video} == {"a.mp4", "b.mp4"}
    assert plan["2"].video == plan["4"].video == "d.mp4" and plan["3"].video == "c.mp4"
    with pytest.raises(ControlError, match="source 'scannet' has 1"):
        swap_plan(items[:1] + items[2:])


def test_shuffle_and_first_frame(items):
    clip = get_benchmark("sim").clip(items[0], SMALL)
    mixed = shuffled(clip, items[0].id, seed=0)
    assert mixed.num_frames == clip.num_frames and mixed.indices != clip.indices
    assert sorted(mixed.indices) == sorted(clip.indices)
    order = [clip.indices.index(i) for i in mixed.indices]
    assert np.array_equal(mixed.frames, clip.frames[order])
    assert shuffled(clip, items[0].id, seed=0).indices == mixed.indices  # seeded
    still = first_frame(clip)
    assert still.num_frames == clip.num_frames and all(np.array_equal(f, clip.frames[0]) for f in still.frames)
    assert list(still.timestamps) == list(clip.timestamps)


def test_control_clip_of_a_swap_is_the_other_scenes(items):
    control = Control("swap", items, seed=0)
    bench = get_benchmark("sim")
    shown = control.clip(bench, items[0], SMALL)
    assert shown.path == control.swapped[items[0].id].video != items[0].video
    with pytest.raises(ControlError, match="control must be one of"):
        Control("no-video", items)
    assert Control("blind", items).clip(bench, items[0], SMALL) is None


def test_the_command_runs_controls_beside_the_normal_run_with_gains(tmp_path, capsys):
    # the first 20 items of the bundled sample span two scenes
    args = ["eval", "--bench", "sim", "--limit", "20", "--max-new-tokens", "2", "--batch-size", "10", "--no-progress",
            "--out", str(tmp_path)]
    assert main([*args, "--control", "swap", "--control", "blind"]) == 0
    assert "own-video gain (normal − swap):" in capsys.readouterr().out
    run = json.loads((tmp_path / "controls" / "swap" / "run.json").read_text())
    assert run["control"] == {"name": "swap", "seed": 0} and "control" not in json.loads((tmp_path / "run.json").read_text())
    plan = json.loads((tmp_path / "controls" / "swap" / "swap.json").read_text())
    assert len(plan) == 20 and all(video.endswith(".mp4") for video in plan.values())
    summary = json.loads((tmp_path / "summary.json").read_text())
    report = summary["controls"]
    assert set(report["scores"]) == {"normal", "swap", "blind"} and set(report["gains"]) == {"vision gain", "own-video gain"}
    swap = read_rows(tmp_path / "controls" / "swap" / "results.jsonl")
    normal = read_rows(tmp_path / "results.jsonl")
    by_hand = summary["overall"] - get_benchmark("sim").aggregate(swap)["overall"]
    assert report["gains"]["own-video gain"]["overall"] == pytest.approx(by_hand) and len(normal) == 20
    lo, hi = report["gains"]["own-video gain"]["overall_ci95"]
    assert lo <= by_hand <= hi
    assert "## Controls" in (tmp_path / "summary.md").read_text()
    assert main(["eval", "compare", str(tmp_path), str(tmp_path)]) == 0  # the gains side by side
    assert "| *own-video gain* |" in capsys.readouterr().out
    # resume continues each control in its own folder; a changed control seed is refused
    assert main([*args, "--control", "swap", "--resume"]) == 0
    capsys.readouterr()
    assert main([*args, "--control", "swap", "--resume", "--control-seed", "1"]) == 2
    assert "setup changed (control:" in capsys.readouterr().err


def test_the_command_offers_every_control():
    eval_parser = build_parser()._subparsers._group_actions[0].choices["eval"]
    choices = next(a.choices for a in eval_parser._actions if a.dest == "control")
    assert ("none", *choices) == CONTROLS


def test_blind_inputs_hold_no_vision_tokens(tiny, items):
    from spacer_core.infer import Query, SpatialReasoner

    reasoner = SpatialReasoner(*tiny, temperature=0)
    item = items[0]
    _, _, blind = reasoner._inputs([Query(None, item.question, item.options)])
    _, _, seen = reasoner._inputs([Query(get_benchmark("sim").clip(item, SMALL), item.question, item.options)])
    vision = [tiny[1].tokenizer.convert_tokens_to_ids(t) for t in ("<|video_pad|>", "<|vision_start|>")]
    assert not any(t in vision for t in blind["input_ids"][0].tolist()) and "pixel_values_videos" not in blind
    assert all(t in seen["input_ids"][0].tolist() for t in vision) and "pixel_values_videos" in seen
    result = reasoner.answer_batch([Query(None, item.question, item.options)], max_new_tokens=4)[0]
    assert (result.frames, result.frame_size, result.timestamps) == (0, (0, 0), [])


def test_paired_gain_pools_seeds_on_the_items_every_run_scored(items):
    """Each side may be several runs (seeds): the difference is the benchmark's aggregate of all of
    one side's rows minus the other's, on the items every run scored, inside its bootstrap interval."""
    from spacer_core.eval.controls import paired_gain

    bench = get_benchmark("sim")
    rng = np.random.default_rng(0)

    def run(p_right, skip=()):
        return [{"id": it.id, "question_type": it.question_type, "score": float(rng.random() < p_right)}
                for it in items if it.id not in skip]

    skipped = {items[0].id}
    mine, theirs = [run(0.8), run(0.7, skip=skipped)], [run(0.3)]
    gain = paired_gain(bench, mine, theirs)
    shared = [it.id for it in items if it.id not in skipped]
    assert gain["items"] == len(shared)
    keep = [[r for r in rows if r["id"] in shared] for rows in [*mine, *theirs]]
    by_hand = bench.aggregate(keep[0] + keep[1])["overall"] - bench.aggregate(keep[2])["overall"]
    assert gain["overall"] == pytest.approx(by_hand) and by_hand > 20
    mine_types, theirs_types = (mean_by(rows, lambda r: r["question_type"]) for rows in (keep[0] + keep[1], keep[2]))
    assert gain["per_type"] == {t: {"gain": pytest.approx(mine_types[t] - theirs_types[t]), "ci95": gain["per_type"][t]["ci95"]}
                                for t in mine_types}
    assert all(lo <= g["gain"] <= hi for g in gain["per_type"].values() for lo, hi in [g["ci95"]])
    lo, hi = gain["overall_ci95"]
    assert lo <= by_hand <= hi and lo > 0
    with pytest.raises(ValueError, match="share no scored item"):
        paired_gain(bench, [run(0.5)], [[]])


def test_paired_gain_runs_too_covers_the_seeds_spread(items):
    """With ``runs_too`` the resamples draw the runs as well: seeds that agree leave the interval as
    the items alone make it, seeds that disagree widen it, and with ``paired_runs`` the runs are
    drawn seed by seed (the same seeds on both sides: no difference, no spread). The items-only
    interval stays what it was without ``runs_too`` (published intervals are reproduced)."""
    from spacer_core.eval.controls import paired_gain

    bench = get_benchmark("sim")
    rng = np.random.default_rng(1)

    def run(p_right):
        return [{"id": it.id, "question_type": it.question_type, "score": float(rng.random() < p_right)} for it in items]

    one, other = run(0.7), run(0.4)
    agreeing = paired_gain(bench, [one] * 3, [other] * 3, runs_too=True)
    assert agreeing["overall_ci95_runs"] == agreeing["overall_ci95"]
    spread = [run(0.95), run(0.1), run(0.95)]
    disagreeing = paired_gain(bench, spread, [other] * 3, runs_too=True)
    (lo, hi), (lo_runs, hi_runs) = disagreeing["overall_ci95"], disagreeing["overall_ci95_runs"]
    assert hi_runs - lo_runs > 1.5 * (hi - lo)
    assert lo_runs <= disagreeing["overall"] <= hi_runs
    assert disagreeing["overall_ci95"] == paired_gain(bench, spread, [other] * 3)["overall_ci95"]
    same = paired_gain(bench, spread, spread, runs_too=True, paired_runs=True)
    assert same["overall_ci95_runs"] == [0.0, 0.0]
    unpaired = paired_gain(bench, spread, spread, runs_too=True)  # drawn apart: the seeds' spread shows
    assert unpaired["overall_ci95_runs"][1] - unpaired["overall_ci95_runs"][0] > 10
    against_one = paired_gain(bench, spread, [other], runs_too=True)  # one run: only mine are drawn
    (lo_one, hi_one) = against_one["overall_ci95"]
    assert against_one["overall_ci95_runs"][1] - against_one["overall_ci95_runs"][0] > 1.5 * (hi_one - lo_one)
    assert "overall_ci95_runs" not in paired_gain(bench, [one], [other])
    with pytest.raises(ValueError, match="as many on each side, got 3 and 1"):
        paired_gain(bench, spread, [other], runs_too=True, paired_runs=True)


def test_rescore_gives_old_rows_the_current_scoring_and_its_controls_too(tmp_path, capsys):
    args = ["eval", "--bench", "sim", "--limit", "20", "--max-new-tokens", "40", "--batch-size", "10", "--no-progress",
            "--given-map", "--control", "swap", "--out", str(tmp_path)]
    assert main(args) == 0
    files = ["results.jsonl", "summary.json", "controls/swap/results.jsonl", "controls/swap/summary.json"]
    scored = {f: (tmp_path / f).read_text() for f in files}
    assert any("concludes" in row for row in read_rows(tmp_path / "results.jsonl"))
    # as a version that did not count conclusions wrote them, with a score that parser got wrong
    for folder in (tmp_path, tmp_path / "controls" / "swap"):
        rows = [{k: v for k, v in row.items() if k != "concludes"} for row in read_rows(folder / "results.jsonl")]
        rows[0]["score"] = 1 - rows[0]["score"]
        (folder / "results.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        summary = json.loads((folder / "summary.json").read_text())
        (folder / "summary.json").write_text(json.dumps({**summary, "conclusions": None}))
    assert main(["eval", "rescore", str(tmp_path)]) == 0
    assert "scored again" in capsys.readouterr().out
    assert {f: (tmp_path / f).read_text() for f in files} == scored
    assert main(["eval", "compare", str(tmp_path), str(tmp_path / "controls" / "swap")]) == 0
    table = capsys.readouterr().out
    assert "| *right conclusions (%)* |" in table and "| *map: objects in their cell (%)* |" in table
    # published rows (docs/results: results.jsonl.gz) are scored again in place; a published control
    # keeps its rows alone (recipes/eval_model.sh), and still counts in the run's summary
    (tmp_path / "controls" / "swap" / "summary.json").unlink()
    for folder in (tmp_path, tmp_path / "controls" / "swap"):
        rows = [{k: v for k, v in row.items() if k != "concludes"} for row in read_rows(folder / "results.jsonl")]
        rows[0]["score"] = 1 - rows[0]["score"]
        (folder / "results.jsonl.gz").write_bytes(gzip.compress(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(), mtime=0))
        (folder / "results.jsonl").unlink()
    assert main(["eval", "rescore", str(tmp_path)]) == 0
    assert not (tmp_path / "results.jsonl").exists()
    for folder in ("", "controls/swap/"):
        assert read_rows(tmp_path / f"{folder}results.jsonl.gz") == [
            json.loads(line) for line in scored[f"{folder}results.jsonl"].splitlines()]
    assert (tmp_path / "summary.json").read_text() == scored["summary.json"]
    assert main(["eval", "rescore", str(tmp_path / "nothing")]) == 2
    assert "nothing: no summary.json; rescore needs a finished run" in capsys.readouterr().err
