"""Multi-view images as one clip: SPAR-Bench's views become the frames of a short video.

The model input goes through `spacer_core.inputs` like every video: the views are resized to one
size with qwen-vl-utils' pixel budgets (the video settings in use), shown at 1 view per second,
and an odd count gets its last view repeated (frames enter Qwen-VL in pairs).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from spacer_core.video import FRAME_FACTOR, Clip, VideoError, VideoSettings, output_size


def images_clip(images: Sequence[bytes], settings: VideoSettings, name: str) -> Clip:
    """A `Clip` of encoded images (PNG/JPEG bytes); `VideoError` naming ``name`` if one cannot be decoded."""
    from PIL import Image

    if not images:
        raise VideoError(name, "no images")
    try:
        views = [Image.open(io.BytesIO(data)).convert("RGB") for data in images]
    except Exception as err:  # PIL raises several types for bad data
        raise VideoError(name, f"cannot decode image: {err}") from None
    while len(views) % FRAME_FACTOR:
        views.append(views[-1])
    width, height = views[0].size
    out_h, out_w = output_size(height, width, len(views), min_pixels=settings.min_pixels,
                               max_pixels=settings.max_pixels, total_pixels=settings.total_pixels)
    frames = np.stack([np.asarray(v.resize((out_w, out_h), Image.Resampling.BICUBIC)) for v in views])
    frames.setflags(write=False)
    n = len(views)
    return Clip(frames=frames, timestamps=np.arange(n, dtype=np.float64), indices=tuple(range(n)), fps=1.0,
                sample_fps=1.0, duration=float(n), total_frames=n, path=name)
