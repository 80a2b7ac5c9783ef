"""SG-RLVR throughput at Qwen2.5-VL-3B/7B shapes with random weights: rollouts, one update, eval.

The model has the published 3B or 7B hyperparameters (Qwen/Qwen2.5-VL-{3B,7B}-Instruct config.json,
vocabulary size included) and random weights, so its compute cost is the real one and nothing is
downloaded. It is saved as a checkpoint with the embedded tiny model's tokenizer and processor (the
random model samples ids beyond the tokenizer's 796; they decode to nothing, which no figure needs),
then loaded with the project's `load_model` (``--attn auto``: flash_attention_2 when installed).
On one sim video (16 frames) and its SpaceR prompt it measures:

- the bf16 matmul peak of the device (a large ``torch.matmul`` loop), the MFU denominator;
- rollout throughput in new tokens/s for one GRPO group (G=8 × N tokens, sampled, no early EOS)
  with HF ``generate``, and with vLLM when it is installed (not in the ``gpu`` extra: README);
- the rollout engines side by side (``--engines``; `spacer_core.train.generation`, and ``trl``:
  TRL's own path, the baseline) on one generation batch of ``--prompts`` prompts × (G + G/2
  shuffled) rows: new tokens/s, and the policy's mean log-prob of each engine's samples (a faithful
  engine matches ``trl`` within the sampling error);
- per engine, one `SGRLVRTrainer` update (TRL GRPO, β=0.04, T-GRPO shuffled rollouts, gradient checkpointing)
  split into generation, reference log-probs, policy forward, backward, optimizer (clip + step) and
  the rest, after ``--steps - 1`` warm-up updates; its MFU from FLOPs counted by
  ``torch.utils.flop_counter`` on one full row with eager attention (so that every attention
  matmul is counted, masked ones included; backward counted as 2× forward, recomputation not);
- eval throughput (`SpatialReasoner`, greedy) at batch 1 vs batch 8;
- HF decode time per step with sdpa's flash/memory-efficient kernels (what `load_model` leaves on)
  vs cuDNN attention on the same, never-seen shapes (CUDA only; why: `models.avoid_cudnn_sdpa`).

Output: ``#`` lines describe the setup, each figure is one line ``name: value unit (details)`` or
``name: skipped (reason)``, the last line is ``summary: key=value ...``. Progress goes to stderr.

    python benchmarks/bench_gpu.py --size 7b                 # on a CUDA machine; see benchmarks/results/gpu.md
    python benchmarks/bench_gpu.py --size toy --device cpu   # the CPU dry run (tests/test_bench_gpu.py)

On CUDA it also writes ``benchmarks/results/gpu-<card>/summary.json`` (``--json`` elsewhere): per
engine ``rollout_tokens_per_s``, ``rollout_over_trl``, ``update_seconds``, ``update_mfu``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import re
import sys
import tempfile
import time
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from spacer_core.data import load_dataset_jsonl  # noqa: E402
from spacer_core.infer import Query, SpatialReasoner, VideoSettings  # noqa: E402
from spacer_core.inputs import VIDEO_KEYS, chat_text, encode  # noqa: E402
from spacer_core.models import TINY_MODEL_DIR, load_model, resolve_runtime  # noqa: E402
from spacer_core.tiny_model import DEFAULT_SIZES, SPECIAL_TOKENS  # noqa: E402
from spacer_core.train.config import SpacerArgs  # noqa: E402
from spacer_core.train.dataset import grpo_rows, map_categories, prompt_text  # noqa: E402
from spacer_core.train.grpo import SHUFFLED, VISION_TOKENS, SGRLVRTrainer  # noqa: E402
from spacer_core.train.run import load_records  # noqa: E402
from spacer_core.train.visual import mm_token_types  # noqa: E402
from spacer_core.video import load_clip  # noqa: E402

SIM = ROOT / "assets" / "sim"

# Published Qwen2.5-VL shapes. Both sizes share the vision tower; mrope_section [16, 24, 24] splits
# the 64 rotary frequencies of a 128-wide head, as in the released configs.
VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, fullatt_block_indexes=[7, 15, 23, 31])
TEXT = {
    "3b": dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
               num_attention_heads=16, num_key_value_heads=2, tie_word_embeddings=True),
    "7b": dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
               num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False),
}
# Per size: completion tokens (SpaceR's budget), eval tokens, per-frame pixel range (toy: the tiny
# model's video defaults; 3b/7b: configs/sg_rlvr_7b.yaml).
DEFAULTS = {
    "toy": dict(completion_tokens=16, eval_tokens=8, min_pixels=4 * 28 * 28, max_pixels=112 * 112,
                compile_steps=3, compile_tokens=8),
    "3b": dict(completion_tokens=1024, eval_tokens=256, min_pixels=128 * 28 * 28, max_pixels=512 * 28 * 28,
               compile_steps=20, compile_tokens=64),
    "7b": dict(completion_tokens=1024, eval_tokens=256, min_pixels=128 * 28 * 28, max_pixels=512 * 28 * 28,
               compile_steps=20, compile_tokens=64),
}
PHASES = ("rollout", "engines", "compile", "eval", "update", "sdpa", "vllm")
ENGINES = ("trl", "dynamic", "static", "compact")  # "trl" (TRL's own generate path) is the baseline


# --- output -----------------------------------------------------------------------------------

def progress(message: str) -> None:
    print(f"[bench_gpu] {message}", file=sys.stderr, flush=True)


def number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


class Report:
    """Prints one line per figure and keeps the values for the summary line."""

    def __init__(self) -> None:
        self.values: dict[str, float | None] = {}

    def info(self, text: str) -> None:
        print(f"# {text}", flush=True)

    def figure(self, name: str, value: float, unit: str, detail: str = "") -> None:
        self.values[name] = value
        print(f"{name}: {number(value)} {unit}" + (f" ({detail})" if detail else ""), flush=True)

    def skipped(self, name: str, reason: str) -> None:
        self.values[name] = None
        print(f"{name}: skipped ({reason})", flush=True)

    def summary(self, **fields) -> None:
        parts = [f"{k}={'skipped' if v is None else number(v) if isinstance(v, float) else v}"
                 for k, v in fields.items()]
        print("summary: " + " ".join(parts), flush=True)


# --- device timing ----------------------------------------------------------------------------

def now(device: torch.device) -> float:
    """Wall time after the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, iters: int) -> float:
    """Measured dense matmul FLOP/s (2·n³ per product) in the model's dtype."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    out = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    start = now(device)
    for _ in range(iters):
        torch.matmul(a, b, out=out)
    return 2 * n**3 * iters / (now(device) - start)


# --- the random-weight checkpoint ---------------------------------------------------------------

def model_config(size: str):
    """Qwen2_5_VLConfig of a size, with the tiny tokenizer's special-token ids. ``toy`` is the shipped
    tiny model's shape with its vocabulary padded past the tokenizer, like the published shapes."""
    from transformers import AutoConfig, Qwen2_5_VLConfig

    tiny = AutoConfig.from_pretrained(TINY_MODEL_DIR)
    if size == "toy":
        tiny.text_config.vocab_size = DEFAULT_SIZES["vocab_size"]
        return tiny
    text = TEXT[size]
    ids = {k: getattr(tiny.text_config, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    return Qwen2_5_VLConfig(
        text_config=dict(**text, **ids, hidden_act="silu", rms_norm_eps=1e-6, max_position_embeddings=128000,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}),
        vision_config=dict(**VISION, hidden_act="silu", out_hidden_size=text["hidden_size"], patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112, tokens_per_second=2),
        **{k: getattr(tiny, k) for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                         "vision_end_token_id")},
        tie_word_embeddings=text["tie_word_embeddings"],
    )


