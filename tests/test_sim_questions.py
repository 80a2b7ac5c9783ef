"""Every generated answer recomputed from the scene JSON alone, plus maps, reasoning, writers and
determinism. Runs on the committed sample (assets/sim) and on a small fresh synth."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree
from transformers import AutoTokenizer

from spacer_core.cli import main
from spacer_core.sim.questions import (
    BACK_ANGLE,
    QUESTION_TYPES,
    SEEN_FRAMES,
    VISIBLE_FRACTION,
    box_distance,
    generate_questions,
)
from spacer_core.sim.render import TINTED_WALLS
from spacer_core.sim.scene import generate_scene
from spacer_core.sim.synth import SynthConfig
from spacer_core.sim.writers import split_scenes

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "sim"
# docs/sim.md's command for the committed sample (the small world, the shipped model's)
SAMPLE_CONFIG = SynthConfig(scenes=30, seed=3, test_fraction=0.3, lookup_lines=True, world="small", cell_arithmetic=True,
                            tinted_walls=True, option_lines=True, distance_steps=True)
ACCEPTANCE_LIMIT = 64  # `spacer eval --bench sim --limit 64` (no --data-root) reads assets/sim/test.jsonl


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def sample():
    scenes = {p.stem: json.loads(p.read_text()) for p in sorted((SAMPLE / "scenes").glob("*.json"))}
    items = read_jsonl(SAMPLE / "train.jsonl") + read_jsonl(SAMPLE / "test.jsonl")
    maps = {m["video_id"]: m for m in read_jsonl(SAMPLE / "cognitive_map.jsonl")}
    return scenes, items, maps


# --- independent geometry ------------------------------------------------------------------------


def extents(obj):
    """World min/max corners of a box from its rotated corners."""
    c, s = math.cos(obj["yaw"]), math.sin(obj["yaw"])
    pts = [
        (obj["center"][0] + c * dx - s * dy, obj["center"][1] + s * dx + c * dy)
        for dx in (-obj["size"][0] / 2, obj["size"][0] / 2)
        for dy in (-obj["size"][1] / 2, obj["size"][1] / 2)
    ]
    xs, ys = zip(*pts, strict=True)
    z, h = obj["center"][2], obj["size"][2] / 2
    return np.array([min(xs), min(ys), z - h]), np.array([max(xs), max(ys), z + h])


def gap_distance(a, b):
    (alo, ahi), (blo, bhi) = extents(a), extents(b)
    gaps = np.maximum(0, np.maximum(alo - bhi, blo - ahi))
    return float(np.linalg.norm(gaps))


def seen(scene):
    video = scene["video"]
    threshold = VISIBLE_FRACTION * video["size"][0] * video["size"][1]
    return {
        o["id"]
        for o in scene["objects"]
        if (np.array(video["visible_pixels"][str(o["id"])]) >= threshold).sum() >= SEEN_FRAMES
    }


def instances(scene, category):
    return [o for o in scene["objects"] if o["category"] == category]


def the(scene, category):
    objs = instances(scene, category)
    assert len(objs) == 1, f"{category} is not unique"
    return objs[0]


def angle_at(scene, origin, facing, target):
    """Signed angle (deg) of target seen from origin facing ``facing``; + = counter-clockwise = left."""
    o, f, t = (np.array(the(scene, c)["center"][:2]) for c in (origin, facing, target))
    fwd, vec = f - o, t - o
    return math.degrees(math.atan2(fwd[0] * vec[1] - fwd[1] * vec[0], fwd @ vec))


def option_text(item):
    letter = item["solution"][len("<answer>") : -len("</answer>")]
    return dict(opt.split(". ", 1) for opt in item["options"])[letter]


# --- recomputation, one function per question type -----------------------------------------------


def check_counting(scene, item, answer):
    (cat,) = re.fullmatch(r"How many (.+)\(s\) are in this room\?", item["problem"]).groups()
    assert int(answer) == len(instances(scene, cat))


def check_abs_distance(scene, item, answer):
    a, b = re.search(r"between the (.+) and the (.+) \(in meters\)", item["problem"]).groups()
    d = gap_distance(the(scene, a), the(scene, b))
    assert abs(float(answer) - d) <= 0.05 + 1e-9 and d >= 0.3


def check_size(scene, item, answer):
    (cat,) = re.search(r"\(length, width, or height\) of the (.+), measured", item["problem"]).groups()
    assert int(answer) == round(max(the(scene, cat)["size"]) * 100)


def check_room_size(scene, item, answer):
    w, length = scene["room"]["size"][:2]
    assert abs(float(answer) - w * length) <= 0.05 + 1e-9


def check_rel_distance(scene, item, answer):
    choices, target = re.search(
        r"which of these objects \((.+)\) is the closest to the (.+)\? If", item["problem"]
    ).groups()
    choices = choices.split(", ")
    assert [o.split(". ", 1)[1] for o in item["options"]] == choices
    dist = {c: min(gap_distance(the(scene, target), o) for o in instances(scene, c)) for c in choices}
    ranked = sorted(choices, key=dist.get)
    assert option_text(item) == ranked[0]
    assert dist[ranked[1]] - dist[ranked[0]] >= 0.3 - 1e-9  # a clear winner


def check_direction(scene, item, answer):
    p, o, q = re.search(
        r"standing by the (.+?) and facing the (.+?), is the (.+?) to (?:the left|my)", item["problem"]
    ).groups()
    angle = angle_at(scene, p, o, q)
    side = "left" if angle > 0 else "right"
    kind = item["question_type"].rsplit("_", 1)[1]
    if kind == "easy":
        expected = side
    elif kind == "medium":
        expected = "back" if abs(angle) >= BACK_ANGLE else side
    else:
        expected = ("front-" if abs(angle) < 90 else "back-") + side
    assert option_text(item) == expected, (p, o, q, angle)


def check_route(scene, item, answer):
    start, first, goal = re.search(
        r"beginning at the (.+) facing the (.+)\. You want to navigate to the (.+)\. You will",
        item["problem"],
    ).groups()
    stops = [start] + re.findall(r"Go forward until the (.+?)(?= \d+\.|\. You have reached)", item["problem"])
    assert stops[1] == first and stops[-1] == goal
    turns = []
    for a, b, c in zip(stops, stops[1:], stops[2:], strict=False):
        # At b facing c, the way back to a lies 180° minus the turn away, on the side turned to.
        angle = angle_at(scene, b, c, a)
        turn = 180 - abs(angle)
        turns.append("Turn Back" if turn >= BACK_ANGLE else ("Turn Left" if angle > 0 else "Turn Right"))
    assert option_text(item) == ", ".join(turns)


def check_order(scene, item, answer):
    (listed,) = re.search(r"in the video: (.+)\?$", item["problem"]).groups()
    video = scene["video"]
    threshold = VISIBLE_FRACTION * video["size"][0] * video["size"][1]
    first = {}
    for cat in listed.split(", "):
        frames = [
            np.argmax(np.array(video["visible_pixels"][str(o["id"])]) >= threshold)
            for o in instances(scene, cat)
            if o["id"] in seen(scene)
        ]
        first[cat] = min(frames)
    assert len(set(first.values())) == 4
    assert option_text(item) == ", ".join(sorted(first, key=first.get))


CHECKS = {
    "object_counting": check_counting,
    "object_abs_distance": check_abs_distance,
    "object_size_estimation": check_size,
    "room_size_estimation": check_room_size,
    "object_rel_distance": check_rel_distance,
    "object_rel_direction_easy": check_direction,
    "object_rel_direction_medium": check_direction,
    "object_rel_direction_hard": check_direction,
    "route_planning": check_route,
    "obj_appearance_order": check_order,
}


def test_every_answer_recomputed_from_the_scene(sample):
    scenes, items, _ = sample
    assert {i["question_type"] for i in items} == set(QUESTION_TYPES)
    for item in items:
        scene = scenes[item["scene_id"]]
        answer = item["solution"][len("<answer>") : -len("</answer>")]
        CHECKS[item["question_type"]](scene, item, answer)


def test_items_follow_the_spacer_schema(sample):
    scenes, items, maps = sample
    assert [i["problem_id"] for i in items] != [] and len({i["problem_id"] for i in items}) == len(items)
    for item in items:
        assert item["data_type"] == "video" and item["data_source"] == "SR_dataset"
        assert item["path"] == f"videos/{item['scene_id']}.mp4" and (SAMPLE / item["path"]).is_file()
        assert item["problem_type"] == QUESTION_TYPES[item["question_type"]]
        answer = re.fullmatch(r"<answer>(.+)</answer>", item["solution"]).group(1)
        if item["problem_type"] == "numerical":
            assert item["options"] == [] and float(answer) > 0
        else:
            letters = [o.split(". ", 1)[0] for o in item["options"]]
            texts = [o.split(". ", 1)[1] for o in item["options"]]
            assert letters == [chr(65 + k) for k in range(len(texts))] and len(texts) >= 2
            assert len(set(texts)) == len(texts)  # distinct options: the answer appears exactly once
            assert letters.count(answer) == 1
        assert item["map_categories"] == list(maps[item["scene_id"]]["cognitive_map"])


def test_maps_agree_with_boxes_and_visibility(sample):
    scenes, _, maps = sample
    assert set(maps) == set(scenes)
    for sid, scene in scenes.items():
        w, length = scene["room"]["size"][:2]
        expected: dict[str, list] = {}
        for obj in scene["objects"]:
            if obj["id"] in seen(scene):
                x, y = obj["center"][:2]
                cell = [min(9, max(0, math.floor(x / w * 10))), min(9, max(0, math.floor(y / length * 10)))]
                expected.setdefault(obj["category"], []).append(cell)
        got = maps[sid]["cognitive_map"]
        assert {c: sorted(v) for c, v in got.items()} == {c: sorted(v) for c, v in expected.items()}
        assert maps[sid]["object_list"] == list(got)
        never = [o for o in scene["objects"] if max(scene["video"]["visible_pixels"][str(o["id"])]) == 0]
        assert all(o["id"] not in seen(scene) for o in never)


def test_reasoning_is_the_true_map_plus_the_answer(sample):
    scenes, items, maps = sample
    tokenizer = AutoTokenizer.from_pretrained(str(SAMPLE.parent / "tiny-model"))
    for item in items:
        m = re.match(r"<map>(.*?)</map>\n(.+)", item["reasoning"], re.S)
        assert m, item["reasoning"]
        assert json.loads(m.group(1)) == maps[item["scene_id"]]["cognitive_map"]
        # the evaluations' budget (recipes/eval_model.sh) holds the whole reasoning and the answer
        assert len(tokenizer(item["reasoning"] + item["solution"])["input_ids"]) < 600
        answer = item["solution"][len("<answer>") : -len("</answer>")]
        derivation = m.group(2)
        if SAMPLE_CONFIG.distance_steps and item["question_type"] == "object_abs_distance":
            # derived in steps from the room's size and the map's cells: it ends on the steps'
            # estimate, not on the exact answer
            room = scenes[item["scene_id"]]["room"]["size"][:2]
            stated = re.match(r"(?:.*\n)*The room is about (\d+\.\d) m by (\d+\.\d) m", derivation)
            assert stated and all(abs(float(v) - size) <= 0.05 for v, size in zip(stated.groups(), room, strict=True))
            last = re.search(r"(\d+\.\d) - (\d+\.\d) (?:= (\d+\.\d) m|is below 0\.1, so about 0\.1 m)\.$", derivation)
            assert last, derivation
            assert last[3] is None or round(float(last[1]) - float(last[2]), 1) == float(last[3])
        elif item["problem_type"] == "numerical":
            assert re.search(rf"\b{re.escape(answer)}\b", derivation)
        else:
            assert option_text(item) in derivation


def test_vsibench_parquet_mirrors_the_test_split(sample):
    test = read_jsonl(SAMPLE / "test.jsonl")
    table = pd.read_parquet(SAMPLE / "vsibench_test.parquet")
    assert list(table.columns) == [
        "id",
        "dataset",
        "scene_name",
        "question_type",
        "question",
        "options",
        "ground_truth",
    ]
    assert len(table) == len(test) > 0 and set(table["dataset"]) == {"spacer_sim"}
    for row, item in zip(table.itertuples(), test, strict=True):
        assert (
            row.id == item["problem_id"]
            and row.scene_name == item["scene_id"]
            and row.question == item["problem"]
        )
        assert (
            list(row.options) == item["options"]
            and f"<answer>{row.ground_truth}</answer>" == item["solution"]
        )
        assert (SAMPLE / "videos" / f"{row.scene_name}.mp4").is_file()
    train_scenes = {i["scene_id"] for i in read_jsonl(SAMPLE / "train.jsonl")}
    assert not train_scenes & set(table["scene_name"])  # split by scene


def test_sample_is_current_with_the_generator(sample):
    """The committed sample is what the documented command gives today (scene and QA of scene 0)."""
    scenes, items, _ = sample
    scene = scenes["scene_0000"]
    fresh = generate_scene([SAMPLE_CONFIG.seed, 0, 0], "scene_0000", SAMPLE_CONFIG.world)
    fresh["room"]["walls"] = [list(c) for c in TINTED_WALLS]
    assert fresh == {k: v for k, v in scene.items() if k != "video"}
    c = SAMPLE_CONFIG
    regenerated = [(q.question, q.reasoning) for q in generate_questions(
        scene, [c.seed, 0, 2], c.lookup_lines, c.cell_arithmetic, c.option_lines, c.distance_steps)]
    assert regenerated == [(i["problem"], i["reasoning"]) for i in items if i["scene_id"] == "scene_0000"]


def test_manifest_matches_the_files_and_the_test_split_fills_the_acceptance_check(sample):
    """The manifest is the documented command's and agrees with the files; the test split holds
    enough items for the acceptance check to evaluate its full limit."""
    scenes, items, _ = sample
    manifest = json.loads((SAMPLE / "manifest.json").read_text())
    assert manifest["config"] == asdict(SAMPLE_CONFIG)
    assert manifest["scenes"] == len(scenes) and sorted(scenes) == [f"scene_{k:04d}" for k in range(len(scenes))]
    train, test = read_jsonl(SAMPLE / "train.jsonl"), read_jsonl(SAMPLE / "test.jsonl")
    assert manifest["items"] == {"train": len(train), "test": len(test)}
    expected_test = sorted(split_scenes(sorted(scenes), SAMPLE_CONFIG.test_fraction))
    assert manifest["test_scenes"] == expected_test == sorted({i["scene_id"] for i in test})
    assert manifest["question_types"] == dict(Counter(i["question_type"] for i in items))
    assert len(test) >= ACCEPTANCE_LIMIT
    assert {i["question_type"] for i in test} == set(QUESTION_TYPES)


def test_box_distance_on_rotated_boxes_matches_sampling():
    a = {"center": [0.0, 0.0, 0.5], "size": [1.0, 0.4, 1.0], "yaw": 0.6}
    b = {"center": [1.6, 0.9, 0.3], "size": [0.5, 0.8, 0.6], "yaw": -0.3}
    grid = np.linspace(-0.5, 0.5, 41)

    def points(box):
        g = np.stack(np.meshgrid(grid, grid, grid), -1).reshape(-1, 3) * box["size"]
        c, s = math.cos(box["yaw"]), math.sin(box["yaw"])
        return g @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) + box["center"]

    brute = cKDTree(points(a)).query(points(b))[0].min()
    exact = box_distance(a, b)
    assert exact <= brute + 1e-9 and brute - exact < 0.03
    touching = {"center": [1.0, 0.0, 0.5], "size": [1.0, 1.0, 1.0], "yaw": 0.0}
    assert box_distance({**touching, "center": [0.0, 0.0, 0.5]}, touching) == 0.0


def test_synth_is_deterministic_and_parallel_safe(tmp_path):
    args = ["data", "synth", "--scenes", "3", "--seed", "11", "--frames", "6", "--size", "64"]
    assert main([*args, "--out", str(tmp_path / "a"), "--workers", "1"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    for name in [
        "train.jsonl",
        "test.jsonl",
        "cognitive_map.jsonl",
        "vsibench_test.parquet",
        "scenes/scene_0002.json",
    ]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert len(read_jsonl(tmp_path / "a" / "test.jsonl")) > 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["config"]["frames"] == 6 and manifest["scenes"] == 3 and len(manifest["test_scenes"]) == 1
    assert manifest["config"]["world"] == "vsi"


def test_synth_small_world_records_its_world(tmp_path):
    from spacer_core.sim.scene import WORLDS

    assert main(["data", "synth", "--scenes", "2", "--frames", "4", "--size", "64", "--world", "small", "--out",
                 str(tmp_path), "--workers", "1"]) == 0
    assert json.loads((tmp_path / "manifest.json").read_text())["config"]["world"] == "small"
    records = read_jsonl(tmp_path / "train.jsonl") + read_jsonl(tmp_path / "test.jsonl")
    assert records and all(set(r["map_categories"]) <= set(WORLDS["small"].vocabulary) for r in records)


def test_synth_tinted_walls_changes_the_videos_only(tmp_path):
    """`--tinted-walls`: the same rooms, questions and maps; the scene files record the wall colours
    the videos were drawn with, and the manifest records the option."""
    args = ["data", "synth", "--scenes", "2", "--frames", "4", "--size", "64", "--world", "small", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--tinted-walls", "--out", str(tmp_path / "tinted")]) == 0
    plain, tinted = tmp_path / "plain", tmp_path / "tinted"
    for name in ("train.jsonl", "test.jsonl", "cognitive_map.jsonl"):
        assert (plain / name).read_bytes() == (tinted / name).read_bytes(), name
    for sid in ("scene_0000", "scene_0001"):
        a, b = (json.loads((folder / "scenes" / f"{sid}.json").read_text()) for folder in (plain, tinted))
        assert "walls" not in a["room"] and len(b["room"].pop("walls")) == 4 and a == b
        assert (plain / "videos" / f"{sid}.mp4").read_bytes() != (tinted / "videos" / f"{sid}.mp4").read_bytes()
    configs = [json.loads((folder / "manifest.json").read_text())["config"] for folder in (plain, tinted)]
    assert (configs[0]["tinted_walls"], configs[1]["tinted_walls"]) == (False, True)


def test_synth_option_lines_mark_the_answer_among_the_options(tmp_path):
    """`--option-lines`: each multiple-choice derivation ends with a line per option, as the prompt
    lists it, beside the answer's words and marked yes (the answer's) or no; numerical items and
    everything else are unchanged."""
    args = ["data", "synth", "--scenes", "6", "--size", "128", "--world", "small", "--workers", "1", "--lookup-lines"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--option-lines", "--out", str(tmp_path / "options")]) == 0
    plain = read_jsonl(tmp_path / "plain" / "train.jsonl") + read_jsonl(tmp_path / "plain" / "test.jsonl")
    marked = read_jsonl(tmp_path / "options" / "train.jsonl") + read_jsonl(tmp_path / "options" / "test.jsonl")
    assert len(plain) == len(marked) and sum(bool(r["options"]) for r in plain) >= 10
    for before, after in zip(plain, marked, strict=True):
        assert {k: v for k, v in before.items() if k != "reasoning"} == {k: v for k, v in after.items() if k != "reasoning"}
        if not before["options"]:
            assert after["reasoning"] == before["reasoning"]
            continue
        assert after["reasoning"].startswith(before["reasoning"] + "\n")
        lines = after["reasoning"][len(before["reasoning"]) + 1:].split("\n")
        answer = re.search(r"<answer>(.+)</answer>", after["solution"])[1]
        chosen = option_text(after)
        assert lines == [f"{o} vs {chosen}: {'yes' if o[0] == answer else 'no'}." for o in after["options"]]
    assert json.loads((tmp_path / "options" / "manifest.json").read_text())["config"]["option_lines"] is True
