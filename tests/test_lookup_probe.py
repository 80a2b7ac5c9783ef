"""The text-only lookup probe (recipes/lookup_probe.py): its tasks, scoring and a short real run."""

from __future__ import annotations

import json
import random
import re

import pytest
import torch

from spacer_core.models import load_model
from spacer_core.sim.questions import scene_map
from spacer_core.sim.scene import generate_scene


@pytest.fixture(scope="module")
def probe(load_recipe):
    return load_recipe("lookup_probe")


def test_the_true_answer_scores_full_marks_and_a_miscount_does_not(probe):
    for seed in range(20):
        cogmap = scene_map(generate_scene(seed))
        question, answer, asked = probe.lookup_task(cogmap, random.Random(seed))
        assert question.startswith("<map>{") and all(c in question for c in asked)
        cells = sum(len(cogmap.get(c, [])) for c in asked)
        ones = sum(len(cogmap.get(c, [])) == 1 for c in asked)
        n = len(asked)
        assert probe.lookup_score(answer, cogmap, asked) == dict(
            asked=n, named=n, counts=n, ones=ones, cells=cells, cells_written=cells, wrong_cells=0)
        first = asked[0]
        miscounted = ". ".join([f"{first}: 9", *answer.split(". ")[1:]])  # and its cells left out
        assert probe.lookup_score(miscounted, cogmap, asked) == dict(
            asked=n, named=n, counts=n - 1, ones=ones, cells=cells, cells_written=cells - len(cogmap.get(first, [])),
            wrong_cells=0)
        unnamed = ". ".join(answer.split(". ")[1:])
        assert probe.lookup_score(unnamed, cogmap, asked)["named"] == n - 1


@pytest.mark.parametrize("style", ["entry", "flat"])
def test_copy_answers_are_spans_of_the_map_and_score_like_cell_answers(probe, style):
    for seed in range(20):
        cogmap = scene_map(generate_scene(seed))
        _, cells_answer, asked = probe.lookup_task(cogmap, random.Random(seed), (1, 1), "cells")
        question, answer, same = probe.lookup_task(cogmap, random.Random(seed), (1, 1), style)
        assert same == asked and len(asked) == 1 and asked[0] in cogmap  # one present category
        assert answer[:-1] in question  # copied verbatim from the map as shown
        truth = probe.lookup_score(cells_answer, cogmap, asked, "cells")
        assert probe.lookup_score(answer, cogmap, asked, style) == truth
        assert truth["cells_written"] == truth["cells"] == len(cogmap[asked[0]])
        digit = re.search(r"\d", answer).start()
        off_grid = answer[:digit] + "1" + answer[digit:]  # the first cell's x becomes 10 or more
        assert probe.lookup_score(off_grid, cogmap, asked, style)["cells_written"] == truth["cells"] - 1


@pytest.mark.parametrize("style", ["cells", "flat"])
def test_a_category_is_not_found_inside_a_longer_name(probe, style):
    cogmap = {"bookshelf": [(1, 2)], "shelf": [(3, 4)]}
    _, about_bookshelf, _ = probe.lookup_task(cogmap, random.Random(0), (2, 2), style)
    only_bookshelf = [part for part in about_bookshelf.split(". ") if "bookshelf" in part][0]
    assert probe.lookup_score(only_bookshelf, cogmap, ["shelf"], style)["named"] == 0


def test_asked_span_is_checked(probe):
    assert probe.span("1") == (1, 1) and probe.span("3-6") == (3, 6)
    for bad in ("0", "4-2", "x"):
        with pytest.raises(Exception, match="expected"):
            probe.span(bad)


def test_collate_puts_the_loss_on_the_target_only(probe, tiny):
    _, processor = tiny
    tok = processor.tokenizer
    rows = [{"prompt": probe.chat(processor, "Repeat: sofa 3"), "target": "sofa 3<|im_end|>\n"},
            {"prompt": probe.chat(processor, "Repeat: lamp lamp lamp 7 7"), "target": "lamp lamp lamp 7 7<|im_end|>\n"}]
    batch = probe.collate(tok, rows)
    for i, row in enumerate(rows):
        target = tok(row["target"], add_special_tokens=False)["input_ids"]
        kept = batch["labels"][i][batch["labels"][i] != -100].tolist()
        assert kept == target
        assert batch["attention_mask"][i].sum().item() == len(tok(row["prompt"], add_special_tokens=False)["input_ids"]) + len(target)


def test_a_short_run_trains_the_decoder_and_leaves_the_vision_tower(probe, untrained_tiny_dir, tmp_path, capsys):
    """...and keeps the checkpoint's video settings, so that evaluating the probed model samples the
    frames it was built for (without them `spacer eval` uses the full-size defaults)."""
    out = tmp_path / "probe"
    probe.main(["--model", str(untrained_tiny_dir), "--steps", "2", "--eval-every", "2", "--eval-scenes", "2",
                "--out", str(out)])
    printed = capsys.readouterr().out
    assert "step 0: held-out lookup {'named'" in printed and "step 2: held-out lookup" in printed
    before = load_model(str(untrained_tiny_dir))[0].state_dict()
    after = load_model(str(out / "final"))[0].state_dict()
    visual = [k for k in before if k.startswith("model.visual.")]
    decoder = [k for k in before if k.startswith("model.language_model.")]
    assert visual and decoder
    assert all(torch.equal(before[k], after[k]) for k in visual)
    assert any(not torch.equal(before[k], after[k]) for k in decoder)
    settings = "spacer_video.json"
    assert (out / "final" / settings).read_text() == (untrained_tiny_dir / settings).read_text()


def test_quoted_short_lookups_and_a_wrong_entry_scored_as_such(probe):
    lookup = probe.Lookup(asked=(1, 1), answer="entry", quote=True, keys=(2, 3))
    for seed in range(20):
        full = scene_map(generate_scene(seed))
        shown, question, answer, asked = lookup.task(full, random.Random(seed))
        assert 2 <= len(shown) <= 3 and all(full[c] == cells for c, cells in shown.items())
        assert question.endswith(f'"{asked[0]}"?') and question.startswith(f"<map>{json.dumps(shown)}")
        other = next(c for c in shown if c != asked[0])
        wrong = f'"{asked[0]}": {json.dumps(shown[other])}.'  # another category's cells under the asked key
        tally = probe.lookup_score(wrong, shown, asked, "entry")
        assert tally["wrong_cells"] == len(set(map(tuple, shown[other])) - set(shown[asked[0]]))
        assert probe.lookup_score(answer, shown, asked, "entry")["wrong_cells"] == 0
