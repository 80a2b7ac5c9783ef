"""The metrics log: ``metrics.jsonl`` in a training output folder, one line per Trainer log event
(loss, learning rate, TRL's reward means, ...) with its step, appended as training goes.

``trainer_state.json`` holds the same history but appears only at a checkpoint; this file lets the
app draw a run's curves while it trains, for every stage but the vision warm-up (its own loop
writes vision_warmup.json). On resume from a checkpoint at step k,
lines of steps after k are dropped when training starts again, so the log never repeats a step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from transformers import TrainerCallback

FILENAME = "metrics.jsonl"


def read_metrics(folder: str | os.PathLike) -> list[dict]:
    """The log's complete lines (an unterminated last line is a write cut short and is skipped)."""
    path = Path(folder) / FILENAME
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


class MetricsLog(TrainerCallback):
    """Appends each ``on_log`` event of the main process to ``output_dir/metrics.jsonl``."""

    def __init__(self, output_dir: str | os.PathLike):
        self.path = Path(output_dir) / FILENAME

    def on_train_begin(self, args, state, control, **kwargs):
        # The state is loaded from the checkpoint (if any) before this call.
        if state.is_world_process_zero and self.path.is_file():
            kept = [row for row in read_metrics(self.path.parent) if row["step"] <= state.global_step]
            self.path.write_text("".join(json.dumps(row) + "\n" for row in kept), encoding="utf-8")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, **logs}, default=float) + "\n")
