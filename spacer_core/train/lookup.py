"""`spacer train --stage lookup`: teach a decoder to read what stands in its context, text only.

A decoder trained from scratch (the embedded tiny model) learns answer formats and priors from
SFT, but not to look a category up in the map it wrote: given the true map it still answers from
priors (docs/tiny-ablation.md). This stage trains the decoder alone (the vision tower keeps its
weights, no video) on two tasks whose every target token needs retrieval, drawn from fresh
generated scenes (no rendering, so the data is unlimited):

  copy    "Repeat: sofa 3 lamp ..." -> the same words (what induction heads do)
  lookup  a scene's true map, then "Where is each: tv, chair, ...?" (some categories may be absent)
          -> "tv: 1, at (4, 9). chair: 2, at (1, 5), (0, 7). lamp: none."
  arithmetic (``lookup_arith_fraction``) a map and its lookup lines, then a direction, a route or
          a closest-of question -> the derivation `spacer data synth --cell-arithmetic` writes
          for it ("Facing the sofa: (4-4, 9-0) = (0, 9). ... So front-left."); with
          ``lookup_option_marks`` the question lists options and the derivation marks each
          ("A. back-left vs front-left: no.", a line each)
  marks (``lookup_marks_fraction``) lettered options and a conclusion alone -> the option marks, so
          that the comparison of each option with the conclusion is drilled apart from the long
          arithmetic before it (option words: categories, directions, routes' turns)
  distance (``lookup_distance_fraction``) a map, two objects' lookup lines and the room's size ->
          the absolute-distance derivation `spacer data synth --distance-steps` writes ("The room
          is about 6.3 m by 5.2 m, so a cell is 0.6 m by 0.5 m. ... 2.3 - 0.5 = 1.8 m.")

Every ``lookup_eval_every`` steps it checks the lookup on held-out scenes (other seeds) and writes
the history to ``output_dir/lookup.json``. The SFT stage can keep training these tasks beside its
own (``lookup_batch``: without that, SFT wipes the lookup out), and `spacer data synth
--lookup-lines` writes derivations that start with lookup lines in the same format.
"""

from __future__ import annotations

import json
import random
import re
from itertools import product
from pathlib import Path

import torch

from spacer_core.cogmap import lookup_line, map_text
from spacer_core.inputs import chat_text
from spacer_core.sim import cell_arithmetic
from spacer_core.sim.questions import DIRECTION_OPTIONS, TURNS, half_size, letters, option_marks, scene_map
from spacer_core.sim.scene import VOCABULARY, generate_scene, get_world

METRICS_FILE = "lookup.json"
TRAIN_SEED0 = 10_000_000  # scene seeds for training; the held-out maps use seeds from 0
WORKER_STRIDE = 1_000_000  # seed offset per DataLoader worker: far more than the scenes one run draws
WORDS = list(VOCABULARY) + list("0123456789")


def copy_task(rng: random.Random) -> tuple[str, str]:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16)))
    return "Repeat: " + words, words


def lookup_task(cogmap: dict, rng: random.Random, asked: tuple[int, int] = (3, 6),
                world: str = "vsi") -> tuple[str, str, list[str]]:
    """(question, answer, asked categories): ``asked`` (low, high) of the map's categories, plus one
    absent one of the world's categories half the time when more than one is asked."""
    absent = [c for c in get_world(world).vocabulary if c not in cogmap]
    names = rng.sample(list(cogmap), min(len(cogmap), rng.randint(*asked)))
    names += rng.sample(absent, rng.randint(0, 1)) if asked[1] > 1 else []
    rng.shuffle(names)
    question = map_text(cogmap) + "\nWhere is each: " + ", ".join(names) + "?"
    return question, ". ".join(lookup_line(c, cogmap.get(c, [])) for c in names) + ".", names


