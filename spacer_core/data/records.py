"""SpaceR-151k / Video-R1-260k style records: validate, check media and maps, exclude scenes.

Nothing is dropped silently: every bad record becomes a `Problem` (file, line, field); loading
raises one `DataError` listing them all. Excluding scenes is the only way records are left out,
and the check report counts them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacer_core.data.jsonl import iter_records
from spacer_core.data.maps import MapTable, check_cognitive_maps
from spacer_core.data.problems import DataError, Problem
from spacer_core.parsing import extract_answer

DATA_TYPES = ("video", "image")
PROBLEM_TYPES = ("multiple choice", "numerical", "OCR", "free-form", "regression")
NUMERIC_TYPES = ("numerical", "regression")
SPATIAL_SOURCE = "SR_dataset"  # spatial items: they get the map prompt and need a true map
_OPTION = re.compile(r"([A-Z])\. \S")


@dataclass
class CheckReport:
    """The outcome of checking one dataset file."""

    path: str
    records: list[dict[str, Any]] = field(default_factory=list)  # valid and not excluded
    problems: list[Problem] = field(default_factory=list)
    excluded: int = 0
    seen: int = 0  # records read (valid or not)
    media: int = 0  # distinct media files referenced by valid records

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """A readable multi-line report."""
        lines = [
            f"{self.path}: {self.seen} records, {len(self.records)} usable, {self.excluded} excluded, "
            f"{len(self.problems)} problem(s); {self.media} media files referenced",
        ]
        for key in ("problem_type", "question_type", "data_source"):
            counts = Counter(str(r.get(key)) for r in self.records if r.get(key) is not None)
            if counts:
                lines.append(f"  by {key}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
        if self.problems:
            lines.append("problems:")
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def load_exclude_list(path: str | Path) -> set[str]:
    """Scene names, one a line; blank lines and ``#`` comments are ignored."""
    names = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.add(name)
    return names


def scene_of(record: dict[str, Any]) -> str:
    """The scene a record belongs to: its ``scene_id``, else its media file name without extension."""
    return str(record.get("scene_id") or Path(str(record.get("path", ""))).stem)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def validate_record(record: Any, where: str) -> list[Problem]:
    """Every problem of one record against the SpaceR-151k / Video-R1 schema (media not checked)."""
    if not isinstance(record, dict):
        return [Problem(where, "<record>", f"expected a JSON object, got {type(record).__name__}")]
    out: list[Problem] = []

    def bad(name: str, message: str) -> None:
        out.append(Problem(where, name, message))

    pid = record.get("problem_id")
    if isinstance(pid, bool) or not isinstance(pid, (int, str)) or pid == "":
        bad("problem_id", f"expected an integer or a non-empty string, got {pid!r}")
    for name in ("problem", "path", "data_source"):
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            bad(name, "missing" if value is None else f"expected a non-empty string, got {value!r}")
    if record.get("data_type") not in DATA_TYPES:
        bad("data_type", f"expected one of {list(DATA_TYPES)}, got {record.get('data_type')!r}")
    ptype = record.get("problem_type")
    if ptype not in PROBLEM_TYPES:
        bad("problem_type", f"expected one of {list(PROBLEM_TYPES)}, got {ptype!r}")
    options = record.get("options")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        bad("options", f"expected a list of strings, got {options!r}")
        options = None
    solution = record.get("solution")
    answer = extract_answer(solution) if isinstance(solution, str) else None
    if answer is None or not answer:
        bad("solution", f"expected '<answer>X</answer>', got {solution!r}")
    if ptype == "multiple choice" and options is not None:
        letters = []
        for i, option in enumerate(options):
            m = _OPTION.match(option)
            if not m or m.group(1) != chr(65 + i):
                bad(f"options[{i}]", f"expected '{chr(65 + i)}. <text>', got {option!r}")
            letters.append(chr(65 + i))
        if len(options) < 2:
            bad("options", f"a multiple-choice item needs at least 2 options, got {len(options)}")
        elif len(set(o[3:] for o in options)) < len(options):
            bad("options", "options repeat")
        if answer and answer not in letters:
            bad("solution", f"answer {answer!r} is not one of the option letters {''.join(letters)}")
    if ptype in NUMERIC_TYPES and answer and not _is_number(answer):
        bad("solution", f"a {ptype} answer must be a number, got {answer!r}")
    for name in ("question_type", "scene_id", "reasoning"):
        if name in record and not isinstance(record[name], str):
            bad(name, f"expected a string, got {record[name]!r}")
    cats = record.get("map_categories")
    if "map_categories" in record and not (isinstance(cats, list) and all(isinstance(c, str) for c in cats)):
        bad("map_categories", f"expected a list of category names, got {cats!r}")
    return out


def check_dataset(
    path: str | Path,
    video_root: str | Path | None = None,
    maps: str | Path | MapTable | None = None,
    exclude: Iterable[str] | str | Path | None = None,
) -> CheckReport:
    """Validate every record of ``path``; check that media exist under ``video_root`` (default: the
    file's folder) and, when ``maps`` is given, that every spatial video has a true map (attached as
    ``record["cognitive_map"]``). ``exclude``: scene names (or a file of them) to leave out.
    Usable records get ``media_path``, the resolved media file."""
    path = Path(path)
    root = Path(video_root) if video_root is not None else path.parent
    report = CheckReport(str(path))
    if isinstance(exclude, (str, Path)):
        exclude = load_exclude_list(exclude)
    excluded = set(exclude or ())
    table: MapTable | None = None
    if isinstance(maps, (str, Path)):
        table, map_problems = check_cognitive_maps(maps)
        report.problems += map_problems
    elif maps is not None:
        table = maps
    first_id: dict[Any, str] = {}
    media: dict[str, bool] = {}
    for where, record, problem in iter_records(path):
        report.seen += 1
        problems = [problem] if problem else validate_record(record, where)
        if not problems:
            pid = record["problem_id"]
            if pid in first_id:
                problems.append(Problem(where, "problem_id", f"duplicate {pid!r} (first at {first_id[pid]})"))
            else:
                first_id[pid] = where
            media_path = root / record["path"]
            if str(media_path) not in media:
                media[str(media_path)] = media_path.is_file()
            if not media[str(media_path)]:
                problems.append(Problem(where, "path", f"media file not found: {media_path}"))
            spatial = record["data_source"] == SPATIAL_SOURCE and record["data_type"] == "video"
            video_id = Path(record["path"]).stem
            if table is not None and spatial and video_id not in table:
                problems.append(Problem(where, "path", f"no cognitive map for video_id {video_id!r}"))
        if problems:
            report.problems += problems
            continue
        if scene_of(record) in excluded:
            report.excluded += 1
            continue
        record["media_path"] = str(media_path)
        if table is not None and video_id in table:
            record["cognitive_map"] = table[video_id]["cognitive_map"]
        report.records.append(record)
    report.media = len(media)
    return report


def load_dataset_jsonl(
    path: str | Path,
    video_root: str | Path | None = None,
    maps: str | Path | MapTable | None = None,
    exclude: Iterable[str] | str | Path | None = None,
) -> list[dict[str, Any]]:
    """The usable records of a dataset file (see `check_dataset`); raises DataError listing every
    problem (file, line, field) when there is any."""
    report = check_dataset(path, video_root, maps, exclude)
    if report.problems:
        raise DataError(report.problems)
    return report.records
