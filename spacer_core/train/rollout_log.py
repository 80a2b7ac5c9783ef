"""The rollout log: ``rollouts.jsonl`` in a training output folder, one line per completion.

Lines are written per generation batch, tagged with the optimizer step it was generated at (with
the default one generation per step, one block per step). ``reward`` in a line is the unweighted
sum of its terms. Each block is appended with a single write and fsync'd, so a crash leaves at
most one incomplete last line, which readers skip. On resume from a checkpoint at step k, lines of
steps >= k (written after that checkpoint) are dropped, so the log continues with no duplicated
or missing steps.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

FILENAME = "rollouts.jsonl"


class RolloutLog:
    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        self.path = path / FILENAME if path.is_dir() or path.suffix != ".jsonl" else path

    def write_step(self, step: int, rows: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps({"step": step, **row}, default=_jsonable) + "\n" for row in rows)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):  # an unterminated last line is a write cut short by a crash
                    yield json.loads(line)

    def by_step(self) -> dict[int, list[dict]]:
        steps: dict[int, list[dict]] = defaultdict(list)
        for row in self.read():
            steps[row["step"]].append(row)
        return dict(steps)

    def truncate_from(self, step: int) -> None:
        """Keep only complete lines of steps before ``step`` (atomic replace)."""
        if not self.path.exists():
            return
        kept = [json.dumps(row, default=_jsonable) + "\n" for row in self.read() if row["step"] < step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, self.path)


def _jsonable(value):
    return value.tolist() if hasattr(value, "tolist") else str(value)
