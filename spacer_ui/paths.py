"""The folders the workbench may read from: the bundled assets and the runs folder (its outputs).

Gradio's file route serves only these (plus its own upload cache), and every folder or file a user
types (a benchmark's data root, a training run, a training file) must resolve inside one of them,
so nothing else on the machine can be read through the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
REPO = ASSETS.parent


class PathRefused(ValueError):
    """A typed path lies outside the folders the workbench may read, or does not exist."""


@dataclass(frozen=True)
class Roots:
    """``assets``: bundled samples (read-only); ``runs``: training runs and evaluation outputs."""

    assets: Path
    runs: Path

    @classmethod
    def create(cls, runs_dir: str | Path = "runs") -> Roots:
        runs = Path(runs_dir).expanduser().resolve()
        return cls(ASSETS.resolve(), runs)

    @property
    def readable(self) -> list[str]:
        return [str(self.assets), str(self.runs)]

    @property
    def eval_dir(self) -> Path:
        """Where the Evaluate tab writes its runs (one folder each)."""
        return self.runs / "eval"

    def blocked(self) -> list[str]:
        """Paths Gradio must never serve even though they are inside a readable root (model weights
        would be harmless but are no sample; a checkout's hidden files never are)."""
        return [str(self.assets / "tiny-model"), str(REPO / ".git"), str(REPO / ".venv")]

    def resolve(self, text: str, what: str, *, kind: str = "dir") -> Path:
        """The existing folder (``kind="dir"``) or file (``kind="file"``) ``text`` names, relative
        paths taken from the current folder; raises PathRefused when it is elsewhere or missing."""
        text = (text or "").strip()
        if not text:
            raise PathRefused(f"{what}: no path given")
        path = Path(text).expanduser().resolve()  # follows symlinks: a link cannot lead outside
        if not any(path == root or root in path.parents for root in (self.assets, self.runs)):
            raise PathRefused(f"{what}: {text} is outside the folders this app may read "
                              f"({self.assets} and {self.runs})")
        exists = path.is_dir() if kind == "dir" else path.is_file()
        if not exists:
            raise PathRefused(f"{what}: {text} is not an existing {'folder' if kind == 'dir' else 'file'}")
        return path

    def shown(self, path: Path) -> str:
        """A path as the user should type it: relative to the current folder when inside it."""
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
