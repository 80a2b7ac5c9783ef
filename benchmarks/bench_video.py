"""load_clip vs qwen_vl_utils.fetch_video on the same 10 s 640×480 H.264 video and frames.

Prints the median time ratio (goal <= 1.0) and the cached-reload ratio (goal <= 0.2) on its last line.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qwen_vl_utils import fetch_video  # noqa: E402

from spacer_core.video import CLIP_CACHE, load_clip  # noqa: E402
from tests.conftest import write_mp4  # noqa: E402

REPEATS = 5


def median_time(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_mp4(Path(tmp) / "bench.mp4", num_frames=300, size=(480, 640), fps=30)
        params = dict(fps=2.0, max_pixels=448 * 448)
        ref = fetch_video({"video": str(path), **params})
        clip = load_clip(path, cache=False, **params)
        assert clip.frames.shape[0] == ref.shape[0] and clip.size == tuple(ref.shape[2:]), "frames differ"

        t_ref = median_time(lambda: fetch_video({"video": str(path), **params}))
        t_ours = median_time(lambda: load_clip(path, cache=False, **params))
        CLIP_CACHE.clear()
        load_clip(path, **params)
        t_cached = median_time(lambda: load_clip(path, **params))
        print(f"{clip.num_frames} frames at {clip.size[0]}x{clip.size[1]}: fetch_video {t_ref * 1e3:.1f} ms, "
              f"load_clip {t_ours * 1e3:.1f} ms, cached {t_cached * 1e3:.3f} ms")
        print(f"load_clip/fetch_video time ratio: {t_ours / t_ref:.3f}  cached reload ratio: {t_cached / t_ref:.4f}")


if __name__ == "__main__":
    main()
