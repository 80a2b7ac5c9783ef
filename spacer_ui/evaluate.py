"""Evaluate tab: run a benchmark with the app's model (the same `spacer_core.eval` functions as
`spacer eval`), with a progress bar; then the per-type table and chart, a comparison with earlier
runs of the same benchmark in the runs folder, and the result files to download."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr

from spacer_core.eval import BENCHMARKS, BenchmarkError, RunError, compare_runs, evaluate, get_benchmark
from spacer_core.eval.controls import add_controls
from spacer_core.eval.report import load_summary
from spacer_ui.ask import MODES
from spacer_ui.model import MODEL_QUEUE, ModelHost, ModelNotReady
from spacer_ui.paths import PathRefused, Roots

RESULT_FILES = ("summary.md", "summary.json", "results.jsonl", "run.json")
COMPARE_WITH = 3  # earlier runs of the same benchmark shown next to a run
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
PROGRESS = gr.Progress(track_tqdm=True)  # Gradio fills a handler's Progress default; this one follows tqdm


def finished_runs(roots: Roots) -> list[Path]:
    """Run folders with a summary under the runs folder's eval/, oldest first."""
    if not roots.eval_dir.is_dir():
        return []
    runs = [p.parent for p in roots.eval_dir.glob("*/summary.json")]
    return sorted(runs, key=lambda p: (p / "summary.json").stat().st_mtime)


def _run_name(text: str | None, bench: str, model: str, mode: str) -> str:
    name = (text or "").strip()
    if not name:
        path = Path(model)
        # a trained model is RUN/final: its run's name says more
        short = re.sub(r"[^A-Za-z0-9._-]+", "-", (path.parent.name if path.name == "final" else path.name) or model)
        return f"{bench}-{short}-{mode}-{datetime.now():%Y%m%d-%H%M%S}"
    if not _NAME.match(name):
        raise gr.Error(f"run name {name!r}: use letters, digits, '.', '_' and '-' only")
    return name


def _chart(summary: dict[str, Any]):
    import plotly.graph_objects as go

    per_type = summary.get("per_type", {})
    types = sorted(per_type, key=lambda t: per_type[t])
    fig = go.Figure(go.Bar(x=[per_type[t] for t in types], y=[t.replace("_", " ") for t in types],
                           orientation="h", marker_color="#6366f1", name="own video",
                           text=[f"{per_type[t]:.1f}" for t in types], textposition="auto"))
    # Runs with controls: the same types without their own video, beside (spacer_core.eval.controls).
    for name, scores in ((summary.get("controls") or {}).get("scores") or {}).items():
        if name != "normal":
            fig.add_trace(go.Bar(x=[scores["per_type"].get(t, 0) for t in types], y=[t.replace("_", " ") for t in types],
                                 orientation="h", name=name))
    fig.add_vline(x=summary["overall"], line_dash="dash", line_color="#ef4444",
                  annotation_text=f"overall {summary['overall']:.1f}", annotation_position="top")
    if summary.get("chance"):  # what ignoring the video scores (the sim with its train split)
        fig.add_vline(x=summary["chance"]["overall"], line_dash="dot", line_color="#6b7280",
                      annotation_text=f"chance/prior {summary['chance']['overall']:.1f}",
                      annotation_position="bottom")
    fig.update_layout(template="plotly_white", height=max(260, 34 * len(types) + 90),
                      margin={"l": 10, "r": 20, "t": 30, "b": 30}, xaxis={"range": [0, 100], "title": "score ×100"})
    return fig


