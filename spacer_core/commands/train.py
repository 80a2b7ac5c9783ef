"""`spacer train`: SG-RLVR (GRPO) or the SFT cold start, from a YAML config plus overrides."""

from __future__ import annotations

import argparse

from spacer_core.train.config import STAGES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train with SG-RLVR (--stage rl), the SFT cold start (--stage sft) or the vision "
                      "warm-up on generated scenes (--stage vision)",
        description="Train from a YAML config (configs/*.yaml). Any field of our config or of TRL's "
                    "GRPOConfig/SFTConfig can be overridden, e.g. `--max_steps 3 --output_dir runs/x`.",
    )
    parser.add_argument("--config", help="YAML config file")
    parser.add_argument("--stage", choices=STAGES, help="default: the config's `stage`, else rl")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    parser.set_defaults(func=run, extra_args=[])


def run(args: argparse.Namespace) -> int:
    import sys

    from spacer_core.data import DataError
    from spacer_core.train.config import parse
    from spacer_core.train.run import train

    try:
        spacer, config = parse(args.config, args.stage, args.extra_args)
        out = train(spacer, config, resume=args.resume)
    except (DataError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"spacer train: {exc}", file=sys.stderr)
        return 2
    print(f"trained model saved to {out}")
    return 0
