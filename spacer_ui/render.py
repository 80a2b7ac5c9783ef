"""Small views shared by the tabs: a completion split by its tags, map figures and score tables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from spacer_core.cogmap import GRID, MapScore
from spacer_core.map_figures import map_figure

# Colours of the tagged parts of a completion (HighlightedText labels).
TAG_COLORS = {"think": "#dbeafe", "map": "#fde68a", "answer": "#bbf7d0"}
BREAKDOWN_HEADERS = ["category", "true", "pred.", "accuracy", "weight", "matched pairs (pred ↔ true: score)"]
_TAG = re.compile(r"</?(think|map|answer)>")


def segments(raw: str) -> list[tuple[str, str | None]]:
    """``raw`` cut into (text, label) pieces for gr.HighlightedText: the label of a piece is the
    innermost open tag around it (``<map>`` inside ``<think>`` is "map"); tags keep their label
    and untagged text has none. Unclosed tags (a completion still streaming) label to the end."""
    out: list[tuple[str, str | None]] = []
    stack: list[str] = []
    pos = 0
    for m in _TAG.finditer(raw):
        if m.start() > pos:
            out.append((raw[pos : m.start()], stack[-1] if stack else None))
        name, closing = m.group(1), m.group(0)[1] == "/"
        if not closing:
            stack.append(name)
            out.append((m.group(0), name))
        elif name in stack:
            out.append((m.group(0), name))
            del stack[len(stack) - 1 - stack[::-1].index(name)]
        else:  # a stray closing tag
            out.append((m.group(0), stack[-1] if stack else None))
        pos = m.end()
    if pos < len(raw):
        out.append((raw[pos:], stack[-1] if stack else None))
    return out


def visible(raw: str) -> str:
    """A note for completions with nothing to read (an untrained model often emits only newlines)."""
    if raw.strip():
        return raw
    return f"(no visible text: {len(raw)} whitespace characters)" if raw else "(empty completion)"


def map_plot(pred: Mapping[str, Any] | None, true: Mapping[str, Any] | None, title: str,
             matching: str = "greedy", height: int = 460):
    """`spacer_core.map_figures.map_figure` sized for the page (predicted × over true ●)."""
    fig = map_figure(pred or {}, true, GRID, title=title, matching=matching)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"font": {"size": 11}, "tracegroupgap": 2})
    return fig


def breakdown_rows(details: MapScore) -> list[list[Any]]:
    """One table row per category of a map comparison (true-map categories first)."""
    rows = []
    for c in details.categories:
        pairs = ", ".join(f"#{i + 1}↔#{j + 1}: {s:.2f}" for i, j, _, s in c.pairs) or "–"
        rows.append([c.category, c.n_true, c.n_pred, round(c.accuracy, 3), f"{c.weight:.0%}", pairs])
    return rows