def write_checkpoint(out: Path, size: str, runtime, video: dict) -> Path:
    """Random weights of ``size`` built on the device, saved with the tiny processor and video settings."""
    from transformers import AutoProcessor, GenerationConfig, Qwen2_5_VLForConditionalGeneration

    config = model_config(size)
    torch.manual_seed(0)
    with torch.device(runtime.device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=runtime.dtype)
    model.generation_config = GenerationConfig.from_pretrained(TINY_MODEL_DIR)
    model.save_pretrained(out)
    AutoProcessor.from_pretrained(TINY_MODEL_DIR).save_pretrained(out)
    (out / "spacer_video.json").write_text(json.dumps(video) + "\n")  # read by VideoSettings.for_model
    del model
    free_memory()
    return out


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def count_params(model) -> tuple[int, int]:
    """(all, vision tower) parameter counts."""
    total = vision = 0
    for name, p in model.named_parameters():
        total += p.numel()
        vision += p.numel() if ".visual." in f".{name}" else 0
    return total, vision


# --- measurements ------------------------------------------------------------------------------

def hf_rollout(model, batch, group: int, tokens: int, device) -> tuple[float, int]:
    """(seconds, new tokens) for one sampled group with ``generate``; every row gets exactly ``tokens``."""
    gen = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
    with torch.inference_mode():
        model.generate(**batch, **gen, max_new_tokens=2, min_new_tokens=2)  # warm-up
        start = now(device)
        out = model.generate(**batch, **gen, max_new_tokens=tokens, min_new_tokens=tokens)
        seconds = now(device) - start
    return seconds, (out.shape[1] - batch["input_ids"].shape[1]) * group