def show_run(run: str | Path | None, roots: Roots):
    """(headline, per-type rows, chart, comparison, files) of a finished run folder."""
    if not run:
        return "", [], None, "", []
    try:
        path = roots.resolve(str(run), "run", kind="dir")
        summary = load_summary(path)
    except (PathRefused, ValueError) as err:
        raise gr.Error(str(err)) from None
    setup = summary.get("setup", {})
    map_note = ""
    if summary.get("map"):
        mean = summary["map"].get("mean")
        map_note = f" · mean map score {'–' if mean is None else f'{mean:.3f}'} ({summary['map']['count']} maps)"
    chance = f" (chance/prior {summary['chance']['overall']:.1f})" if summary.get("chance") else ""
    headline = (f"### {path.name}: {summary['overall']:.1f}{chance}\n{summary.get('title', summary['benchmark'])} · "
                f"model `{setup.get('model', '?')}` · mode {setup.get('mode', '?')} · {summary['n']} items "
                f"({summary.get('errors', 0)} errors){map_note} · folder `{roots.shown(path)}`")
    for gain, g in ((summary.get("controls") or {}).get("gains") or {}).items():
        lo, hi = g["overall_ci95"]
        headline += f"\n\n**{gain}** (own video − {g['control']}): {g['overall']:+.1f}, 95% interval {lo:+.1f} to {hi:+.1f}"
    counts = summary.get("counts", {})
    rows = [[t, counts.get(t, ""), round(v, 1)] for t, v in sorted(summary.get("per_type", {}).items())]
    rows.append(["overall", summary["n"], round(summary["overall"], 1)])
    earlier = [p for p in finished_runs(roots) if p != path and _benchmark(p) == summary["benchmark"]
               and (p / "summary.json").stat().st_mtime <= (path / "summary.json").stat().st_mtime]
    if earlier:
        comparison = compare_runs([*earlier[-COMPARE_WITH:], path]).replace("# ", "#### ", 1)  # a sub-heading here
    else:
        comparison = "No earlier run of this benchmark in the runs folder to compare with."
    files = [str(path / f) for f in RESULT_FILES if (path / f).is_file()]
    return headline, rows, _chart(summary), comparison, files


def _benchmark(run: Path) -> str | None:
    try:
        return load_summary(run).get("benchmark")
    except ValueError:  # unreadable: left out of comparisons
        return None


def _run_choices(roots: Roots) -> list[tuple[str, str]]:
    return [(p.name, str(p)) for p in reversed(finished_runs(roots))]


def make_run(host: ModelHost, roots: Roots):
    def run(bench_name: str, data_root: str, limit: float | None, batch_size: float, mode: str,
            max_new_tokens: float | None, run_name: str, controls: list[str] | None = None, progress=PROGRESS):
        """Run a benchmark into the runs folder, then each control (`spacer eval --control`) into its
        ``controls/NAME``; returns the same views as `show_run`."""
        try:
            bench = get_benchmark(bench_name)
            root = roots.resolve(data_root, "data root", kind="dir") if (data_root or "").strip() \
                else bench.default_root
            if root is None:
                raise PathRefused(f"{bench_name} needs a data root (its layout: docs/eval.md)")
            items = bench.load(Path(root))
        except (BenchmarkError, PathRefused) as err:
            raise gr.Error(str(err)) from None
        if limit:
            items = items[: int(limit)]
        if not items:
            raise gr.Error(f"no items to evaluate in {data_root}")
        _run_name(run_name, bench_name, "model", mode)  # a bad name is refused before the wait
        progress(0, desc="waiting for the model")
        try:
            model, reasoner = host.current()  # the app's model now (the Train tab can switch it)
        except ModelNotReady as err:
            raise gr.Error(str(err)) from None
        out = roots.eval_dir / _run_name(run_name, bench_name, model, mode)
        if out.exists():
            raise gr.Error(f"{roots.shown(out)} already exists: choose another run name")
        gen: dict[str, Any] = {"temperature": 0.0}  # greedy, as `spacer eval` by default
        if max_new_tokens:
            gen["max_new_tokens"] = int(max_new_tokens)
        setup = {"model": model, "data_root": str(root), "limit": int(limit) if limit else None}
        options = dict(mode=mode, batch_size=int(batch_size), setup=setup, gen=gen, progress=True)
        try:
            summary = evaluate(bench, items, reasoner, out, **options)
            for name in controls or []:
                evaluate(bench, items, reasoner, out / "controls" / name, control=name, **options)
        except RunError as err:
            raise gr.Error(str(err)) from None
        if controls:
            add_controls(bench, out, summary, controls)
        return (*show_run(out, roots), gr.update(choices=_run_choices(roots), value=str(out)),
                f"✓ Finished: {len(items)} items → `{roots.shown(out)}`")

    return run