def arithmetic_task(cogmap: dict, rng: random.Random, marks: bool = False) -> tuple[str, str] | None:
    """(question, arithmetic) on ``cogmap``, or None when the map leaves the drawn question
    undecided: the arithmetic is what `spacer data synth --cell-arithmetic` writes for such an item
    (a route's without the closing "So: Turn Left, ..."). The question gives the map and the lookup
    lines of the categories it uses, as a derivation has them before its arithmetic. ``marks``: the
    question also lists lettered options in a random order, and the arithmetic goes on to mark each
    (what `spacer data synth --option-lines` writes: a route's closing, then ``A. left vs right: no.``
    and so on, a line each)."""
    single = [c for c, cells in cogmap.items() if len(cells) == 1]
    kind = rng.choice(["easy", "medium", "hard", "route", "closest"] if len(single) >= 3 else ["closest"])
    if kind == "closest":
        if len(cogmap) < 3 or not single:
            return None
        target = rng.choice(single)
        choices = rng.sample([c for c in cogmap if c != target], min(len(cogmap) - 1, rng.randint(2, 4)))
        names = [target, *choices]
        ask = f"closest to the {target}: {', '.join(choices)}?"
        text, answer = cell_arithmetic.closest((target, cogmap[target][0]), {c: cogmap[c] for c in choices})
    elif kind == "route":
        names = rng.sample(single, min(len(single), rng.randint(3, 4)))
        ask = f"route: {', '.join(names)}?"
        text, turns = cell_arithmetic.turns(names, [cogmap[c][0] for c in names])
        answer = None if None in turns else turns
    else:
        names = rng.sample(single, 3)
        ask = f"{kind}: standing at the {names[0]} facing the {names[1]}, the {names[2]}?"
        text, answer = cell_arithmetic.direction(kind, tuple(names), tuple(cogmap[c][0] for c in names))
    if answer is None:
        return None
    lines = ". ".join(lookup_line(c, cogmap[c]) for c in names) + "."
    question = f"{map_text(cogmap)}\n{lines}\n{ask}"
    if not marks:
        return question, text
    if kind == "route":
        answer = ", ".join(TURNS[t] for t in answer)
        text += f" So: {answer}."
        others = [", ".join(c) for c in product(TURNS.values(), repeat=answer.count(",") + 1) if ", ".join(c) != answer]
        options = [answer, *rng.sample(others, min(3, len(others)))]
    else:
        options = list(choices) if kind == "closest" else list(DIRECTION_OPTIONS[kind])
    rng.shuffle(options)
    lettered = letters(options)
    return (question + "\nOptions:\n" + "\n".join(lettered),
            text + "\n" + option_marks(lettered, chr(65 + options.index(answer))))


def marks_task(rng: random.Random, world: str = "vsi") -> tuple[str, str]:
    """(question, marks): lettered options in a random order and a conclusion as a derivation
    ends (``The lamp is the closest: 16.``, ``So back-left.``, ``So: Turn Left, Turn Back.``) ->
    the marks `spacer data synth --option-lines` writes after it (``A. sofa vs lamp: no.`` ...)."""
    kind = rng.choice(["closest", "easy", "medium", "hard", "route"])
    if kind == "closest":
        options = rng.sample(get_world(world).vocabulary, rng.randint(2, 4))
        answer = rng.choice(options)
        conclusion = f"The {answer} is the closest: {rng.randint(0, 81)}."
    elif kind == "route":
        turns = [", ".join(c) for c in product(TURNS.values(), repeat=rng.randint(1, 2))]
        options = rng.sample(turns, min(4, len(turns)))
        answer = rng.choice(options)
        conclusion = f"So: {answer}."
    else:
        options = rng.sample(DIRECTION_OPTIONS[kind], len(DIRECTION_OPTIONS[kind]))
        answer = rng.choice(options)
        conclusion = f"So {answer}."
    lettered = letters(options)
    return ("Options:\n" + "\n".join(lettered) + "\n" + conclusion,
            option_marks(lettered, chr(65 + options.index(answer))))


