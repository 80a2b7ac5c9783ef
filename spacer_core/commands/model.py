"""`spacer model tiny`: build the embedded tiny Qwen2.5-VL; `spacer model copy`: a trained model's
files without its training state; `spacer model add-words`: make words one token each."""

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
    words = sub.add_parser("add-words", help="save a checkpoint with words its tokenizer splits made one token each")
    words.add_argument("src", help="checkpoint folder")
    words.add_argument("dest", help="folder to save the result to")
    words.add_argument("words", nargs="*", help="words or phrases to make one token each (e.g. front-left)")
    words.add_argument("--option-words", action="store_true",
                       help="the generated questions' option words: hard directions and routes' turns")
    words.add_argument("--route-options", action="store_true",
                       help="also each two-turn route option whole ('Turn Left, Turn Back'): a longest match wins")
    words.set_defaults(func=run_add_words)


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


def run_add_words(args: argparse.Namespace) -> int:
    from spacer_core.models import ModelError, add_words
    from spacer_core.sim.questions import OPTION_WORDS, ROUTE_OPTIONS

    words = args.words + (OPTION_WORDS if args.option_words else []) + (ROUTE_OPTIONS if args.route_options else [])
    if not words:
        print("error: name the words, or give --option-words or --route-options", file=sys.stderr)
        return 2
    try:
        added = add_words(args.src, args.dest, words)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.src} -> {args.dest}: {len(added)} words made one token each: {', '.join(added)}")
    return 0
