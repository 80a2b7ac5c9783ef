"""The eval runner on the sim benchmark: exact rows and totals, error rows, resume after SIGKILL,
shards merged by rank 0, `spacer eval` and `spacer eval compare`."""

from __future__ import annotations

import copy
import gzip
import json
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from spacer_core.cli import main
from spacer_core.cogmap import map_text
from spacer_core.commands.eval import BENCHMARK_NAMES
from spacer_core.eval import BENCHMARKS, RunError, compare_runs, evaluate, get_benchmark, read_rows
from spacer_core.eval.runner import merge_shards
from spacer_core.infer import SpatialReasoner
from spacer_core.models import TINY_MODEL_DIR
from tests.test_eval_metrics import official_aggregate, official_score

N = 8  # items in the reference run
GEN = {"max_new_tokens": 6}
TIMING = ("seconds",)
# the shipped tiny model reads clips at its own frame count (its spacer_video.json)
SHIPPED_FRAMES = json.loads((TINY_MODEL_DIR / "spacer_video.json").read_text())["nframes"]


class ForceText(LogitsProcessor):
    """Greedy decoding writes ``ids`` and then EOS, whatever the model would say (the position is
    found from how much of ``ids`` the sequence already ends with)."""

    def __init__(self, ids: list[int], eos: int):
        self.ids = [*ids, eos]

    def __call__(self, input_ids, scores):
        tail = input_ids[0].tolist()
        done = max(k for k in range(len(self.ids)) if k == 0 or tail[-k:] == self.ids[:k])
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.ids[done]] = 0.0
        return forced


@pytest.fixture(scope="module")
def items(sim_root):
    return get_benchmark("sim").load(sim_root)


@pytest.fixture(scope="module")
def reasoner(scrambled_tiny_dir):
    return SpatialReasoner.from_pretrained(scrambled_tiny_dir, temperature=0)


@pytest.fixture(scope="module")
def reference(items, reasoner, tmp_path_factory):
    """An uninterrupted run over the first N items, one at a time."""
    out = tmp_path_factory.mktemp("reference")
    summary = evaluate(get_benchmark("sim"), items[:N], reasoner, out, gen=GEN, progress=False)
    return read_rows(out / "results.jsonl"), summary


def strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def totals(summary):
    return {k: summary[k] for k in ("overall", "per_type", "counts", "tasks", "n", "errors", "map", "chance")}


def test_rows_hold_every_item_scored_exactly(items, tiny, sim_root, tmp_path):
    reasoner = SpatialReasoner(*tiny, temperature=0)
    scenes = {Path(it.video).stem for it in items}
    assert len(scenes) == 1  # one test scene: one true map for every item
    maps = [json.loads(line) for line in (sim_root / "cognitive_map.jsonl").read_text().splitlines()]
    true_map = next(m["cognitive_map"] for m in maps if m["video_id"] in scenes)
    text = f"<think><map>{json.dumps(true_map)}</map></think><answer>3</answer>"
    ids = reasoner.processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    force = LogitsProcessorList([ForceText(ids, eos=2)])
    summary = evaluate(get_benchmark("sim"), items[:6], reasoner, tmp_path, batch_size=6, progress=False,
                       gen={"max_new_tokens": len(ids) + 4, "logits_processor": force},
                       setup={"model": "tiny"})
    rows = read_rows(tmp_path / "results.jsonl")
    assert [r["id"] for r in rows] == [it.id for it in items[:6]]
    for row, item in zip(rows, items, strict=False):
        assert row["raw"] == text and row["completion_tokens"] == len(ids) + 1  # EOS counted
        assert row["prediction"] == "3" and row["ground_truth"] == item.ground_truth
        assert row["score"] == pytest.approx(official_score(text, item.ground_truth, item.question_type))
        assert row["map_score"] == pytest.approx(1.0) and row["error"] is None
    assert any(r["score"] > 0 for r in rows) and any(r["score"] == 0 for r in rows)
    assert summary["overall"] == pytest.approx(official_aggregate(rows))
    assert summary["map"] == {"mean": pytest.approx(1.0), "count": 6,
                              "cells": {"objects": sum(len(p) for it in items[:6] for p in it.true_map.values()),
                                        "exact": 1.0, "near": 1.0}}
    assert summary["n"] == 6 and summary["errors"] == 0
    assert summary["at_budget"] == {"max_new_tokens": len(ids) + 4, "count": 0, "by_type": {}}  # each ended with EOS
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["overall"] == pytest.approx(summary["overall"])
    assert saved["setup"]["mode"] == "thinking_map" and saved["setup"]["video"]["nframes"] == SHIPPED_FRAMES
    assert "logits_processor" not in saved["setup"]["generation"]
    md = (tmp_path / "summary.md").read_text()
    assert f"**{summary['overall']:.1f}**" in md and "object_counting" in md and "Mean map score 1.000" in md
    assert "objects, 100% are in their cell and 100% within one cell." in md


