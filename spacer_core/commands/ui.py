"""`spacer ui`: the Gradio workbench."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ui", help="open the Gradio workbench (ask a video, maps, evaluate, rollouts)",
        description="Serves the workbench (docs/ui.md) on http://HOST:PORT. Only assets/ and the runs folder "
                    "can be read through the app.")
    parser.add_argument("--model", default="tiny", help="tiny (embedded), a checkpoint folder or a hub id")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--auth", default=None, metavar="USER:PASS", help="require this login")
    parser.add_argument("--max-upload-mb", type=int, default=200, help="largest accepted upload")
    parser.add_argument("--runs-dir", default="runs",
                        help="training runs and evaluation outputs: the only folder besides assets/ the app reads")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from spacer_ui.app import launch

    try:
        launch(args)
    except ValueError as err:  # a malformed --auth
        print(f"spacer ui: {err}", file=sys.stderr)
        return 2
    return 0
