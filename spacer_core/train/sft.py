"""SFT cold start: supervised fine-tuning on think/map/answer targets with the video in every batch.

TRL's SFTTrainer runs the optimisation; our collator builds the batches because TRL's
vision-language collator handles images only. Loss is on the assistant's tokens only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from spacer_core.inputs import chat_text, encode
from spacer_core.video import load_clip


class VideoSFTCollator:
    """Rows with ``prompt`` (user turn with a video path) and ``completion`` → a training batch.

    ``text_rows``: an endless stream of text-only ``{"prompt", "target"}`` items (chat-formatted
    prompt; target ending with ``<|im_end|>``), of which ``text_rows_per_batch`` join every batch,
    e.g. the lookup stage's tasks, so that SFT keeps what that stage taught. Their tokens share the
    batch's one token-mean loss with the SFT targets. The stream is not checkpointed: after
    ``--resume`` it starts over from its seed (other tasks, same distribution)."""

    def __init__(self, processor, video_kwargs: dict, text_rows: Iterator[dict] | None = None,
                 text_rows_per_batch: int = 0):
        if text_rows_per_batch and text_rows is None:
            raise ValueError("text_rows_per_batch needs a stream of text_rows")
        self.processor = processor
        self.video_kwargs = video_kwargs
        self.text_rows, self.text_rows_per_batch = text_rows, text_rows_per_batch
        tok = processor.tokenizer
        self.im_start = tok.convert_tokens_to_ids("<|im_start|>")
        self.header_len = len(tok("assistant\n", add_special_tokens=False)["input_ids"])

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        texts, clips = [], []
        for row in rows:
            user = row["prompt"][-1]["content"]
            video = next(p["video"] for p in user if p.get("type") == "video")
            question = next(p["text"] for p in user if p.get("type") == "text")
            texts.append(chat_text(self.processor, question) + row["completion"] + "<|im_end|>\n")
            clips.append(load_clip(video, **self.video_kwargs))
        for _ in range(self.text_rows_per_batch):
            row = next(self.text_rows)
            texts.append(row["prompt"] + row["target"])
            clips.append(None)
        batch = encode(self.processor, texts, clips, padding_side="right")
        labels = batch["input_ids"].clone()
        labels[batch["attention_mask"] == 0] = -100
        for i, ids in enumerate(batch["input_ids"]):
            # The answer starts after the last "<|im_start|>assistant\n".
            start = (ids == self.im_start).nonzero()[-1].item() + 1 + self.header_len
            labels[i, :start] = -100
        batch["labels"] = labels
        return batch
