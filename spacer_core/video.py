"""Video frames for Qwen2/2.5-VL: sampling and resizing with qwen-vl-utils semantics.

`load_clip` selects the same frame indices and output size as `qwen_vl_utils.fetch_video` for the
same parameters (it reuses qwen-vl-utils' own `smart_nframes`, `smart_resize` and frame-range
helpers), but decodes only the selected frames, resizes in uint8 and keeps results in an LRU cache:
training decodes a clip once and reuses it for the ordered and the frame-shuffled rollouts.

Backends: decord (default) and PyAV (fallback, or chosen with ``backend="pyav"``). Every failure
to read a file becomes one `VideoError` that names the file and the reason.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from qwen_vl_utils import vision_process as qvu
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

PATCH_FACTOR = 28  # patch 14 × spatial merge 2: output sides are multiples of this
FRAME_FACTOR = qvu.FRAME_FACTOR  # frames are grouped in pairs (temporal patch 2)
DEFAULT_FPS = qvu.FPS
VIDEO_MIN_PIXELS = qvu.VIDEO_MIN_TOKEN_NUM * PATCH_FACTOR**2
VIDEO_MAX_PIXELS = qvu.VIDEO_MAX_TOKEN_NUM * PATCH_FACTOR**2
VIDEO_TOTAL_PIXELS = qvu.MODEL_SEQ_LEN * PATCH_FACTOR**2 * 0.9
BACKENDS = ("auto", "decord", "pyav")


class VideoError(RuntimeError):
    """A video could not be read; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")


@dataclass(frozen=True)
class Clip:
    """Frames sampled from a video, ready for a Qwen-VL processor.

    frames: T×H×W×3 uint8 (read-only: clips are shared through the cache).
    timestamps: seconds of each frame in the source video.
    fps: the source video's frame rate; sample_fps: frames per second of the sampled clip, the
    value Qwen2.5-VL's processor needs to compute `second_per_grid_ts`.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    indices: tuple[int, ...]
    fps: float
    sample_fps: float
    duration: float
    total_frames: int
    path: str

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def permuted(self, order: np.ndarray | list[int]) -> Clip:
        """The same clip with its frames in another order (T-GRPO's shuffled rollouts).

        Timestamps stay in increasing order: the model sees the frames at the same positions
        in time, only their content is shuffled.
        """
        order = np.asarray(order)
        if sorted(order.tolist()) != list(range(self.num_frames)):
            raise ValueError(f"order must be a permutation of range({self.num_frames})")
        frames = self.frames[order]
        frames.setflags(write=False)
        indices = tuple(self.indices[i] for i in order)
        return Clip(frames, self.timestamps, indices, self.fps, self.sample_fps, self.duration,
                    self.total_frames, self.path)


def frame_plan(
    total_frames: int,
    fps: float,
    *,
    nframes: int | None = None,
    sample_fps: float = DEFAULT_FPS,
    min_frames: int = qvu.FPS_MIN_FRAMES,
    max_frames: int | None = None,
    video_start: float | None = None,
    video_end: float | None = None,
) -> list[int]:
    """Frame indices exactly as qwen-vl-utils selects them (evenly spaced, count a multiple of 2)."""
    ele: dict = {}
    if nframes is not None:
        ele["nframes"] = nframes
    else:
        ele.update(fps=sample_fps, min_frames=min_frames)
        if max_frames is not None:
            ele["max_frames"] = max_frames
    if video_start is not None:
        ele["video_start"] = video_start
    if video_end is not None:
        ele["video_end"] = video_end
    start, end, count = qvu.calculate_video_frame_range(ele, total_frames, fps)
    n = qvu.smart_nframes(ele, total_frames=count, video_fps=fps)
    return torch.linspace(start, end, n).round().long().tolist()


def output_size(
    height: int,
    width: int,
    nframes: int,
    *,
    min_pixels: int = VIDEO_MIN_PIXELS,
    max_pixels: int | None = None,
    total_pixels: float = VIDEO_TOTAL_PIXELS,
) -> tuple[int, int]:
    """Per-frame output size with qwen-vl-utils' pixel budgets (sides multiples of 28)."""
    budget = max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * FRAME_FACTOR), int(min_pixels * 1.05))
    if max_pixels is not None:
        budget = min(max_pixels, budget)
    return qvu.smart_resize(height, width, factor=PATCH_FACTOR, min_pixels=min_pixels, max_pixels=budget)


