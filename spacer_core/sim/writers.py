"""Dataset files: SpaceR-151k-style JSONL, cognitive_map.jsonl and a VSI-Bench-style parquet."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from spacer_core.parsing import extract_answer
from spacer_core.sim.questions import Question

SIM_DATASET = "spacer_sim"  # the `dataset` column of the parquet
DATA_SOURCE = "SR_dataset"  # SpaceR's marker for spatial items (they get the map prompt)


def dataset_record(
    problem_id: int, scene_id: str, video_path: str, question: Question, map_categories: list[str]
) -> dict[str, Any]:
    """One SpaceR-151k / Video-R1 style item, plus the sim's extra fields."""
    return {
        "problem_id": problem_id,
        "problem": question.question,
        "data_type": "video",
        "problem_type": question.problem_type,
        "options": question.options,
        "solution": f"<answer>{question.answer}</answer>",
        "path": video_path,
        "data_source": DATA_SOURCE,
        "question_type": question.question_type,
        "scene_id": scene_id,
        "map_categories": map_categories,
        "reasoning": question.reasoning,
    }


def cognitive_map_record(video_id: str, cogmap: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
    """One line of SpaceR's ``cognitive_map.jsonl``."""
    return {
        "video_id": video_id,
        "cognitive_map": {c: [list(p) for p in pts] for c, pts in cogmap.items()},
        "object_list": list(cogmap),
    }


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_vsibench_parquet(records: Sequence[dict[str, Any]], path: str | Path) -> None:
    """VSI-Bench test-split columns; ``options`` is an empty list for numerical questions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("dataset", pa.string()),
            ("scene_name", pa.string()),
            ("question_type", pa.string()),
            ("question", pa.string()),
            ("options", pa.list_(pa.string())),
            ("ground_truth", pa.string()),
        ]
    )
    table = pa.table(
        {
            "id": [r["problem_id"] for r in records],
            "dataset": [SIM_DATASET] * len(records),
            "scene_name": [r["scene_id"] for r in records],
            "question_type": [r["question_type"] for r in records],
            "question": [r["problem"] for r in records],
            "options": [r["options"] for r in records],
            "ground_truth": [extract_answer(r["solution"]) for r in records],
        },
        schema=schema,
    )
    pq.write_table(table, str(path))


def split_scenes(scene_ids: Sequence[str], test_fraction: float) -> set[str]:
    """Test scenes: the round(n · fraction) scenes (at least one when the fraction is > 0 and there
    are two or more scenes) whose id hashes lowest. A scene's side depends only on its id and the
    scene count, never on the order of generation."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test fraction must be in [0, 1), got {test_fraction}")
    n_test = round(len(scene_ids) * test_fraction)
    if test_fraction > 0 and len(scene_ids) > 1:
        n_test = max(n_test, 1)
    ranked = sorted(scene_ids, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    return set(ranked[:n_test])