def test_unreadable_videos_become_error_rows(items, tiny, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    chosen = [copy.copy(it) for it in items[:3]]
    chosen[1].video = str(broken)
    summary = evaluate(get_benchmark("sim"), chosen, SpatialReasoner(*tiny, temperature=0), tmp_path / "run",
                       gen={"max_new_tokens": 2}, progress=False)
    rows = read_rows(tmp_path / "run" / "results.jsonl")
    assert [r["error"] is None for r in rows] == [True, False, True]
    assert "broken.mp4" in rows[1]["error"] and rows[1]["score"] == 0.0
    assert (summary["n"], summary["errors"]) == (3, 1)
    # The two readable items stopped at the 2-token budget, and the summary says so.
    cut = Counter([items[0].question_type, items[2].question_type])
    assert summary["at_budget"] == {"max_new_tokens": 2, "count": 2, "by_type": dict(sorted(cut.items()))}
    assert "| stopped at the token budget | 2 of the completions (" in (tmp_path / "run" / "summary.md").read_text()


def test_results_need_resume_and_the_same_setup(items, tiny, tmp_path):
    reasoner = SpatialReasoner(*tiny, temperature=0)
    bench = get_benchmark("sim")
    first = evaluate(bench, items[:2], reasoner, tmp_path, gen={"max_new_tokens": 2}, progress=False)
    run_json = (tmp_path / "run.json").read_text()
    with pytest.raises(RunError, match="already exists: pass --resume"):
        evaluate(bench, items[:2], reasoner, tmp_path, gen={"max_new_tokens": 2}, progress=False)
    with pytest.raises(RunError, match=f"item id '{items[0].id}' appears more than once"):
        evaluate(bench, [items[0], items[1], items[0]], reasoner, tmp_path / "dup", progress=False)
    with pytest.raises(RunError, match=r"setup changed \(mode: 'thinking_map' -> 'direct'"):
        evaluate(bench, items[:2], reasoner, tmp_path, mode="direct", gen={"max_new_tokens": 2}, resume=True,
                 progress=False)
    with pytest.raises(RunError, match=r"setup changed \(given_map: None -> True"):  # no mixing of given-map rows
        evaluate(bench, items[:2], reasoner, tmp_path, gen={"max_new_tokens": 2}, resume=True, given_map=True,
                 progress=False)
    assert (tmp_path / "run.json").read_text() == run_json  # the refused runs left the folder alone
    again = evaluate(bench, items[:2], reasoner, tmp_path, gen={"max_new_tokens": 2}, resume=True, progress=False)
    assert totals(again) == totals(first) and len(read_rows(tmp_path / "results.jsonl")) == 2


def test_resume_drops_a_torn_last_line(items, reasoner, reference, tmp_path):
    rows, summary = reference
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4])
                                           + json.dumps(rows[4])[:25])
    resumed = evaluate(get_benchmark("sim"), items[:N], reasoner, tmp_path, gen=GEN, resume=True, progress=False)
    assert strip(read_rows(tmp_path / "results.jsonl")) == strip(rows)
    assert totals(resumed) == totals(summary)
    (tmp_path / "results.jsonl").write_text('{"id": "1"}\nnot json\n{"id": "2"}\n')
    with pytest.raises(RunError, match=r"results.jsonl:2: not a JSON row"):
        read_rows(tmp_path / "results.jsonl")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_rows_and_totals(sim_root, scrambled_tiny_dir, reference, tmp_path, killed_at_call):
    rows, summary = reference
    assert len({r["raw"] for r in rows}) > N // 2  # varied answers: the comparison below is not trivial
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "spacer_core.cli", "eval", "--bench", "sim", "--data-root", str(sim_root),
           "--model", str(scrambled_tiny_dir), "--out", str(out), "--limit", str(N), "--max-new-tokens", "6",
           "--no-progress"]
    # Killed at a fixed point: as the third batch (of one item) is answered, two rows written.
    killed = killed_at_call("spacer_core.infer.SpatialReasoner.answer_batch", 3, cmd[3:])
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    results = out / "results.jsonl"
    assert len(read_rows(results)) == 2
    assert main([*cmd[3:], "--resume"]) == 0
    assert strip(read_rows(results)) == strip(rows)
    assert totals(json.loads((out / "summary.json").read_text())) == totals(summary)


