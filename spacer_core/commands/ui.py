"""`spacer ui`: the Gradio workbench."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ui", help="open the Gradio workbench (ask a video, maps, evaluate, rollouts)")
    parser.add_argument("--model", default="tiny", help="tiny (embedded), a checkpoint folder or a hub id")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--auth", default=None, metavar="USER:PASS", help="require this login")
    parser.add_argument("--max-upload-mb", type=int, default=200, help="largest accepted upload")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("spacer_ui.app") is None:
        print("The Gradio app is not built yet (spacer_ui.app is missing); nothing to open.")
        return 1
    from spacer_ui.app import launch

    launch(args)
    return 0
