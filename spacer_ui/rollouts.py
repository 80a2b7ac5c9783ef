"""Rollouts tab: a training run's rollout log (``rollouts.jsonl``): reward curves over steps, and for
one step and one prompt the G ordered and the frame-shuffled completions with their reward terms,
advantages, temporal and length bonuses, and their maps drawn against the true map."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from spacer_core.cogmap import GRID, parse_map
from spacer_core.parsing import extract_answer
from spacer_core.train.rollout_log import FILENAME, RolloutLog
from spacer_ui.paths import PathRefused, Roots
from spacer_ui.render import TAG_COLORS, map_plot, segments, visible

COLUMNS = ["rollout", "reward", "adv.", "format", "answer", "map", "acc.", "temporal", "length", "tokens",
           "parsed", "frame order", "completion"]
WIDTHS = ["9%", "6%", "6%", "6%", "6%", "5%", "5%", "7%", "6%", "6%", "6%", "9%", "23%"]
# Curves over steps: (label, rows to average, field).
CURVES = [("reward (ordered)", False, "reward"), ("accuracy (ordered)", False, "accuracy"),
          ("accuracy (shuffled frames)", True, "accuracy"), ("format", False, "format"),
          ("map score", False, "map_score"), ("temporal bonus", False, "temporal_bonus"),
          ("length bonus", False, "length_bonus")]


def training_runs(roots: Roots, depth: int = 3) -> list[str]:
    """Folders under the runs folder (up to ``depth`` levels down) that hold a rollout log, then the
    bundled run (assets/runs: a short real SG-RLVR run, so that a fresh machine has one to show)."""
    found = []
    for level in range(depth + 1):
        found += [p.parent for p in roots.runs.glob("/".join(["*"] * level + [FILENAME]))]
    bundled = sorted(p.parent for p in (roots.assets / "runs").glob(f"*/{FILENAME}"))
    return [roots.shown(p) for p in sorted(found) + bundled]


@functools.lru_cache(maxsize=4)
def _steps(path: str, mtime_ns: int, size: int) -> dict[int, list[dict]]:
    return RolloutLog(path).by_step()


def load_steps(folder: Path) -> dict[int, list[dict]]:
    """The log's rows by step (re-read only when the file changed)."""
    path = folder / FILENAME
    stat = path.stat()
    return _steps(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _problems(path: str, mtime_ns: int) -> dict[str, dict]:
    from spacer_core.data import load_dataset_jsonl

    maps = Path(path).parent / "cognitive_map.jsonl"
    records = load_dataset_jsonl(path, maps=maps if maps.is_file() else None)
    return {str(r["problem_id"]): r for r in records}


def load_problems(path: Path) -> dict[str, dict]:
    """Training records by problem id (questions, answers, true maps), re-read when the file changed."""
    from spacer_core.data import DataError

    try:
        return _problems(str(path), path.stat().st_mtime_ns)
    except DataError as err:
        raise gr.Error(f"training data: {err}") from None


def curves(steps: dict[int, list[dict]]):
    """Mean of each reward term per step (ordered completions; shuffled accuracy separately)."""
    import plotly.graph_objects as go

    xs = sorted(steps)
    fig = go.Figure()
    for label, shuffled, field in CURVES:
        ys = []
        for s in xs:
            vals = [r[field] for r in steps[s] if r["shuffled"] == shuffled and r.get(field) is not None]
            ys.append(sum(vals) / len(vals) if vals else None)
        if any(y is not None for y in ys):
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label, connectgaps=True))
    fig.update_layout(template="plotly_white", height=320, title="Reward terms over steps (mean per step)",
                      xaxis={"title": "step", "dtick": 1 if len(xs) <= 20 else None}, yaxis={"title": "mean"},
                      margin={"l": 10, "r": 10, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def _groups(rows: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        out[r["group"]].append(r)
    return dict(sorted(out.items()))


def _fmt(value: Any, signed: bool = False) -> Any:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.3f}" if signed else round(value, 3)
    return value


def _label(row: dict, index: int) -> str:
    return f"{'shuffled' if row['shuffled'] else 'ordered'} #{index + 1}"


def _ordered_first(rows: list[dict]) -> list[tuple[str, dict]]:
    ordered = [r for r in rows if not r["shuffled"]]
    shuffled = [r for r in rows if r["shuffled"]]
    return [(_label(r, i), r) for i, r in enumerate(ordered)] + [(_label(r, i), r) for i, r in enumerate(shuffled)]


def table(rows: list[dict]) -> list[list[Any]]:
    return [[name, _fmt(r.get("reward")), _fmt(r.get("advantage"), signed=True), _fmt(r.get("format")),
             _fmt(r.get("answer_accuracy")), _fmt(r.get("map_score")), _fmt(r.get("accuracy")),
             _fmt(r.get("temporal_bonus")), _fmt(r.get("length_bonus")), _fmt(r.get("length")),
             _fmt(r.get("answer")), " ".join(map(str, r["frame_order"])) if r.get("frame_order") else "–",
             visible(r["completion"])]
            for name, r in _ordered_first(rows)]


def maps_grid(rows: list[dict], problem: dict | None):
    """One small map per completion (ordered on the first row, shuffled on the second), each drawn
    over the prompt's true map when the training data has one."""
    from plotly.subplots import make_subplots

    true = (problem or {}).get("cognitive_map")
    categories = (problem or {}).get("map_categories") or (list(true) if true else None)
    named = _ordered_first(rows)
    ordered = [x for x in named if not x[1]["shuffled"]]
    shuffled = [x for x in named if x[1]["shuffled"]]
    cols = max(len(ordered), len(shuffled), 4)  # at least 4 across, so that small groups stay small
    grid = [ordered] + ([shuffled] if shuffled else [])
    titles = []
    for line in grid:
        for name, r in line + [("", None)] * (cols - len(line)):
            if r is None:
                titles.append("")
            else:
                score = r.get("map_score")
                titles.append(f"{name} · map {score:.2f}" if score is not None else f"{name} · no map")
    fig = make_subplots(rows=len(grid), cols=cols, subplot_titles=titles, horizontal_spacing=0.03,
                        vertical_spacing=0.1)
    shown: set[str] = set()
    for i, line in enumerate(grid, 1):
        for j, (_, r) in enumerate(line, 1):
            pred = parse_map(r["completion"], categories) if "<map>" in r["completion"] else {}
            for trace in map_plot(pred, true, "").data:
                trace.showlegend = bool(trace.name) and trace.name not in shown and trace.showlegend is not False
                shown.add(trace.name)
                fig.add_trace(trace, row=i, col=j)
    fig.update_xaxes(range=[0, GRID], dtick=1, showticklabels=False, showgrid=True, zeroline=False,
                     constrain="domain")
    fig.update_yaxes(range=[0, GRID], dtick=1, showticklabels=False, showgrid=True, zeroline=False)
    for k in range(1, len(grid) * cols + 1):  # square cells
        fig.update_layout({f"yaxis{'' if k == 1 else k}": {"scaleanchor": f"x{'' if k == 1 else k}"}})
    fig.update_layout(template="plotly_white", height=250 * len(grid) + 80, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"title": "● true, × predicted", "font": {"size": 10}},
                      title="Maps drawn by each completion" + ("" if true else " (no true map for this prompt)"))
    return fig


def _question(problem: dict | None, rows: list[dict], pid: str) -> str:
    if problem is None:
        return f"Problem **{pid}** ({rows[0].get('question_type')}) is not in the training data chosen above."
    options = "".join(f"\n- {o}" for o in problem.get("options") or [])
    return (f"**Problem {pid}** · {problem.get('question_type', '')} · scene {problem.get('scene_id', '?')} · "
            f"expected **{extract_answer(problem['solution'])}**\n\n> {problem['problem']}{options}")


class RolloutsView:
    """The tab's handlers over the folders a Roots allows."""

    def __init__(self, roots: Roots):
        self.roots = roots

    def _folder(self, run: str) -> Path:
        try:
            folder = self.roots.resolve(run, "training run", kind="dir")
        except PathRefused as err:
            raise gr.Error(str(err)) from None
        if not (folder / FILENAME).is_file():
            raise gr.Error(f"{run} has no {FILENAME}: is it a `spacer train` (rl stage) output folder?")
        return folder

    def _data(self, run: str, train_file: str) -> dict[str, dict]:
        """The run's questions and true maps: from ``train_file``, else from the training data the
        run recorded in its ``spacer_args.json``."""
        if not (train_file or "").strip():
            recorded = self._folder(run) / "spacer_args.json"
            if not recorded.is_file():
                return {}
            train_file = json.loads(recorded.read_text()).get("train_file", "")
        try:
            return load_problems(self.roots.resolve(train_file, "training data", kind="file"))
        except PathRefused as err:
            raise gr.Error(str(err)) from None

    def open(self, run: str, train_file: str):
        """(summary, curves, step slider, then the first step's views)."""
        folder = self._folder(run)
        steps = load_steps(folder)
        if not steps:
            raise gr.Error(f"{run}/{FILENAME} holds no complete step yet")
        first, last = min(steps), max(steps)
        rows = steps[first]
        ordered = sum(not r["shuffled"] for r in rows)
        summary = (f"**{len(steps)} steps** logged ({first}–{last}) · {len(_groups(rows))} prompt(s) per step · "
                   f"{ordered} ordered and {len(rows) - ordered} shuffled completions in step {first}")
        slider = gr.update(minimum=first, maximum=max(last, first + 1), value=first, interactive=last > first)
        return (summary, curves(steps), slider, *self.step(run, train_file, first, None))

    def step(self, run: str, train_file: str, step: float, group: str | None):
        """(prompt dropdown, question, table, maps) for one step and one prompt of it."""
        steps = load_steps(self._folder(run))
        step = min(steps, key=lambda s: abs(s - step))  # steps may be logged with gaps
        groups = _groups(steps[step])
        choices = [(f"prompt {g} · problem {rows[0]['problem_id']} · {rows[0].get('question_type')}", str(g))
                   for g, rows in groups.items()]
        key = int(group) if group is not None and group.isdigit() and int(group) in groups else next(iter(groups))
        rows = groups[key]
        problem = self._data(run, train_file).get(str(rows[0]["problem_id"]))
        return (gr.update(choices=choices, value=str(key)), _question(problem, rows, str(rows[0]["problem_id"])),
                table(rows), maps_grid(rows, problem))

    def completion(self, run: str, step: float, group: str | None, evt: gr.SelectData):
        """The full text of the completion whose table row was clicked, tags highlighted."""
        steps = load_steps(self._folder(run))
        step = min(steps, key=lambda s: abs(s - step))
        groups = _groups(steps[step])
        rows = groups.get(int(group)) if group and group.isdigit() else None
        named = _ordered_first(rows or [])
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if not named or not 0 <= row < len(named):
            return []
        return segments(visible(named[row][1]["completion"]))


@dataclass
class RolloutsTab:
    """What another tab needs to open a run here: `open` fills ``outputs`` from ``inputs``."""

    run: gr.Dropdown
    train_file: gr.Textbox
    inputs: list
    outputs: list
    open: Callable


def build(roots: Roots, tab: gr.Tab) -> RolloutsTab:
    """The tab's components and events (call inside ``tab``; its list of runs refreshes when selected)."""
    view = RolloutsView(roots)
    runs = training_runs(roots)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320, elem_classes=["panel"]):
            run = gr.Dropdown(runs, value=runs[0] if runs else None, allow_custom_value=True,
                              label="Training output folder", elem_id="roll-run",
                              info=f"a `spacer train` output_dir under {roots.shown(roots.runs)}/, or the "
                                   "bundled run in assets/runs/")
            train_file = gr.Textbox("", label="Training data (questions and true maps)", elem_id="roll-train",
                                    placeholder="default: the run's own training data (spacer_args.json)")
            go = gr.Button("Open", variant="primary", elem_id="roll-open")
            summary = gr.Markdown(elem_classes=["status"], elem_id="roll-summary")
        with gr.Column(scale=3, min_width=420):
            curve_plot = gr.Plot(label="Reward curves", elem_id="roll-curves")
    with gr.Row(equal_height=True):
        step = gr.Slider(0, 1, step=1, value=0, label="Step", interactive=False, scale=3, elem_id="roll-step")
        group = gr.Dropdown([], label="Prompt in this step", scale=2, elem_id="roll-group")
    question = gr.Markdown(elem_id="roll-question")
    rollouts = gr.Dataframe(headers=COLUMNS, label="Completions of this prompt. reward = format + acc. (the "
                            "answer score after the map gate) + temporal + length bonus; adv. = advantage. Click a "
                            "row to read it in full.", interactive=False, wrap=True, max_chars=160, column_widths=WIDTHS,
                            elem_id="roll-table")
    full = gr.HighlightedText(label="Selected completion (click a row above)", color_map=TAG_COLORS,
                              combine_adjacent=True, elem_id="roll-full")
    maps = gr.Plot(label="Maps", elem_id="roll-maps")

    per_step = [group, question, rollouts, maps]
    tab.select(lambda: gr.update(choices=training_runs(roots)), None, run, queue=False, api_visibility="private")
    go.click(view.open, [run, train_file], [summary, curve_plot, step, *per_step], api_name="rollouts",
             show_progress_on=summary)
    step.release(view.step, [run, train_file, step, group], per_step, api_visibility="private")
    group.input(view.step, [run, train_file, step, group], per_step, api_visibility="private")
    rollouts.select(view.completion, [run, step, group], full, api_visibility="private")
    return RolloutsTab(run, train_file, [run, train_file], [summary, curve_plot, step, *per_step], view.open)