def test_shards_merge_into_the_rows_of_one_process(items, reasoner, reference, tmp_path):
    rows, summary = reference
    bench = get_benchmark("sim")
    kw = dict(gen=GEN, progress=False, world_size=2)
    assert evaluate(bench, items[:N], reasoner, tmp_path, rank=1, **kw) is None
    rank1 = read_rows(tmp_path / "results.rank1-of-2.jsonl")
    assert [r["id"] for r in rank1] == [it.id for it in items[1:N:2]]
    merged = evaluate(bench, items[:N], reasoner, tmp_path, rank=0, **kw)
    assert strip(read_rows(tmp_path / "results.jsonl")) == strip(rows)
    assert totals(merged) == totals(summary)


def test_merge_gives_up_on_a_missing_shard(items, tmp_path):
    (tmp_path / "results.rank0-of-2.jsonl").write_text("".join(json.dumps({"id": it.id}) + "\n" for it in items[0:4:2]))
    with pytest.raises(RunError, match=r"results.rank1-of-2.jsonl has 0 of its 2 rows.*rank 1"):
        merge_shards(items[:4], tmp_path, 2, wait_timeout=0.2, poll=0.05)


def _summary(path: Path, overall: float, per_type: dict[str, float], **extra) -> Path:
    path.mkdir()
    (path / "summary.json").write_text(json.dumps({"benchmark": "vsibench", "overall": overall, "per_type": per_type,
                                                   "n": 10, "setup": {"model": path.name, "mode": "thinking"},
                                                   **extra}))
    return path


