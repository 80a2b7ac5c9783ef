"""`spacer data synth` and `spacer data check`: make the sim dataset, validate dataset files."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="synthesize the sim dataset or check dataset files")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = sub.add_parser(
        "synth",
        help="render procedural rooms to video with VSI-Bench questions and true cognitive maps",
        description="Writes OUT/scenes/*.json, OUT/videos/*.mp4, OUT/train.jsonl, OUT/test.jsonl, "
        "OUT/cognitive_map.jsonl, OUT/vsibench_test.parquet and OUT/manifest.json (see docs/sim.md).",
    )
    synth.add_argument("--scenes", type=int, default=10, help="number of scenes (default 10)")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument(
        "--seed", type=int, default=0, help="seed; the same seed gives the same data (default 0)"
    )
    synth.add_argument("--frames", type=int, default=16, help="frames per video (default 16)")
    synth.add_argument("--fps", type=int, default=2, help="video frame rate (default 2)")
    synth.add_argument("--size", type=int, default=256, help="frame side in pixels, even (default 256)")
    synth.add_argument(
        "--test-fraction", type=float, default=0.2, help="share of scenes in the test split (default 0.2)"
    )
    synth.add_argument("--lookup-lines", action="store_true",
                       help="derivations first read the question's map entries out, as the lookup stage "
                       "(spacer train --stage lookup) teaches: 'lamp: 2, at (4, 8), (2, 7).'")
    synth.add_argument("--cell-arithmetic", action="store_true",
                       help="distance comparisons, directions and routes derive their answer in steps on the "
                       "map's cells ('(5-2, 1-3) = (3, -2)', products, one comparison), and only items the "
                       "true map answers rightly are asked (spacer_core/sim/cell_arithmetic.py)")
    synth.add_argument("--option-lines", action="store_true",
                       help="multiple-choice derivations end by going through the options, a line each, copied "
                       "beside the conclusion and marked: 'A. left vs right: no.' (spacer_core/sim/questions.py)")
    synth.add_argument("--distance-steps", action="store_true",
                       help="absolute distances derive an estimate in steps from the map's cells and the room's "
                       "size: a cell's size, each offset in metres, the centres' distance, less half of each "
                       "object (spacer_core/sim/cell_arithmetic.py); the items and answers stay the same")
    synth.add_argument("--keep-videos", action="store_true",
                       help="keep the scenes and videos already in OUT and write only the questions again "
                       "(the same scenes, seed, frames, fps, size, world and walls as OUT/manifest.json)")
    synth.add_argument("--tinted-walls", action="store_true",
                       help="each wall its own light tint, so every frame shows which way the camera faces and "
                       "where objects stand on the map can be read from the video (spacer_core/sim/render.py)")
    synth.add_argument("--world", default="vsi", choices=["vsi", "small"],
                       help="what rooms hold: vsi (VSI-Bench-like: 8-12 categories, ~15 objects; default) or "
                       "small (a door and 2-3 of 7 categories, ~5 objects: maps a laptop-sized model can read)")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU core)")
    synth.set_defaults(func=run_synth)

    check = sub.add_parser(
        "check",
        help="validate a SpaceR-151k / Video-R1 style JSONL file, its media and maps",
        description="Prints a report; exits 1 when any record is bad, any media file is missing or "
        "any spatial video lacks a cognitive map.",
    )
    check.add_argument("--jsonl", required=True, help="dataset file (JSONL, or a JSON array)")
    check.add_argument(
        "--video-root",
        default=None,
        help="folder the records' paths are relative to (default: the file's folder)",
    )
    check.add_argument(
        "--maps", default=None, help="cognitive_map.jsonl to check and match against the videos"
    )
    check.add_argument("--exclude", default=None, help="file of scene names to leave out, one a line")
    check.set_defaults(func=run_check)


def run_synth(args: argparse.Namespace) -> int:
    import time

    from spacer_core.sim.synth import SynthConfig, synthesize

    try:
        config = SynthConfig(args.scenes, args.seed, args.frames, args.fps, args.size, args.test_fraction,
                             args.lookup_lines, args.world, args.cell_arithmetic, args.tinted_walls,
                             args.option_lines, args.distance_steps)
    except ValueError as err:
        print(f"error: {err}")
        return 2
    start = time.perf_counter()
    try:
        manifest = synthesize(args.out, config, workers=args.workers, keep_videos=args.keep_videos)
    except ValueError as err:
        print(f"error: {err}")
        return 2
    items = manifest["items"]
    print(
        f"{manifest['scenes']} scenes, {items['train']} train + {items['test']} test items written to {args.out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    from spacer_core.data import DataError, check_dataset

    try:
        report = check_dataset(args.jsonl, args.video_root, args.maps, args.exclude)
    except (DataError, OSError) as err:
        print(f"error: {err}")
        return 1
    print(report.summary())
    print("OK" if report.ok else "FAILED")
    return 0 if report.ok else 1