def _probe_decord(path: str):
    import decord

    reader = decord.VideoReader(path, num_threads=1)
    return reader, len(reader), float(reader.get_avg_fps())


def _decode_decord(reader, indices: list[int]) -> np.ndarray:
    return reader.get_batch(indices).asnumpy()


def _probe_pyav(path: str):
    import av

    container = av.open(path)
    stream = container.streams.video[0]
    total = stream.frames
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    if total <= 0 and stream.duration and stream.time_base and fps:
        total = int(round(float(stream.duration * stream.time_base) * fps))
    return container, total, fps


def _decode_pyav(container, indices: list[int]) -> np.ndarray:
    """Decode sequentially (exact for any codec) and keep only the wanted frames."""
    wanted: dict[int, list[int]] = {}
    for pos, idx in enumerate(indices):
        wanted.setdefault(idx, []).append(pos)
    out: list[np.ndarray | None] = [None] * len(indices)
    last = max(indices)
    for i, frame in enumerate(container.decode(video=0)):
        if i in wanted:
            arr = frame.to_ndarray(format="rgb24")
            for pos in wanted[i]:
                out[pos] = arr
        if i >= last:
            break
    missing = [indices[p] for p, a in enumerate(out) if a is None]
    if missing:
        raise ValueError(f"stream ended before frame {missing[0]} (truncated file?)")
    return np.stack(out)


class _ClipCache:
    """A small thread-safe LRU of decoded clips."""

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._items: OrderedDict[tuple, Clip] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Clip | None:
        with self._lock:
            clip = self._items.get(key)
            if clip is not None:
                self._items.move_to_end(key)
            return clip

    def put(self, key: tuple, clip: Clip) -> None:
        with self._lock:
            self._items[key] = clip
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CLIP_CACHE = _ClipCache()


def _resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    if frames.shape[1:3] == (height, width):
        return frames
    video = torch.from_numpy(frames).permute(0, 3, 1, 2)
    video = TF.resize(video, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)
    return video.permute(0, 2, 3, 1).contiguous().numpy()