def distance_task(scene: dict, rng: random.Random) -> tuple[str, str] | None:
    """(question, derivation) for the absolute distance between two single-instance objects of
    ``scene`` (`cell_arithmetic.distance`), or None when it has fewer than two. The question gives
    the map, the two lookup lines and the room's size, as a derivation has them before its steps
    (the size to 0.1 m, as the room-size derivations write it)."""
    cogmap = scene_map(scene)
    single = [c for c, cells in cogmap.items() if len(cells) == 1]
    if len(single) < 2:
        return None
    names = rng.sample(single, 2)
    objects = [next(o for o in scene["objects"] if o["category"] == c) for c in names]
    width, length = scene["room"]["size"][:2]
    text, _ = cell_arithmetic.distance(tuple(names), tuple(cogmap[c][0] for c in names), (width, length),
                                       tuple(half_size(o) for o in objects))
    lines = ". ".join(lookup_line(c, cogmap[c]) for c in names) + "."
    return f"{map_text(cogmap)}\n{lines}\nroom: {width:.1f} m by {length:.1f} m. distance: {', '.join(names)}?", text


def lookup_score(text: str, cogmap: dict, asked: list[str]) -> dict[str, int]:
    """Tallies for one answer: categories asked, named in the answer, given the right count (or
    "none"), whose right count is 1 (what always answering "1" gets right), and true cells, true
    cells written, and cells written that belong to other categories of the map (a wrong entry
    copied: what a lookup that ignores the key gets)."""
    tally = dict(asked=len(asked), named=0, counts=0, ones=0, cells=0, cells_written=0, wrong_cells=0)
    elsewhere = {tuple(cell) for cells in cogmap.values() for cell in cells}
    for category in asked:
        truth = cogmap.get(category, [])
        truth_cells = {tuple(c) for c in truth}
        tally["ones"] += len(truth) == 1
        tally["cells"] += len(truth)
        # "shelf" is not the end of "bookshelf"
        found = re.search(r"(?<!\w)" + re.escape(category) + r": (none|\d+)((?:,? (?:at )?\(\d, \d\))*)", text)
        if not found:
            continue
        written = {(int(x), int(y)) for x, y in re.findall(r"\((\d), (\d)\)", found.group(2))}
        tally["named"] += 1
        tally["counts"] += found.group(1) == ("none" if not truth else str(len(truth)))
        tally["cells_written"] += len(written & truth_cells)
        tally["wrong_cells"] += len(written & (elsewhere - truth_cells))
    return tally


class LookupTasks(torch.utils.data.IterableDataset):
    """An endless stream of (prompt, target) texts: copy with probability ``copy_fraction``, marks
    alone with probability ``marks_fraction``, distance derivations with probability
    ``distance_fraction``, cell arithmetic with probability ``arith_fraction`` (a little less: a
    draw the map leaves undecided, about 1 in 25, is skipped; ``option_marks``: with options to
    mark), else lookup."""

    def __init__(self, processor, copy_fraction: float = 0.25, asked: tuple[int, int] = (3, 6), seed: int = 0,
                 world: str = "vsi", arith_fraction: float = 0.0, option_marks: bool = False,
                 marks_fraction: float = 0.0, distance_fraction: float = 0.0):
        self.processor, self.copy_fraction, self.asked, self.seed = processor, copy_fraction, asked, seed
        self.world, self.arith_fraction, self.option_marks = world, arith_fraction, option_marks
        self.marks_fraction, self.distance_fraction = marks_fraction, distance_fraction

    def __iter__(self):
        # Each DataLoader worker draws its own tasks (the same seed in every worker would repeat each
        # task once per worker); worker 0, or no worker, keeps the plain seed.
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        rng = random.Random(self.seed + WORKER_STRIDE * worker)
        scene_seed = TRAIN_SEED0 + WORKER_STRIDE * worker
        while True:
            draw = rng.random()
            if draw < self.copy_fraction:
                question, answer = copy_task(rng)
            elif draw < self.copy_fraction + self.marks_fraction:
                question, answer = marks_task(rng, self.world)
            else:
                draw -= self.marks_fraction
                scene_seed += 1
                scene = generate_scene(scene_seed, world=self.world)
                cogmap = scene_map(scene)
                if draw < self.copy_fraction + self.distance_fraction:
                    task = distance_task(scene, rng)
                    if task is None:
                        continue
                    question, answer = task
                elif draw - self.distance_fraction < self.copy_fraction + self.arith_fraction:
                    task = arithmetic_task(cogmap, rng, self.option_marks)
                    if task is None:
                        continue
                    question, answer = task
                else:
                    question, answer, _ = lookup_task(cogmap, rng, self.asked, self.world)
            yield {"prompt": chat_text(self.processor, question, video=False), "target": answer + "<|im_end|>\n"}


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
def _greedy(model, processor, questions: list[str], max_new_tokens: int, batch: int = 25) -> list[str]:
    """The model's greedy answers to text-only questions, ``batch`` at a time (left-padded)."""
    tok = processor.tokenizer
    answers = []
    was_training = model.training
    model.eval()
    for start in range(0, len(questions), batch):
        enc = tok([chat_text(processor, q, video=False) for q in questions[start:start + batch]], return_tensors="pt",
                  padding=True, padding_side="left", add_special_tokens=False).to(model.device)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        answers += tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    model.train(was_training)
    return answers


