"""Benchmark loaders on small files in each benchmark's real format (written here), and on the sim.

Only `sim` (and `vsibench` on the sim's parquet) read data made by the project; the others are
tested on fixtures that reproduce the public column names and layouts (see docs/eval.md).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spacer_core.eval import BenchmarkError, get_benchmark
from spacer_core.eval.controls import Control
from spacer_core.infer import VideoSettings
from spacer_core.metrics import NUMERICAL_TYPES
from spacer_core.parsing import extract_answer
from spacer_core.video import VideoError
from tests.conftest import write_mp4
from tests.test_eval_metrics import official_aggregate, official_score

SMALL = VideoSettings(nframes=4, min_pixels=28 * 28 * 4, max_pixels=112 * 112)


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("clip") / "clip.mp4", num_frames=12, size=(64, 96), fps=4)


def test_sim_reads_the_synth_test_split(sim_root):
    items = get_benchmark("sim").load(sim_root)
    records = [json.loads(line) for line in (sim_root / "test.jsonl").read_text().splitlines()]
    maps = {json.loads(line)["video_id"]: json.loads(line) for line in (sim_root / "cognitive_map.jsonl").open()}
    assert [it.id for it in items] == [str(r["problem_id"]) for r in records]
    for item, record in zip(items, records, strict=True):
        assert item.ground_truth == extract_answer(record["solution"])
        assert item.question_type == record["question_type"]
        assert item.categories == record["map_categories"]
        assert Path(item.video) == sim_root / record["path"] and Path(item.video).is_file()
        true = maps[Path(record["path"]).stem]["cognitive_map"]
        assert item.true_map == {k: [tuple(p) for p in v] for k, v in true.items()}
        assert (item.options or []) == record["options"]


def test_sim_reads_the_bundled_sample_by_default():
    bench = get_benchmark("sim")
    assert bench.default_root == Path(__file__).resolve().parent.parent / "assets" / "sim"
    items = bench.load(bench.default_root)
    assert items and all(Path(it.video).is_file() for it in items)
    assert all(it.true_map and set(it.true_map) <= set(it.categories) for it in items)


def test_sim_items_carry_the_chance_of_ignoring_the_video(sim_root, tmp_path):
    bench = get_benchmark("sim")
    items = bench.load(sim_root)
    train = [json.loads(line) for line in (sim_root / "train.jsonl").read_text().splitlines()]
    for item in items:
        if item.question_type in NUMERICAL_TYPES:  # MRA of answering the train split's median for the type
            answers = [float(extract_answer(r["solution"])) for r in train if r["question_type"] == item.question_type]
            expected = official_score(f"<answer>{np.median(answers)}</answer>", item.ground_truth, item.question_type)
        else:
            expected = 1 / len(item.options)
        assert item.meta["chance"] == pytest.approx(expected)
    rows = [{"question_type": it.question_type, "score": 0.0, "meta": it.meta} for it in items]
    chance = bench.aggregate(rows)["chance"]
    assert chance["overall"] == pytest.approx(official_aggregate(
        [{"question_type": it.question_type, "score": it.meta["chance"]} for it in items]))
    # without a train split there is no prior, and the summary says nothing about chance
    (tmp_path / "test.jsonl").write_text((sim_root / "test.jsonl").read_text())
    shutil.copy(sim_root / "cognitive_map.jsonl", tmp_path)
    (tmp_path / "videos").symlink_to(sim_root / "videos")
    alone = bench.load(tmp_path)
    assert all("chance" not in it.meta for it in alone)
    assert "chance" not in bench.aggregate([{**r, "meta": it.meta} for r, it in zip(rows, alone, strict=True)])


@pytest.mark.parametrize("damage", ["drop_room_size", "bad_line"])
def test_sim_without_a_usable_train_split_runs_without_chance(sim_root, tmp_path, caplog, damage):
    lines = (sim_root / "train.jsonl").read_text().splitlines()
    if damage == "drop_room_size":
        lines = [ln for ln in lines if json.loads(ln)["question_type"] != "room_size_estimation"]
        expected = "no answers of type room_size_estimation"
    else:
        lines.insert(1, '["not", "a record"]')
        expected = "train.jsonl:2: cannot read a numerical answer"
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    for name in ("test.jsonl", "cognitive_map.jsonl"):
        shutil.copy(sim_root / name, tmp_path)
    (tmp_path / "videos").symlink_to(sim_root / "videos")
    items = get_benchmark("sim").load(tmp_path)
    assert len(items) == len(get_benchmark("sim").load(sim_root))  # the test items all still load
    assert all("chance" not in it.meta for it in items)
    assert expected in caplog.text


def test_sim_refuses_a_problem_type_that_contradicts_the_question_type(sim_root, tmp_path):
    records = [json.loads(line) for line in (sim_root / "test.jsonl").read_text().splitlines()]
    bad = next(r for r in records if r["question_type"] == "object_rel_distance")
    bad.update(problem_type="numerical", options=[], solution="<answer>2</answer>")
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    shutil.copy(sim_root / "cognitive_map.jsonl", tmp_path)
    (tmp_path / "videos").symlink_to(sim_root / "videos")
    with pytest.raises(BenchmarkError, match=rf"problem_id {bad['problem_id']}: problem_type 'numerical' does not "
                                             "match question_type 'object_rel_distance'"):
        get_benchmark("sim").load(tmp_path)


@pytest.mark.parametrize("bench", ["vsibench", "vsibench-debiased"])  # the debiased layout: assumed the same
def test_vsibench_reads_the_official_parquet_layout(tmp_path, clip_mp4, bench):
    table = pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "dataset": ["arkitscenes", "scannet"],
        "scene_name": ["41069025", "scene0011_00"],
        "question_type": ["object_counting", "object_rel_distance"],
        "question": ["How many chair(s) are in this room?", "Which is closest to the bed?"],
        "options": pa.array([[], ["A. sofa", "B. lamp"]], pa.list_(pa.string())),
        "ground_truth": ["4", "B"],
    })
    pq.write_table(table, tmp_path / "test-00000-of-00001.parquet")
    (tmp_path / "arkitscenes").mkdir()
    shutil.copy(clip_mp4, tmp_path / "arkitscenes" / "41069025.mp4")
    items = get_benchmark(bench).load(tmp_path)
    assert [(it.id, it.problem_type, it.options, it.ground_truth) for it in items] == [
        ("1", "numerical", None, "4"), ("2", "multiple choice", ["A. sofa", "B. lamp"], "B")]
    assert items[0].video == str(tmp_path / "arkitscenes" / "41069025.mp4")
    assert items[1].video == str(tmp_path / "scannet" / "scene0011_00.mp4")  # missing: the official path
    q = get_benchmark(bench).query(items[0], "thinking_map")
    assert "trash can" in q["categories"] and q["problem_type"] == "numerical"


def test_vsibench_reads_the_sim_parquet(sim_root):
    items = get_benchmark("vsibench").load(sim_root)
    sim = get_benchmark("sim").load(sim_root)
    assert [(i.id, i.ground_truth, i.question_type) for i in items] == [(s.id, s.ground_truth, s.question_type)
                                                                     for s in sim]
    assert all(Path(i.video).is_file() and Path(i.video).parent.name == "videos" for i in items)


def test_vsibench_bad_files_are_named(tmp_path):
    with pytest.raises(BenchmarkError, match="no VSI-Bench parquet"):
        get_benchmark("vsibench").load(tmp_path)
    pq.write_table(pa.table({"id": [1], "question": ["Q?"]}), tmp_path / "test.parquet")
    with pytest.raises(BenchmarkError, match=r"test.parquet: missing column\(s\) \['dataset'"):
        get_benchmark("vsibench").load(tmp_path)
    pq.write_table(pa.table({"id": [1], "dataset": ["d"], "scene_name": ["s"], "question_type": ["height"],
                             "question": ["Q?"], "options": [[]], "ground_truth": ["1"]}), tmp_path / "test.parquet")
    with pytest.raises(BenchmarkError, match="test.parquet row 0: unknown VSI-Bench question_type 'height'"):
        get_benchmark("vsibench").load(tmp_path)


def test_stibench_reads_qa_parquet(tmp_path, clip_mp4):
    candidates = pa.struct([(k, pa.string()) for k in "ABCDE"])
    table = pa.table({
        "ID": pa.array([0, 1], pa.int64()),
        "Video": ["scene0001_00.mp4", "camera_front_12.mp4"],
        "Source": ["ScanNet", "Waymo"],
        "Scene": ["indoor", "outdoor"],
        "Task": ["Dimensional Measurement", "Speed & Acceleration"],
        "time_start": [1.0, 0.0],
        "time_end": [3.5, 4.0],
        "Question": ["How tall is the chair?", "How fast is the car?"],
        "Candidates": pa.array([{"A": "0.5 m", "B": "1.0 m", "C": "1.5 m", "D": None, "E": None},
                                {"A": "1 m/s", "B": "5 m/s", "C": "9 m/s", "D": "12 m/s", "E": "20 m/s"}], candidates),
        "Answer": ["B", "E"],
    })
    (tmp_path / "video").mkdir()
    pq.write_table(table, tmp_path / "qa.parquet")
    shutil.copy(clip_mp4, tmp_path / "video" / "scene0001_00.mp4")
    items = get_benchmark("stibench").load(tmp_path)
    assert items[0].question == "From 1.0 seconds to 3.5 seconds. How tall is the chair?"
    assert items[0].options == ["A. 0.5 m", "B. 1.0 m", "C. 1.5 m"]
    assert [it.ground_truth for it in items] == ["B", "E"]
    assert [it.question_type for it in items] == ["Dimensional Measurement", "Speed & Acceleration"]
    assert items[0].id != items[1].id and items[0].meta["scene"] == "indoor"
    assert get_benchmark("stibench").clip(items[0], SMALL).num_frames == 4
    shuffled = Control("shuffle", items).clip(get_benchmark("stibench"), items[0], SMALL)  # a control on this layout
    assert shuffled.num_frames == 4 and shuffled.indices != get_benchmark("stibench").clip(items[0], SMALL).indices
    with pytest.raises(VideoError, match="camera_front_12.mp4"):
        get_benchmark("stibench").clip(items[1], SMALL)
    rows = [{"question_type": "a", "score": 1.0, "meta": {"scene": "indoor"}},
            {"question_type": "b", "score": 0.0, "meta": {"scene": "indoor"}},
            {"question_type": "b", "score": 0.0, "meta": {"scene": "outdoor"}}]
    summary = get_benchmark("stibench").aggregate(rows)
    assert summary["overall"] == pytest.approx(100 / 3)  # weighted by questions, not mean(100, 0)
    assert summary["groups"]["scene"] == pytest.approx({"indoor": 50.0, "outdoor": 0.0})


def _png(color: tuple[int, int, int], size=(60, 80)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((*size, 3), color, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_sparbench_reads_parquet_shards_and_shows_views_as_frames(tmp_path):
    image = pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    views = [_png((255, 0, 0)), _png((0, 255, 0)), _png((0, 0, 255))]
    table = pa.table({
        "id": pa.array([7, 8], pa.int64()),
        "img_type": ["multi-view", "single-view"],
        "format_type": ["select", "fill"],
        "task": ["obj_spatial_relation_oo_mv", "depth_prediction_oc"],
        "source": ["scannet", "scannet"],
        "image": pa.array([[{"bytes": b, "path": f"{i}.png"} for i, b in enumerate(views)],
                           [{"bytes": views[0], "path": "0.png"}]], image),
        "question": ["Which is left of the bed?\nA. lamp\nB. chair", "How far is the lamp from the camera?"],
        "answer": ["A", "2.4"],
    })
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "test-00000-of-00001.parquet")
    bench = get_benchmark("sparbench")
    items = bench.load(tmp_path)
    assert [(it.id, it.problem_type, it.meta["tier"]) for it in items] == [
        ("7", "multiple choice", "high"), ("8", "numerical", "low")]
    clip = bench.clip(items[0], SMALL)
    assert clip.num_frames == 4  # three views, the last repeated: frames go in pairs
    h, w = clip.size
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 112 * 112
    assert clip.frames[0, h // 2, w // 2].argmax() == 0 and clip.frames[1, h // 2, w // 2].argmax() == 1
    assert (clip.frames[2] == clip.frames[3]).all()
    assert bench.clip(items[1], SMALL).num_frames == 2
    # the controls work on multi-view items: item 8 is shown item 7's three views; one view repeated
    assert Control("swap", items).clip(bench, items[1], SMALL).num_frames == 4
    still = Control("first-frame", items).clip(bench, items[0], SMALL)
    assert all((frame == clip.frames[0]).all() for frame in still.frames)
    items[0].images = [b"not an image"]
    with pytest.raises(VideoError, match="SPAR-Bench item 7"):
        bench.clip(items[0], SMALL)


def test_videomme_reads_the_parquet_and_data_folder(tmp_path, clip_mp4):
    table = pa.table({
        "video_id": ["001", "001"], "duration": ["short", "short"], "domain": ["Knowledge", "Knowledge"],
        "sub_category": ["Humanity & History"] * 2, "url": ["https://www.youtube.com/watch?v=fFjv93ACGo8"] * 2,
        "videoID": ["fFjv93ACGo8"] * 2, "question_id": ["001-1", "001-2"],
        "task_type": ["Counting Problem", "Information Synopsis"],
        "question": ["How many people are there?", "What is the video about?"],
        "options": [["A. 1.", "B. 2.", "C. 3.", "D. 4."], ["A. war.", "B. art.", "C. food.", "D. sport."]],
        "answer": ["C", "A"],
    })
    (tmp_path / "videomme").mkdir()
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "videomme" / "test-00000-of-00001.parquet")
    shutil.copy(clip_mp4, tmp_path / "data" / "fFjv93ACGo8.mp4")
    items = get_benchmark("videomme").load(tmp_path)
    assert [(it.id, it.ground_truth, it.question_type) for it in items] == [
        ("001-1", "C", "Counting Problem"), ("001-2", "A", "Information Synopsis")]
    assert items[0].options == ["A. 1.", "B. 2.", "C. 3.", "D. 4."]
    assert items[0].meta == {"duration": "short", "domain": "Knowledge"}
    assert Path(items[0].video).is_file()


def test_tempcompass_reads_multi_choice_json(tmp_path):
    data = {
        "1034419625": {"action": [{"question": "What is the man doing?\nA. dunking\nB. dribbling\nC. passing",
                                   "answer": "A. dunking"}],
                       "direction": [{"question": "Which way is he moving?\nA. left\nB. right",
                                      "answer": "B. right"}]},
        "1034419625_reverse": {"direction": [{"question": "Which way is he moving?\nA. left\nB. right",
                                              "answer": "A. left"}]},
    }
    (tmp_path / "questions").mkdir()
    (tmp_path / "questions" / "multi-choice.json").write_text(json.dumps(data))
    items = get_benchmark("tempcompass").load(tmp_path)
    assert [(it.id, it.question_type, it.ground_truth) for it in items] == [
        ("1034419625/action/0", "action", "A"), ("1034419625/direction/0", "direction", "B"),
        ("1034419625_reverse/direction/0", "direction", "A")]
    assert items[0].question == "What is the man doing?"
    assert items[0].options == ["A. dunking", "B. dribbling", "C. passing"]
    assert items[2].video == str(tmp_path / "videos" / "1034419625_reverse.mp4")
    data["1034419625"]["action"][0]["answer"] = "dunking"
    (tmp_path / "questions" / "multi-choice.json").write_text(json.dumps(data))
    with pytest.raises(BenchmarkError, match=r"multi-choice.json: \['1034419625'\]\['action'\]\[0\]"):
        get_benchmark("tempcompass").load(tmp_path)


def test_longvideobench_reads_lvb_val_json(tmp_path):
    records = [
        {"video_id": "86CxyhFV9MI", "question": "What happens after the song?", "candidates": ["a dance", "a talk"],
         "correct_choice": 1, "duration_group": 600, "question_category": "T3E", "video_path": "86CxyhFV9MI.mp4",
         "subtitle_path": "86CxyhFV9MI_en.json", "id": "86CxyhFV9MI_0", "duration": 527.0,
         "starting_timestamp_for_subtitles": 0, "topic_category": "NP-News-Programs", "level": "L2-Relation"},
        {"video_id": "zZ3x7Wv3g1k", "question": "Which object is red?", "candidates": ["cup", "pen", "hat"],
         "correct_choice": 0, "duration_group": 15, "question_category": "S2O", "video_path": "zZ3x7Wv3g1k.mp4",
         "id": "zZ3x7Wv3g1k_1"},
    ]
    (tmp_path / "lvb_val.json").write_text(json.dumps(records))
    items = get_benchmark("longvideobench").load(tmp_path)
    assert [(it.id, it.ground_truth, it.question_type) for it in items] == [
        ("86CxyhFV9MI_0", "B", "T3E"), ("zZ3x7Wv3g1k_1", "A", "S2O")]
    assert items[0].options == ["A. a dance", "B. a talk"]
    assert items[0].video == str(tmp_path / "videos" / "86CxyhFV9MI.mp4")
    assert items[1].meta == {"duration_group": 15}
    records[1]["correct_choice"] = 3
    (tmp_path / "lvb_val.json").write_text(json.dumps(records))
    with pytest.raises(BenchmarkError, match=r"lvb_val.json\[1\]: correct_choice 3"):
        get_benchmark("longvideobench").load(tmp_path)
    (tmp_path / "lvb_val.json").write_text("[{")
    with pytest.raises(BenchmarkError, match="lvb_val.json:1: invalid JSON"):
        get_benchmark("longvideobench").load(tmp_path)


def test_unknown_benchmark_lists_the_available_ones():
    with pytest.raises(BenchmarkError, match="available: sim, vsibench, vsibench-debiased, stibench, sparbench, videomme"):
        get_benchmark("mmbench")
