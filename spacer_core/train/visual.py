"""Per-row visual tensors that travel with a training batch.

TRL 1.16's GRPOTrainer forwards image tensors only; video tensors (``pixel_values_videos``,
``video_grid_thw``, ``second_per_grid_ts``) never reach its log-prob passes. We keep each row's
visual tensors as one `VisualRow`, a plain list aligned with the batch rows, so TRL's own batch
shuffling and splitting (which permute and slice lists) carry them along unchanged, and rebuild
the model's keyword arguments for any slice of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from spacer_core.inputs import encode
from spacer_core.video import Clip


@dataclass(frozen=True)
class VisualRow:
    """The video tensors of one row (one clip): patches, its (t, h, w) grid and seconds per grid."""

    pixel_values_videos: torch.Tensor
    video_grid_thw: torch.Tensor  # shape (1, 3)
    second_per_grid_ts: torch.Tensor  # shape (1,)

    def to(self, device) -> VisualRow:
        return VisualRow(self.pixel_values_videos.to(device), self.video_grid_thw.to(device),
                         self.second_per_grid_ts.to(device))


def encode_rows(processor, texts: Sequence[str], clips: Sequence[Clip | None], device=None):
    """Tokenise rows and encode each distinct (text, clip) once.

    GRPO repeats every prompt G times; encoding the clip once and sharing its tensors saves G-1
    passes of the image processor. Returns ``(prompt_ids, rows)``: unpadded token ids per row and
    a `VisualRow` (or None for text-only rows) per row.
    """
    unique: dict[tuple, int] = {}  # (text, clip identity) -> position in the encoded batch
    index, texts_u, clips_u = [], [], []
    for text, clip in zip(texts, clips, strict=True):
        key = (text, id(clip))  # clips come from load_clip's cache: one object per file and settings
        if key not in unique:
            unique[key] = len(texts_u)
            texts_u.append(text)
            clips_u.append(clip)
        index.append(unique[key])
    batch = encode(processor, texts_u, clips_u)
    ids = [row[mask.bool()].tolist() for row, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True)]
    visual: list[VisualRow | None] = [None] * len(texts_u)
    if "video_grid_thw" in batch:
        sizes = batch["video_grid_thw"].prod(-1).tolist()
        patches = torch.split(batch["pixel_values_videos"], sizes)
        with_video = [i for i, clip in enumerate(clips_u) if clip is not None]
        for j, i in enumerate(with_video):
            row = VisualRow(patches[j], batch["video_grid_thw"][j : j + 1], batch["second_per_grid_ts"][j : j + 1])
            visual[i] = row.to(device) if device is not None else row
    return [ids[i] for i in index], [visual[i] for i in index]


def video_tensors(rows: Sequence[VisualRow | None]) -> dict:
    """The rows' video tensors concatenated as a Qwen2/2.5-VL forward pass takes them ({} if none)."""
    present = [r for r in rows if r is not None]
    if not present:
        return {}
    return {
        "pixel_values_videos": torch.cat([r.pixel_values_videos for r in present]),
        "video_grid_thw": torch.cat([r.video_grid_thw for r in present]),
        "second_per_grid_ts": torch.cat([r.second_per_grid_ts for r in present]),
    }


def shared_video_inputs(model, rows: Sequence[VisualRow | None]) -> dict:
    """Video arguments for one forward pass over ``rows``, with the vision tower run once per
    distinct clip: a GRPO group repeats its clip G times, and the rows of a group share one
    `VisualRow` object (`encode_rows`). The features go in as transformers' precomputed
    ``mm_encoder_outputs``; each duplicate row reuses the same tensor, so gradients from all G rows
    add up in the one vision pass, exactly as if each row had run its own.
    ``model`` is the unwrapped Qwen2/2.5-VL model."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    present = [r for r in rows if r is not None]
    if not present:
        return {}
    slot: dict[int, int] = {}  # id(VisualRow) -> position among the distinct rows
    distinct = []
    for r in present:
        if id(r) not in slot:
            slot[id(r)] = len(distinct)
            distinct.append(r)
    unique = video_tensors(distinct)
    features = model.get_video_features(unique["pixel_values_videos"], unique["video_grid_thw"],
                                        return_dict=True).pooler_output
    return {
        "mm_encoder_outputs": {"video": BaseModelOutputWithPooling(
            pooler_output=tuple(features[slot[id(r)]] for r in present))},
        # every row's grid and timing still go in: M-RoPE positions are built from them
        "video_grid_thw": torch.cat([r.video_grid_thw for r in present]),
        "second_per_grid_ts": torch.cat([r.second_per_grid_ts for r in present]),
    }


def mm_token_types(input_ids: torch.Tensor, video_token_id: int) -> torch.Tensor:
    """``mm_token_type_ids`` (2 marks video tokens), rebuilt from the ids: without it transformers
    silently falls back to 1-D positions instead of M-RoPE."""
    return (input_ids == video_token_id).int() * 2
