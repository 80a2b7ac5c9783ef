"""Read records from JSONL (one object a line) or a JSON array file, keeping where each came from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spacer_core.data.problems import DataError, Problem


def iter_records(path: str | Path) -> Iterator[tuple[str, Any, Problem | None]]:
    """Yield ``(where, value, problem)`` per record: ``value`` is the parsed JSON (None when the
    line is not JSON, with ``problem`` saying why). Blank lines carry no record and are skipped.
    A file whose first non-blank character is ``[`` is read as one JSON array (Video-R1 ships so).
    Raises DataError when the file cannot be read at all."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError([Problem(str(path), "<file>", f"cannot read: {err}")]) from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(
                [Problem(f"{path}:{err.lineno}", "<json>", f"invalid JSON array: {err.msg}")]
            ) from None
        for i, value in enumerate(items, 1):
            yield f"{path}[item {i}]", value, None
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            yield where, json.loads(line), None
        except json.JSONDecodeError as err:
            yield where, None, Problem(where, "<json>", f"invalid JSON: {err.msg} (column {err.colno})")
