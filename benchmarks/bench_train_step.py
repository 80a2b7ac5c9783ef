"""SG-RLVR step time vs TRL's plain GRPOTrainer: same tiny model, same sim clips, same batch.

Stock TRL 1.16 cannot take a video by path; it gets the same decoded frames inline, generates
with them, and computes its loss without them (video-blind). Ours carries the video into every
log-prob pass; with temporal on it also runs G/2 shuffled-frame rollouts per group.
Both see the same prompts in the same order and every completion runs the full length, so
the ratio measures the trainers, not sampled completion lengths or prompt order (before this,
runs differed by up to 30% from those alone). Both train in float32 (bf16=False), as the CPU
configs do. The median of 12 steps still moves about ±10% between runs on the 2-core machine.
Last line: `sg_rlvr/grpo step time ratio: temporal_off=X temporal_on=Y` (goals <= 1.15 and <= 1.7).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from datasets import IterableDataset  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from spacer_core.data import load_dataset_jsonl  # noqa: E402
from spacer_core.models import load_model  # noqa: E402
from spacer_core.rewards import accuracy_reward, format_reward  # noqa: E402
from spacer_core.train.dataset import grpo_rows  # noqa: E402
from spacer_core.train.grpo import SGRLVRConfig, SGRLVRTrainer, length_reward, temporal_reward  # noqa: E402
from spacer_core.video import load_clip  # noqa: E402

VIDEO = dict(nframes=8, min_pixels=28 * 28 * 4, max_pixels=112 * 112)
STEPS, WARMUP = 14, 2
COMPLETION = 32


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times, self._t = [], 0.0

    def on_step_begin(self, args, state, control, **kw):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self._t)


def config(out: str, config_class: type = GRPOConfig, **rules) -> GRPOConfig:
    return config_class(**rules, output_dir=out, per_device_train_batch_size=8, num_generations=4, max_completion_length=COMPLETION,
                      max_steps=STEPS, report_to=[], learning_rate=1e-5, beta=0.04, save_strategy="no",
                      use_cpu=True, bf16=False, seed=0, gradient_checkpointing=False, logging_steps=1,
                      accelerator_config={"dispatch_batches": False},
                      # every completion runs the full length: sampled lengths would differ between
                      # the trainers and swamp the difference being measured
                      generation_kwargs={"min_new_tokens": COMPLETION})


def median_step(trainer) -> float:
    timer = StepTimer()
    trainer.add_callback(timer)
    torch.manual_seed(0)
    trainer.train()
    return statistics.median(timer.times[WARMUP:])


def main() -> None:
    records = load_dataset_jsonl(ROOT / "assets/sim/train.jsonl")[:16]
    rows = grpo_rows(records)
    funcs = [format_reward, accuracy_reward]
    with tempfile.TemporaryDirectory() as tmp:
        # Stock TRL: the same frames inline in the prompt.
        stock_rows = []
        for r in rows:
            text = r["prompt"][0]["content"][1]["text"]
            frames = load_clip(r["prompt"][0]["content"][0]["video"], **VIDEO).frames.copy()
            stock_rows.append({**r, "prompt": [{"role": "user", "content": [
                {"type": "video", "video": frames}, {"type": "text", "text": text}]}]})
        model, processor = load_model("tiny")
        model.train()
        # Keep stock TRL's processor from upscaling the frames: same video tokens as ours.
        processor.video_processor.size = {"shortest_edge": VIDEO["min_pixels"], "longest_edge": VIDEO["max_pixels"]}
        stock = GRPOTrainer(model=model, processing_class=processor, reward_funcs=funcs, args=config(tmp),
                            train_dataset=IterableDataset.from_generator(lambda: iter(stock_rows * 4)))
        t_stock = median_step(stock)

        results = {}
        for name, temporal in (("temporal_off", False), ("temporal_on", True)):
            model, processor = load_model("tiny")
            model.train()
            ours = SGRLVRTrainer(model=model, processing_class=processor,
                                 reward_funcs=[*funcs, temporal_reward, length_reward],
                                 args=config(tmp, SGRLVRConfig, temporal=temporal),
                                 train_dataset=IterableDataset.from_generator(lambda: iter(rows * 4)),
                                 video_kwargs=VIDEO)
            results[name] = median_step(ours)
    print(f"median step: stock GRPOTrainer {t_stock:.3f} s, SG-RLVR temporal off {results['temporal_off']:.3f} s, "
          f"temporal on {results['temporal_on']:.3f} s ({torch.get_num_threads()} threads)")
    print(f"sg_rlvr/grpo step time ratio: temporal_off={results['temporal_off'] / t_stock:.2f} "
          f"temporal_on={results['temporal_on'] / t_stock:.2f}")


if __name__ == "__main__":
    main()
