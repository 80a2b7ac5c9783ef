"""Maps tab: paste a completion or a map, choose or paste the true map, and see both drawn with the
matching and the score under SpaceR's greedy matching and the optimal (Hungarian) one."""

from __future__ import annotations

import json

import gradio as gr

from spacer_core.cogmap import GRID, CogMap, load_map, parse_map, score_map_details
from spacer_ui.render import map_plot
from spacer_ui.samples import scene_maps

HEADERS = ["category", "true", "predicted", "greedy", "optimal", "greedy pairs", "optimal pairs"]


def example_completion(scene: str | None) -> str:
    """A made-up completion to try the scorer on: the scene's true map with every object moved two
    cells to the right (clamped to the grid; greedy and optimal matching then often differ) and the
    first category left out."""
    true = scene_maps().get(scene or "")
    if not true:
        return '<think><map>{"chair": [[2, 3], [7, 7]], "table": [[4, 4]]}</map></think><answer>2</answer>'
    moved = {cat: [[min(x + 2, GRID - 1), y] for x, y in pts] for cat, pts in list(true.items())[1:]}
    return f"<think>Let me map the room.\n<map>{json.dumps(moved)}</map>\nDone.</think><answer>A</answer>"


def _true_map(scene: str | None, pasted: str | None) -> tuple[CogMap | None, str]:
    if (pasted or "").strip():
        try:
            return load_map(pasted, "pasted true map"), "the pasted map"
        except ValueError as err:
            raise gr.Error(str(err)) from None
    if scene:
        if scene not in scene_maps():
            raise gr.Error(f"unknown scene {scene!r}")
        return scene_maps()[scene], scene
    return None, ""


def _pairs(row) -> str:
    return ", ".join(f"#{i + 1}↔#{j + 1}: {s:.2f}" for i, j, _, s in row.pairs) or "–"


def score(completion: str, scene: str | None, pasted: str | None):
    """(summary, greedy figure, optimal figure, table rows, parsed prediction as JSON)."""
    true, source = _true_map(scene, pasted)
    pred = parse_map(completion or "", list(true) if true else None)
    parsed = json.dumps({k: [list(p) for p in v] for k, v in pred.items()}, indent=1)
    if true is None:
        fig = map_plot(pred, None, "Predicted map (no true map chosen)")
        return "Choose a bundled scene or paste a true map to score against.", fig, None, [], parsed
    greedy = score_map_details(pred, true, matching="greedy")
    optimal = score_map_details(pred, true, matching="hungarian")
    rows = [[g.category, g.n_true, g.n_pred, round(g.accuracy, 3), round(o.accuracy, 3), _pairs(g), _pairs(o)]
            for g, o in zip(greedy.categories, optimal.categories, strict=True)]
    n_pred = sum(len(v) for v in pred.values())
    summary = (f"Against **{source}**: greedy (SpaceR) score **{greedy.score:.3f}** · optimal (Hungarian) "
               f"score **{optimal.score:.3f}** · {n_pred} predicted objects read in {len(pred)} categories")
    if not pred:
        summary += " · ⚠ no map could be read from the text"
    return (summary, map_plot(pred, true, "Greedy matching", "greedy", height=430),
            map_plot(pred, true, "Optimal matching", "hungarian", height=430), rows, parsed)


def build() -> None:
    """The tab's components and events (call inside a gr.Tab)."""
    scenes = sorted(scene_maps())
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=380):
            completion = gr.Textbox(label="Completion or map", lines=7, max_lines=20, elem_id="maps-completion",
                                    placeholder='<think>… <map>{"chair": [[2, 3]], "table": [[5, 5]]}</map> …'
                                                "</think><answer>B</answer>\n\nor just a map: chair: (2, 3); "
                                                "table: [5, 5]")
            with gr.Row():
                example = gr.Button("Load an example", size="sm")
                go = gr.Button("Score", variant="primary", size="sm", elem_id="maps-score")
        with gr.Column(scale=2, min_width=300):
            scene = gr.Dropdown(scenes, value=scenes[0] if scenes else None, label="True map: a bundled scene",
                                elem_id="maps-scene")
            pasted = gr.Textbox(label="… or paste a true map (JSON, category → [[x, y], …])", lines=3,
                                placeholder='{"chair": [[2, 3], [7, 7]], "table": [[4, 4]]}')
    summary = gr.Markdown(elem_classes=["status"], elem_id="maps-summary")
    with gr.Row(equal_height=False):
        greedy_plot = gr.Plot(label="Greedy matching (SpaceR's reward)", elem_id="maps-greedy")
        optimal_plot = gr.Plot(label="Optimal matching (Hungarian)", elem_id="maps-optimal")
    table = gr.Dataframe(headers=HEADERS, label="By category (accuracy per category; pairs: predicted # ↔ true #: "
                         "pair score)", interactive=False, wrap=True, elem_id="maps-table")
    with gr.Accordion("Prediction as read by the parser", open=False):
        parsed = gr.Code(language="json", label="parsed map (keys matched to the true map's categories)")

    outputs = [summary, greedy_plot, optimal_plot, table, parsed]
    example.click(example_completion, scene, completion, queue=False, api_visibility="private").then(
        score, [completion, scene, pasted], outputs, api_visibility="private")
    go.click(score, [completion, scene, pasted], outputs, api_name="score_map", show_progress_on=summary)
    scene.input(score, [completion, scene, pasted], outputs, api_visibility="private")