def build(host: ModelHost, roots: Roots, tab: gr.Tab) -> None:
    """The tab's components and events (call inside ``tab``; its list of runs refreshes when selected)."""
    sim = get_benchmark("sim")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320, elem_classes=["panel"]):
            bench = gr.Dropdown(list(BENCHMARKS), value="sim", label="Benchmark", elem_id="eval-bench")
            data_root = gr.Textbox(roots.shown(sim.default_root), label="Data root", elem_id="eval-root",
                                   info=f"Folders under {roots.shown(roots.assets)}/ or {roots.shown(roots.runs)}/ "
                                        "only; layouts in docs/eval.md")
            with gr.Row():
                limit = gr.Number(10, precision=0, minimum=1, label="Limit", info="first N items; empty: all",
                                  elem_id="eval-limit")
                batch = gr.Number(1, precision=0, minimum=1, maximum=64, label="Batch size",
                                  info="questions per generate call")
            mode = gr.Radio(MODES, value=sim.default_mode, label="Mode")
            max_new = gr.Number(None, precision=0, minimum=1, label="Max new tokens",
                                info="empty: the mode's default (1024; 16 in direct mode)", elem_id="eval-max-new")
            controls = gr.CheckboxGroup(["blind", "swap", "shuffle", "first-frame"], value=[], label="Controls",
                                        info="then run the items again with no video, another scene's video, "
                                             "shuffled frames or the first frame only; the gains are shown",
                                        elem_id="eval-controls")
            run_name = gr.Textbox(label="Run name", placeholder="automatic: benchmark-model-mode-time", elem_id="eval-name",
                                  info=f"results go to {roots.shown(roots.eval_dir)}/NAME")
            go = gr.Button("Run evaluation", variant="primary", elem_id="eval-run")
        with gr.Column(scale=3, min_width=420):
            status = gr.Markdown("Decoding is greedy, as `spacer eval` by default. Runs share the model queue "
                                 "with the Ask tab.", elem_classes=["status"], elem_id="eval-status")
            previous = gr.Dropdown(_run_choices(roots), value=None, label="Finished runs in the runs folder",
                                   elem_id="eval-previous")
            headline = gr.Markdown(elem_id="eval-headline")
            with gr.Row(equal_height=False):
                table = gr.Dataframe(headers=["question type", "n", "score"], interactive=False, scale=2,
                                     label="Scores by question type (×100)", elem_id="eval-table")
                chart = gr.Plot(label="Scores by question type", scale=3, elem_id="eval-chart")
            comparison = gr.Markdown(elem_id="eval-compare")
            files = gr.File(label="Result files", file_count="multiple", interactive=False, elem_id="eval-files")

    def on_bench(name: str):
        b = get_benchmark(name)
        root = roots.shown(b.default_root) if b.default_root else ""
        return root, b.default_mode

    views = [headline, table, chart, comparison, files]
    bench.input(on_bench, bench, [data_root, mode], queue=False, api_visibility="private")
    tab.select(lambda: gr.update(choices=_run_choices(roots)), None, previous, queue=False, api_visibility="private")
    previous.input(lambda run: show_run(run, roots), previous, views, api_visibility="private")
    go.click(make_run(host, roots), [bench, data_root, limit, batch, mode, max_new, run_name, controls],
             [*views, previous, status], api_name="evaluate", concurrency_id=MODEL_QUEUE, concurrency_limit=1,
             show_progress_on=chart)
