"""`spacer infer`: ask one question about one video, printing the reasoning as it is generated."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "infer", help="answer a question about a video (streams the reasoning, then the answer)",
        description="Frames, prompt and decoding follow SpaceR's evaluation defaults (see docs/eval.md); "
        "a checkpoint's spacer_video.json overrides the frame settings.",
    )
    parser.add_argument("--video", required=True, help="video file")
    parser.add_argument("--question", required=True, help="the question")
    parser.add_argument("--options", nargs="+", default=None, metavar="OPTION",
                        help='multiple-choice options, e.g. --options "A. left" "B. right" (or without letters)')
    parser.add_argument("--problem-type", default=None,
                        choices=["multiple choice", "numerical", "OCR", "free-form", "regression"],
                        help="default: multiple choice with --options, else numerical")
    parser.add_argument("--mode", default="thinking_map", choices=["thinking_map", "thinking", "direct"],
                        help="prompt: think with a cognitive map (default), think, or answer directly")
    parser.add_argument("--categories", default=None,
                        help="comma-separated object categories to map (thinking_map; default: a generic indoor list)")
    parser.add_argument("--model", default="tiny", help="tiny (embedded), a checkpoint folder or a hub id")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, …")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: 1024 (16 in direct mode)")
    parser.add_argument("--temperature", type=float, default=0.01, help="0 = greedy (default 0.01, as SpaceR)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (think, map, answer, raw, token counts, timing) instead")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from spacer_core.infer import SpatialReasoner
    from spacer_core.video import VideoError

    reasoner = SpatialReasoner.from_pretrained(args.model, device=args.device, temperature=args.temperature)
    gen = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens}
    categories = [c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else None
    question = dict(video=args.video, question=args.question, options=args.options, mode=args.mode,
                    categories=categories, problem_type=args.problem_type)
    try:
        if args.json:
            result = reasoner.answer(**question, **gen)
            out = result.to_dict()
            del out["timestamps"]
            print(json.dumps(out, ensure_ascii=False))
            return 0
        shown = 0
        for step in reasoner.stream(**question, **gen):
            if isinstance(step, str):
                sys.stdout.write(step[shown:])
                sys.stdout.flush()
                shown = len(step)
            else:
                result = step
    except VideoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print()
    print(f"Answer: {result.answer}")
    if result.map is not None:
        print(f"Map: {json.dumps(result.to_dict()['map'])}")
    print(f"({result.completion_tokens} tokens in {result.seconds:.1f} s, {result.frames} frames "
          f"{result.frame_size[1]}x{result.frame_size[0]})", file=sys.stderr)
    return 0
