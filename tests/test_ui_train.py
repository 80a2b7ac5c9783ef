"""The Train tab's machinery on real runs: its settings are the `spacer train` arguments a user would
type (read back by the real config parser), a run is a real subprocess whose curves, rollouts and
log are read while it trains, one run at a time, stopping kills it, and the trained model is handed
to the app's model host."""

from __future__ import annotations

import signal
import time

import gradio as gr
import pytest

from spacer_core.train.config import parse
from spacer_core.train.metrics_log import read_metrics
from spacer_ui.model import ModelHost, ModelNotReady
from spacer_ui.paths import Roots
from spacer_ui.rollouts import training_runs
from spacer_ui.train import REWARDS, TRAIN_FILE, Settings, Trainer, curves, latest_rollouts, progress


def wait(condition, timeout: float = 300, every: float = 0.5) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(every)


def test_settings_are_spacer_train_arguments(tmp_path):
    rl = Settings("rl", 5, generations=2, prompts=3, rewards=[REWARDS[0]], learning_rate=3e-4,
                  max_completion_length=64).argv(tmp_path / "rl")
    assert rl[:2] == ["train", "--config"]
    spacer, config = parse(rl[2], None, rl[3:])
    assert (spacer.stage, spacer.model, spacer.train_file) == ("rl", "tiny", str(TRAIN_FILE))
    assert (config.max_steps, config.num_generations, config.learning_rate, config.max_completion_length) == \
        (5, 2, 3e-4, 64)
    assert config.per_device_train_batch_size == 6  # 3 prompts x G
    assert (config.map_reward, config.temporal, config.length_rule) == (True, False, False)
    assert (config.length_low, config.length_high) == (20, 32)  # the tiny recipe's 90-144 of 288, scaled
    assert config.output_dir == str(tmp_path / "rl") and config.save_strategy == "no" and config.logging_steps == 1

    sft = Settings("sft", 7, learning_rate=2e-3, start_from="runs/x/final").argv(tmp_path / "sft")
    spacer, config = parse(sft[2], None, sft[3:])
    assert (spacer.stage, spacer.model, config.max_steps, config.learning_rate) == ("sft", "runs/x/final", 7, 2e-3)
    assert config.per_device_train_batch_size == 2


def test_every_choice_the_tab_offers_can_train(tmp_path):
    """The sliders' ranges: every G and prompt count gives a batch TRL accepts."""
    for g in range(2, 9):
        for prompts in (1, 8):
            Settings("rl", 1, generations=g, prompts=prompts).check(tmp_path)
    with pytest.raises(gr.Error, match="these settings cannot train"):
        Settings("rl", 1, generations=1).check(tmp_path)


def test_model_host_switches_and_reports_a_failed_load(tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # as on a 2-core machine (the tests' conftest sets one thread)
    try:
        host = ModelHost("tiny")
        first = host.get(timeout=120)
        assert torch.get_num_threads() == 1  # a model this small answers faster on one thread
    finally:
        torch.set_num_threads(before)
    host.switch(str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotReady, match="could not be loaded"):
        host.get(timeout=120)
    assert "could not be loaded" in host.status()
    host.switch("tiny")
    assert host.get(timeout=120) is not first and "ready" in host.status()


@pytest.mark.slow
def test_a_run_trains_streams_stops_and_hands_over(tmp_path):
    roots = Roots.create(tmp_path / "runs")
    trainer = Trainer(roots)
    job = trainer.start(Settings("rl", 3, generations=2, prompts=2, max_completion_length=48), "first")
    with pytest.raises(gr.Error, match="already going"):
        trainer.start(Settings(), "second")
    assert "Training" in progress(job, roots)
    wait(lambda: not job.running)
    assert job.succeeded(), job.log_tail()
    assert progress(job, roots).startswith("✓ Finished 3 steps")
    assert "trained model saved to" in job.log_tail() and "{'loss'" not in job.log_tail()
    assert [r["step"] for r in read_metrics(job.out) if "loss" in r] == [1, 2, 3]
    reward = next(t for t in curves(job).data if t.name == "reward (ordered)")
    assert list(reward.x) == [0, 1, 2]
    newest = latest_rollouts(job)
    assert [row[0] for row in newest] == ["ordered #1", "ordered #2", "shuffled #1"]  # G = 2, half on shuffled
    assert roots.shown(job.out) in training_runs(roots)  # the Rollouts tab lists it
    assert trainer.finished_models() == ["tiny", roots.shown(job.model)]
    assert trainer.find(str(job.out)) is job and trainer.find(None) is job
    with pytest.raises(gr.Error, match="already exists"):
        trainer.start(Settings(), "first")

    host = ModelHost("tiny")
    host.switch(str(job.model))
    assert host.get(timeout=120).model.training is False and str(job.model) in host.status()

    # A long SFT run from the trained model, stopped once it has logged a step.
    long = trainer.start(Settings("sft", 500, start_from=str(job.model)), "long")
    wait(lambda: read_metrics(long.out) or not long.running)
    trainer.stop()
    assert not long.running and long.stopped and long.proc.returncode == -signal.SIGTERM
    assert progress(long, roots).startswith("■ Stopped at step") and not long.model.exists()
    assert next(iter(curves(long).data)).name == "loss"
    assert trainer.finished_models() == ["tiny", roots.shown(job.model)]  # the stopped run saved no model
    assert trainer.find(str(job.out)) is job and trainer.find(None) is long