def held_out_lookup(model, processor, scenes: int = 50, asked: tuple[int, int] = (3, 6),
                    batch: int = 25, world: str = "vsi") -> dict[str, float]:
    """Greedy answers to lookup questions on ``scenes`` held-out maps: the share of asked categories
    named, of right counts (beside what always "1" gets), of true cells written, and of cells
    written that belong to other categories (per true cell; a guessed cell is right 1 time in 100)."""
    rng = random.Random(1)
    maps = (scene_map(generate_scene(s, world=world)) for s in range(scenes))
    tasks = [(cogmap, *lookup_task(cogmap, rng, asked, world)) for cogmap in maps]
    totals: dict[str, int] = {}
    for (cogmap, _, _, names), text in zip(tasks, _greedy(model, processor, [q for _, q, _, _ in tasks], 120, batch),
                                           strict=True):
        for key, n in lookup_score(text, cogmap, names).items():
            totals[key] = totals.get(key, 0) + n
    n = totals["asked"]
    return {"named": round(totals["named"] / n, 3), "counts_right": round(totals["counts"] / n, 3),
            "always_1_gets": round(totals["ones"] / n, 3),
            "cells_right": round(totals["cells_written"] / totals["cells"], 3),
            "other_keys_cells": round(totals["wrong_cells"] / totals["cells"], 3)}


# A derivation's conclusions: directions and turns, or the closest category (names may be two words).
_ANSWERS = re.compile(r"(?:: |So )((?:front|back)-(?:left|right)|left|right|back)\.|The ([\w ]+?) is the closest")


_YES = re.compile(r"([A-Z])\. [^:\n]+: yes\.")
_MARKS = re.compile(r"(?m)^[A-Z]\. [^:\n]+: (?:yes|no)\.$")


def arithmetic_tally(text: str, truth: str) -> dict[str, int]:
    """One derivation against the true one: written exactly, same conclusions, cell offsets right
    and written, option lines (`option_marks`) exactly as the truth's, and the same letters marked yes."""
    right, written = cell_arithmetic.offsets_right(text)
    return dict(exact=text.strip() == truth, answers=_ANSWERS.findall(text) == _ANSWERS.findall(truth),
                offsets_right=right, offsets=written,
                marks_exact=_MARKS.findall(text) == _MARKS.findall(truth),
                marks_letter=_YES.findall(text) == _YES.findall(truth))


def held_out_arithmetic(model, processor, scenes: int = 50, batch: int = 25, world: str = "vsi",
                        marks: bool = False) -> dict[str, float]:
    """Greedy derivations of cell-arithmetic tasks on ``scenes`` held-out maps: the share written
    exactly, the share whose conclusions (directions, turns, the closest) are right, and the share
    of cell offsets (``(5-2, 1-3) = (3, -2)``) computed right. With ``marks`` (see `arithmetic_task`),
    also the share whose option marks are written exactly, and whose "yes" is the right letter, and
    the first of these for the hard directions and the routes apart (options of several pieces)."""
    rng = random.Random(2)
    tasks = [t for s in range(scenes) if (t := arithmetic_task(scene_map(generate_scene(s, world=world)), rng, marks))]
    # room for the longest derivation (a two-turn route, a closest-of with several instances)
    texts = _greedy(model, processor, [q for q, _ in tasks], 384 if marks else 320, batch)
    tallies = [arithmetic_tally(text, truth) for (_, truth), text in zip(tasks, texts, strict=True)]
    totals = {key: sum(t[key] for t in tallies) for key in tallies[0]}
    n = len(tasks)
    scores = {"arith_exact": round(totals["exact"] / n, 3), "arith_answers": round(totals["answers"] / n, 3),
              "arith_offsets_right": round(totals["offsets_right"] / totals["offsets"], 3) if totals["offsets"] else 0.0}
    if marks:
        scores |= {"marks_exact": round(totals["marks_exact"] / n, 3), "marks_letter": round(totals["marks_letter"] / n, 3)}
        for kind in ("hard", "route"):
            own = [t["marks_exact"] for (question, _), t in zip(tasks, tallies, strict=True) if f"\n{kind}: " in question]
            if own:
                scores[f"marks_exact_{kind}"] = round(sum(own) / len(own), 3)
    return scores


