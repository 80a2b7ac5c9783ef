"""SpaceR's ``cognitive_map.jsonl``: one true map per video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spacer_core.cogmap import GRID, load_map
from spacer_core.data.jsonl import iter_records
from spacer_core.data.problems import DataError, Problem

MapTable = dict[str, dict[str, Any]]  # video_id -> {"cognitive_map": {...}, "object_list": [...]}


def check_cognitive_maps(path: str | Path, grid: int = GRID) -> tuple[MapTable, list[Problem]]:
    """Every valid map by video id, and a problem for every bad line."""
    maps: MapTable = {}
    problems: list[Problem] = []
    first_seen: dict[str, str] = {}
    for where, value, problem in iter_records(path):
        if problem:
            problems.append(problem)
            continue
        if not isinstance(value, dict):
            problems.append(Problem(where, "<record>", f"expected a JSON object, got {type(value).__name__}"))
            continue
        bad = len(problems)
        video_id = value.get("video_id")
        if not isinstance(video_id, str) or not video_id:
            problems.append(Problem(where, "video_id", f"expected a non-empty string, got {video_id!r}"))
        elif video_id in first_seen:
            problems.append(
                Problem(where, "video_id", f"duplicate {video_id!r} (first at {first_seen[video_id]})")
            )
        try:
            cogmap = load_map(value.get("cognitive_map"))
        except ValueError as err:
            problems.append(Problem(where, "cognitive_map", str(err).removeprefix("cognitive_map: ")))
            cogmap = None
        if cogmap is None and len(problems) == bad:
            problems.append(Problem(where, "cognitive_map", "missing"))
        for cat, points in (cogmap or {}).items():
            off = [p for p in points if not (0 <= p[0] <= grid - 1 and 0 <= p[1] <= grid - 1)]
            if off:
                problems.append(
                    Problem(where, f"cognitive_map[{cat!r}]", f"points off the {grid}x{grid} grid: {off}")
                )
        objects = value.get("object_list")
        if not isinstance(objects, list) or not all(isinstance(o, str) for o in objects):
            problems.append(
                Problem(where, "object_list", f"expected a list of category names, got {objects!r}")
            )
        if len(problems) == bad:
            first_seen[video_id] = where
            maps[video_id] = {"cognitive_map": cogmap, "object_list": objects}
    return maps, problems


def load_cognitive_maps(path: str | Path, grid: int = GRID) -> MapTable:
    """Maps by video id (the video file name without extension); DataError lists every bad line."""
    maps, problems = check_cognitive_maps(path, grid)
    if problems:
        raise DataError(problems)
    return maps