def load_clip(
    path: str | os.PathLike,
    *,
    nframes: int | None = None,
    fps: float = DEFAULT_FPS,
    min_frames: int = qvu.FPS_MIN_FRAMES,
    max_frames: int | None = None,
    min_pixels: int = VIDEO_MIN_PIXELS,
    max_pixels: int | None = None,
    total_pixels: float = VIDEO_TOTAL_PIXELS,
    video_start: float | None = None,
    video_end: float | None = None,
    backend: str = "auto",
    cache: bool = True,
) -> Clip:
    """Sample frames from a video file the way qwen-vl-utils does.

    Either ``nframes`` (rounded to a multiple of 2) or ``fps`` (with ``min_frames``/``max_frames``)
    chooses the frame count; ``min_pixels``/``max_pixels``/``total_pixels`` bound the frame size
    (sides become multiples of 28). ``backend`` is "auto" (decord, then PyAV), "decord" or "pyav".
    Raises `VideoError` for a missing, empty, truncated or non-video file.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    path = str(Path(path))
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise VideoError(path, exc.strerror or "cannot open file") from None
    if stat.st_size == 0:
        raise VideoError(path, "the file is empty")
    params = (nframes, fps, min_frames, max_frames, min_pixels, max_pixels, total_pixels,
              video_start, video_end, backend)
    key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size, params)
    if cache and (clip := CLIP_CACHE.get(key)) is not None:
        return clip

    order = ("decord", "pyav") if backend == "auto" else (backend,)
    errors = []
    for name in order:
        try:
            clip = _read(path, name, nframes=nframes, fps=fps, min_frames=min_frames,
                         max_frames=max_frames, min_pixels=min_pixels, max_pixels=max_pixels,
                         total_pixels=total_pixels, video_start=video_start, video_end=video_end)
            break
        except VideoError:
            raise
        except Exception as exc:  # decoder errors come in many types; report them as one
            errors.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    else:
        raise VideoError(path, "; ".join(errors))
    if cache:
        CLIP_CACHE.put(key, clip)
    return clip


def _read(path: str, backend: str, *, nframes, fps, min_frames, max_frames, min_pixels,
          max_pixels, total_pixels, video_start, video_end) -> Clip:
    probe, decode = (_probe_decord, _decode_decord) if backend == "decord" else (_probe_pyav, _decode_pyav)
    handle, total, src_fps = probe(path)
    try:
        if total <= 0:
            raise VideoError(path, "no video frames")
        if not src_fps or not math.isfinite(src_fps) or src_fps <= 0:
            raise VideoError(path, "unknown frame rate")
        indices = frame_plan(total, src_fps, nframes=nframes, sample_fps=fps, min_frames=min_frames,
                             max_frames=max_frames, video_start=video_start, video_end=video_end)
        raw = decode(handle, indices)
    finally:
        if hasattr(handle, "close"):
            handle.close()
    height, width = output_size(raw.shape[1], raw.shape[2], len(indices), min_pixels=min_pixels,
                                max_pixels=max_pixels, total_pixels=total_pixels)
    frames = _resize(raw, height, width)
    frames.setflags(write=False)
    span = indices[-1] - indices[0] + 1
    return Clip(
        frames=frames,
        timestamps=np.asarray(indices, dtype=np.float64) / src_fps,
        indices=tuple(indices),
        fps=src_fps,
        sample_fps=len(indices) / max(span, 1e-6) * src_fps,
        duration=total / src_fps,
        total_frames=total,
        path=path,
    )


# A checkpoint's recommended frame settings (`VideoSettings` fields), saved beside its weights.
VIDEO_SETTINGS_FILE = "spacer_video.json"


@dataclass(frozen=True)
class VideoSettings:
    """How frames are sampled for the model (`spacer_core.video.load_clip` parameters).

    Defaults are SpaceR's evaluation setup: 1 fps, at most 32 frames (fewer for short videos),
    longest side ≤ 448 — approximated by a per-frame budget of 448×448 pixels (qwen-vl-utils
    resizes by pixel count, keeping the aspect ratio; sides become multiples of 28).
    ``nframes``, when set, fixes the frame count instead of fps/min_frames/max_frames.
    """

    fps: float = 1.0
    max_frames: int | None = 32
    min_frames: int = 4
    nframes: int | None = None
    min_pixels: int = VIDEO_MIN_PIXELS
    max_pixels: int | None = 448 * 448
    total_pixels: float = VIDEO_TOTAL_PIXELS

    @classmethod
    def for_model(cls, name_or_path: str | Path | None, default: dict | None = None) -> VideoSettings:
        """The defaults (with ``default``'s fields over them), overridden by ``spacer_video.json``
        in the checkpoint folder if there is one (the tiny model ships one with few, small frames
        so that CPU runs stay fast)."""
        from spacer_core.models import resolve_path

        fallback = replace(cls(), **(default or {}))
        if not name_or_path:
            return fallback
        path = Path(resolve_path(name_or_path)) / VIDEO_SETTINGS_FILE
        if not path.is_file():
            return fallback
        try:
            data = json.loads(path.read_text())
        except ValueError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - known:
            bad = sorted(set(data) - known) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"{path}: unknown video settings {bad}; allowed: {sorted(known)}")
        return replace(fallback, **data)

    def load(self, path: str | Path) -> Clip:
        """Sample a video file with these settings (raises `VideoError` naming the file)."""
        return load_clip(path, **asdict(self))