def test_compare_puts_runs_side_by_side_with_deltas(tmp_path, capsys):
    a = _summary(tmp_path / "base", 40.0, {"object_counting": 50.0, "route_planning": 30.0})
    b = _summary(tmp_path / "tuned", 45.5, {"object_counting": 47.25, "room_size_estimation": 12.0},
                 at_budget={"max_new_tokens": 64, "count": 3, "by_type": {"object_counting": 3}})
    table = compare_runs([a, b])
    assert "| *completions cut off by the token budget (%)* | – | 30.0 | – |" in table  # 3 of 10
    assert "| question type | base | tuned | Δ tuned |" in table
    assert "| **overall** | 40.0 | 45.5 | +5.5 |" in table
    assert "| object_counting | 50.0 | 47.2 | -2.8 |" in table  # 47.25 − 50 = −2.75
    assert "| route_planning | 30.0 | – | – |" in table
    assert "| room_size_estimation | – | 12.0 | – |" in table
    assert main(["eval", "compare", str(a), str(b / "summary.json"), "--out", str(tmp_path / "cmp.md")]) == 0
    assert capsys.readouterr().out == table == (tmp_path / "cmp.md").read_text()
    assert main(["eval", "compare", str(a), str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    c = _summary(tmp_path / "seed2", 44.0, {"object_counting": 41.0})
    assert main(["eval", "compare", str(a), str(b), str(c), "--spread"]) == 0
    spread = capsys.readouterr().out
    assert "| Δ seed2 | mean ± sd (3 runs) |" in spread
    assert "| **overall** | 40.0 | 45.5 | +5.5 | 44.0 | +4.0 | 43.2 ± 2.8 |" in spread  # sd of 40, 45.5, 44
    assert "| route_planning | 30.0 | – | – | – | – | – |" in spread  # one run: no spread


def test_compare_names_runs_of_the_same_folder_name_by_their_parents(tmp_path):
    runs = []
    for seed in ("seed0", "seed1", "seed2"):
        (tmp_path / seed).mkdir()
        runs.append(_summary(tmp_path / seed / "eval", 40.0, {"object_counting": 50.0}))
    table = compare_runs(runs)
    assert "| question type | seed0/eval | seed1/eval | Δ seed1/eval | seed2/eval | Δ seed2/eval |" in table
    (tmp_path / "a" / "b640").mkdir(parents=True)
    (tmp_path / "c" / "b640").mkdir(parents=True)
    deeper = [_summary(tmp_path / "a" / "b640" / "eval", 40.0, {}), _summary(tmp_path / "c" / "b640" / "eval", 41.0, {})]
    assert "| question type | a/b640/eval | c/b640/eval | Δ c/b640/eval |" in compare_runs(deeper)


def test_compare_gives_a_paired_interval_on_the_items_both_runs_scored(sim_root, tmp_path):
    from spacer_core.eval.runner import make_row, summarize

    bench = get_benchmark("sim")
    items = bench.load(sim_root)
    runs = []
    for name, answer, kept in (("a", "A", items[:12]), ("b", "B", items[2:14])):
        rows = [make_row(item, bench.score(item, f"<answer>{answer}</answer>"),
                         type("Result", (), {"raw": answer, "seconds": 0.0, "prompt_tokens": 1, "completion_tokens": 1})())
                for item in kept]
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (tmp_path / name / "summary.json").write_text(json.dumps(summarize(bench, rows, {})))
        runs.append({r["id"]: r for r in rows})
    shared = [i for i in runs[0] if i in runs[1]]
    gain = (bench.aggregate([runs[1][i] for i in shared])["overall"]
            - bench.aggregate([runs[0][i] for i in shared])["overall"])
    assert len(shared) == 10
    assert f"- b − a on the 10 items both scored: {gain:+.1f} (paired bootstrap 95% interval " in \
        compare_runs([tmp_path / "a", tmp_path / "b"])
    renumbered = [{**r, "id": str(int(r["id"]) + 1)} for r in runs[1].values()]  # another data set, numbered alike
    (tmp_path / "b" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in renumbered))
    assert "- b and a: no paired difference, their items differ (id " in compare_runs([tmp_path / "a", tmp_path / "b"])
    # rows as published (gzipped, beside the summary): paired the same as the run's own
    (tmp_path / "b" / "results.jsonl.gz").write_bytes(gzip.compress((tmp_path / "b" / "results.jsonl").read_bytes()))
    (tmp_path / "b" / "results.jsonl").unlink()
    assert "- b and a: no paired difference, their items differ (id " in compare_runs([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "b" / "results.jsonl.gz").unlink()  # a run without its rows: the table alone
    assert "items both scored" not in compare_runs([tmp_path / "a", tmp_path / "b"])


def test_eval_command(sim_root, tmp_path, capsys):
    assert set(BENCHMARK_NAMES.split(", ")) == set(BENCHMARKS)  # the help lists every benchmark
    code = main(["eval", "--bench", "sim", "--data-root", str(sim_root), "--out", str(tmp_path / "run"),
                 "--limit", "2", "--max-new-tokens", "2", "--mode", "direct", "--no-progress"])
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # the chance/prior of the run's items (the sim has a train split), printed and in summary.md
    printed = capsys.readouterr()
    assert f"(chance/prior {summary['chance']['overall']:.1f})" in printed.out
    # the tiny model's own frame settings, and where they came from
    assert (f"video sampling: {SHIPPED_FRAMES} frames, 3136 to 12544 pixels a frame (the checkpoint's spacer_video.json)"
            in printed.err)
    assert "| question type | n | score | chance/prior |" in (tmp_path / "run" / "summary.md").read_text()
    assert len(read_rows(tmp_path / "run" / "results.jsonl")) == 2
    assert summary["setup"]["mode"] == "direct" and "format" not in summary  # no think/answer format asked
    assert main(["eval", "--bench", "vsibench", "--out", str(tmp_path / "v")]) == 2
    assert "--data-root is required for vsibench" in capsys.readouterr().err
    assert main(["eval", "--bench", "nope", "--out", str(tmp_path / "v")]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    assert main(["eval", "--out", str(tmp_path / "v")]) == 2


def test_given_map_starts_every_reasoning_with_the_true_map(sim_root, tmp_path, capsys):
    items = get_benchmark("sim").load(sim_root)[:3]
    out = tmp_path / "given"
    code = main(["eval", "--bench", "sim", "--data-root", str(sim_root), "--out", str(out), "--limit", "3",
                 "--batch-size", "3", "--max-new-tokens", "640", "--given-map", "--no-progress"])  # room to finish
    assert code == 0
    rows = read_rows(out / "results.jsonl")
    reasoning = {str(r["problem_id"]): r["reasoning"] for r in map(json.loads, (sim_root / "test.jsonl").read_text().splitlines())}
    for item, row in zip(items, rows, strict=True):
        # the map exactly as the SFT targets write it
        assert item.true_map and reasoning[item.id].startswith(map_text(item.true_map) + "\n")
        assert row["raw"].startswith(f"<think>{map_text(item.true_map)}\n")
        assert row["map_score"] == 1.0
        # The shipped model was fed the map: it goes on to derive the answer instead of drawing a
        # map of its own, as it does when its reasoning starts empty.
        assert row["raw"].count("<map>") == 1 and "<answer>" in row["raw"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["setup"]["given_map"] is True
    assert "| mode | thinking_map, the true map given |" in (out / "summary.md").read_text()
    capsys.readouterr()
    assert main(["eval", "--bench", "sim", "--data-root", str(sim_root), "--out", str(tmp_path / "direct"),
                 "--limit", "1", "--mode", "direct", "--given-map", "--no-progress"]) == 2
    assert "given_map needs the thinking_map mode" in capsys.readouterr().err
    assert not (tmp_path / "direct").exists()


def test_the_video_note_tells_defaults_from_a_checkpoints_settings():
    from spacer_core.commands.eval import video_note
    from spacer_core.infer import VideoSettings

    default = video_note(VideoSettings())
    assert default.startswith("1 fps, 4 to 32 frames, ") and default.endswith(
        "(the defaults; a spacer_video.json beside the checkpoint overrides them)")
    assert video_note(VideoSettings.for_model("tiny")).endswith("(the checkpoint's spacer_video.json)")
