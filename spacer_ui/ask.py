"""Ask tab: a video (uploaded or a bundled sample) and a question; the reasoning streams as it is
generated, then the parsed answer, the tagged completion, the sampled frames and the cognitive map
(predicted vs true, with its score, when the sample carries a true map).

The click is the ``/ask`` API endpoint: ``ask(video, question, options, mode, frames, max_new_tokens,
temperature, categories, sample)`` → (reasoning, answer, map figure, verdict, highlighted text,
map breakdown, frames, status).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import gradio as gr

from spacer_core.cogmap import score_map_details
from spacer_core.infer import DEFAULT_MAX_NEW_TOKENS, DEFAULT_TEMPERATURE, Result
from spacer_core.video import VideoError, VideoSettings, load_clip
from spacer_ui.model import MODEL_QUEUE, ModelHost, ModelNotReady
from spacer_ui.render import BREAKDOWN_HEADERS, TAG_COLORS, breakdown_rows, map_plot, segments, visible
from spacer_ui.samples import SIM_TEST, sample_choices, sim_items

MODES = [("Think + cognitive map", "thinking_map"), ("Think", "thinking"), ("Direct answer", "direct")]
DISPLAY_PIXELS = 224 * 224  # the frame strip shows the sampled frames at this size, whatever the model sees
STREAM_EVERY = 0.1  # seconds between streamed updates of the reasoning


def _options(text: str | None) -> list[str] | None:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines or None


def _categories(text: str | None) -> list[str] | None:
    cats = [c.strip() for c in (text or "").split(",") if c.strip()]
    return cats or None


def pick_sample(sample_id: str | None):
    """Fill the inputs from a bundled sample: video, question, options, categories to map."""
    item = sim_items().get(sample_id or "")
    if item is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return item.video, item.question, "\n".join(item.options or []), ", ".join(item.categories or [])


def _video(video: str | None, item, max_upload_mb: int) -> str:
    """The file to read; refuses a missing choice or an upload over the cap (before decoding it)."""
    path = video or (item.video if item is not None else None)
    if not path:
        raise gr.Error("Pick a bundled sample or upload a video first.")
    size = os.path.getsize(path)
    if size > max_upload_mb * 2**20:
        raise gr.Error(f"{Path(path).name} is {size / 2**20:.1f} MB; the limit is {max_upload_mb} MB.")
    return path


def _checked(video: str | None, question: str, mode: str, sample: str | None, max_upload_mb: int):
    """(the sample item or None, the video file): the inputs every ask needs, refused with a message."""
    item = sim_items().get(sample or "")
    path = _video(video, item, max_upload_mb)
    if not (question or "").strip():
        raise gr.Error("Type a question.")
    if mode not in DEFAULT_MAX_NEW_TOKENS:
        raise gr.Error(f"mode must be one of {list(DEFAULT_MAX_NEW_TOKENS)}, got {mode!r}")
    return item, path


def _reasoner(host: ModelHost):
    try:
        return host.get()
    except ModelNotReady as err:
        raise gr.Error(str(err)) from None


def _frame_strip(path: str, settings: VideoSettings) -> list[tuple[Any, str]]:
    """The frames the model sees (same frame plan), at display size, captioned with their time."""
    shown = replace(settings, max_pixels=DISPLAY_PIXELS, min_pixels=min(settings.min_pixels, DISPLAY_PIXELS))
    clip = load_clip(path, **asdict(shown))
    return [(frame, f"{t:.1f} s") for frame, t in zip(clip.frames, clip.timestamps, strict=True)]


def _verdict(item, result: Result) -> str:
    if item is None:
        return "No ground truth: this video is not a bundled sample."
    from spacer_core.eval import get_benchmark

    score = get_benchmark(SIM_TEST).score(item, result.raw)
    rule = "exact option letter" if item.problem_type == "multiple choice" else "mean relative accuracy"
    parts = [f"Expected **{item.ground_truth}** · answer score **{score.score:.2f}** ({rule})"]
    map_score = score.extra.get("map_score")
    if map_score is not None:
        parts.append(f"map score **{map_score:.2f}**")
    return " · ".join(parts)


def _status(result: Result) -> str:
    h, w = result.frame_size
    note = "" if result.answer else " · no answer could be parsed from the completion"
    seen = f"{result.frames} frames of {w}×{h}" if result.frames else "no video"
    return (f"✓ Done in {result.seconds:.1f} s · {result.completion_tokens} new tokens · "
            f"{seen} · prompt {result.prompt_tokens} tokens{note}")


def make_ask(host: ModelHost, max_upload_mb: int):
    """The handler behind the Ask button and the ``/ask`` endpoint (a generator: it streams)."""

    def ask(video: str | None, question: str, options: str = "", mode: str = "thinking_map", frames: int = 8,
            max_new_tokens: int = 1024, temperature: float = DEFAULT_TEMPERATURE, categories: str = "",
            sample: str | None = None):
        item, path = _checked(video, question, mode, sample, max_upload_mb)
        yield ("", "", None, "", [], [], None, "Waiting for the model …")
        reasoner = _reasoner(host)
        settings = replace(reasoner.video, nframes=int(frames))
        try:
            clip = settings.load(path)
            strip = _frame_strip(path, settings)
        except VideoError as err:
            name = Path(path).name
            raise gr.Error(f"{name} is not a video this app can read ({err.reason.replace(path, name)})") from None
        yield ("", "", None, "", [], [], strip, f"Generating from {clip.num_frames} frames …")
        opts = _options(options)
        problem_type = item.problem_type if item is not None else None
        last = 0.0
        result: Result | None = None
        steps = reasoner.stream(clip, question, opts, mode, _categories(categories), problem_type,
                                max_new_tokens=int(max_new_tokens), temperature=float(temperature))
        try:
            for step in steps:
                if isinstance(step, Result):
                    result = step
                elif time.monotonic() - last > STREAM_EVERY:
                    last = time.monotonic()
                    yield (step, gr.skip(), gr.skip(), gr.skip(), segments(visible(step)), gr.skip(), gr.skip(),
                           f"Generating … {len(step)} characters")
        except ValueError as err:  # a question the prompt cannot hold (e.g. more than 26 options)
            raise gr.Error(str(err)) from None
        assert result is not None  # stream() always ends with the Result
        true = item.true_map if item is not None else None
        if true is not None:
            title = "Predicted × vs true ●" if result.map else "True map (the completion drew none)"
            details = breakdown_rows(score_map_details(result.map or {}, true))
        else:
            title = "Predicted map" if result.map else "No <map> in the completion"
            details = []
        figure = map_plot(result.map, true, title)
        yield (result.raw, result.answer, figure, _verdict(item, result), segments(visible(result.raw)),
               details, strip, _status(result))

    return ask


# The Ask tab's comparison: the same question again without the video as it is.
WITHOUT = {"another scene's video": "swap", "its frames shuffled": "shuffle", "no video": "blind"}


def _other_video(item, path: str) -> str:
    """Another scene's video: the swap control's choice for a bundled sample, else the first bundled
    scene other than the asked file."""
    from spacer_core.eval.controls import swap_plan

    samples = list(sim_items().values())
    if item is not None:
        return swap_plan(samples)[item.id].video
    return next(s.video for s in samples if Path(s.video).resolve() != Path(path).resolve())


def make_ask_without(host: ModelHost, max_upload_mb: int):
    """The handler behind "Ask again" and the ``/ask_without`` endpoint: the same question, settings
    and sample, with the video swapped, its frames shuffled, or none (`spacer eval --control`)."""
    from spacer_core.eval.controls import shuffled
    from spacer_core.infer import Query

    def ask_without(video: str | None, question: str, options: str = "", mode: str = "thinking_map", frames: int = 8,
                    max_new_tokens: int = 1024, temperature: float = DEFAULT_TEMPERATURE, categories: str = "",
                    sample: str | None = None, without: str = "no video"):
        item, path = _checked(video, question, mode, sample, max_upload_mb)
        if without not in WITHOUT:
            raise gr.Error(f"without must be one of {list(WITHOUT)}, got {without!r}")
        reasoner = _reasoner(host)
        settings = replace(reasoner.video, nframes=int(frames))
        control = WITHOUT[without]
        try:
            clip = None if control == "blind" else settings.load(_other_video(item, path) if control == "swap" else path)
        except VideoError as err:
            raise gr.Error(f"{Path(path).name} is not a video this app can read ({err.reason})") from None
        if control == "shuffle":
            clip = shuffled(clip, path)
        query = Query(clip, question, _options(options), mode, _categories(categories),
                      item.problem_type if item is not None else None)
        result = reasoner.answer_batch([query], max_new_tokens=int(max_new_tokens), temperature=float(temperature))[0]
        true = item.true_map if item is not None else None
        figure = map_plot(result.map, true, f"With {without}: " + ("predicted × vs true ●" if true else "predicted"))
        return result.answer, figure, _verdict(item, result), f"With {without}: " + _status(result)

    return ask_without


def build(host: ModelHost, model: str, max_upload_mb: int) -> None:
    """The tab's components and events (call inside a gr.Tab)."""
    defaults = VideoSettings.for_model(model)
    choices = sample_choices()
    first = choices[0][1] if choices else None  # selected from the start, so the first click answers
    video0, question0, options0, categories0 = pick_sample(first) if first else (None, "", "", "")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=340, elem_classes=["panel"]):
            sample = gr.Dropdown(choices, value=first, label="Bundled sample (assets/sim test split)",
                                 info="Fills in the video, question and options; its true map is drawn "
                                      "against the prediction.", elem_id="ask-sample")
            video = gr.Video(video0, label="Video (or upload your own)", sources=["upload"], height=230,
                             elem_id="ask-video")
            question = gr.Textbox(question0, label="Question", lines=2, placeholder="How many chairs are in this room?",
                                  elem_id="ask-question")
            options = gr.Textbox(options0, label="Options (optional, one per line)", lines=2,
                                 placeholder="A. left\nB. right", elem_id="ask-options")
            mode = gr.Radio(MODES, value="thinking_map", label="Mode", elem_id="ask-mode")
            with gr.Accordion("Generation settings", open=False):
                frames = gr.Slider(2, 32, step=2, value=defaults.nframes or 16, label="Frames sampled (evenly)",
                                   elem_id="ask-nframes")
                max_new = gr.Slider(16, 2048, step=16, value=DEFAULT_MAX_NEW_TOKENS["thinking_map"],
                                    label="Max new tokens", elem_id="ask-max-new")
                temperature = gr.Slider(0.0, 1.5, step=0.01, value=DEFAULT_TEMPERATURE, label="Temperature",
                                        info="0 = greedy; SpaceR evaluates with 0.01", elem_id="ask-temperature")
                categories = gr.Textbox(categories0, label="Categories to map (comma-separated)",
                                        placeholder="default: a generic indoor list")
            ask_btn = gr.Button("Ask", variant="primary", size="lg", elem_id="ask-button")
        with gr.Column(scale=3, min_width=420):
            alert = gr.HTML("", elem_id="ask-alert", padding=False)
            status = gr.Markdown("A bundled sample is ready: press **Ask**, or pick another sample or upload a "
                                 "video.", elem_id="ask-status",
                                 elem_classes=["status"])
            strip = gr.Gallery(label="Frames the model sees (time in the video)", columns=4, height=370,
                               object_fit="contain", allow_preview=True, elem_id="ask-frames")
            with gr.Row(equal_height=True):
                answer = gr.Textbox(label="Answer", interactive=False, scale=1, min_width=120, placeholder="–",
                                    elem_id="ask-answer", elem_classes=["answer"])
                verdict = gr.Markdown(elem_id="ask-verdict", elem_classes=["verdict"])
            highlighted = gr.HighlightedText(label="Reasoning, as it is generated: <think>, <map> and <answer> "
                                                   "highlighted", color_map=TAG_COLORS, combine_adjacent=True,
                                             show_legend=True, elem_id="ask-highlighted")
            with gr.Accordion("Raw completion", open=False):
                reasoning = gr.Textbox(label="Completion as generated", lines=4, max_lines=16,
                                       interactive=False, elem_id="ask-reasoning")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=420):
            plot = gr.Plot(label="Cognitive map (10×10 grid, top view)", elem_id="ask-map")
            with gr.Accordion("Does it need the video? Ask again without it", open=False):
                with gr.Row(equal_height=True):
                    without = gr.Radio(list(WITHOUT), value="another scene's video", label="Ask again with",
                                       elem_id="ask-without", scale=3)
                    again = gr.Button("Ask again", elem_id="ask-again", scale=1)
                again_status = gr.Markdown(elem_id="ask-again-status")
                with gr.Row(equal_height=True):
                    again_answer = gr.Textbox(label="Answer", interactive=False, scale=1, min_width=120,
                                              elem_id="ask-again-answer")
                    again_verdict = gr.Markdown(elem_id="ask-again-verdict")
                again_plot = gr.Plot(label="Its cognitive map", elem_id="ask-again-map")
        with gr.Column(scale=1, min_width=340):
            breakdown = gr.Dataframe(headers=BREAKDOWN_HEADERS, label="Map score by category (weights: share of "
                                     "true objects)", interactive=False, wrap=True, max_height=460,
                                     column_widths=["22%", "9%", "10%", "14%", "12%", "33%"],
                                     elem_id="ask-breakdown")

    ui_only = {"queue": False, "api_visibility": "private"}
    sample.input(pick_sample, sample, [video, question, options, categories], **ui_only)
    video.upload(lambda: None, None, sample, **ui_only)  # an uploaded video has no true map
    video.clear(lambda: None, None, sample, **ui_only)
    mode.input(lambda m: DEFAULT_MAX_NEW_TOKENS[m], mode, max_new, **ui_only)
    ask_btn.click(make_ask(host, max_upload_mb),
                  [video, question, options, mode, frames, max_new, temperature, categories, sample],
                  [reasoning, answer, plot, verdict, highlighted, breakdown, strip, status],
                  api_name="ask", concurrency_id=MODEL_QUEUE, concurrency_limit=1,
                  # The status line reports progress itself. Gradio marks a failed event's progress target
                  # with an "Error" badge: an empty strip of its own, so it covers no text (the message
                  # itself shows as a notice).
                  show_progress_on=alert)
    again.click(make_ask_without(host, max_upload_mb),
                [video, question, options, mode, frames, max_new, temperature, categories, sample, without],
                [again_answer, again_plot, again_verdict, again_status], api_name="ask_without",
                concurrency_id=MODEL_QUEUE, concurrency_limit=1, show_progress_on=alert)
