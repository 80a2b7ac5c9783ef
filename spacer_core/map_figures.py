"""Figures of cognitive maps: a predicted map (crosses) over the true map (dots), one colour per
category, matched pairs joined; plotly for the app and notebooks, matplotlib for static export."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from spacer_core.cogmap import GRID, normalize_category, score_map_details


def category_color(name: str) -> str:
    """A stable colour for a category ("Chairs" and "chair" match across maps, figures and
    processes): the common indoor categories get distinct colours of plotly's Dark24 palette in a
    fixed order; any other name gets one of the remaining colours by a CRC of its name."""
    from plotly.colors import qualitative

    from spacer_core.prompts import GENERIC_INDOOR_CATEGORIES

    palette = qualitative.Dark24
    name = normalize_category(name)
    known = [normalize_category(c) for c in GENERIC_INDOOR_CATEGORIES]
    if name in known:
        return palette[known.index(name)]
    spare = len(palette) - len(known)
    return palette[len(known) + zlib.crc32(name.encode()) % spare]


class _Layer(NamedTuple):
    category: str
    color: str
    pred: list[tuple[float, float]]  # drawn at cell centres (x + 0.5, y + 0.5)
    true: list[tuple[float, float]]
    links: list[tuple[tuple[float, float], tuple[float, float]]]  # matched (pred, true) pairs


def _layers(
    pred: Mapping[str, Any], gt: Mapping[str, Any] | None, grid: int, matching: str
) -> tuple[list[_Layer], float | None]:
    def centres(points: Any) -> list[tuple[float, float]]:
        return [(float(p[0]) + 0.5, float(p[1]) + 0.5) for p in (points or ())]

    if gt is None:
        return [_Layer(c, category_color(c), centres(v), [], []) for c, v in pred.items()], None
    details = score_map_details(pred, gt, grid, matching)
    layers = []
    for row in details.categories:
        p, t = centres(pred.get(row.category)), centres(gt.get(row.category))
        links = [(p[i], t[j]) for i, j, _, _ in row.pairs]
        layers.append(_Layer(row.category, category_color(row.category), p, t, links))
    return layers, details.score


def _title(score: float | None, title: str | None) -> str:
    text = title or "Cognitive map"
    return text if score is None else f"{text} — score {score:.3f}"


def map_figure(
    pred: Mapping[str, Any],
    gt: Mapping[str, Any] | None = None,
    grid: int = GRID,
    title: str | None = None,
    matching: str = "greedy",
):
    """Plotly figure of a predicted map (crosses) over the true map (dots): one colour per
    category, matched pairs joined by dashed lines, the score in the title when ``gt`` is given."""
    import plotly.graph_objects as go

    layers, score = _layers(pred, gt, grid, matching)
    fig = go.Figure()
    for layer in layers:
        style = {"legendgroup": layer.category, "mode": "markers"}
        for a, b in layer.links:
            fig.add_trace(
                go.Scatter(
                    x=[a[0], b[0]], y=[a[1], b[1]], mode="lines", legendgroup=layer.category,
                    line={"color": layer.color, "dash": "dash", "width": 1.5}, showlegend=False,
                    hoverinfo="skip",
                )
            )  # fmt: skip
        if layer.true:
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in layer.true], y=[p[1] for p in layer.true], name=f"{layer.category} (true)",
                    marker={"color": layer.color, "size": 13, "symbol": "circle", "opacity": 0.55}, **style,
                )
            )  # fmt: skip
        if layer.pred:
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in layer.pred], y=[p[1] for p in layer.pred], name=f"{layer.category} (pred)",
                    marker={"color": layer.color, "size": 11, "symbol": "x"}, **style,
                )
            )  # fmt: skip
    axis = {"range": [0, grid], "dtick": 1, "showgrid": True, "zeroline": False, "showticklabels": False}
    fig.update_layout(
        title=_title(score, title),
        xaxis=axis,
        yaxis=axis | {"scaleanchor": "x", "scaleratio": 1},
        template="plotly_white",
        legend={"title": "dot = true, × = predicted"},
        margin={"l": 20, "r": 20, "t": 50, "b": 20},
    )
    return fig


def map_figure_mpl(
    pred: Mapping[str, Any],
    gt: Mapping[str, Any] | None = None,
    grid: int = GRID,
    title: str | None = None,
    matching: str = "greedy",
):
    """Matplotlib twin of :func:`map_figure` for static export (a ``matplotlib.figure.Figure``,
    no pyplot state)."""
    from matplotlib.figure import Figure

    layers, score = _layers(pred, gt, grid, matching)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for layer in layers:
        for a, b in layer.links:
            ax.plot([a[0], b[0]], [a[1], b[1]], "--", color=layer.color, linewidth=1)
        if layer.true:
            xs, ys = zip(*layer.true, strict=True)
            ax.scatter(xs, ys, s=120, color=layer.color, alpha=0.55, label=f"{layer.category} (true)")
        if layer.pred:
            xs, ys = zip(*layer.pred, strict=True)
            ax.scatter(xs, ys, s=70, color=layer.color, marker="x", label=f"{layer.category} (pred)")
    ax.set_xlim(0, grid)
    ax.set_ylim(0, grid)
    ax.set_xticks(range(grid + 1))
    ax.set_yticks(range(grid + 1))
    ax.tick_params(labelbottom=False, labelleft=False, length=0)
    ax.grid(True, linewidth=0.5, alpha=0.5)
    ax.set_aspect("equal")
    ax.set_title(_title(score, title))
    if layers:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    return fig
