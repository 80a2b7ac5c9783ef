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
    keys = [(t, id(c)) for t, c in zip(texts, clips, strict=True)]
    unique: dict[tuple, int] = {}
    for key in keys:
        unique.setdefault(key, len(unique))
    order = list(unique)
    first_clip = {key: clip for key, clip in zip(keys, clips, strict=True)}
    batch = encode(processor, [k[0] for k in order], [first_clip[k] for k in order])
    ids = [row[mask.bool()].tolist() for row, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True)]
    visual: list[VisualRow | None] = [None] * len(order)
    if "video_grid_thw" in batch:
        sizes = batch["video_grid_thw"].prod(-1).tolist()
        patches = torch.split(batch["pixel_values_videos"], sizes)
        with_video = [i for i, k in enumerate(order) if first_clip[k] is not None]
        for j, i in enumerate(with_video):
            row = VisualRow(patches[j], batch["video_grid_thw"][j : j + 1], batch["second_per_grid_ts"][j : j + 1])
            visual[i] = row.to(device) if device is not None else row
    index = [unique[k] for k in keys]
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


def mm_token_types(input_ids: torch.Tensor, video_token_id: int) -> torch.Tensor:
    """``mm_token_type_ids`` (2 marks video tokens), rebuilt from the ids: without it transformers
    silently falls back to 1-D positions instead of M-RoPE."""
    return (input_ids == video_token_id).int() * 2