def engine_batch(processor, records: list[dict], video: dict, group: int) -> tuple[list, list]:
    """(prompt ids, visual rows) of one generation batch as the trainer builds it: each prompt's G
    ordered rows (one shared clip) and G/2 rows on its frames shuffled, for every record."""
    from spacer_core.train.visual import encode_rows

    texts, clips = [], []
    for r in records:
        clip = load_clip(r["media_path"], **video)
        shuffled = clip.permuted(list(range(clip.num_frames))[::-1])
        texts += [chat_text(processor, prompt_text(r))] * (group + group // 2)
        clips += [clip] * group + [shuffled] * (group // 2)
    return encode_rows(processor, texts, clips, device=None)


def rollout(model, processor, prompt_ids, rows, engine: str, tokens: int, device) -> tuple[float, list]:
    """(seconds, completions) of one sampled generation batch with ``engine`` ("trl": TRL's own path,
    plain `generate` with every row's own copy of its clip's patches). Random weights never end a row
    early, so every row decodes ``tokens`` tokens with every engine."""
    import copy

    from spacer_core.train.generation import generate_completions, left_pad, trim_at_eos
    from spacer_core.train.visual import video_tensors

    config = copy.deepcopy(model.generation_config)
    # As the trainer sets it: vision placeholders never sampled, compilation off (the static engine
    # turns it back on).
    vision = [processor.tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS]
    config.update(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=tokens, min_new_tokens=tokens,
                  suppress_tokens=vision, disable_compile=True)
    rows = [r.to(device) if r is not None else None for r in rows]
    pad, eos, video_token = processor.tokenizer.pad_token_id, [processor.tokenizer.eos_token_id], model.config.video_token_id
    with torch.inference_mode():
        start = now(device)
        if engine == "trl":
            ids, mask = left_pad(prompt_ids, pad)
            ids, mask = ids.to(device), mask.to(device)
            out = model.generate(input_ids=ids, attention_mask=mask, **video_tensors(rows),
                                 mm_token_type_ids=mm_token_types(ids, video_token), generation_config=config)
            completions = trim_at_eos(out[:, ids.size(1):], eos)
        else:
            completions = generate_completions(model, prompt_ids, rows, config, engine=engine, pad_id=pad,
                                               eos_ids=eos, video_token_id=video_token)
        return now(device) - start, completions


def engine_rollout(model, processor, prompt_ids, rows, engine: str, tokens: int, device) -> tuple[float, list]:
    """`rollout` after a warm-up run of the same batch (the static engine compiles there)."""
    rollout(model, processor, prompt_ids, rows, engine, tokens, device)
    return rollout(model, processor, prompt_ids, rows, engine, tokens, device)


def static_compiles(model, processor, records: list[dict], video: dict, group: int, tokens: int, steps: int,
                    device) -> list[tuple[float, int]]:
    """(seconds, graphs compiled so far) for each of ``steps`` generation batches of the static engine,
    one prompt each, cycling over ``records`` (their prompt widths differ): how often the bucketed
    shapes make torch.compile compile again."""
    from torch._dynamo.utils import counters

    before = counters["stats"]["unique_graphs"]
    out = []
    for k in range(steps):
        prompt_ids, rows = engine_batch(processor, [records[k % len(records)]], video, group)
        seconds, _ = rollout(model, processor, prompt_ids, rows, "static", tokens, device)
        out.append((seconds, counters["stats"]["unique_graphs"] - before))
    return out


@torch.no_grad()
def policy_logprob(model, processor, prompt_ids, rows, completions, device, limit: int = 4) -> tuple[float, float]:
    """(mean, standard error) of the per-token log-probs of ``completions`` (the first ``limit`` rows)
    recomputed by the policy as the loss pass computes them (`shared_video_inputs`): the samples of
    a faithful engine score like those of TRL's path, within the sampling error."""
    from spacer_core.train.visual import shared_video_inputs

    values = []
    for ids, row, completion in list(zip(prompt_ids, rows, completions, strict=True))[:limit]:
        seq = torch.tensor([list(ids) + completion], device=device)
        video = shared_video_inputs(model, [row.to(device)])
        logits = model(input_ids=seq, attention_mask=torch.ones_like(seq), logits_to_keep=len(completion) + 1,
                       mm_token_type_ids=mm_token_types(seq, model.config.video_token_id), **video).logits
        logp = torch.log_softmax(logits[0, :-1].float(), -1).gather(-1, seq[0, -len(completion):, None])
        values.append(logp.flatten())
    values = torch.cat(values)
    return values.mean().item(), (values.std() / len(values) ** 0.5).item()


def vllm_rollout(ckpt: Path, text: str, clip, group: int, tokens: int, max_len: int, dtype) -> tuple[float, int, int]:
    """(seconds, new tokens, prompt tokens) for the same group with vLLM (frames as decoded, no resizing)."""
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(ckpt), dtype=str(dtype).removeprefix("torch."), max_model_len=max_len, seed=0,
              limit_mm_per_prompt={"video": 1, "image": 0}, gpu_memory_utilization=0.85,
              mm_processor_kwargs={"do_resize": False, "do_sample_frames": False})
    request = {"prompt": text, "multi_modal_data": {"video": clip.frames.copy()}}

    def params(n_tokens: int):
        return SamplingParams(n=group, temperature=1.0, max_tokens=n_tokens, min_tokens=n_tokens, ignore_eos=True,
                              detokenize=False, seed=0)

    llm.generate([request], params(2), use_tqdm=False)  # warm-up
    start = time.perf_counter()
    out = llm.generate([request], params(tokens), use_tqdm=False)[0]
    seconds = time.perf_counter() - start
    new = sum(len(c.token_ids) for c in out.outputs)
    prompt_len = len(out.prompt_token_ids)
    del llm
    free_memory()
    return seconds, new, prompt_len


def sdpa_decode(model, batch, tokens: int, device) -> dict[str, float]:
    """Seconds per decode step (prefill included) with the flash/memory-efficient kernels, then with
    cuDNN attention first in line on the same shapes, which cuDNN has not met before in the process."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    plan_free = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    out = {}
    for name, backends in (("flash", plan_free), ("cudnn", [SDPBackend.CUDNN_ATTENTION, *plan_free])):
        with torch.inference_mode(), sdpa_kernel(backends, set_priority=True):
            start = now(device)
            model.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
            out[name] = (now(device) - start) / tokens
    return out


class PhaseTimer:
    """Device-synchronised wall time per phase of each training step."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.steps: list[dict[str, float]] = []
        self.current: dict[str, float] = {}
        self.marks: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        start = now(self.device)
        try:
            yield
        finally:
            self.add(name, now(self.device) - start)

    def add(self, name: str, value: float) -> None:
        self.current[name] = self.current.get(name, 0.0) + value


class StepTimes(TrainerCallback):
    def __init__(self, timer: PhaseTimer) -> None:
        self.timer = timer

    def on_step_begin(self, args, state, control, **kwargs):
        self.timer.current = {}
        self.timer.marks["step"] = now(self.timer.device)

    def on_optimizer_step(self, args, state, control, **kwargs):
        # From the end of backward: gradient clipping and the optimizer step.
        self.timer.add("optimizer", now(self.timer.device) - self.timer.marks["backward_end"])

    def on_step_end(self, args, state, control, **kwargs):
        self.timer.add("step", now(self.timer.device) - self.timer.marks["step"])
        self.timer.steps.append(self.timer.current)


class TimedTrainer(SGRLVRTrainer):
    """`SGRLVRTrainer` with each phase of an update timed; the training itself is unchanged."""

    def __init__(self, *args, timer: PhaseTimer, **kwargs):
        super().__init__(*args, **kwargs)
        self.timer = timer
        self.add_callback(StepTimes(timer))

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, *args, **kwargs):
        with self.timer.phase("generation"):
            completion_ids, logprobs = super()._generate_single_turn(prompt_ids, images, multimodal_fields, *args,
                                                                     **kwargs)
        plan = (multimodal_fields or {}).get(SHUFFLED)  # shuffled-frame rows generated in the same call
        generated = completion_ids + (plan.completions if plan is not None else [])
        self.timer.add("generated_rows", len(generated))
        self.timer.add("generated_tokens", sum(len(c) for c in generated))
        return completion_ids, logprobs

    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        if model is not self.ref_model:
            return super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
        with self.timer.phase("ref_logprobs"):
            return super()._get_per_token_logps_and_entropies(model, *args, **kwargs)

    def _prepare_inputs(self, generation_batch):
        with self.timer.phase("rollout"):  # generation, rewards, T-GRPO, reference log-probs
            return super()._prepare_inputs(generation_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        with self.timer.phase("policy_forward"):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def training_step(self, model, inputs, num_items_in_batch=None):
        with self.timer.phase("training_step"):
            loss = super().training_step(model, inputs, num_items_in_batch)
        self.timer.marks["backward_end"] = now(self.timer.device)
        return loss


def run_update(ckpt: Path, model, processor, runtime, args, workdir: Path, engine: str) -> dict[str, float]:
    """Train ``args.steps`` SG-RLVR updates on sim rows with rollout ``engine``; returns the last
    update's phase times."""
    from datasets import Dataset

    from spacer_core.rewards import accuracy_reward, format_reward
    from spacer_core.train.grpo import SGRLVRConfig, length_reward, temporal_reward

    spacer = SpacerArgs(model=str(ckpt), train_file=str(SIM / "train.jsonl"), nframes=args.frames,
                        min_pixels=args.min_pixels, max_pixels=args.max_pixels)
    records = [r for r in load_records(spacer) if r.get("cognitive_map")][: args.steps]
    config = SGRLVRConfig(
        output_dir=str(workdir / f"run-{engine}"), per_device_train_batch_size=args.generations,
        rollout_engine=engine,
        num_generations=args.generations, max_completion_length=args.completion_tokens,
        generation_kwargs={"min_new_tokens": args.completion_tokens}, temperature=1.0, beta=0.04,
        learning_rate=1e-6, max_grad_norm=5.0, max_steps=args.steps, seed=0, save_strategy="no",
        logging_strategy="no", report_to=[], use_cpu=runtime.device.type == "cpu",
        bf16=runtime.dtype == torch.bfloat16, gradient_checkpointing=args.gradient_checkpointing,
        **({"optim": args.optim} if args.optim else {}))
    timer = PhaseTimer(runtime.device)
    model.train()
    trainer = TimedTrainer(model=model, processing_class=processor, args=config,
                           train_dataset=Dataset.from_list(grpo_rows(records)),
                           reward_funcs=[format_reward, accuracy_reward, temporal_reward, length_reward],
                           video_kwargs=spacer.video_kwargs(), timer=timer)
    with redirect_stdout(sys.stderr):  # the trainer prints its final metrics; stdout is for figures
        trainer.train()
    model.eval()
    del trainer
    free_memory()
    return timer.steps[-1]


def forward_flops(model, batch, completion_tokens: int, vocab: int) -> int:
    """FLOPs of one forward pass over one row: its prompt and video plus ``completion_tokens`` random
    tokens, logits for the completion only (as TRL computes them)."""
    from torch.utils.flop_counter import FlopCounterMode

    prompt = batch["input_ids"][:1]
    completion = torch.randint(len(SPECIAL_TOKENS), vocab, (1, completion_tokens), device=prompt.device)
    ids = torch.cat([prompt, completion], dim=1)
    video = {k: batch[k][: int(batch["video_grid_thw"][0].prod())] if k == "pixel_values_videos" else batch[k][:1]
             for k in VIDEO_KEYS}
    attn = model.config._attn_implementation
    model.set_attn_implementation("eager")  # plain matmuls: the counter misses fused attention kernels
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=completion_tokens + 1,
                  mm_token_type_ids=mm_token_types(ids, model.config.video_token_id), **video)
    finally:
        model.set_attn_implementation(attn)
    return counter.get_total_flops()