_ESTIMATE = re.compile(r"(?:= |so about )(\d+\.\d) m\.$")


def distance_tally(text: str, truth: str) -> dict[str, bool]:
    """One distance derivation against the true one: written exactly, and ending on its estimate."""
    found, true = _ESTIMATE.search(text.strip()), _ESTIMATE.search(truth)
    return {"exact": text.strip() == truth, "estimate": bool(found) and found.group(1) == true.group(1)}


def held_out_distance(model, processor, scenes: int = 50, batch: int = 25, world: str = "vsi") -> dict[str, float]:
    """Greedy distance derivations (`distance_task`) on ``scenes`` held-out rooms: the share written
    exactly and the share that end on the true derivation's estimate."""
    rng = random.Random(3)
    tasks = [t for s in range(scenes) if (t := distance_task(generate_scene(s, world=world), rng))]
    texts = _greedy(model, processor, [q for q, _ in tasks], 200, batch)  # the longest is about 170
    tallies = [distance_tally(text, truth) for (_, truth), text in zip(tasks, texts, strict=True)]
    return {f"distance_{key}": round(sum(t[key] for t in tallies) / len(tallies), 3) for key in ("exact", "estimate")}


def parse_span(text: str) -> tuple[int, int]:
    """ "N" or "LOW-HIGH" -> (low, high), 1 <= low <= high."""
    low, _, high = text.partition("-")
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise ValueError(f"expected N or LOW-HIGH, got {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise ValueError(f"expected 1 <= LOW <= HIGH, got {text!r}")
    return bounds


def lookup_trainer(spacer, config, model, processor):
    """The stage's Trainer (decoder only); held-out checks go to output_dir/lookup.json as they come."""
    from transformers import Trainer, TrainerCallback

    model.model.visual.requires_grad_(False)
    asked = parse_span(spacer.lookup_asked)
    history_file = Path(config.output_dir) / METRICS_FILE

    class HeldOut(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % spacer.lookup_eval_every == 0 or state.global_step == state.max_steps:
                scores = held_out_lookup(model, processor, spacer.lookup_eval_scenes, asked,
                                         world=spacer.lookup_world)
                if spacer.lookup_arith_fraction:
                    scores |= held_out_arithmetic(model, processor, spacer.lookup_eval_scenes,
                                                  world=spacer.lookup_world, marks=spacer.lookup_option_marks)
                if spacer.lookup_distance_fraction:
                    scores |= held_out_distance(model, processor, spacer.lookup_eval_scenes, world=spacer.lookup_world)
                if state.is_world_process_zero:
                    history = json.loads(history_file.read_text()) if history_file.is_file() else []
                    history = [h for h in history if h["step"] < state.global_step]  # a resumed run rewrites
                    history_file.write_text(json.dumps([*history, {"step": state.global_step, **scores}], indent=1))
                    print(f"step {state.global_step}: held-out lookup {scores}", flush=True)

    config.remove_unused_columns = False
    return Trainer(model=model, args=config, callbacks=[HeldOut()],
                   train_dataset=LookupTasks(processor, spacer.lookup_copy_fraction, asked, config.seed,
                                             spacer.lookup_world, spacer.lookup_arith_fraction,
                                             spacer.lookup_option_marks, spacer.lookup_marks_fraction,
                                             spacer.lookup_distance_fraction),
                   data_collator=lambda rows: collate(processor.tokenizer, rows))
