"""Vision warm-up: teach the vision tower what each video token shows, from the renderer's truth.

Real checkpoints bring a pretrained vision tower; the embedded tiny model's starts random, and
captions or answers give it a few target tokens per clip, too little to learn to see from on a
CPU budget (docs/tiny-ablation.md). Generated scenes know what every pixel shows, so this stage
trains the vision tower and patch merger on every merged video token: a linear head on the
merger's output predicts the token's category mix and the map cell of the object covering it
(`spacer_core.sim.token_targets`). The head is thrown away; the decoder is untouched.

Needs the scene files `spacer data synth` writes (``scenes/*.json`` beside the JSONL, or under
``video_root``), so it runs on generated data only.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spacer_core.cogmap import GRID
from spacer_core.inputs import encode
from spacer_core.sim.token_targets import CLASSES, IGNORE, token_targets
from spacer_core.video import load_clip

logger = logging.getLogger(__name__)

METRICS_FILE = "vision_warmup.json"


class TokenHead(nn.Module):
    """Category-mix logits and map-cell (x, y) logits from each merged video token."""

    def __init__(self, hidden: int):
        super().__init__()
        self.proj = nn.Linear(hidden, len(CLASSES) + 2 * GRID)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.proj(features)
        c = len(CLASSES)
        return out[:, :c], out[:, c : c + GRID], out[:, c + GRID :]


def scene_files(records: list[dict[str, Any]], scenes_dir: Path) -> dict[str, tuple[str, Path]]:
    """scene_id → (video path, scene file) for the scenes the records use; FileNotFoundError naming
    the first missing scene file."""
    out = {}
    for record in records:
        sid = record.get("scene_id")
        if sid is None:
            raise ValueError(f"record {record.get('problem_id')!r} has no scene_id: the vision warm-up "
                             "needs generated data (spacer data synth)")
        if sid not in out:
            path = scenes_dir / f"{sid}.json"
            if not path.is_file():
                raise FileNotFoundError(f"the vision warm-up needs the renderer's scene files: {path} is missing "
                                        "(spacer data synth writes them to scenes/)")
            out[sid] = (record["media_path"], path)
    return out


class TokenTargetSet:
    """Clips and their per-token targets, one per scene, computed once."""

    def __init__(self, scenes: dict[str, tuple[str, Path]], processor, video_kwargs: dict, progress: bool = True):
        from tqdm import tqdm

        self.processor = processor
        self.ids = sorted(scenes)
        self.clips, self.classes, self.cells = [], [], []
        merge = processor.video_processor.merge_size
        for sid in tqdm(self.ids, desc="token targets", unit="scene", disable=not progress):
            video, scene_file = scenes[sid]
            clip = load_clip(video, **video_kwargs, cache=False)
            grid_h, grid_w = (side // processor.video_processor.patch_size for side in clip.size)
            try:
                scene = json.loads(scene_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{scene_file}: not a scene file ({exc})") from None
            classes, cells = token_targets(scene, clip.indices, (grid_h // merge, grid_w // merge))
            self.clips.append(clip)
            self.classes.append(torch.from_numpy(classes))
            self.cells.append(torch.from_numpy(cells))

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, index: list[int]) -> tuple[dict, torch.Tensor, torch.Tensor]:
        texts = ["<|vision_start|><|video_pad|><|vision_end|>"] * len(index)
        enc = encode(self.processor, texts, [self.clips[i] for i in index])
        return enc, torch.cat([self.classes[i] for i in index]), torch.cat([self.cells[i] for i in index])


def _object_category(classes: torch.Tensor) -> torch.Tensor:
    """Each token's commonest object category (an index into CLASSES; never the room)."""
    return classes[:, 1:].argmax(-1) + 1


def _losses(model, head, enc, classes, cells) -> tuple[torch.Tensor, dict[str, float]]:
    features = model.get_video_features(enc["pixel_values_videos"], enc["video_grid_thw"], return_dict=True)
    logits, x_logits, y_logits = head(torch.cat(list(features.pooler_output)))
    if logits.shape[0] != classes.shape[0]:
        raise RuntimeError(f"{logits.shape[0]} video tokens but {classes.shape[0]} targets: token grid mismatch")
    class_loss = -(classes * F.log_softmax(logits, -1)).sum(-1).mean()
    on_object = cells[:, 0] != IGNORE
    stats = {"class_loss": class_loss.item(), "object_tokens": int(on_object.sum())}
    if not on_object.any():
        return class_loss, {**stats, "cell_loss": 0.0}
    cell_loss = (F.cross_entropy(x_logits[on_object], cells[on_object, 0])
                 + F.cross_entropy(y_logits[on_object], cells[on_object, 1])) / 2
    category_hit = logits[on_object, 1:].argmax(-1) + 1 == _object_category(classes[on_object])
    cell_hit = (x_logits.argmax(-1) == cells[:, 0]) & (y_logits.argmax(-1) == cells[:, 1])
    stats.update(cell_loss=cell_loss.item(), category_acc=category_hit.float().mean().item(),
                 cell_acc=cell_hit[on_object].float().mean().item())
    return class_loss + cell_loss, stats


