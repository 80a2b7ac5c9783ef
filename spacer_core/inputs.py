"""From (video clip, prompt text) to the tensors a Qwen2/2.5-VL model takes.

The clips come from `spacer_core.video.load_clip`, already sampled and resized with qwen-vl-utils
semantics, so the processor is told not to resample or resize them again; the clip's metadata
gives the processor the sampled fps that Qwen2.5-VL turns into ``second_per_grid_ts``.
"""

from __future__ import annotations

from collections.abc import Sequence

from spacer_core.video import Clip

# Keys of a processor output that carry the video; everything a forward pass needs besides text.
VIDEO_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")


def video_messages(prompt: str, system: str | None = None, video: bool = True) -> list[dict]:
    """A one-turn chat with a video (unless ``video`` is False) followed by the prompt text."""
    messages = [{"role": "system", "content": system}] if system else []
    parts = [{"type": "video"}] if video else []
    messages.append({"role": "user", "content": [*parts, {"type": "text", "text": prompt}]})
    return messages


def clip_metadata(clip: Clip):
    from transformers.video_utils import VideoMetadata

    span = clip.indices and (max(clip.indices) - min(clip.indices) + 1)
    height, width = clip.size
    return VideoMetadata(total_num_frames=span, fps=clip.fps, width=width, height=height,
                         duration=clip.duration, frames_indices=list(clip.indices))


def chat_text(processor, prompt: str, system: str | None = None, video: bool = True) -> str:
    return processor.apply_chat_template(video_messages(prompt, system, video), tokenize=False,
                                         add_generation_prompt=True)


def encode(processor, texts: Sequence[str], clips: Sequence[Clip | None], padding_side: str = "left"):
    """Tokenise chat-formatted texts with their clips (None for a text-only item) into one batch."""
    videos = [c for c in clips if c is not None]
    kwargs = {}
    if videos:
        # Cached clips are read-only; torch wants writable arrays, so hand it copies.
        kwargs = dict(videos=[c.frames.copy() for c in videos], video_metadata=[clip_metadata(c) for c in videos],
                      do_resize=False, do_sample_frames=False, cap_pixels_per_frame=True)
    return processor(text=list(texts), padding=True, padding_side=padding_side, return_tensors="pt", **kwargs)
