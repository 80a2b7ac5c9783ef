"""`spacer model tiny`: build the embedded tiny Qwen2.5-VL; `spacer model copy`: a trained model's
files without its training state."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="build or inspect models")
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    tiny = sub.add_parser("tiny", help="build the untrained tiny Qwen2.5-VL (real architecture, toy size)")
    tiny.add_argument("--out", required=True, help="output checkpoint folder")
    tiny.add_argument("--seed", type=int, default=0, help="seed for the weights and the tokenizer corpus")
    tiny.add_argument("--size", action="append", default=[], type=size_item, metavar="NAME=INT",
                      help="override a size, e.g. --size text_layers=4 (names: spacer_core.tiny_model.DEFAULT_SIZES)")
    tiny.add_argument("--whole-categories", action="store_true",
                      help="make each object category one token wherever it stands (see docs/tiny-ablation.md)")
    tiny.set_defaults(func=run_tiny)
    copy = sub.add_parser("copy", help="copy a trained checkpoint's model files (no training state) to a folder")
    copy.add_argument("src", help="checkpoint folder (e.g. runs/X/sft/final)")
    copy.add_argument("dest", help="folder to copy them to (made if missing)")
    copy.set_defaults(func=run_copy)


def size_item(text: str) -> tuple[str, int]:
    from spacer_core.tiny_model import DEFAULT_SIZES

    name, _, value = text.partition("=")
    if name not in DEFAULT_SIZES or not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=INT with NAME one of {', '.join(DEFAULT_SIZES)}, got {text!r}")
    return name, int(value)


def run_tiny(args: argparse.Namespace) -> int:
    from spacer_core.tiny_model import build_tiny_model

    out = build_tiny_model(args.out, seed=args.seed, whole_categories=args.whole_categories,
                           **dict(args.size))
    print(f"tiny Qwen2.5-VL written to {out}")
    return 0


def run_copy(args: argparse.Namespace) -> int:
    from spacer_core.models import ModelError, copy_model

    try:
        names = copy_model(args.src, args.dest)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.src} -> {args.dest}: {', '.join(names)}")
    return 0