def eval_throughput(model, processor, ckpt: Path, items: list[dict], tokens: int, device) -> dict[int, tuple]:
    """{batch size: (seconds, completion tokens)} answering the same items at batch 1 and batch len(items)."""
    reasoner = SpatialReasoner(model, processor, VideoSettings.for_model(ckpt), temperature=0,
                               max_new_tokens=tokens, min_new_tokens=tokens)
    queries = [Query(r["media_path"], r["problem"], r.get("options") or None, "thinking_map",
                     map_categories(r) or None, r["problem_type"]) for r in items]
    for q in queries:  # decode every video once: both runs read clips from the cache
        reasoner.clip(q.video)
    reasoner.answer_batch(queries[:1], max_new_tokens=2, min_new_tokens=2)  # warm-up
    out = {}
    for size in (1, len(queries)):
        start = now(device)
        results = [r for i in range(0, len(queries), size) for r in reasoner.answer_batch(queries[i:i + size])]
        out[size] = (now(device) - start, sum(r.completion_tokens for r in results))
    return out


# --- main --------------------------------------------------------------------------------------

def versions() -> str:
    names = ("torch", "transformers", "trl", "accelerate", "vllm", "flash-attn", "deepspeed")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(DEFAULTS), default="7b", help="model shape (toy: the CPU dry run)")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, float32 on CPU), bfloat16, float32")
    parser.add_argument("--attn", default="auto", help="auto (flash_attention_2 when installed), sdpa, eager")
    parser.add_argument("--generations", type=int, default=8, help="G, rollouts per prompt")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--completion-tokens", type=int, help="new tokens per rollout (default: 1024; toy 16)")
    parser.add_argument("--eval-tokens", type=int, help="new tokens per eval answer (default: 256; toy 8)")
    parser.add_argument("--min-pixels", type=int, help="per-frame pixel floor (default: 128·28·28; toy 4·28·28)")
    parser.add_argument("--max-pixels", type=int, help="per-frame pixel cap (default: 512·28·28; toy 112·112)")
    parser.add_argument("--steps", type=int, default=2, help="SG-RLVR updates; all but the last are warm-up")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--optim", help="transformers optimizer name (default: TRL's), e.g. adafactor to fit 7B "
                                        "with its reference model on an 80 GB GPU")
    parser.add_argument("--matmul-size", type=int, help="n of the n×n peak matmul (default: 8192 on CUDA, 512 on CPU)")
    parser.add_argument("--skip", action="append", choices=PHASES, default=[], help="leave out a measurement")
    parser.add_argument("--workdir", type=Path, help="where the random checkpoint goes (default: a temp folder)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"rollout engines to measure, comma-separated (default: all: {','.join(ENGINES)}; "
                             "trl first: the baseline)")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per generation batch of the engine runs")
    parser.add_argument("--compile-steps", type=int,
                        help="generation batches of the static engine whose recompilations are counted (default: "
                             "20; toy 3)")
    parser.add_argument("--compile-tokens", type=int, help="new tokens per batch of that count (default: 64; toy 8)")
    parser.add_argument("--json", type=Path, help="summary.json to write (default on CUDA: "
                                                  "benchmarks/results/gpu-<card>/summary.json)")
    args = parser.parse_args(argv)
    for key, value in DEFAULTS[args.size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.steps < 1 or args.generations < 2 or args.frames < 2:
        parser.error("need --steps >= 1, --generations >= 2 and --frames >= 2")
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(args.engines) - set(ENGINES)
    if unknown or not args.engines:
        parser.error(f"--engines: choose from {', '.join(ENGINES)} (got {args.engines})")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    runtime = resolve_runtime(args.device, args.dtype, args.attn)
    device = runtime.device
    report = Report()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    report.info(f"size {args.size}, device {device} (GPU: {gpu}), dtype {str(runtime.dtype).removeprefix('torch.')}, "
                f"attn {runtime.attn}; {versions()}")
    video = dict(nframes=args.frames, min_pixels=args.min_pixels, max_pixels=args.max_pixels)
    record = next(r for r in load_dataset_jsonl(SIM / "train.jsonl", maps=SIM / "cognitive_map.jsonl")
                  if r.get("cognitive_map"))
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        workdir = args.workdir or Path(tmp)
        ckpt = workdir / f"qwen2.5-vl-{args.size}-random"
        progress(f"building the random {args.size} checkpoint in {ckpt}")
        write_checkpoint(ckpt, args.size, runtime, video)
        model, processor = load_model(ckpt, device=str(device), dtype=args.dtype, attn=args.attn)
        total, vision = count_params(model)
        vocab = len(processor.tokenizer)
        clip = load_clip(record["media_path"], **video)
        text = chat_text(processor, prompt_text(record))
        batch = encode(processor, [text] * args.generations, [clip] * args.generations).to(device)
        prompt_len = batch["input_ids"].shape[1]
        video_tokens = int(batch["video_grid_thw"][0].prod()) // model.config.vision_config.spatial_merge_size**2
        report.info(f"model: {total / 1e6:.1f} M parameters ({vision / 1e6:.1f} M vision), vocab "
                    f"{model.config.text_config.vocab_size} (tokenizer {vocab}); prompt {prompt_len} tokens with "
                    f"{video_tokens} video tokens ({clip.num_frames} frames of {clip.size[1]}x{clip.size[0]}); "
                    f"G={args.generations}, {args.completion_tokens} completion tokens"
                    + (f"; cuDNN attention {'on' if torch.backends.cuda.cudnn_sdp_enabled() else 'off'}"
                       if device.type == "cuda" else ""))

        n = args.matmul_size or (8192 if device.type == "cuda" else 512)
        peak = matmul_peak(device, runtime.dtype, n, iters=200 if device.type == "cuda" else 20)
        report.figure("matmul_peak", peak / 1e12, "TFLOP/s", f"{str(runtime.dtype).removeprefix('torch.')} "
                      f"{n}x{n} torch.matmul")

        if "rollout" not in args.skip:
            progress("rollout with HF generate")
            seconds, new = hf_rollout(model, batch, args.generations, args.completion_tokens, device)
            report.figure("rollout_hf", new / seconds, "tokens/s",
                          f"G={args.generations} x {new // args.generations} new tokens in {seconds:.2f} s")

        if "eval" not in args.skip:
            progress("eval at batch 1 and batch 8")
            items = load_dataset_jsonl(SIM / "test.jsonl", maps=SIM / "cognitive_map.jsonl")[:8]
            runs = eval_throughput(model, processor, ckpt, items, args.eval_tokens, device)
            for size, (seconds, new) in runs.items():
                report.figure(f"eval_batch{size}", len(items) / seconds, "items/s",
                              f"{len(items)} items, {new / seconds:.1f} tokens/s, {new} new tokens in {seconds:.2f} s")
            report.figure("eval_batch8_speedup", runs[1][0] / runs[len(items)][0], "x", "batch 8 over batch 1 items/s")

        if "sdpa" not in args.skip:
            if device.type != "cuda" or runtime.attn != "sdpa":
                report.skipped("decode_step_cudnn_over_flash", "compares sdpa backends on CUDA")
            else:
                progress("decode with flash vs cuDNN attention")
                step = sdpa_decode(model, batch, args.eval_tokens, device)
                report.figure("decode_step_flash", 1000 * step["flash"], "ms",
                              f"G={args.generations}, {args.eval_tokens} new tokens, greedy")
                report.figure("decode_step_cudnn", 1000 * step["cudnn"], "ms", "the same shapes, new to cuDNN")
                report.figure("decode_step_cudnn_over_flash", step["cudnn"] / step["flash"], "x")

        engines: dict[str, dict] = {e: {} for e in args.engines}
        if "engines" not in args.skip:
            records = [r for r in load_dataset_jsonl(SIM / "train.jsonl", maps=SIM / "cognitive_map.jsonl")
                       if r.get("cognitive_map")]
            records = list({r["media_path"]: r for r in records}.values())[: args.prompts]
            prompt_ids, rows = engine_batch(processor, records, video, args.generations)
            for engine in args.engines:
                progress(f"rollout engine {engine}: {len(rows)} rows")
                seconds, completions = engine_rollout(model, processor, prompt_ids, rows, engine,
                                                      args.completion_tokens, device)
                new = sum(len(c) for c in completions)
                engines[engine]["rollout_tokens_per_s"] = new / seconds
                report.figure(f"rollout_{engine}", new / seconds, "tokens/s",
                              f"{len(records)} prompts x ({args.generations} + {args.generations // 2} shuffled) rows, "
                              f"{new} new tokens in {seconds:.2f} s")
                logp, error = policy_logprob(model, processor, prompt_ids, rows, completions, device)
                engines[engine].update(policy_logprob=logp, policy_logprob_stderr=error)
                report.figure(f"policy_logprob_{engine}", logp, "nats/token",
                              f"the policy's mean log-prob of this engine's samples, 4 rows; standard error {error:.3g}")
            if "trl" in engines and engines["trl"]:
                base = engines["trl"]
                for engine in args.engines:
                    e = engines[engine]
                    e["rollout_over_trl"] = e["rollout_tokens_per_s"] / base["rollout_tokens_per_s"]
                    e["logprob_abs_delta"] = abs(e["policy_logprob"] - base["policy_logprob"])
                    if engine != "trl":
                        report.figure(f"rollout_{engine}_over_trl", e["rollout_over_trl"], "x", "goal >= 4")
                        report.figure(f"logprob_delta_{engine}", e["logprob_abs_delta"], "nats/token",
                                      "|policy log-prob of its samples - of TRL's path's samples|")

        if "compile" not in args.skip:
            progress(f"static engine over {args.compile_steps} generation batches")
            records = [r for r in load_dataset_jsonl(SIM / "train.jsonl") if r.get("media_path")]
            records = list({len(r["problem"]): r for r in records}.values())  # prompts of different widths
            runs = static_compiles(model, processor, records, video, args.generations, args.compile_tokens,
                                   args.compile_steps, device)
            graphs = [g for _, g in runs]
            where = "" if device.type == "cuda" else "; none on CPU, where transformers does not compile"
            report.figure("static_first_batch", runs[0][0], "s", f"compilation included; {args.compile_tokens} "
                          f"new tokens x {args.generations + args.generations // 2} rows")
            later = sorted(t for t, _ in runs[1:]) or [runs[0][0]]
            report.figure("static_later_batch", later[len(later) // 2], "s", "median of the other batches")
            report.figure("static_graphs_compiled", graphs[-1], "graphs",
                          f"over {args.compile_steps} batches of prompts of different widths; batches that compiled "
                          f"again: {sum(b > a for a, b in zip(graphs, graphs[1:], strict=False))}{where}")

        if "update" not in args.skip:
            flops = forward_flops(model, batch, args.completion_tokens, vocab)
            report.figure("update_forward_flops", flops / 1e12, "TFLOP",
                          f"one row: {prompt_len} prompt + {args.completion_tokens} completion tokens")
            parts = ("generation", "ref_logprobs", "policy_forward", "policy_backward", "optimizer")
            for engine in args.engines:
                progress(f"{args.steps} SG-RLVR updates, rollout engine {engine}")
                t = run_update(ckpt, model, processor, runtime, args, workdir, engine)
                t["policy_backward"] = t["training_step"] - t["rollout"] - t["policy_forward"]
                for part in parts:
                    report.figure(f"update_{part}_{engine}", t[part], "s")
                report.figure(f"update_other_{engine}", t["step"] - sum(t[p] for p in parts), "s",
                              "rewards, video decoding and encoding, bookkeeping")
                rows_ = int(t["generated_rows"])
                report.figure(f"update_step_{engine}", t["step"], "s",
                              f"step {args.steps} of {args.steps}; {rows_} rollouts ({args.generations} trained + "
                              f"{rows_ - args.generations} shuffled-frame), {int(t['generated_tokens'])} new tokens")
                train_flops = 4 * flops * args.generations  # reference forward + policy forward and backward
                train_time = sum(t[p] for p in parts[1:])
                mfu_train = 100 * train_flops / train_time / peak
                mfu_step = 100 * (train_flops + flops * rows_) / t["step"] / peak
                report.figure(f"update_mfu_train_{engine}", mfu_train, "%",
                              "reference log-probs + policy forward/backward + optimizer")
                report.figure(f"update_mfu_step_{engine}", mfu_step, "%", "the whole update, generation included")
                engines[engine].update(update_seconds=t["step"], update_mfu=mfu_train, update_mfu_step=mfu_step)

        del model
        free_memory()
        if "vllm" not in args.skip:
            if importlib.util.find_spec("vllm") is None:
                report.skipped("rollout_vllm", "vllm is not installed; it needs an environment of its own, see the README's GPU extra")
            elif device.type != "cuda":
                report.skipped("rollout_vllm", "vLLM needs a CUDA device")
            else:
                progress("rollout with vLLM")
                seconds, new, vllm_prompt = vllm_rollout(ckpt, text, clip, args.generations, args.completion_tokens,
                                                         max(prompt_len + args.completion_tokens + 64, 8192),
                                                         runtime.dtype)
                report.figure("rollout_vllm", new / seconds, "tokens/s",
                              f"G={args.generations} x {new // args.generations} new tokens in {seconds:.2f} s; "
                              f"prompt {vllm_prompt} tokens (HF: {prompt_len})")
        hf, vllm = report.values.get("rollout_hf"), report.values.get("rollout_vllm")
        if hf and vllm:
            report.figure("rollout_vllm_over_hf", vllm / hf, "x", "goal >= 5")

    v = report.values
    fastest = max((e for e in engines if "rollout_tokens_per_s" in engines[e]),
                  key=lambda e: engines[e]["rollout_tokens_per_s"], default=None)
    report.summary(size=args.size, device=device.type, peak_tflops=v.get("matmul_peak"), hf_tokens_per_s=hf,
                   fastest_engine=fastest, fastest_over_trl=engines.get(fastest, {}).get("rollout_over_trl"),
                   vllm_tokens_per_s=vllm, vllm_over_hf=v.get("rollout_vllm_over_hf"),
                   step_s=v.get(f"update_step_{args.engines[0]}"),
                   mfu_train_pct=v.get(f"update_mfu_train_{args.engines[0]}"),
                   eval_speedup=v.get("eval_batch8_speedup"), cudnn_over_flash=v.get("decode_step_cudnn_over_flash"))
    out = args.json or (ROOT / "benchmarks" / "results" / f"gpu-{gpu_kind(gpu)}" / "summary.json"
                        if device.type == "cuda" else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"size": args.size, "device": device.type, "gpu": gpu, "versions": versions(),
                                   "baseline": "trl", "engines": engines, "figures": v}, indent=1) + "\n")
        progress(f"wrote {out}")


def gpu_kind(name: str) -> str:
    """"NVIDIA H200" -> "h200": the results folder of that card."""
    found = re.search(r"\b([A-Z]\d{2,4}[A-Z]?)\b", name)
    return found[1].lower() if found else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


if __name__ == "__main__":
    main()
