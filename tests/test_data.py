"""Loading and validating SpaceR-151k / Video-R1 style records and cognitive maps."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from spacer_core.cli import main
from spacer_core.data import DataError, check_dataset, load_cognitive_maps, load_dataset_jsonl

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sim"


def lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


@pytest.fixture
def copy(tmp_path):
    """A writable copy of the sample's annotations; videos stay where they are (--video-root)."""
    for name in ("train.jsonl", "test.jsonl", "cognitive_map.jsonl"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    return tmp_path


def test_sample_loads_with_maps_and_media():
    records = load_dataset_jsonl(SAMPLE / "train.jsonl", maps=SAMPLE / "cognitive_map.jsonl")
    assert len(records) == len(lines(SAMPLE / "train.jsonl")) > 0
    maps = load_cognitive_maps(SAMPLE / "cognitive_map.jsonl")
    for record in records:
        assert Path(record["media_path"]).is_file()
        assert record["cognitive_map"] == maps[record["scene_id"]]["cognitive_map"]


def test_every_bad_line_is_reported_with_file_line_and_field(copy):
    good = lines(SAMPLE / "train.jsonl")[:3]
    bad_letter = {**good[0], "problem_id": 9001}
    bad_letter["solution"] = "<answer>Z</answer>"
    if bad_letter["problem_type"] != "multiple choice":
        bad_letter.update(problem_type="multiple choice", options=["A. left", "B. right"])
    not_a_number = {
        **good[1],
        "problem_id": 9002,
        "problem_type": "numerical",
        "options": [],
        "solution": "<answer>far</answer>",
    }
    no_video = {**good[2], "problem_id": 9003, "path": "videos/missing.mp4"}
    no_problem = {k: v for k, v in good[2].items() if k != "problem"} | {"problem_id": 9004}
    duplicate = good[0]
    rows = [json.dumps(r) for r in good] + [
        "{not json",
        json.dumps(bad_letter),
        "",
        json.dumps(not_a_number),
        json.dumps(no_video),
        json.dumps(no_problem),
        json.dumps(duplicate),
        json.dumps(["a list"]),
    ]
    path = copy / "train.jsonl"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        load_dataset_jsonl(path, video_root=SAMPLE)
    found = {(p.where, p.field) for p in err.value.problems}
    expected = {
        (f"{path}:4", "<json>"),
        (f"{path}:5", "solution"),
        (f"{path}:7", "solution"),
        (f"{path}:8", "path"),
        (f"{path}:9", "problem"),
        (f"{path}:10", "problem_id"),
        (f"{path}:11", "<record>"),
    }
    assert found == expected
    message = str(err.value)
    assert f"{path}:8: path: media file not found" in message and "7 problem(s)" in message


def test_missing_maps_and_bad_map_lines_are_reported(copy):
    rows = lines(copy / "cognitive_map.jsonl")
    dropped = rows.pop(0)["video_id"]
    rows[0]["cognitive_map"] = {"chair": [[3, 12]]}
    rows[1]["object_list"] = "chair"
    (copy / "cognitive_map.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = check_dataset(copy / "train.jsonl", video_root=SAMPLE, maps=copy / "cognitive_map.jsonl")
    messages = [str(p) for p in report.problems]
    assert any(
        re.search(r"cognitive_map.jsonl:1: cognitive_map\['chair'\]: points off the 10x10 grid", m)
        for m in messages
    )
    assert any(re.search(r"cognitive_map.jsonl:2: object_list", m) for m in messages)
    n_items = sum(r["scene_id"] == dropped for r in lines(copy / "train.jsonl"))
    assert sum(f"no cognitive map for video_id '{dropped}'" in m for m in messages) == n_items


def test_exclude_list_leaves_out_scenes_and_counts_them(copy):
    records = lines(copy / "train.jsonl")
    scene = records[0]["scene_id"]
    exclude = copy / "exclude.txt"
    exclude.write_text(f"# VSI-Bench scenes\n{scene}\n\n")
    report = check_dataset(copy / "train.jsonl", video_root=SAMPLE, exclude=exclude)
    assert report.ok and report.excluded == sum(r["scene_id"] == scene for r in records) > 0
    assert len(report.records) + report.excluded == len(records)
    assert scene not in {r["scene_id"] for r in report.records}


def test_json_array_files_are_read_too(copy):
    records = lines(copy / "test.jsonl")
    records[1]["data_type"] = "audio"
    path = copy / "test.json"
    path.write_text(json.dumps(records, indent=1))
    report = check_dataset(path, video_root=SAMPLE)
    assert [(p.where, p.field) for p in report.problems] == [(f"{path}[item 2]", "data_type")]
    assert len(report.records) == len(records) - 1


def test_cli_check_reports_and_exits_nonzero(copy, capsys):
    assert (
        main(
            [
                "data",
                "check",
                "--jsonl",
                str(copy / "test.jsonl"),
                "--video-root",
                str(SAMPLE),
                "--maps",
                str(copy / "cognitive_map.jsonl"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "0 problem(s)" in out and "by question_type:" in out and out.rstrip().endswith("OK")
    with open(copy / "test.jsonl", "a") as f:
        f.write('{"problem_id": "x"}\n')
    assert main(["data", "check", "--jsonl", str(copy / "test.jsonl"), "--video-root", str(SAMPLE)]) == 1
    out = capsys.readouterr().out
    n = len(lines(SAMPLE / "test.jsonl")) + 1
    assert f"test.jsonl:{n}: problem: missing" in out and out.rstrip().endswith("FAILED")
    assert main(["data", "check", "--jsonl", str(copy / "nope.jsonl")]) == 1
    assert "cannot read" in capsys.readouterr().out
