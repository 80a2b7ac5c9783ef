"""Problems found in data files, and the one error that reports all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SHOWN = 50  # problems listed in an error message; DataError.problems keeps them all


@dataclass(frozen=True)
class Problem:
    """One bad value: ``where`` is ``file:line`` (or ``file[item N]`` for JSON arrays)."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class DataError(ValueError):
    """Bad data: the message lists the problems (file, line, field), ``problems`` has every one."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:SHOWN]]
        if len(self.problems) > SHOWN:
            lines.append(f"... and {len(self.problems) - SHOWN} more")
        super().__init__(f"{len(self.problems)} problem(s) in the data:\n  " + "\n  ".join(lines))
