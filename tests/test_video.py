"""load_clip against qwen-vl-utils on real H.264 files, both backends, errors and the cache."""

from __future__ import annotations

import numpy as np
import pytest
from qwen_vl_utils import fetch_video

from spacer_core.video import CLIP_CACHE, VideoError, load_clip
from tests.conftest import write_mp4

SMALL = dict(min_pixels=28 * 28 * 4, max_pixels=112 * 112)


def reference(path, **ele):
    video, meta = fetch_video({"video": str(path), **ele}, return_video_metadata=True)
    return video, meta


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("params", [dict(nframes=8), dict(fps=2.0), dict(fps=1.0, max_frames=6),
                                    dict(nframes=7), dict(fps=2.0, video_start=1.0, video_end=3.0)])
def test_frames_match_qwen_vl_utils(mp4_file, backend, params):
    qparams = dict(params)
    video, meta = reference(mp4_file, **qparams, **SMALL)
    clip = load_clip(mp4_file, backend=backend, cache=False, **params, **SMALL)
    assert list(clip.indices) == meta["frames_indices"]
    assert clip.frames.shape == (video.shape[0], video.shape[2], video.shape[3], 3)
    assert clip.frames.dtype == np.uint8
    assert clip.num_frames % 2 == 0 and clip.size[0] % 28 == 0 and clip.size[1] % 28 == 0
    # qwen-vl-utils resizes in float; we resize uint8: the pixels agree up to rounding.
    ref = video.permute(0, 2, 3, 1).clamp(0, 255).numpy()
    assert np.abs(clip.frames.astype(np.float32) - ref).mean() < 2.0
    np.testing.assert_allclose(clip.timestamps, np.asarray(meta["frames_indices"]) / 10.0)


def test_default_pixel_budget_matches(mp4_file):
    video, _ = reference(mp4_file, nframes=4)
    clip = load_clip(mp4_file, nframes=4, cache=False)
    assert clip.size == tuple(video.shape[2:])
    assert clip.size[0] * clip.size[1] >= 128 * 28 * 28  # qwen-vl-utils' per-frame floor


def test_frame_order_is_preserved(mp4_file):
    clip = load_clip(mp4_file, nframes=10, cache=False, **SMALL)
    corner = clip.frames[:, :4, :4].mean(axis=(1, 2, 3))  # grey level encodes the frame number
    assert np.all(np.diff(corner) > 0)
    shuffled = clip.permuted([9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    assert np.array_equal(shuffled.frames, clip.frames[::-1])
    np.testing.assert_array_equal(shuffled.timestamps, clip.timestamps)
    with pytest.raises(ValueError):
        clip.permuted([0, 0, 1, 2, 3, 4, 5, 6, 7, 8])


def test_backends_agree(mp4_file):
    a = load_clip(mp4_file, nframes=6, backend="decord", cache=False, **SMALL)
    b = load_clip(mp4_file, nframes=6, backend="pyav", cache=False, **SMALL)
    assert a.indices == b.indices
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 2


def test_cache_reuses_and_invalidates(tmp_path):
    path = write_mp4(tmp_path / "c.mp4", num_frames=20)
    CLIP_CACHE.clear()
    first = load_clip(path, nframes=4, **SMALL)
    assert load_clip(path, nframes=4, **SMALL) is first
    assert load_clip(path, nframes=6, **SMALL) is not first  # other parameters, other entry
    with pytest.raises(ValueError):
        first.frames[0, 0, 0, 0] = 1  # cached frames are read-only
    write_mp4(path, num_frames=30)  # rewritten file: size/mtime change
    again = load_clip(path, nframes=4, **SMALL)
    assert again is not first and again.total_frames == 30


@pytest.mark.parametrize("backend", ["auto", "decord", "pyav"])
def test_bad_files_raise_video_error(tmp_path, mp4_file, backend):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp4"
    data = mp4_file.read_bytes()
    corrupt.write_bytes(data[:64] + bytes(len(data) - 64))  # header kept, everything else zeroed
    for bad in (text, empty, corrupt, tmp_path / "missing.mp4"):
        with pytest.raises(VideoError) as err:
            load_clip(bad, nframes=4, backend=backend, cache=False)
        message = str(err.value)  # one line that names the file and says why
        assert message.startswith(f"cannot read video {bad}: ") and "\n" not in message


def test_truncated_file(tmp_path, mp4_file):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(mp4_file.read_bytes()[: len(mp4_file.read_bytes()) // 3])
    with pytest.raises(VideoError, match="cut.mp4"):
        load_clip(cut, nframes=8, cache=False)


def test_unknown_backend(mp4_file):
    with pytest.raises(ValueError, match="backend"):
        load_clip(mp4_file, backend="opencv")
