"""Can a checkpoint's decoder look things up in its context? A text-only probe (an experiment, not a recipe stage).

The spacer-tiny model answers from priors even when the true map is given (`spacer eval --given-map`,
docs/tiny-ablation.md). This probe trains the decoder alone, with no video, on two tasks whose every
target token needs in-context retrieval, and reports how fast it learns them (copy: the training loss,
logged every 50 steps; lookup: held-out accuracy):

  copy    "Repeat: sofa 3 lamp ..." -> the same words (what induction heads do)
  lookup  a scene's true map, then "Where is each: tv, chair, ...?" in random order
          -> "tv: 1, at (4, 9). chair: 2, at (1, 5), (0, 7). ..." (find the key, count, copy the cells)
          --asked sets how many categories a question names (default 3-6, one of them possibly absent);
          --answer entry asks for the map's own entries instead, copied verbatim:
          -> '"tv": [[4, 9]]. "chair": [[1, 5], [0, 7]]. ...' (find the key and copy what follows);
          --answer flat shows the map as "tv 4 9; chair 1 5; chair 0 7; ..." and asks for its items,
          so that every cell follows its own key (a one-hop lookup, as induction heads do);
          --quote writes the asked names as the map writes its keys ("tv"), so that they are the same
          tokens (the tiny tokenizer makes " tv" and "tv" two unrelated ids);
          --keys cuts each map to a few of its categories (associative recall on short lists)

Maps come from fresh scenes of the sim's generator (no rendering, so data is unlimited); the held-out
check uses other seeds. Every --eval-every steps it prints the lookup's held-out accuracy: the share of
the asked categories the answer names, the share given the right count (or "none") beside what always
answering "1" would get, the share of true cells written out (a guessed cell is right 1 time in 100),
and beside it the cells written that belong to other categories of the map (a wrong entry copied).

Usage: python recipes/lookup_probe.py --model runs/tiny/vision/final --steps 3000 [--copy-fraction 0.5]
       [--asked 1] [--answer cells|entry|flat] [--quote] [--keys 2-3] [--device cuda]
A model built with `spacer model tiny --whole-categories` learns the default lookups by step 6000
of --steps 7500 (docs/tiny-ablation.md; about 9 minutes on one H100, six probes sharing it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spacer_core.cogmap import map_text  # noqa: E402
from spacer_core.sim.questions import scene_map  # noqa: E402
from spacer_core.sim.scene import VOCABULARY, generate_scene  # noqa: E402

TRAIN_SEED0 = 10_000_000  # scene seeds for training; the held-out maps use seeds from 0
WORDS = list(VOCABULARY) + list("0123456789")


def chat(processor, text: str) -> str:
    messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def copy_task(rng: random.Random) -> tuple[str, str]:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16)))
    return "Repeat: " + words, words


ANSWERS = ("cells", "entry", "flat")


def lookup_task(cogmap: dict, rng: random.Random, asked: tuple[int, int] = (3, 6),
                answer: str = "cells", quote: bool = False) -> tuple[str, str, list[str]]:
    """(question, answer, asked categories): ``asked`` (low, high) of the map's categories, and one absent
    one half the time when more than one is asked. ``answer``: one of ANSWERS (see the module doc)."""
    absent = [c for c in VOCABULARY if c not in cogmap]
    names = rng.sample(list(cogmap), min(len(cogmap), rng.randint(*asked)))
    names += rng.sample(absent, rng.randint(0, 1)) if asked[1] > 1 else []
    rng.shuffle(names)

    def flat(category: str, cells) -> str:
        return "; ".join(f"{category} {x} {y}" for x, y in cells)

    def where(category: str) -> str:
        cells = cogmap.get(category, [])
        if answer == "entry":
            return f'"{category}": ' + (json.dumps(cells) if cells else "none")
        if answer == "flat":
            return flat(category, cells) if cells else f"{category} none"
        if not cells:
            return f"{category}: none"
        return f"{category}: {len(cells)}, at " + ", ".join(f"({x}, {y})" for x, y in cells)

    shown = "; ".join(flat(c, cells) for c, cells in cogmap.items()) if answer == "flat" else map_text(cogmap)
    request = "Where is each: " if answer == "cells" else "Copy the map entry of each: "
    question = shown + "\n" + request + ", ".join(json.dumps(n) if quote else n for n in names) + "?"
    return question, ". ".join(where(c) for c in names) + ".", names


def lookup_score(text: str, cogmap: dict, asked: list[str], answer: str = "cells") -> dict[str, int]:
    """Tallies for one answer: categories asked, named in the answer, given the right count (or
    "none"; an entry's count is its number of cells), whose right count is the commonest one (1: what
    always answering "1" gets right), and true cells, true cells written, and cells written that belong
    to other categories of the map (a wrong entry copied: what a lookup that ignores the key gets)."""
    tally = dict(asked=len(asked), named=0, counts=0, ones=0, cells=0, cells_written=0, wrong_cells=0)
    elsewhere = {tuple(cell) for cells in cogmap.values() for cell in cells}
    for category in asked:
        truth = cogmap.get(category, [])
        tally["ones"] += len(truth) == 1
        tally["cells"] += len(truth)
        key = r"(?<!\w)" + re.escape(category)  # "shelf" is not the end of "bookshelf"
        if answer == "flat":
            written = [(int(x), int(y)) for x, y in re.findall(key + r" (\d) (\d)", text)]
            if not written and not re.search(key + " none", text):
                continue
            count = str(len(written)) if written else "none"
        elif answer == "entry":
            found = re.search(re.escape(f'"{category}": ') + r"(none|\[\[[\d, \[\]]*?\]\])", text)
            if not found:
                continue
            written = [(int(x), int(y)) for x, y in re.findall(r"\[(\d), (\d)\]", found.group(1))]
            count = "none" if found.group(1) == "none" else str(len(written))
        else:
            found = re.search(key + r": (none|\d+)((?:,? (?:at )?\(\d, \d\))*)", text)
            if not found:
                continue
            written = [(int(x), int(y)) for x, y in re.findall(r"\((\d), (\d)\)", found.group(2))]
            count = found.group(1)
        tally["named"] += 1
        tally["counts"] += count == ("none" if not truth else str(len(truth)))
        tally["cells_written"] += len(set(written) & set(truth))
        tally["wrong_cells"] += len(set(written) & (elsewhere - set(truth)))
    return tally


@dataclasses.dataclass(frozen=True)
class Lookup:
    """How lookup questions are posed (see the module doc): ``asked`` categories per question, the
    ``answer`` format, the asked names ``quote``d as the map writes its keys (so that they are the
    same tokens), and the map cut to ``keys`` (low, high) of its categories (None: the whole map)."""

    asked: tuple[int, int] = (3, 6)
    answer: str = "cells"
    quote: bool = False
    keys: tuple[int, int] | None = None

    def task(self, cogmap: dict, rng: random.Random) -> tuple[dict, str, str, list[str]]:
        """(the map as shown, question, answer, asked categories)."""
        if self.keys:
            kept = rng.sample(list(cogmap), min(len(cogmap), rng.randint(*self.keys)))
            cogmap = {c: cells for c, cells in cogmap.items() if c in kept}
        return (cogmap, *lookup_task(cogmap, rng, self.asked, self.answer, self.quote))


class ProbeData(torch.utils.data.IterableDataset):
    """An endless stream of (prompt, target) texts: copy with probability ``copy_fraction``, else lookup."""

    def __init__(self, processor, copy_fraction: float, lookup: Lookup = Lookup(), seed: int = 0):
        self.processor, self.copy_fraction, self.lookup, self.seed = processor, copy_fraction, lookup, seed

    def __iter__(self):
        rng = random.Random(self.seed)
        scene_seed = TRAIN_SEED0
        while True:
            if rng.random() < self.copy_fraction:
                question, answer = copy_task(rng)
            else:
                scene_seed += 1
                _, question, answer, _ = self.lookup.task(scene_map(generate_scene(scene_seed)), rng)
            yield {"prompt": chat(self.processor, question), "target": answer + "<|im_end|>\n"}


def collate(tokenizer, rows: list[dict]) -> dict[str, torch.Tensor]:
    """Right-padded batch; the loss is on the target tokens only."""
    prompts = [tokenizer(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows]
    targets = [tokenizer(r["target"], add_special_tokens=False)["input_ids"] for r in rows]
    width = max(len(p) + len(t) for p, t in zip(prompts, targets, strict=True))
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (p, t) in enumerate(zip(prompts, targets, strict=True)):
        n = len(p) + len(t)
        ids[i, :n] = torch.tensor(p + t)
        labels[i, len(p):n] = torch.tensor(t)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@torch.no_grad()
def held_out_lookup(model, processor, scenes: int = 50, batch: int = 25, lookup: Lookup = Lookup()) -> dict[str, float]:
    rng = random.Random(1)
    tasks = [lookup.task(scene_map(generate_scene(s)), rng) for s in range(scenes)]
    tok = processor.tokenizer
    totals: dict[str, int] = {}
    was_training = model.training
    model.eval()
    for start in range(0, len(tasks), batch):
        chunk = tasks[start:start + batch]
        enc = tok([chat(processor, q) for _, q, _, _ in chunk], return_tensors="pt", padding=True,
                  padding_side="left", add_special_tokens=False).to(model.device)
        out = model.generate(**enc, max_new_tokens=120, do_sample=False)
        for (cogmap, _, _, asked), new in zip(chunk, out[:, enc["input_ids"].shape[1]:], strict=True):
            for key, n in lookup_score(tok.decode(new, skip_special_tokens=True), cogmap, asked, lookup.answer).items():
                totals[key] = totals.get(key, 0) + n
    model.train(was_training)
    asked = totals["asked"]
    return {"named": round(totals["named"] / asked, 3), "counts_right": round(totals["counts"] / asked, 3),
            "always_1_gets": round(totals["ones"] / asked, 3),
            "cells_right": round(totals["cells_written"] / totals["cells"], 3),
            "other_keys_cells": round(totals["wrong_cells"] / totals["cells"], 3)}


def span(text: str) -> tuple[int, int]:
    """ "N" or "LOW-HIGH" -> (low, high), 1 <= low <= high."""
    low, _, high = text.partition("-")
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LOW-HIGH, got {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= LOW <= HIGH, got {text!r}")
    return bounds


def main(argv: list[str] | None = None) -> None:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from spacer_core.models import load_model, save_processor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="runs/tiny/vision/final", help="the checkpoint whose decoder is probed")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--copy-fraction", type=float, default=0.5, help="share of copy examples (the rest: lookup)")
    ap.add_argument("--asked", type=span, default=(3, 6), help="categories per lookup question: N or LOW-HIGH")
    ap.add_argument("--answer", choices=ANSWERS, default="cells", help="cells: count and cells; entry: the map's entries")
    ap.add_argument("--quote", action="store_true", help="quote the asked names as the map quotes its keys")
    ap.add_argument("--keys", type=span, default=None, help="cut each map to N or LOW-HIGH of its categories")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-scenes", type=int, default=50, help="held-out maps per check")
    ap.add_argument("--out", default="runs/lookup_probe", help="where the probed model is saved")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (float32 either way)")
    args = ap.parse_args(argv)

    lookup = Lookup(args.asked, args.answer, args.quote, args.keys)
    model, processor = load_model(args.model, device=args.device, dtype="float32")
    model.model.visual.requires_grad_(False)  # text only: the vision tower keeps its weights

    def report(step: int) -> None:
        scores = held_out_lookup(model, processor, args.eval_scenes, lookup=lookup)
        print(f"step {step}: held-out lookup {scores}", flush=True)

    class HeldOut(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            if state.global_step % args.eval_every == 0 or state.global_step == state.max_steps:
                report(state.global_step)

    config = TrainingArguments(
        output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=args.batch,
        learning_rate=args.lr, lr_scheduler_type="cosine", warmup_steps=20, weight_decay=0.0,
        use_cpu=args.device == "cpu", logging_steps=50, save_strategy="no", report_to=[], seed=0,
        remove_unused_columns=False, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=config, train_dataset=ProbeData(processor, args.copy_fraction, lookup),
                      data_collator=lambda rows: collate(processor.tokenizer, rows), callbacks=[HeldOut()])
    report(0)
    trainer.train()
    trainer.save_model(str(Path(args.out) / "final"))
    save_processor(processor, Path(args.out) / "final", args.model)


if __name__ == "__main__":
    main()