@torch.no_grad()
def evaluate(model, head, data: TokenTargetSet, batch_size: int, prior: torch.Tensor) -> dict[str, float]:
    """Held-out metrics, each beside what a vision tower that sees nothing scores: the category mix
    loss of always predicting ``prior`` (the training tokens' mean mix), and the accuracy of always
    naming the held-out tokens' commonest category or map cell. Category and cell accuracies are
    over the tokens an object covers at least MIN_OBJECT_FRACTION of."""
    model.eval()
    rows = []
    for start in range(0, len(data), batch_size):
        index = list(range(start, min(start + batch_size, len(data))))
        rows.append(_losses(model, head, *data.batch(index))[1] | {"tokens": sum(len(data.classes[i]) for i in index)})
    model.train()
    classes, cells = torch.cat(data.classes), torch.cat(data.cells)
    on_object = cells[:, 0] != IGNORE
    n_objects = int(on_object.sum())

    def mean(key: str, weight: str) -> float:
        total = sum(r[weight] for r in rows if key in r)
        return sum(r[key] * r[weight] for r in rows if key in r) / total if total else math.nan

    return {
        "tokens": len(classes),
        "object_tokens": n_objects,
        "class_loss": mean("class_loss", "tokens"),
        "class_loss_prior": -(classes * prior.clamp_min(1e-8).log()).sum(-1).mean().item(),
        "category_acc": mean("category_acc", "object_tokens"),
        "category_acc_commonest": (torch.bincount(_object_category(classes[on_object])).max().item() / n_objects
                                   if n_objects else math.nan),
        "cell_acc": mean("cell_acc", "object_tokens"),
        "cell_acc_commonest": (torch.unique(cells[on_object], dim=0, return_counts=True)[1].max().item() / n_objects
                               if n_objects else math.nan),
    }


def warm_up_vision(model, train: TokenTargetSet, held_out: TokenTargetSet | None, args,
                   progress: bool = True) -> dict[str, Any]:
    """Train ``model``'s vision tower and merger for ``args.max_steps`` steps of
    ``args.per_device_train_batch_size`` clips (TrainingArguments' optimiser fields); returns the
    metrics (also logged), including held-out accuracies when ``held_out`` is given."""
    from tqdm import tqdm
    from transformers import get_scheduler, set_seed

    if args.max_steps <= 0:
        raise ValueError("the vision warm-up needs max_steps > 0")
    set_seed(args.seed)
    model.requires_grad_(False)
    visual = model.model.visual
    visual.requires_grad_(True)
    head = TokenHead(model.config.vision_config.out_hidden_size).to(visual.dtype)
    params = [*visual.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_scheduler(args.lr_scheduler_type, optimizer, args.warmup_steps, args.max_steps)
    order = np.random.default_rng(args.seed)
    queue: list[int] = []
    log = []
    bar = tqdm(range(args.max_steps), desc="vision warm-up", unit="step", disable=not progress)
    for step in bar:
        if len(queue) < args.per_device_train_batch_size:
            queue += order.permutation(len(train)).tolist()
        index, queue = queue[: args.per_device_train_batch_size], queue[args.per_device_train_batch_size :]
        loss, stats = _losses(model, head, *train.batch(index))
        loss.backward()
        if args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % max(int(args.logging_steps), 1) == 0 or step + 1 == args.max_steps:
            log.append({"step": step + 1, "loss": loss.item(), **stats})
            logger.info("vision warm-up step %d: %s", step + 1, log[-1])
    model.requires_grad_(True)
    metrics: dict[str, Any] = {"steps": args.max_steps, "train_scenes": len(train), "log": log}
    if held_out is not None:
        prior = torch.cat(train.classes).mean(0)
        metrics["held_out"] = {"scenes": len(held_out),
                               **evaluate(model, head, held_out, args.per_device_train_batch_size, prior)}
        logger.info("vision warm-up, held-out scenes: %s", metrics["held_out"])
    return metrics
