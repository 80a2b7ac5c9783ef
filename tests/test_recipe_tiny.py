"""The spacer-tiny recipe's control split (recipes/spacer_tiny.py), on the bundled sim data."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from spacer_core.data import load_dataset_jsonl

ROOT = Path(__file__).resolve().parent.parent
SIM = ROOT / "assets" / "sim"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("spacer_tiny", ROOT / "recipes" / "spacer_tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
