"""The Gradio workbench served on a free local port and driven through `gradio_client` and HTTP:
the /ask endpoint on a bundled sample (streamed, and the same completion as the library gives),
refusals of bad uploads and of paths outside the assets and runs folders, and the Maps, Evaluate
and Rollouts endpoints on real inputs (a real evaluation run, a real training run's rollout log)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from spacer_core.cogmap import score_map_details
from spacer_core.data import load_cognitive_maps
from spacer_core.eval import get_benchmark
from spacer_core.infer import SpatialReasoner, VideoSettings
from spacer_core.train.rollout_log import RolloutLog
from spacer_ui.app import build_app, serve
from spacer_ui.paths import ASSETS, REPO

SIM = ASSETS / "sim"
MAX_UPLOAD_MB = 1
ASK_TOKENS = 24


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_training(base: Path) -> tuple[Path, subprocess.Popen | None]:
    """Start (once per test session) a 2-step SG-RLVR run of the tiny model on the bundled sim
    data, small enough for a couple of CPU seconds per step; returns its folder and the process
    (None when an earlier module of this session already ran it)."""
    out = base / "runs" / "train-tiny"
    if (out / "final").is_dir() or (out / "rollouts.jsonl").exists():
        return out, None
    cmd = [sys.executable, "-m", "spacer_core.cli", "train", "--config", str(REPO / "configs/sg_rlvr_tiny.yaml"),
           "--output_dir", str(out), "--max_steps", "2", "--max_completion_length", "8",
           "--per_device_train_batch_size", "2", "--num_generations", "2", "--nframes", "4", "--save_steps", "100"]
    return out, subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_training(out: Path, proc: subprocess.Popen | None) -> Path:
    if proc is not None:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-3000:]
    assert (out / "rollouts.jsonl").is_file()
    return out


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """The training run starts first, so it overlaps the app start and the quick tests."""
    return start_training(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, training) -> Path:
    return training[0].parent


@pytest.fixture(scope="module")
def url(runs):
    app = build_app("tiny", runs_dir=runs, max_upload_mb=MAX_UPLOAD_MB)
    address = serve(app, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield address
    app.close()


@pytest.fixture(scope="module")
def client(url) -> Client:
    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def sample():
    items = get_benchmark("sim").load(SIM)
    return next(it for it in items if it.options and it.true_map)  # a multiple-choice item with a true map


def ask_args(item, **kw):
    args = dict(video=handle_file(item.video), question=item.question, options="\n".join(item.options or []),
                mode="thinking_map", frames=4, max_new_tokens=ASK_TOKENS, temperature=0.0,
                categories=", ".join(item.categories or []), sample=item.id)
    return {**args, **kw}


def test_ask_streams_the_libraries_completion_with_answer_and_map(client, sample):
    job = client.submit(**ask_args(sample), api_name="/ask")
    reasoning, answer, figure, verdict, highlighted, breakdown, frames, status = job.result(timeout=120)

    # Greedy decoding: the app's completion is the library's for the same question and frames.
    clip = replace(VideoSettings.for_model("tiny"), nframes=4).load(sample.video)
    expected = SpatialReasoner.from_pretrained("tiny").answer(
        clip, sample.question, sample.options, "thinking_map", sample.categories, sample.problem_type,
        max_new_tokens=ASK_TOKENS, temperature=0.0)
    assert reasoning == expected.raw
    assert answer == expected.answer
    assert status.startswith("✓ Done") and f"{expected.completion_tokens} new tokens" in status
    assert f"Expected **{sample.ground_truth}**" in verdict

    # The reasoning streamed: an earlier update held a shorter prefix of the final text.
    partial = [out[0] for out in job.outputs()[:-1] if isinstance(out[0], str) and out[0]]
    assert all(reasoning.startswith(p) for p in partial) and any(len(p) < len(reasoning) for p in partial)

    # The figure draws the sample's true map; the breakdown lists its categories with the library's scores.
    plot = json.loads(figure["plot"])
    names = {trace.get("name") for trace in plot["data"]}
    assert {f"{cat} (true)" for cat in sample.true_map} <= names
    details = score_map_details(expected.map or {}, sample.true_map)
    rows = breakdown["data"]
    assert [r[0] for r in rows] == [c.category for c in details.categories]
    assert [r[3] for r in rows] == [round(c.accuracy, 3) for c in details.categories]

    # The strip shows the 4 sampled frames, captioned with their times.
    assert len(frames) == 4 and all(f["caption"].endswith(" s") for f in frames)
    shown = "".join(h["token"] for h in highlighted)
    assert shown == reasoning if reasoning.strip() else "whitespace characters" in shown


def test_non_video_and_corrupt_uploads_get_a_clear_message(client, sample, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a video\n")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(Path(sample.video).read_bytes()[:2000])
    for bad in (text, truncated):
        with pytest.raises(Exception, match=rf"{bad.name} is not a video this app can read"):
            client.predict(**ask_args(sample, video=handle_file(bad), sample=None), api_name="/ask")


def test_uploads_over_the_cap_are_refused(url, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (MAX_UPLOAD_MB * 2**20 + 1))
    with big.open("rb") as f:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.mp4", f, "video/mp4")})
    assert response.status_code == 413


def test_only_assets_and_runs_are_served(url, runs):
    def status(path: Path | str) -> int:
        return httpx.get(f"{url}gradio_api/file={path}").status_code

    assert status(SIM / "videos" / "scene_0002.mp4") == 200
    for refused in ("/etc/passwd", REPO / "pyproject.toml", f"{ASSETS}/../pyproject.toml",
                    ASSETS / "tiny-model" / "config.json", Path(__file__)):
        assert status(refused) == 403, refused


def test_typed_paths_outside_the_roots_are_refused(client):
    with pytest.raises(Exception, match="outside the folders this app may read"):
        client.predict(run="/etc", train_file="", api_name="/rollouts")
    with pytest.raises(Exception, match="outside the folders this app may read"):
        client.predict(bench_name="sim", data_root=str(REPO), limit=1, batch_size=1, mode="direct",
                       max_new_tokens=4, run_name="escape", api_name="/evaluate")


def test_maps_scores_greedy_and_optimal(client):
    scene, entry = next(iter(load_cognitive_maps(SIM / "cognitive_map.jsonl").items()))
    summary, greedy_fig, optimal_fig, table, parsed = client.predict(
        completion=f"<map>{json.dumps(entry['cognitive_map'])}</map>", scene=scene, pasted="", api_name="/score_map")
    assert "greedy (SpaceR) score **1.000**" in summary and "optimal (Hungarian) score **1.000**" in summary
    assert json.loads(parsed) == {k: [list(p) for p in v] for k, v in entry["cognitive_map"].items()}

    # Two chairs where the greedy choice (closest pair first) is not the best assignment.
    true = {"chair": [[0, 0], [3, 0]]}
    summary, *_, table, _ = client.predict(completion="chairs: (2, 0), (5, 0)", scene=None, pasted=json.dumps(true),
                                           api_name="/score_map")
    (row,) = table["data"]
    greedy = score_map_details({"chair": [(2, 0), (5, 0)]}, true, matching="greedy")
    optimal = score_map_details({"chair": [(2, 0), (5, 0)]}, true, matching="hungarian")
    assert row[:5] == ["chair", 2, 2, round(greedy.score, 3), round(optimal.score, 3)]
    assert row[4] > row[3]


def test_evaluate_runs_writes_and_compares(client, runs):
    outs = []
    for name in ("first", "second"):
        headline, table, chart, comparison, files, _, status = client.predict(
            bench_name="sim", data_root="", limit=2, batch_size=2, mode="direct", max_new_tokens=4, run_name=name,
            api_name="/evaluate")
        outs.append((headline, table, comparison, files))
        summary = json.loads((runs / "eval" / name / "summary.json").read_text())
        assert summary["n"] == 2 and summary["setup"]["limit"] == 2
        assert table["data"][-1] == ["overall", 2, round(summary["overall"], 1)]
        # the bundled sample has its train split: the bar to clear is shown beside the score
        assert f"(chance/prior {summary['chance']['overall']:.1f})" in headline
        assert {Path(f).name for f in files} == {"summary.md", "summary.json", "results.jsonl", "run.json"}
        assert "Finished: 2 items" in status
    assert "No earlier run" in outs[0][2]
    # with controls: the items again without their own video, the bars beside, the gains in the headline
    headline, table, chart, *_ = client.predict(
        bench_name="sim", data_root="", limit=2, batch_size=2, mode="direct", max_new_tokens=4, run_name="controlled",
        controls=["blind", "shuffle"], api_name="/evaluate")
    summary = json.loads((runs / "eval" / "controlled" / "summary.json").read_text())
    assert set(summary["controls"]["gains"]) == {"vision gain", "order gain"}
    assert (runs / "eval" / "controlled" / "controls" / "blind" / "results.jsonl").is_file()
    assert "**vision gain** (own video − blind)" in headline
    assert {trace["name"] for trace in json.loads(chart["plot"])["data"]} == {"own video", "blind", "shuffle"}
    assert "- first:" in outs[1][2] and "Δ second" in outs[1][2]  # compared against the earlier run
    with pytest.raises(Exception, match="already exists"):
        client.predict(bench_name="sim", data_root="", limit=1, batch_size=1, mode="direct", max_new_tokens=4,
                       run_name="first", api_name="/evaluate")


@pytest.mark.parametrize("without", ["no video", "another scene's video", "its frames shuffled"])
def test_ask_again_without_the_video(client, sample, without):
    from spacer_ui.ask import _other_video

    answer, figure, verdict, status = client.predict(**ask_args(sample), without=without, api_name="/ask_without")
    assert status.startswith(f"With {without}: ✓ Done") and "Expected" in verdict and figure is not None
    assert ("no video" in status) == (without == "no video")
    assert _other_video(sample, sample.video) != sample.video  # the swap shows another scene


def test_a_fresh_machine_has_the_bundled_run_to_show(client, tmp_path):
    from spacer_ui.paths import ASSETS, Roots
    from spacer_ui.rollouts import training_runs

    runs = training_runs(Roots.create(tmp_path / "no-runs-yet"))  # the Rollouts tab opens the first one
    assert len(runs) == 1 and Path(runs[0]).resolve() == (ASSETS / "runs" / "sg_rlvr_tiny").resolve()
    summary = client.predict(run=runs[0], train_file="", api_name="/rollouts")[0]
    steps = RolloutLog(ASSETS / "runs" / "sg_rlvr_tiny").by_step()
    assert len(steps) == 16 and f"**{len(steps)} steps** logged" in summary


def test_rollouts_show_a_training_runs_log(client, training):
    folder = finish_training(*training)
    steps = RolloutLog(folder).by_step()
    summary, curves, step, group, question, table, maps = client.predict(
        run=str(folder), train_file=str(SIM / "train.jsonl"), api_name="/rollouts")
    first = min(steps)
    rows = [r for r in steps[first] if r["group"] == steps[first][0]["group"]]
    assert f"**{len(steps)} steps** logged" in summary
    assert len(table["data"]) == len(rows)
    ordered = [r for r in rows if not r["shuffled"]]
    assert [t[1] for t in table["data"][: len(ordered)]] == [round(r["reward"], 3) for r in ordered]
    assert sum(t[0].startswith("shuffled") for t in table["data"]) == len(rows) - len(ordered)
    assert f"Problem {rows[0]['problem_id']}" in question
    curve = json.loads(curves["plot"])
    assert {tr["name"] for tr in curve["data"]} >= {"reward (ordered)", "accuracy (shuffled frames)"}
    assert all(len(tr["x"]) == len(steps) for tr in curve["data"])
    # Without a training file the tab reads the one the run recorded (spacer_args.json).
    recorded = client.predict(run=str(folder), train_file="", api_name="/rollouts")
    assert recorded[4] == question
