"""The embedded tiny Qwen2.5-VL: builds deterministically, loads like a checkpoint, sees video."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

from spacer_core.inputs import chat_text, encode
from spacer_core.models import (
    TINY_MODEL_DIR,
    ModelError,
    Runtime,
    add_words,
    avoid_cudnn_sdpa,
    copy_model,
    load_model,
    resolve_runtime,
)
from spacer_core.tiny_model import SHIPPED_SIZES
from spacer_core.video import load_clip

SMALL = dict(min_pixels=28 * 28 * 4, max_pixels=112 * 112)


def test_tiny_model_is_a_real_qwen2_5_vl_checkpoint():
    processor = AutoProcessor.from_pretrained(TINY_MODEL_DIR)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(TINY_MODEL_DIR)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 5_000_000
    assert model.config.model_type == "qwen2_5_vl"
    assert model.config.video_token_id == processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")


def test_generates_from_a_real_clip(tiny, mp4_file):
    model, processor = tiny
    clip = load_clip(mp4_file, nframes=8, **SMALL)
    batch = encode(processor, [chat_text(processor, "How many chairs are in this room?")], [clip])
    assert batch["pixel_values_videos"].shape[0] == batch["video_grid_thw"].prod()
    n_video_tokens = (batch["input_ids"] == model.config.video_token_id).sum().item()
    assert n_video_tokens == batch["video_grid_thw"].prod().item() // 4
    # second_per_grid_ts = temporal patch / sampled fps (8 frames over 4 s -> 2 fps)
    assert batch["second_per_grid_ts"].tolist() == pytest.approx([2 / clip.sample_fps])
    out = model.generate(**batch, max_new_tokens=12, do_sample=False)
    new = out[0, batch["input_ids"].shape[1]:]
    assert 1 <= len(new) <= 12
    assert isinstance(processor.decode(new, skip_special_tokens=True), str)


def test_video_changes_the_logits(tiny, mp4_file):
    """The vision tower is wired in: different frames give different next-token logits."""
    model, processor = tiny
    clip = load_clip(mp4_file, nframes=8, **SMALL)
    text = chat_text(processor, "Describe the video.")
    with torch.no_grad():
        a = model(**encode(processor, [text], [clip])).logits[0, -1]
        b = model(**encode(processor, [text], [clip.permuted(list(range(8))[::-1])])).logits[0, -1]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("text", [
    "<think>The chair is left.</think>\n<answer>B</answer>",
    '<map>{"chair": [[1, 2], [3, 4]], "trash can": [[9, 0]], "tv": [[5, 5]]}</map>',
    "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>How far (in meters)?<|im_end|>",
    "Ünïcödé 3.75 m² — 1,200 cm",
])
def test_tokenizer_round_trips(tiny, text):
    tokenizer = tiny[1].tokenizer
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_special_tokens_are_single_ids(tiny):
    tokenizer = tiny[1].tokenizer
    for tok in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|video_pad|>", "<|image_pad|>"):
        assert len(tokenizer(tok)["input_ids"]) == 1


def test_reasoning_tags_are_single_tokens_that_decode_as_text(tiny):
    tokenizer = tiny[1].tokenizer
    for tag in ("<think>", "</think>", "<map>", "</map>", "<answer>", "</answer>"):
        assert len(tokenizer(tag)["input_ids"]) == 1
    text = "<think><map>{}</map></think>\n<answer>B</answer>"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text


def test_bad_size_is_a_clear_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "spacer_core.cli", "model", "tiny", "--out", str(tmp_path),
                          "--size", "text_layer=4"], capture_output=True, text=True)
    assert run.returncode == 2 and "NAME=INT" in run.stderr and "text_layers" in run.stderr
    assert not (tmp_path / "config.json").exists()


def test_chat_template_renders_like_qwen(tiny):
    processor = tiny[1]
    text = chat_text(processor, "Q?")
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                    "<|vision_start|><|video_pad|><|vision_end|>Q?<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.slow
def test_build_is_deterministic_and_matches_the_shipped_architecture(tmp_path):
    # the shipped model's build (`make tiny-model`): the shipped sizes, one token per category
    sizes = [f"--size={k}={v}" for k, v in SHIPPED_SIZES.items()] + ["--whole-categories"]
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-m", "spacer_core.cli", "model", "tiny", "--out", str(tmp_path / name), *sizes],
                       check=True, capture_output=True)
    wa, wb = load_file(tmp_path / "a/model.safetensors"), load_file(tmp_path / "b/model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (tmp_path / "a/tokenizer.json").read_text() == (tmp_path / "b/tokenizer.json").read_text()
    shipped = load_file(TINY_MODEL_DIR / "model.safetensors")
    assert {k: v.shape for k, v in shipped.items()} == {k: v.shape for k, v in wa.items()}


def test_copy_keeps_what_loads_and_leaves_the_training_state(tmp_path):
    """`spacer model copy`: a checkpoint with a trainer's leftovers (a copy of the shipped model
    plus training_args.bin and optimizer.pt) comes out as the model files alone, loading to the
    same weights; a folder without weights is refused, naming it."""
    import shutil

    from spacer_core.cli import main

    src = tmp_path / "final"
    shutil.copytree(TINY_MODEL_DIR, src)
    for leftover in ("training_args.bin", "optimizer.pt"):
        (src / leftover).write_bytes(b"state")
    assert main(["model", "copy", str(src), str(tmp_path / "kept")]) == 0
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == sorted(p.name for p in TINY_MODEL_DIR.iterdir())
    model, _ = load_model(tmp_path / "kept", device="cpu")
    shipped = load_file(TINY_MODEL_DIR / "model.safetensors")
    assert all(torch.equal(shipped[k], v) for k, v in load_file(tmp_path / "kept" / "model.safetensors").items())
    assert model.config.model_type == "qwen2_5_vl"
    # a copy cut short (here: the disk fills at the weights) leaves no config.json, the mark of a
    # whole checkpoint that the recipes' stages wait for
    real_copy = shutil.copy2

    def full_disk(a, b):
        if Path(a).name == "model.safetensors":
            raise OSError(28, "No space left on device")
        return real_copy(a, b)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shutil, "copy2", full_disk)
        for dest in (tmp_path / "cut", tmp_path / "kept"):  # a new folder, and one that held a model
            with pytest.raises(OSError):
                copy_model(src, dest)
            assert not (dest / "config.json").exists()
    (src / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=re.escape(f"{src}: not a checkpoint folder")):
        copy_model(src, tmp_path / "again")


def test_unknown_architecture_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="'bert'"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="no config.json"):
        load_model(tmp_path.parent)


def test_cudnn_attention_is_turned_off_for_cuda_sdpa_only():
    """The rule only; its effect on a GPU is measured by benchmarks/bench_gpu.py (results/gpu.md)."""
    was = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)
        load_model("tiny", device="cpu")
        assert torch.backends.cuda.cudnn_sdp_enabled()
        avoid_cudnn_sdpa(Runtime(torch.device("cuda"), torch.bfloat16, "flash_attention_2"))
        assert torch.backends.cuda.cudnn_sdp_enabled()
        avoid_cudnn_sdpa(Runtime(torch.device("cuda"), torch.bfloat16, "sdpa"))
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(was)


def test_runtime_defaults():
    cpu = resolve_runtime(device="cpu")
    assert (cpu.device.type, cpu.dtype, cpu.attn) == ("cpu", torch.float32, "sdpa")
    auto = resolve_runtime()
    if torch.cuda.is_available():  # bf16 (or fp16), with flash-attention 2 when it is installed
        assert auto.device.type == "cuda" and auto.dtype in (torch.bfloat16, torch.float16)
        assert auto.attn in ("flash_attention_2", "sdpa")
    else:
        assert auto == cpu


def test_whole_categories_are_one_id_wherever_they_stand():
    """The question's " chair", the map's "chair" and the derivation's " chairs": three unrelated BPE
    ids by default, one id with ``whole_categories`` (and the text still round-trips)."""
    from spacer_core.tiny_model import build_tokenizer

    question, cogmap, derivation = "How many chair(s)?", '<map>{"chair": [[1, 2]]}</map>', "The map lists 2 chairs."
    default, whole = build_tokenizer(), build_tokenizer(whole_categories=True)
    chair = whole.convert_tokens_to_ids("chair")
    for text in (question, cogmap, derivation):
        assert whole(text)["input_ids"].count(chair) == 1
        assert whole.decode(whole(text)["input_ids"]) == text
    # by default each context tokenizes the word differently
    pieces = [set(default(t)["input_ids"]) for t in (" chair(", '"chair"', " chairs")]
    assert not pieces[0] & pieces[1] & pieces[2]
    # a two-word category is one token, and a category inside another ("shelf", "bookshelf") is not split out
    assert [whole.decode([i]) for i in whole(' "trash can" bookshelf')["input_ids"]] == [' "', "trash can", '"', " ", "bookshelf"]


def test_add_words_makes_each_option_word_one_token_that_starts_as_its_pieces(tmp_path):
    """`spacer model add-words --option-words` on the shipped model: each option word becomes one id
    wherever it stands, its embedding the mean of its old pieces', every old row kept; the result
    loads and generates; a word already one token is not added, and nothing to add is an error."""
    from spacer_core.cli import main
    from spacer_core.sim.questions import OPTION_WORDS

    old_tok = AutoProcessor.from_pretrained(TINY_MODEL_DIR).tokenizer
    pieces = {w: old_tok(w, add_special_tokens=False)["input_ids"] for w in OPTION_WORDS}
    assert all(len(ids) > 1 for ids in pieces.values())
    out = tmp_path / "words"
    assert main(["model", "add-words", str(TINY_MODEL_DIR), str(out), "chair", "--option-words"]) == 0
    model, processor = load_model(out, device="cpu")
    tok = processor.tokenizer
    assert len(tok) == len(old_tok) + len(OPTION_WORDS)
    ids = tok("A. " + ", ".join(OPTION_WORDS), add_special_tokens=False)["input_ids"]
    assert [tok.decode([i]) for i in ids] == ["A", "."] + [p for w in OPTION_WORDS for p in (" ", w, ",")][:-1]
    old = load_file(TINY_MODEL_DIR / "model.safetensors")
    embed = model.get_input_embeddings().weight.detach()
    old_embed = next(v for k, v in old.items() if k.endswith("embed_tokens.weight"))
    assert torch.equal(embed[: len(old_tok)], old_embed)
    for word, word_pieces in pieces.items():
        assert torch.allclose(embed[tok.convert_tokens_to_ids(word)], old_embed[word_pieces].mean(0))
    assert model.get_output_embeddings().weight.shape == embed.shape
    assert (out / "spacer_video.json").read_text() == (TINY_MODEL_DIR / "spacer_video.json").read_text()
    inputs = processor.tokenizer(["So front-left."], return_tensors="pt")
    assert model.generate(**inputs, max_new_tokens=3, do_sample=False).shape[1] == inputs["input_ids"].shape[1] + 3
    assert main(["model", "add-words", str(out), str(tmp_path / "again"), "--option-words"]) == 2


def test_add_words_starts_an_untied_output_layer_from_its_own_pieces(tmp_path):
    """A checkpoint whose output layer is not the embedding (a real Qwen2.5-VL-7B's is untied): each
    new word's output row starts as the mean of its pieces' output rows, not of their embeddings."""
    model, processor = load_model(TINY_MODEL_DIR, device="cpu", dtype="float32")
    model.config.tie_word_embeddings = False
    model.config.get_text_config().tie_word_embeddings = False
    embed = model.get_input_embeddings().weight.detach()
    model.get_output_embeddings().weight = torch.nn.Parameter(embed + torch.randn_like(embed))
    untied = tmp_path / "untied"
    model.save_pretrained(untied)
    processor.save_pretrained(untied)
    old_out = model.get_output_embeddings().weight.detach()
    pieces = processor.tokenizer("front-left", add_special_tokens=False)["input_ids"]

    assert add_words(untied, tmp_path / "words", ["front-left"]) == ["front-left"]
    new_model, new_processor = load_model(tmp_path / "words", device="cpu")
    word = new_processor.tokenizer.convert_tokens_to_ids("front-left")
    out = new_model.get_output_embeddings().weight.detach()
    assert out.data_ptr() != new_model.get_input_embeddings().weight.data_ptr()
    assert torch.equal(out[: len(old_out)], old_out)
    assert torch.allclose(out[word], old_out[pieces].mean(0))
    assert torch.allclose(new_model.get_input_embeddings().weight[word], embed[pieces].mean(0))


def test_route_options_become_one_token_each_wherever_they_stand(tmp_path):
    """`add-words --option-words --route-options`: a two-turn route option is one token in the
    prompt's options, in a derivation's conclusion and in its option lines (the longest added
    match wins over the single turns), and a one-turn option stays its own turn token."""
    from spacer_core.cli import main
    from spacer_core.sim.questions import OPTION_WORDS, ROUTE_OPTIONS

    out = tmp_path / "routes"
    assert main(["model", "add-words", str(TINY_MODEL_DIR), str(out), "--option-words", "--route-options"]) == 0
    tok = AutoProcessor.from_pretrained(out).tokenizer
    assert len(ROUTE_OPTIONS) == 9
    assert len(tok) == len(AutoProcessor.from_pretrained(TINY_MODEL_DIR).tokenizer) + len(OPTION_WORDS) + 9
    text = "\nA. Turn Left, Turn Back\nB. Turn Right\nSo: Turn Left, Turn Back.\nA. Turn Left, Turn Back vs"
    pieces = [tok.decode([i]) for i in tok(text, add_special_tokens=False)["input_ids"]]
    assert pieces.count("Turn Left, Turn Back") == 3 and "Turn Right" in pieces and "Turn Left" not in pieces
