"""Loading Qwen2-VL / Qwen2.5-VL models by name, local path or hub id.

``load_model("tiny")`` loads the embedded tiny model shipped in ``assets/tiny-model`` (built by
`spacer_core.tiny_model`); any other name is handed to transformers (a local checkpoint folder or
a hub id such as ``Qwen/Qwen2.5-VL-7B-Instruct`` — hub ids need network access and are not
exercised by this project's CPU tests).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TINY_MODEL_DIR = ASSETS / "tiny-model"
SUPPORTED = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}


class ModelError(ValueError):
    """A model name or checkpoint this project cannot load."""


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype
    attn: str


def resolve_runtime(device: str = "auto", dtype: str = "auto", attn: str = "auto") -> Runtime:
    """auto: CUDA + bf16 + flash_attention_2 when all are available, else sdpa (float32 on CPU)."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    on_cuda = dev.type == "cuda"
    bf16_ok = on_cuda and torch.cuda.is_bf16_supported()
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if bf16_ok else (torch.float16 if on_cuda else torch.float32)
    else:
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ModelError(f"unknown dtype {dtype!r} (use auto, float32, bfloat16 or float16)")
    if attn == "auto":
        flash = on_cuda and torch_dtype in (torch.bfloat16, torch.float16) and \
            importlib.util.find_spec("flash_attn") is not None
        attn = "flash_attention_2" if flash else "sdpa"
    return Runtime(dev, torch_dtype, attn)


def avoid_cudnn_sdpa(runtime: Runtime) -> None:
    """Let sdpa pick its flash or memory-efficient kernel rather than cuDNN's, on CUDA.

    cuDNN attention builds an execution plan for every new (batch, key length) shape, and decoding
    meets a new key length at every token. On an H200 that made HF generate 2.7x slower per step than
    the flash kernel on shapes not seen before (3B and 7B), and within 5% of it on shapes seen before
    (benchmarks/results/gpu.md). Prompt and completion lengths vary in RL and eval, so new shapes
    are the common case. Process-wide, as PyTorch's backend switches are.
    """
    if runtime.device.type == "cuda" and runtime.attn == "sdpa":
        torch.backends.cuda.enable_cudnn_sdp(False)


def resolve_path(name_or_path: str | Path) -> str:
    if str(name_or_path) == "tiny":
        if not (TINY_MODEL_DIR / "config.json").exists():
            raise ModelError(f"the embedded tiny model is missing from {TINY_MODEL_DIR}; "
                             "rebuild it with `spacer model tiny --out assets/tiny-model`")
        return str(TINY_MODEL_DIR)
    return str(name_or_path)


# What a trained checkpoint needs to load and run: weights, configs, tokenizer and processor, and this
# project's records (the video settings, the data's synth settings); not its training state.
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "processor_config.json",
               "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "spacer_video.json",
               "spacer_data.json")


def copy_model(src: str | Path, dest: str | Path) -> list[str]:
    """Copy the checkpoint ``src``'s MODEL_FILES into the folder ``dest`` (made if missing; the files
    it already holds are replaced); returns the names copied."""
    import shutil

    src, dest = Path(src), Path(dest)
    if not (src / "config.json").is_file() or not (src / "model.safetensors").is_file():
        raise ModelError(f"{src}: not a checkpoint folder (no config.json and model.safetensors)")
    dest.mkdir(parents=True, exist_ok=True)
    names = [name for name in MODEL_FILES if (src / name).is_file()]
    # config.json last (and an old one gone first): a folder with one is taken for a whole
    # checkpoint, so a copy cut short is not
    (dest / "config.json").unlink(missing_ok=True)
    for name in sorted(names, key=lambda n: n == "config.json"):
        shutil.copy2(src / name, dest / name)
    return names


def add_words(src: str | Path, dest: str | Path, words: list[str]) -> list[str]:
    """Save the checkpoint ``src`` to ``dest`` with each of ``words`` that its tokenizer splits into
    several pieces made one token (an added token: the same id wherever it stands, a leading space
    its own token, as `spacer model tiny --whole-categories` makes the categories). A new token's
    embedding starts as the mean of its pieces' (the output layer too, tied or not), so the model
    reads it at first about as it read the pieces. An added token also matches inside a longer word
    ("back-lefts": back-left + s). Returns the words added."""
    from transformers import AutoProcessor

    src = Path(resolve_path(src))
    model, _ = load_model(src, device="cpu", dtype="float32")
    processor = AutoProcessor.from_pretrained(str(src))
    tokenizer = processor.tokenizer
    pieces = {w: tokenizer(w, add_special_tokens=False)["input_ids"] for w in dict.fromkeys(words)}
    new = [w for w, ids in pieces.items() if len(ids) > 1]
    if not new:
        raise ModelError(f"{src}: its tokenizer already reads each of {', '.join(words)} as one token")
    tokenizer.add_tokens(new)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        for layer in {id(m): m for m in (model.get_input_embeddings(), model.get_output_embeddings())}.values():
            for word in new:
                layer.weight[tokenizer.convert_tokens_to_ids(word)] = layer.weight[pieces[word]].mean(0)
    dest = Path(dest)
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    for name in MODEL_FILES:  # this project's records (video and data settings) go along
        if name.startswith("spacer_") and (src / name).is_file():
            (dest / name).write_bytes((src / name).read_bytes())
    return new


def save_processor(processor, out: str | Path, video: dict | None) -> None:
    """Save ``processor`` beside a trained model, with the video settings it was trained on
    (``video``: spacer_video.json's fields; `SpacerArgs.saved_video_settings`). Without that file,
    inference falls back to the full-size defaults, which a model trained on few small frames (the
    tiny one) has never seen."""
    import json

    from spacer_core.video import VIDEO_SETTINGS_FILE

    processor.save_pretrained(str(out))
    if video:
        (Path(out) / VIDEO_SETTINGS_FILE).write_text(json.dumps(video, indent=2) + "\n")


def load_model(name_or_path: str | Path = "tiny", device: str = "auto", dtype: str = "auto",
               attn: str = "auto", **kwargs):
    """Load ``(model, processor)`` for a Qwen2-VL or Qwen2.5-VL checkpoint; the model is in eval mode.

    Unknown architectures raise `ModelError` naming the checkpoint and its ``model_type``. On CUDA with
    sdpa attention it turns PyTorch's cuDNN attention backend off for the process (`avoid_cudnn_sdpa`).
    """
    import transformers
    from transformers import AutoConfig, AutoProcessor

    path = resolve_path(name_or_path)
    local = Path(path)
    if local.exists() and not (local / "config.json").exists():
        raise ModelError(f"{path} is not a model checkpoint (no config.json)")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model config from {path}: {exc}") from None
    if config.model_type not in SUPPORTED:
        raise ModelError(f"{path} is a {config.model_type!r} model; supported: Qwen2-VL and Qwen2.5-VL "
                         f"(model_type {' or '.join(SUPPORTED)})")
    runtime = resolve_runtime(device, dtype, attn)
    model_cls = getattr(transformers, SUPPORTED[config.model_type])
    model = model_cls.from_pretrained(path, dtype=runtime.dtype, attn_implementation=runtime.attn, **kwargs)
    model.to(runtime.device).eval()
    avoid_cudnn_sdpa(runtime)
    processor = AutoProcessor.from_pretrained(path)
    # Batched generation needs left padding.
    processor.tokenizer.padding_side = "left"
    return model, processor
