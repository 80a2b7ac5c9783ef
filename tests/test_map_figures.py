"""Map figures (spacer_core.map_figures): colours, plotly and matplotlib."""

from __future__ import annotations

import io

from spacer_core.cogmap import score_map
from spacer_core.map_figures import category_color, map_figure, map_figure_mpl

GT = {"table": [[0, 3], [5, 7]], "chair": [[9, 3]], "window": [[6, 5]]}


def test_category_color_is_stable_and_normalised():
    assert category_color("chair") == category_color("Chairs") == category_color("chair")
    assert category_color("chair") != category_color("table")
    assert category_color("sofa").startswith("#") and len(category_color("sofa")) == 7


def test_plotly_figure():
    pred = {"table": [(0, 3), (4, 6)], "chair": [(8, 3)]}
    fig = map_figure(pred, GT)
    assert f"{score_map(pred, GT):.3f}" in fig.layout.title.text
    traces = {t.name: t for t in fig.data if t.name}
    assert set(traces) == {"table (true)", "table (pred)", "chair (true)", "chair (pred)", "window (true)"}
    assert (
        traces["table (true)"].marker.color == traces["table (pred)"].marker.color == category_color("table")
    )
    links = [t for t in fig.data if t.mode == "lines"]
    assert len(links) == 3  # two table pairs, one chair pair
    # points sit at cell centres; the chair link joins pred (8, 3) and true (9, 3)
    chair_link = next(t for t in links if t.line.color == category_color("chair"))
    assert list(chair_link.x) == [8.5, 9.5] and list(chair_link.y) == [3.5, 3.5]
    assert list(fig.layout.xaxis.range) == [0, 10]


def test_plotly_figure_without_truth():
    fig = map_figure({"chair": [(1, 1)]}, title="Model map")
    assert fig.layout.title.text == "Model map"
    assert [t.name for t in fig.data] == ["chair (pred)"]


def test_matplotlib_figure_renders_png():
    pred = {"table": [(0, 3)], "chair": [(8, 3), (2, 2)]}
    fig = map_figure_mpl(pred, GT)
    ax = fig.axes[0]
    assert ax.get_title().endswith(f"score {score_map(pred, GT):.3f}")
    assert len(ax.lines) == 2  # table pair + chair pair
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert map_figure_mpl({}).axes[0].get_title() == "Cognitive map"
