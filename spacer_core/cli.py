"""The `spacer` command.

Subcommands live in `spacer_core.commands`: each module there defines ``register(subparsers)``,
which adds its parser(s) and sets ``func``. Command modules import only the standard library at
top level so that ``spacer --help`` stays fast; heavy imports happen inside their run functions.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from spacer_core import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spacer",
        description="SpaceR workbench: video spatial reasoning with multimodal LLMs.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Commands that take free-form overrides (e.g. `spacer train --max_steps 3`) set `extra_args`;
    # for all others an unknown argument is an error, as usual.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "extra_args"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.extra_args = extra
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
