"""General video benchmarks SpaceR reports: Video-MME, TempCompass, LongVideoBench.

All three are multiple choice, scored by option letter (`score_choice`); the overall score is the
mean over questions, with per-type means and the benchmark's usual groupings (duration…).
Subtitles are not used (SpaceR evaluates these benchmarks without them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spacer_core.eval.base import (
    Benchmark,
    BenchmarkError,
    Item,
    Score,
    field_of,
    find_file,
    item_mean_summary,
    read_json,
    read_parquet,
    register,
    score_choice,
)
from spacer_core.parsing import normalize_option
from spacer_core.prompts import format_options


class MultipleChoiceBenchmark(Benchmark):
    """Scoring and aggregation shared by the multiple-choice video benchmarks."""

    groups: tuple[str, ...] = ()

    def score(self, item: Item, completion: str) -> Score:
        return score_choice(completion, item.ground_truth)

    def aggregate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return item_mean_summary(rows, self.groups)


def find_video(folder: Path, stem: str) -> Path:
    """``folder/stem.mp4``, or the same stem with another common extension when that exists."""
    for ext in (".mp4", ".MP4", ".mkv", ".webm"):
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    return folder / f"{stem}.mp4"


@register
class VideoMME(MultipleChoiceBenchmark):
    """Video-MME (lmms-lab/Video-MME): ``videomme/test-*.parquet`` + ``data/{videoID}.mp4``."""

    name = "videomme"
    title = "Video-MME (w/o subtitles)"
    groups = ("duration", "domain")
    columns = ("question_id", "videoID", "duration", "domain", "task_type", "question", "options", "answer")

    def load(self, root: Path) -> list[Item]:
        path = find_file(root, ["videomme/test-*.parquet", "test-*.parquet", "*.parquet"], "Video-MME parquet")
        folder = path.parent.parent if path.parent.name == "videomme" else path.parent
        items = []
        for i, row in enumerate(read_parquet(path, self.columns)):
            where = f"{path} row {i}"
            options = field_of(row, "options", where, list)
            items.append(Item(
                id=str(field_of(row, "question_id", where)), question=str(field_of(row, "question", where, str)),
                ground_truth=str(field_of(row, "answer", where, str)).strip(), question_type=str(row["task_type"]),
                problem_type="multiple choice", options=format_options(options),
                video=str(find_video(folder / "data", str(field_of(row, "videoID", where, str)))),
                meta={"duration": row["duration"], "domain": row["domain"]},
            ))
        return items


@register
class TempCompass(MultipleChoiceBenchmark):
    """TempCompass multi-choice QA: ``questions/multi-choice.json`` + ``videos/{video_id}.mp4``.

    The JSON maps video id → temporal aspect ("action", "speed", …) → questions whose text lists
    the options on the following lines ("A. …"); the answer is the full option ("B. left to right").
    """

    name = "tempcompass"
    title = "TempCompass (multi-choice)"

    def load(self, root: Path) -> list[Item]:
        path = find_file(root, ["questions/multi-choice.json", "multi-choice.json"], "TempCompass multi-choice.json")
        folder = path.parent.parent if path.parent.name == "questions" else path.parent
        data = read_json(path)
        if not isinstance(data, dict):
            raise BenchmarkError(f"{path}: expected an object of video id -> aspect -> questions")
        items = []
        for video_id, aspects in data.items():
            if not isinstance(aspects, dict):
                raise BenchmarkError(f"{path}: [{video_id!r}]: expected an object of aspect -> questions")
            for aspect, questions in aspects.items():
                for i, qa in enumerate(questions):
                    where = f"{path}: [{video_id!r}][{aspect!r}][{i}]"
                    question, *options = str(field_of(qa, "question", where, str)).split("\n")
                    answer = normalize_option(str(field_of(qa, "answer", where, str)))
                    if not options or answer is None:
                        raise BenchmarkError(f"{where}: expected options after the question and an answer "
                                             "like 'A. …'")
                    items.append(Item(
                        id=f"{video_id}/{aspect}/{i}", question=question, ground_truth=answer,
                        question_type=aspect, problem_type="multiple choice", options=format_options(options),
                        video=str(find_video(folder / "videos", video_id)),
                    ))
        return items


@register
class LongVideoBench(MultipleChoiceBenchmark):
    """LongVideoBench validation split: ``lvb_val.json`` + ``videos/{video_path}``."""

    name = "longvideobench"
    title = "LongVideoBench (val, w/o subtitles)"
    groups = ("duration_group",)

    def load(self, root: Path) -> list[Item]:
        path = find_file(root, ["lvb_val.json"], "LongVideoBench lvb_val.json")
        data = read_json(path)
        if not isinstance(data, list):
            raise BenchmarkError(f"{path}: expected a JSON array of questions")
        items = []
        for i, record in enumerate(data):
            where = f"{path}[{i}]"
            candidates = field_of(record, "candidates", where, list)
            choice = field_of(record, "correct_choice", where, int)
            if not 0 <= choice < len(candidates):
                raise BenchmarkError(f"{where}: correct_choice {choice} is not an index of the {len(candidates)} candidates")
            video = record.get("video_path") or f"{field_of(record, 'video_id', where, str)}.mp4"
            items.append(Item(
                id=str(field_of(record, "id", where)), question=str(field_of(record, "question", where, str)),
                ground_truth=chr(ord("A") + choice), question_type=str(field_of(record, "question_category", where)),
                problem_type="multiple choice", options=format_options([str(c) for c in candidates]),
                video=str(path.parent / "videos" / video), meta={"duration_group": record.get("duration_group")},
            ))
        return items
