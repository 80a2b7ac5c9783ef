"""The SpaceR workbench: a Gradio app with five tabs (Ask, Maps, Evaluate, Rollouts, Train).

`build_app` returns the Blocks (tests build it directly); `serve` launches it with the workbench's
file rules (only assets/ and the runs folder are served, uploads are capped); `launch` is
`spacer ui`. The model loads once, in the background, when the app is built.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import gradio as gr

from spacer_ui import ask, evaluate, maps, rollouts, train
from spacer_ui.model import ModelHost
from spacer_ui.paths import Roots

TITLE = "SpaceR workbench"
CSS = """
.gradio-container {max-width: 1500px !important; margin: auto;}
#header {padding: 4px 4px 0 4px;}
#header h1 {margin-bottom: 0; font-size: 1.7em;}
#model-status {font-size: 0.95em; opacity: 0.9;}
.panel {background: var(--block-background-fill); border-radius: var(--radius-lg);}
.status {min-height: 1.6em;}
.answer textarea, .answer input {font-size: 1.5em !important; font-weight: 600; text-align: center;}
.verdict {align-self: center; font-size: 1.05em;}
"""
INTRO = ("Ask a video a spatial question and watch the model reason through a **cognitive map** "
         "(SpaceR, SG-RLVR). Maps: score any map against a true one. Evaluate: run a benchmark. "
         "Rollouts: inspect what a training run generated. Train: a short run of the tiny model, live.")


def _theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="amber", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def build_app(model: str = "tiny", *, runs_dir: str | Path = "runs", max_upload_mb: int = 200) -> gr.Blocks:
    """The workbench for ``model`` (tiny, a checkpoint folder or a hub id). ``runs_dir``: training
    runs and evaluation outputs (the only folder besides assets/ the app reads or writes);
    ``max_upload_mb``: the largest video accepted. Start it with `serve`."""
    roots = Roots.create(runs_dir)
    host = ModelHost(model)
    with gr.Blocks(title=TITLE, delete_cache=(3600, 24 * 3600), analytics_enabled=False) as app:
        with gr.Column(elem_id="header"):
            gr.Markdown(f"# {TITLE}\n{INTRO}")
            status = gr.Markdown(host.status(), elem_id="model-status")
        # The header follows the model: loading, then ready (and again after the Train tab switches
        # it, which every session must see).
        timer = gr.Timer(2.0)
        timer.tick(host.status, None, status, queue=False, api_visibility="private", show_progress="hidden")
        with gr.Tabs() as tabs:
            with gr.Tab("Ask a video", id="ask"):
                ask.build(host, model, max_upload_mb)
            with gr.Tab("Maps", id="maps"):
                maps.build()
            with gr.Tab("Evaluate", id="evaluate") as tab:
                evaluate.build(host, roots, tab)
            with gr.Tab("Rollouts", id="rollouts") as tab:
                roll = rollouts.build(roots, tab)
            with gr.Tab("Train", id="train") as tab:
                train.build(host, roots, tab, tabs, roll, status)
    app.spacer_roots = roots  # read by `serve`
    app.spacer_max_upload_mb = max_upload_mb
    return app


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """("USER", "PASS") from "USER:PASS" (the password may contain ':'); None without auth."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must be USER:PASS")
    return user, password


def serve(app: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          prevent_thread_lock: bool = False, quiet: bool = False) -> str:
    """Launch an app from `build_app`; returns its local URL. Only the bundled assets and the runs
    folder are served (besides Gradio's own upload cache); ``auth`` is "USER:PASS"."""
    roots: Roots = app.spacer_roots
    app.queue(default_concurrency_limit=4)
    app.launch(server_name=host, server_port=port, auth=parse_auth(auth), prevent_thread_lock=prevent_thread_lock,
               allowed_paths=roots.readable, blocked_paths=roots.blocked(), max_file_size=app.spacer_max_upload_mb
               * 2**20, theme=_theme(), css=CSS, quiet=quiet, show_error=True, ssr_mode=False,
               footer_links=["api", "gradio"])
    return app.local_url


def launch(args: argparse.Namespace) -> None:
    """`spacer ui`: build the app for ``args.model`` and serve it until interrupted."""
    parse_auth(args.auth)  # a malformed --auth fails before the model starts loading
    app = build_app(args.model, runs_dir=args.runs_dir, max_upload_mb=args.max_upload_mb)
    # SIGTERM (docker stop, systemd) ends the app as Ctrl-C does, so its exit handlers run (the Train
    # tab's run is stopped by one).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(app, host=args.host, port=args.port, auth=args.auth)
