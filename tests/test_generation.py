"""The rollout engines against plain `generate` on the shipped tiny model and bundled sim videos:
with greedy decoding each engine writes exactly the tokens that `generate` writes when every row
carries its own copy of the clip's patches (what TRL's generate path does)."""

from __future__ import annotations

import copy

import pytest
import torch

from spacer_core.data import load_dataset_jsonl
from spacer_core.inputs import chat_text
from spacer_core.models import load_model
from spacer_core.prompts import build_prompt
from spacer_core.train.generation import ENGINES, generate_completions, left_pad, trim_at_eos
from spacer_core.train.visual import encode_rows, mm_token_types, video_tensors
from spacer_core.video import load_clip
from spacer_ui.paths import ASSETS

VIDEO = dict(nframes=8, min_pixels=3136, max_pixels=12544)
G = 2


@pytest.fixture(scope="module")
def batch():
    """Four bundled questions on four videos, each row twice (a group of G = 2), plus a text-only row."""
    model, processor = load_model("tiny")
    records = load_dataset_jsonl(ASSETS / "sim" / "test.jsonl")[:40:10]
    texts = [chat_text(processor, build_prompt(r["problem"], r.get("options"), r["problem_type"], "thinking_map",
                                               r.get("map_categories"))) for r in records]
    clips = [load_clip(ASSETS / "sim" / r["path"], **VIDEO) for r in records]
    texts = [t for t in texts for _ in range(G)] + [chat_text(processor, "How many chairs?", video=False)]
    clips = [c for c in clips for _ in range(G)] + [None]
    prompt_ids, rows = encode_rows(processor, texts, clips)
    return model.eval(), processor, prompt_ids, rows


def config(model, max_new_tokens: int = 320):
    gc = copy.deepcopy(model.generation_config)
    gc.update(do_sample=False, max_new_tokens=max_new_tokens, temperature=None, top_p=None, top_k=None)
    return gc


def plain_generate(model, processor, prompt_ids, rows, max_new_tokens: int = 320) -> list[list[int]]:
    """`generate` with every row's own patches, as TRL passes them."""
    ids, mask = left_pad(prompt_ids, processor.tokenizer.pad_token_id)
    video = video_tensors(rows)
    out = model.generate(input_ids=ids, attention_mask=mask, **video,
                         mm_token_type_ids=mm_token_types(ids, model.config.video_token_id),
                         generation_config=config(model, max_new_tokens))
    return trim_at_eos(out[:, ids.size(1):], eos(processor))


def eos(processor) -> list[int]:
    return [processor.tokenizer.convert_tokens_to_ids("<|im_end|>")]


@pytest.fixture(scope="module")
def reference(batch):
    model, processor, prompt_ids, rows = batch
    return plain_generate(model, processor, prompt_ids, rows)


@pytest.mark.parametrize("engine", ENGINES)
def test_greedy_engines_write_what_generate_writes(batch, reference, engine):
    model, processor, prompt_ids, rows = batch
    got = generate_completions(model, prompt_ids, rows, config(model), engine=engine,
                               pad_id=processor.tokenizer.pad_token_id, eos_ids=eos(processor),
                               video_token_id=model.config.video_token_id, bucket=64, chunk=48)
    assert got == reference
    # the batch is a fair test: rows end at different lengths, most with EOS, and videos differ
    lengths = {len(c) for c in got}
    assert len(lengths) > 2 and sum(c[-1] in eos(processor) for c in got) >= len(got) - 2
    assert got[0] == got[1] and got[0] != got[2]


def test_the_vision_tower_runs_once_per_clip(batch):
    model, processor, prompt_ids, rows = batch
    calls = []
    handle = model.model.visual.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        generate_completions(model, prompt_ids, rows, config(model, 4), pad_id=processor.tokenizer.pad_token_id,
                             eos_ids=eos(processor), video_token_id=model.config.video_token_id)
    finally:
        handle.remove()
    distinct = {id(r): r for r in rows if r is not None}
    assert len(distinct) == 4 and calls == [sum(r.pixel_values_videos.shape[0] for r in distinct.values())]


def test_a_long_row_no_longer_holds_the_batch(batch):
    """compact: the decode steps run past a row's end only up to the end of its chunk."""
    model, processor, prompt_ids, rows = batch
    widths = []
    handle = model.register_forward_hook(lambda m, i, o: widths.append(o.logits.shape[0]))
    try:
        got = generate_completions(model, prompt_ids, rows, config(model), engine="compact",
                                   pad_id=processor.tokenizer.pad_token_id, eos_ids=eos(processor),
                                   video_token_id=model.config.video_token_id, chunk=16)
    finally:
        handle.remove()
    rows_decoded = sum(widths)
    assert rows_decoded < len(got) * max(len(c) for c in got)  # what one dynamic batch decodes
    assert rows_decoded <= sum(len(c) + 16 for c in got)


def test_unknown_engine_is_refused(batch):
    model, processor, prompt_ids, rows = batch
    with pytest.raises(ValueError, match="rollout engine must be one of dynamic, static, compact, got 'vllm'"):
        generate_completions(model, prompt_ids, rows, config(model), engine="vllm", pad_id=0, eos_ids=[0],
                             video_token_id=0)


def test_left_pad_rounds_up_to_the_bucket():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0, multiple=4)
    assert ids.tolist() == [[0, 5, 6, 7], [0, 0, 0, 8]] and mask.tolist() == [[0, 1, 1, 1], [0, 0, 0, 1]]
    assert left_pad([[1] * 5], 0, 4)[0].shape == (1, 8)
    assert trim_at_eos(torch.tensor([[3, 9, 4, 9], [1, 2, 3, 4]]), [9]) == [[3, 9], [1, 2, 3, 4]]


def test_compact_keeps_min_new_tokens_across_chunks(batch):
    """A row may not end before min_new_tokens however the chunks fall: here 40 over chunks of 16,
    with the end of a map entry ("]],", every few tokens) as the stop token, so rows end soon after."""
    model, processor, prompt_ids, rows = batch
    stop = processor.tokenizer.convert_tokens_to_ids("]],")
    assert stop != processor.tokenizer.unk_token_id
    gc = config(model, 64)
    gc.update(min_new_tokens=40, eos_token_id=[stop])
    kw = dict(pad_id=processor.tokenizer.pad_token_id, eos_ids=[stop], video_token_id=model.config.video_token_id)
    got = generate_completions(model, prompt_ids, rows, gc, engine="compact", chunk=16, **kw)
    assert got == generate_completions(model, prompt_ids, rows, gc, **kw)
    assert all(len(c) >= 40 for c in got) and sum(c[-1] == stop and len(c) < 64 for c in got) >= len(got) // 2


def test_compact_matches_with_a_repetition_penalty_and_refuses_per_call_settings(batch):
    model, processor, prompt_ids, rows = batch
    kw = dict(pad_id=processor.tokenizer.pad_token_id, eos_ids=eos(processor), video_token_id=model.config.video_token_id)
    gc = config(model, 80)
    gc.repetition_penalty = 1.3
    assert generate_completions(model, prompt_ids, rows, gc, engine="compact", chunk=16, **kw) == \
        generate_completions(model, prompt_ids, rows, gc, **kw)
    gc.forced_eos_token_id = eos(processor)[0]
    with pytest.raises(ValueError, match="compact: forced_eos_token_id would restart at every chunk"):
        generate_completions(model, prompt_ids, rows, gc, engine="compact", **kw)
