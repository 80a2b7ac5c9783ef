"""SpaceR-151k-style records (validated by `spacer_core.data`) → rows for the GRPO and SFT trainers.

Prompts follow SpaceR: spatial video items that carry a true map get the map-imagination prompt
listing the scene's categories; all other items get the plain thinking prompt. The answer-type
suffix follows the item's problem type.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from spacer_core.data.records import SPATIAL_SOURCE
from spacer_core.metrics import vsi_task
from spacer_core.parsing import extract_answer
from spacer_core.prompts import build_prompt


def prompt_mode(record: dict[str, Any]) -> str:
    has_map = bool(record.get("cognitive_map"))
    return "thinking_map" if has_map and record.get("data_source") == SPATIAL_SOURCE else "thinking"


def map_categories(record: dict[str, Any]) -> list[str]:
    return list(record.get("map_categories") or record.get("cognitive_map") or [])


def prompt_text(record: dict[str, Any]) -> str:
    mode = prompt_mode(record)
    return build_prompt(record["problem"], record.get("options") or None, record["problem_type"], mode,
                        map_categories(record) if mode == "thinking_map" else None)


def user_turn(record: dict[str, Any]) -> list[dict]:
    """The conversational prompt: the video (by path) then the question text."""
    media = {"type": "video", "video": record["media_path"]}
    return [{"role": "user", "content": [media, {"type": "text", "text": prompt_text(record)}]}]


def grpo_rows(records: Sequence[dict[str, Any]], map_reward: bool = True) -> list[dict[str, Any]]:
    """Rows for `SGRLVRTrainer`; the true map travels as JSON ("" when the item has none, or when
    ``map_reward`` is off: the prompts stay the same, the map gate never opens)."""
    rows = []
    for r in records:
        if r["data_type"] != "video":
            raise ValueError(f"problem {r['problem_id']}: data_type {r['data_type']!r} — this trainer takes "
                             "video items only (image items: not supported yet)")
        true_map = r.get("cognitive_map") if map_reward and prompt_mode(r) == "thinking_map" else None
        rows.append({
            "prompt": user_turn(r),
            "solution": r["solution"],
            "problem_type": r["problem_type"],
            "cognitive_map": json.dumps(true_map) if true_map else "",
            "map_categories": map_categories(r) if true_map else [],
            "problem_id": str(r["problem_id"]),
            "question_type": r.get("question_type", ""),
        })
    return rows


def sft_target(record: dict[str, Any]) -> str:
    """``<think>{reasoning}</think>\\n<answer>{X}</answer>`` from a record's reasoning and solution."""
    answer = extract_answer(record["solution"]) or record["solution"].strip()
    return f"<think>{record['reasoning'].strip()}</think>\n<answer>{answer}</answer>"


def sft_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the SFT cold start: prompt + target; every record needs a ``reasoning`` field."""
    missing = [str(r["problem_id"]) for r in records if not r.get("reasoning")]
    if missing:
        raise ValueError(f"SFT needs a 'reasoning' field on every record; {len(missing)} lack it "
                         f"(problem_id {', '.join(missing[:5])}{', …' if len(missing) > 5 else ''})")
    return [{"prompt": user_turn(r), "completion": sft_target(r), "problem_id": str(r["problem_id"])}
            for r in records]


def balance_tasks(records: Sequence[dict[str, Any]], seed: int = 0, strength: float = 1.0) -> list[dict[str, Any]]:
    """As many records, with the VSI-Bench tasks' shares evened out (the relative-direction types are
    one task, as in the overall score): task t gets a share ∝ n_t^(1 − strength) of them, so 1 gives
    every task an equal share and 0 keeps the data's. A task's records come in shuffled order, round
    after round when its share is larger than its count. VSI-Bench's overall score is the plain mean
    of its tasks, but generated data hold some tasks 25 times more often than others (relative
    direction is 26% of the small world's items, route planning 4.5% and appearance order 1.0%, and
    each weighs 1/8 of the score)."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i, record in enumerate(records):
        if not record.get("question_type"):
            raise ValueError(f"balance_tasks: record {i} (problem_id {record.get('problem_id')}) has no "
                             "question_type to balance on")
        by_task[vsi_task(record["question_type"])].append(record)
    tasks = sorted(by_task)
    weights = [len(by_task[t]) ** (1 - strength) for t in tasks]
    exact = [len(records) * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    for i in sorted(range(len(tasks)), key=lambda i: shares[i] - exact[i])[:len(records) - sum(shares)]:
        shares[i] += 1  # the largest remainders, the first tasks on ties
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for task, wanted in zip(tasks, shares, strict=True):
        drawn: list[dict[str, Any]] = []
        while len(drawn) < wanted:
            drawn += rng.sample(by_task[task], len(by_task[task]))
        out += drawn[:wanted]
    rng.shuffle(out)
    return out
