"""The lookup stage (spacer train --stage lookup), its tasks mixed into SFT, and lookup lines in the
sim's derivations: tasks, scoring and short real runs on the tiny model."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file

from spacer_core.cli import main
from spacer_core.cogmap import lookup_line
from spacer_core.data import load_dataset_jsonl
from spacer_core.inputs import chat_text
from spacer_core.models import load_model
from spacer_core.sim.questions import generate_questions, named_categories, scene_map
from spacer_core.sim.scene import generate_scene
from spacer_core.train.dataset import sft_rows
from spacer_core.train.lookup import LookupTasks, collate, lookup_score, lookup_task, parse_span
from spacer_core.train.sft import VideoSFTCollator

VIDEO = dict(nframes=8, min_pixels=28 * 28 * 4, max_pixels=112 * 112)


def test_small_world_lookups_ask_only_its_categories():
    from spacer_core.sim.scene import WORLDS

    vocabulary = set(WORLDS["small"].vocabulary)
    for seed in range(30):
        cogmap = scene_map(generate_scene(seed, world="small"))
        _, answer, asked = lookup_task(cogmap, random.Random(seed), world="small")
        assert set(asked) <= vocabulary and set(cogmap) <= vocabulary
        assert lookup_score(answer, cogmap, asked)["counts"] == len(asked)


def test_the_true_answer_scores_full_marks_and_a_miscount_does_not():
    for seed in range(20):
        cogmap = scene_map(generate_scene(seed))
        question, answer, asked = lookup_task(cogmap, random.Random(seed))
        assert question.startswith("<map>{") and all(c in question for c in asked)
        cells = sum(len(cogmap.get(c, [])) for c in asked)
        ones = sum(len(cogmap.get(c, [])) == 1 for c in asked)
        n = len(asked)
        assert lookup_score(answer, cogmap, asked) == dict(
            asked=n, named=n, counts=n, ones=ones, cells=cells, cells_written=cells, wrong_cells=0)
        first = asked[0]
        miscounted = ". ".join([f"{first}: 9", *answer.split(". ")[1:]])  # and its cells left out
        assert lookup_score(miscounted, cogmap, asked) == dict(
            asked=n, named=n, counts=n - 1, ones=ones, cells=cells,
            cells_written=cells - len(cogmap.get(first, [])), wrong_cells=0)
        assert lookup_score(". ".join(answer.split(". ")[1:]), cogmap, asked)["named"] == n - 1


def test_a_wrong_entry_is_scored_as_other_keys_cells():
    cogmap = {"chair": [(1, 2), (3, 4)], "table": [(5, 6)]}
    assert lookup_score(lookup_line("chair", cogmap["table"]), cogmap, ["chair"]) == dict(
        asked=1, named=1, counts=0, ones=0, cells=2, cells_written=0, wrong_cells=1)


def test_a_category_is_not_found_inside_a_longer_name():
    cogmap = {"bookshelf": [(1, 2)], "shelf": [(3, 4)]}
    assert lookup_score(lookup_line("bookshelf", [(1, 2)]), cogmap, ["shelf"])["named"] == 0


def test_asked_span_is_checked():
    assert parse_span("1") == (1, 1) and parse_span("3-6") == (3, 6)
    for bad in ("0", "4-2", "x"):
        with pytest.raises(ValueError, match="expected"):
            parse_span(bad)


def test_collate_puts_the_loss_on_the_target_only(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    rows = [{"prompt": chat_text(processor, "Repeat: sofa 3", video=False), "target": "sofa 3<|im_end|>\n"},
            {"prompt": chat_text(processor, "Repeat: lamp lamp lamp 7 7", video=False), "target": "lamp lamp lamp 7 7<|im_end|>\n"}]
    batch = collate(tok, rows)
    for i, row in enumerate(rows):
        target = tok(row["target"], add_special_tokens=False)["input_ids"]
        assert batch["labels"][i][batch["labels"][i] != -100].tolist() == target
        prompt = tok(row["prompt"], add_special_tokens=False)["input_ids"]
        assert batch["attention_mask"][i].sum().item() == len(prompt) + len(target)


def test_lookup_stage_trains_the_decoder_only_and_reports_held_out_lookups(untrained_tiny_dir, tmp_path):
    """...and keeps the checkpoint's video settings, so that evaluating the model samples the frames
    it was built for (without them `spacer eval` uses the full-size defaults), and its data record."""
    import shutil

    start, out = tmp_path / "start", tmp_path / "lookup"
    shutil.copytree(untrained_tiny_dir, start)
    (start / "spacer_data.json").write_text('{"config": {"world": "small"}}')
    assert main(["train", "--stage", "lookup", "--model", str(start), "--output_dir", str(out),
                 "--use_cpu", "true", "--max_steps", "4", "--per_device_train_batch_size", "4", "--lookup_world",
                 "small", "--lookup_eval_every", "2", "--lookup_eval_scenes", "2", "--report_to", "none"]) == 0
    assert json.loads((out / "final" / "spacer_data.json").read_text()) == {"config": {"world": "small"}}
    history = json.loads((out / "lookup.json").read_text())
    assert [h["step"] for h in history] == [2, 4]
    assert set(history[-1]) == {"step", "named", "counts_right", "always_1_gets", "cells_right", "other_keys_cells"}
    before, after = load_file(untrained_tiny_dir / "model.safetensors"), load_file(out / "final" / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and not any("visual" in k for k in changed)
    settings = "spacer_video.json"
    assert (out / "final" / settings).read_text() == (untrained_tiny_dir / settings).read_text()


def test_lookup_tasks_join_every_sft_batch(sim_root, untrained_tiny_dir):
    _, processor = load_model(untrained_tiny_dir)
    rows = sft_rows(load_dataset_jsonl(sim_root / "train.jsonl", maps=sim_root / "cognitive_map.jsonl")[:2])
    tasks = LookupTasks(processor, copy_fraction=0.0, seed=3)
    expected = [t for t, _ in zip(tasks, range(3), strict=False)]
    collator = VideoSFTCollator(processor, VIDEO, iter(LookupTasks(processor, copy_fraction=0.0, seed=3)), 3)
    batch = collator(rows)
    assert batch["input_ids"].shape[0] == 5 and batch["video_grid_thw"].shape[0] == 2  # 3 rows without video
    tok = processor.tokenizer
    for i, task in enumerate(expected, start=2):
        assert tok.decode(batch["input_ids"][i][batch["labels"][i] != -100]) == task["target"]
        assert task["target"].startswith(task["prompt"].split("Where is each: ")[1].split(",")[0].rstrip("?"))
    with pytest.raises(ValueError, match="text_rows"):
        VideoSFTCollator(processor, VIDEO, None, 2)


def test_dataloader_workers_draw_different_lookup_tasks(sim_root, untrained_tiny_dir):
    """With dataloader workers (the GPU runs' setting) every worker forks the collator's stream;
    each must draw its own tasks, not repeat the others'."""
    _, processor = load_model(untrained_tiny_dir)
    rows = sft_rows(load_dataset_jsonl(sim_root / "train.jsonl", maps=sim_root / "cognitive_map.jsonl")[:4])
    collator = VideoSFTCollator(processor, VIDEO, iter(LookupTasks(processor, copy_fraction=0.0, seed=3)), 2)
    loader = torch.utils.data.DataLoader(rows, batch_size=1, collate_fn=collator, num_workers=2)
    tok = processor.tokenizer
    targets = [tok.decode(b["input_ids"][i][b["labels"][i] != -100]) for b in loader for i in (1, 2)]
    assert len(set(targets)) == len(targets) == 8
    plain = [t["target"] for t, _ in zip(LookupTasks(processor, copy_fraction=0.0, seed=3), range(4), strict=False)]
    assert targets[:2] + targets[4:6] == plain  # worker 0 (batches 0 and 2) keeps the plain seed


def test_sft_with_lookup_batches_runs(sim_root, untrained_tiny_dir, tmp_path):
    out = tmp_path / "sft"
    assert main(["train", "--config", "configs/sft_tiny.yaml", "--model", str(untrained_tiny_dir), "--train_file",
                 str(sim_root / "train.jsonl"), "--output_dir", str(out), "--max_steps", "2", "--save_strategy", "no",
                 "--lookup_batch", "2", "--per_device_train_batch_size", "2"]) == 0
    assert (out / "final" / "model.safetensors").is_file()


def test_bad_lookup_settings_name_the_field(untrained_tiny_dir, tmp_path, capsys):
    assert main(["train", "--stage", "lookup", "--model", str(untrained_tiny_dir), "--output_dir", str(tmp_path),
                 "--use_cpu", "true", "--lookup_asked", "6-3"]) != 0
    assert "lookup_asked: expected 1 <= LOW <= HIGH, got '6-3'" in capsys.readouterr().err
    assert main(["train", "--stage", "lookup", "--model", str(untrained_tiny_dir), "--output_dir", str(tmp_path),
                 "--use_cpu", "true", "--lookup_arith_fraction", "0.5", "--lookup_marks_fraction", "0.5"]) != 0
    assert "lookup_marks_fraction must be in [0, 1 - lookup_copy_fraction - lookup_arith_fraction], got 0.5" in \
        capsys.readouterr().err


def test_lookup_lines_read_out_the_questions_categories():
    for seed in range(5):
        scene = generate_scene(seed)
        cogmap = scene_map(scene)
        plain = generate_questions(scene, seed)
        lined = generate_questions(scene, seed, lookup_lines=True)
        assert [q.answer for q in plain] == [q.answer for q in lined]
        for p, q in zip(plain, lined, strict=True):
            names = named_categories(q.question)
            if not names:  # the room's size
                assert q == p and q.question_type == "room_size_estimation"
                continue
            map_part, lines, derivation = q.reasoning.split("\n")
            assert p.reasoning == f"{map_part}\n{derivation}"
            assert lines == ". ".join(lookup_line(c, cogmap.get(c, [])) for c in names) + "."
            tally = lookup_score(lines, cogmap, names)
            assert tally["counts"] == tally["named"] == len(names) and tally["cells_written"] == tally["cells"]


def test_named_categories_in_question_order_longest_name_first():
    assert named_categories("How many chair(s) are in this room?") == ["chair"]
    assert named_categories("Is the trash can left of the table, or the can? The table, I mean.") == ["trash can", "table"]
    # a derivation's plural names its category; a longer word that merely starts with one does not
    assert named_categories("The map lists 2 lamps and 3 benches, not the lampshade.") == ["lamp"]


def test_arithmetic_tasks_are_the_synth_arithmetic_of_fresh_maps(untrained_tiny_dir):
    """The arithmetic tasks (lookup_arith_fraction) ask about a map's own cells and target the
    arithmetic `spacer data synth --cell-arithmetic` writes for them; without the option the stream
    has none, with it about that share."""
    import re

    from spacer_core.sim import cell_arithmetic
    from spacer_core.train.lookup import arithmetic_task

    rng, kinds = random.Random(0), set()
    for seed in range(60):
        cogmap = scene_map(generate_scene(seed, world="small"))
        task = arithmetic_task(cogmap, rng)
        if task is None:
            continue
        question, derivation = task
        assert question.startswith("<map>") and question.count("\n") == 2
        ask = question.rsplit("\n", 1)[1]
        if ask.startswith("route: "):
            names = ask[7:-1].split(", ")
            assert derivation == cell_arithmetic.turns(names, [cogmap[c][0] for c in names])[0]
        elif ask.startswith("closest to the "):
            target, choices = re.match(r"closest to the (\w+): (.*)\?", ask).groups()
            assert len(cogmap[target]) == 1
            assert derivation == cell_arithmetic.closest((target, cogmap[target][0]),
                                                         {c: cogmap[c] for c in choices.split(", ")})[0]
        else:
            kind, p, o, q = re.match(r"(\w+): standing at the (\w+) facing the (\w+), the (\w+)\?", ask).groups()
            assert derivation == cell_arithmetic.direction(kind, (p, o, q), (cogmap[p][0], cogmap[o][0], cogmap[q][0]))[0]
        kinds.add(ask.split(":")[0].split(" the ")[0])
    assert kinds == {"easy", "medium", "hard", "route", "closest to"}
    _, processor = load_model(untrained_tiny_dir)
    def arithmetic(tasks):
        return sum(bool(re.search(r"Facing the|closest:|At the \w+: in", t["target"])) for t in tasks)

    plain = [t for t, _ in zip(LookupTasks(processor, seed=5, world="small"), range(40), strict=False)]
    mixed = [t for t, _ in zip(LookupTasks(processor, seed=5, world="small", arith_fraction=0.7), range(40), strict=False)]
    assert arithmetic(plain) == 0 and 15 <= arithmetic(mixed) <= 37


@pytest.mark.parametrize("marks", [False, True])
def test_lookup_stage_reports_the_held_out_arithmetic(untrained_tiny_dir, tmp_path, marks):
    out = tmp_path / "arith"
    assert main(["train", "--stage", "lookup", "--model", str(untrained_tiny_dir), "--output_dir", str(out),
                 "--use_cpu", "true", "--max_steps", "2", "--per_device_train_batch_size", "4", "--lookup_world",
                 "small", "--lookup_arith_fraction", "0.5", "--lookup_eval_every", "2", "--lookup_eval_scenes", "3",
                 "--report_to", "none", *(["--lookup_option_marks"] if marks else [])]) == 0
    history = json.loads((out / "lookup.json").read_text())
    # the 3 held-out maps ask two closest-of questions and a hard direction, no route
    keys = {"arith_exact", "arith_answers", "arith_offsets_right"}
    keys |= {"marks_exact", "marks_letter", "marks_exact_hard"} if marks else set()
    assert keys <= set(history[-1]) and ("marks_exact" in history[-1]) == marks
    assert "marks_exact_route" not in history[-1] and ("marks_exact_hard" in history[-1]) == marks
    assert all(0 <= history[-1][k] <= 1 for k in keys)


def test_option_marks_tasks_list_shuffled_options_and_mark_the_conclusion():
    """With marks the question lists lettered options in a random order and the derivation ends by
    marking each; the one marked yes is the conclusion the arithmetic arrives at."""
    from spacer_core.train.lookup import arithmetic_task

    rng, first_easy = random.Random(0), set()
    for seed in range(80):
        task = arithmetic_task(scene_map(generate_scene(seed, world="small")), rng, marks=True)
        if task is None:
            continue
        question, target = task
        options = question.split("\nOptions:\n")[1].split("\n")
        derivation, marks = target.split("\nA. ")
        conclusion = marks_for(derivation)
        assert ("A. " + marks).split("\n") == [
            f"{o} vs {conclusion}: {'yes' if o.split('. ', 1)[1] == conclusion else 'no'}." for o in options]
        assert marks.count(": yes.") == 1
        if len(options) == 2 and options[0][3:] in ("left", "right"):
            first_easy.add(options[0][3:])
    assert first_easy == {"left", "right"}


def marks_for(derivation: str) -> str:
    """The conclusion a derivation arrives at, in the options' words."""
    import re

    if found := re.search(r"The (\w+) is the closest", derivation):
        return found.group(1)
    if found := re.search(r"So: (.+)\.$", derivation):
        return found.group(1)
    return re.search(r"(?:: |So )([\w-]+)\.$", derivation).group(1)


def test_arithmetic_tally_counts_a_wrong_mark():
    from spacer_core.train.lookup import arithmetic_tally

    derivation = "Facing the sofa: (2-3, 0-7) = (-1, -7). To the door: (9-3, 1-7) = (6, -6). 6 > -42: left."
    truth = derivation + "\nA. right vs left: no.\nB. left vs left: yes."
    assert arithmetic_tally(truth, truth) == dict(exact=True, answers=True, offsets_right=4, offsets=4,
                                                   marks_exact=True, marks_letter=True)
    copied_wrong = derivation + "\nA. left vs left: no.\nB. right vs left: yes."
    assert arithmetic_tally(copied_wrong, truth)["marks_exact"] is False
    assert arithmetic_tally(copied_wrong, truth)["marks_letter"] is True
    wrong_letter = derivation + "\nA. right vs left: yes.\nB. left vs left: no."
    tally = arithmetic_tally(wrong_letter, truth)
    assert not tally["marks_exact"] and not tally["marks_letter"] and tally["answers"]


def test_marks_tasks_mark_the_conclusion_among_every_kind_of_option(untrained_tiny_dir):
    """A marks task (lookup_marks_fraction) lists lettered options and ends on a conclusion; its
    target marks each option against the conclusion, as `spacer data synth --option-lines` does."""
    from spacer_core.train.lookup import marks_task

    rng, words = random.Random(0), set()
    for _ in range(200):
        question, target = marks_task(rng, "small")
        head, _, conclusion_line = question.rpartition("\n")
        options = head.split("Options:\n")[1].split("\n")
        conclusion = marks_for(conclusion_line)
        assert target.split("\n") == [
            f"{o} vs {conclusion}: {'yes' if o.split('. ', 1)[1] == conclusion else 'no'}." for o in options]
        assert target.count(": yes.") == 1 and len(set(options)) == len(options) >= 2
        words.add("closest" if "closest" in conclusion_line else "route" if "Turn" in conclusion else conclusion)
    assert {"closest", "route", "left", "back", "front-right"} <= words
    _, processor = load_model(untrained_tiny_dir)
    stream = LookupTasks(processor, copy_fraction=0.1, seed=5, world="small", arith_fraction=0.3, marks_fraction=0.4)
    marks = sum(t["prompt"].count("Options:\n") and not t["prompt"].count("<map>") for t, _ in zip(stream, range(60), strict=False))
    assert 12 <= marks <= 40


def test_distance_tasks_are_the_synth_distance_derivations_of_fresh_rooms(untrained_tiny_dir):
    """The distance tasks (lookup_distance_fraction) give a room's map, two single objects' lookup
    lines and its size, and target the derivation `spacer data synth --distance-steps` writes for
    those objects; the stream has about their share of them."""
    import re

    from spacer_core.sim import cell_arithmetic
    from spacer_core.sim.questions import half_size
    from spacer_core.train.lookup import distance_task

    rng, asked = random.Random(0), 0
    for seed in range(40):
        scene = generate_scene(seed, world="small")
        task = distance_task(scene, rng)
        if task is None:
            continue
        asked += 1
        question, derivation = task
        cogmap = scene_map(scene)
        a, b = re.search(r"distance: (\w+), (\w+)\?$", question).groups()
        assert len(cogmap[a]) == len(cogmap[b]) == 1 and a != b
        assert question.split("\n")[1] == f"{lookup_line(a, cogmap[a])}. {lookup_line(b, cogmap[b])}."
        width, length = scene["room"]["size"][:2]
        assert f"room: {width:.1f} m by {length:.1f} m." in question
        objects = [next(o for o in scene["objects"] if o["category"] == c) for c in (a, b)]
        assert derivation == cell_arithmetic.distance((a, b), (cogmap[a][0], cogmap[b][0]), (width, length),
                                                      tuple(half_size(o) for o in objects))[0]
    assert asked >= 30
    _, processor = load_model(untrained_tiny_dir)
    tasks = [t for t, _ in zip(LookupTasks(processor, seed=5, world="small", arith_fraction=0.3,
                                           distance_fraction=0.4), range(60), strict=False)]
    distances = sum("between the centres" in t["target"] for t in tasks)
    arithmetic = sum(bool(re.search(r"Facing the|closest:|At the \w+: in", t["target"])) for t in tasks)
    assert 12 <= distances <= 38 and 6 <= arithmetic <= 30


def test_lookup_stage_reports_the_held_out_distances(untrained_tiny_dir, tmp_path, capsys):
    out = tmp_path / "distance"
    args = ["train", "--stage", "lookup", "--model", str(untrained_tiny_dir), "--output_dir", str(out),
            "--use_cpu", "true", "--max_steps", "2", "--per_device_train_batch_size", "4", "--lookup_world", "small",
            "--report_to", "none"]
    assert main([*args, "--lookup_distance_fraction", "0.5", "--lookup_eval_every", "2", "--lookup_eval_scenes", "3"]) == 0
    last = json.loads((out / "lookup.json").read_text())[-1]
    assert {"distance_exact", "distance_estimate"} <= set(last) and "arith_exact" not in last
    assert 0 <= last["distance_exact"] <= last["distance_estimate"] <= 1
    assert main([*args, "--lookup_arith_fraction", "0.5", "--lookup_distance_fraction", "0.5"]) != 0
    assert "lookup_distance_fraction must be in [0, 1 - lookup_copy_fraction - lookup_arith_fraction " \
           "- lookup_marks_fraction], got 0.5" in capsys.readouterr().err


def test_distance_tally_counts_the_estimate_apart_from_the_steps():
    """A derivation written exactly counts for both; one that ends on the right estimate through
    other words for the estimate only; a wrong estimate, or none, for neither."""
    import re

    from spacer_core.train.lookup import distance_tally, distance_task

    truth = distance_task(generate_scene(1, world="small"), random.Random(0))[1]
    assert distance_tally(truth, truth) == {"exact": True, "estimate": True}
    assert distance_tally(truth.replace("Half of each", "Halves"), truth) == {"exact": False, "estimate": True}
    assert distance_tally(re.sub(r"\d+\.\d m\.$", "99.9 m.", truth), truth) == {"exact": False, "estimate": False}
    assert distance_tally("The room is about", truth) == {"exact": False, "estimate": False}
