"""SG-RLVR trainer on real TRL with the tiny model and real sim videos.

The central claim: TRL 1.16's GRPOTrainer trains video-blind (the loss never sees the video);
our trainer carries the video into the loss. Proven by whether one optimisation step moves the
vision tower's weights.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from datasets import Dataset, IterableDataset
from trl import GRPOTrainer

from spacer_core.data import load_dataset_jsonl
from spacer_core.metrics import vsi_task
from spacer_core.models import load_model
from spacer_core.rewards import temporal_bonus as temporal_rule
from spacer_core.train.config import SpacerArgs, parse
from spacer_core.train.dataset import balance_tasks, grpo_rows, sft_rows
from spacer_core.train.generation import generate_completions
from spacer_core.train.grpo import SGRLVRConfig, SGRLVRTrainer
from spacer_core.train.metrics_log import read_metrics
from spacer_core.train.rollout_log import RolloutLog
from spacer_core.train.run import load_records, resume_checkpoint
from spacer_core.train.sft import VideoSFTCollator
from spacer_core.train.visual import encode_rows, mm_token_types, shared_video_inputs, video_tensors
from spacer_core.video import load_clip

ROOT = Path(__file__).resolve().parent.parent
VIDEO = dict(nframes=8, min_pixels=28 * 28 * 4, max_pixels=112 * 112)
SPACER = [sys.executable, "-m", "spacer_core.cli"]


@pytest.fixture(scope="module")
def sim(sim_root) -> Path:
    return sim_root


@pytest.fixture(scope="module")
def records(sim):
    return load_dataset_jsonl(sim / "train.jsonl", maps=sim / "cognitive_map.jsonl")


def grpo_args(out, **kw) -> SGRLVRConfig:
    base = dict(output_dir=str(out), per_device_train_batch_size=4, num_generations=4, max_completion_length=8,
                max_steps=1, report_to=[], learning_rate=1e-2, beta=0.04, save_strategy="no", use_cpu=True,
                weight_decay=0.0, seed=0, logging_steps=1, gradient_checkpointing=False)
    return SGRLVRConfig(**{**base, **kw})


def varied_reward(prompts, completions, **kwargs):
    """Different rewards for different texts, so advantages are not all zero."""
    return [float(zlib.crc32(c[0]["content"].encode()) % 7) for c in completions]


def vision_weights(model):
    return {k: v.detach().clone() for k, v in model.named_parameters() if k.startswith("model.visual")}


def moved(model, before) -> int:
    return sum(not torch.equal(v, before[k]) for k, v in model.named_parameters() if k in before)


def test_video_reaches_the_loss_only_with_our_trainer(records, tmp_path):
    """One step with non-zero advantages: our trainer updates the vision tower; TRL's stock
    GRPOTrainer, given the same clip and reward, leaves it untouched (its loss never sees video)."""
    row = grpo_rows(records[:1])[0]
    # Ours: video by path.
    model, processor = load_model("tiny")
    model.train()
    before = vision_weights(model)
    trainer = SGRLVRTrainer(model=model, processing_class=processor, reward_funcs=[varied_reward],
                            args=grpo_args(tmp_path / "ours", temporal=False, length_rule=False),
                            train_dataset=Dataset.from_list([row]), video_kwargs=VIDEO)
    trainer.train()
    assert trainer.state.log_history[0]["reward_std"] > 0
    assert moved(model, before) == len(before)

    # Stock TRL: the same frames inline (it cannot load video paths), same reward and step.
    frames = load_clip(row["prompt"][0]["content"][0]["video"], **VIDEO).frames.copy()
    stock_row = {**row, "prompt": [{"role": "user", "content": [
        {"type": "video", "video": frames}, {"type": "text", "text": row["prompt"][0]["content"][1]["text"]}]}]}
    model, processor = load_model("tiny")
    model.train()
    before = vision_weights(model)
    stock = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[varied_reward],
                        args=grpo_args(tmp_path / "stock", accelerator_config={"dispatch_batches": False}),
                        train_dataset=IterableDataset.from_generator(lambda: iter([stock_row])))
    stock.train()
    assert stock.state.log_history[0]["reward_std"] > 0
    assert stock.state.num_input_tokens_seen > 200  # it generated with the video tokens in the prompt...
    assert moved(model, before) == 0  # ...but its loss never reached the vision tower


def test_shared_vision_features_match_per_row_features(sim, untrained_tiny_dir):
    """A group's rows share one vision pass: same logits and same vision-tower gradients as giving
    every row its own pixels, with the tower run on 2 clips instead of 4 rows."""
    model, processor = load_model(untrained_tiny_dir)
    a, b = sorted((sim / "videos").glob("*.mp4"))[:2]
    clips = [load_clip(p, **VIDEO) for p in [a, a, a, b]]
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Where?"}]}],
                                         tokenize=False, add_generation_prompt=True)
    ids, rows = encode_rows(processor, [text] * 4, clips)
    input_ids = torch.tensor(ids)
    seen = []
    model.model.visual.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))

    def logits_and_grads(video):
        model.zero_grad()
        logits = model(input_ids=input_ids, mm_token_type_ids=mm_token_types(input_ids, model.config.video_token_id),
                       **video).logits
        logits.square().mean().backward()
        return logits.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if k.startswith("model.visual")}

    per_row, per_row_grads = logits_and_grads(video_tensors(rows))
    shared, shared_grads = logits_and_grads(shared_video_inputs(model, rows))
    patches = [r.pixel_values_videos.shape[0] for r in rows]
    assert seen == [sum(patches), patches[0] + patches[3]]
    torch.testing.assert_close(shared, per_row)
    for k, g in per_row_grads.items():
        torch.testing.assert_close(shared_grads[k], g, rtol=1e-4, atol=1e-6)


class SpyTrainer(SGRLVRTrainer):
    """Records what the trainer generates from and what reaches the loss."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.encoded_clips, self.loss_rows, self.row_of_prompt, self.loss_rows_match = [], [], {}, []

    def _encode(self, prompts, clips):
        self.encoded_clips.append(list(clips))
        prompt_ids, rows = super()._encode(prompts, clips)
        for ids, row in zip(prompt_ids, rows, strict=True):  # the first (ordered) encoding of a prompt
            self.row_of_prompt.setdefault(tuple(ids), row)
        return prompt_ids, rows

    def _compute_loss(self, model, inputs):
        self.loss_rows.append((inputs["completion_ids"].shape[0], len(inputs["visual_rows"])))
        # each row's video is the one its prompt was encoded with
        prompts = [tuple(ids[mask.bool()].tolist()) for ids, mask in zip(inputs["prompt_ids"], inputs["prompt_mask"],
                                                                         strict=True)]
        self.loss_rows_match.append(all(self.row_of_prompt[p] is r for p, r in zip(prompts, inputs["visual_rows"],
                                                                                  strict=True)))
        return super()._compute_loss(model, inputs)


@pytest.mark.parametrize("engine", ["trl", "dynamic", "static", "compact"])
def test_one_generation_feeds_several_steps_each_with_its_rows_videos(records, tmp_path, engine, monkeypatch):
    """steps_per_generation 2: one generate call covers both steps' 4 prompts × G rows and, with our
    engines, their shuffled-frame rows too (TRL's path makes a second call for those); TRL shuffles
    and splits the buffer, and each step's loss gets the videos of its own rows."""
    import spacer_core.train.grpo as grpo

    calls = []

    def counted(model, prompt_ids, *args, **kwargs):
        calls.append(len(prompt_ids))
        return generate_completions(model, prompt_ids, *args, **kwargs)

    monkeypatch.setattr(grpo, "generate_completions", counted)
    two_per_scene = [r for scene in ("scene_0000", "scene_0001") for r in [r for r in records if r["scene_id"] == scene][:2]]
    assert len({r["path"] for r in two_per_scene}) == 2 and len(two_per_scene) == 4
    model, processor = load_model("tiny")
    model.train()
    trainer = SpyTrainer(model=model, processing_class=processor, reward_funcs=[varied_reward],
                         args=grpo_args(tmp_path, per_device_train_batch_size=8, steps_per_generation=2, max_steps=2,
                                        rollout_engine=engine, rollout_chunk=3, length_rule=False,
                                        shuffle_dataset=False),
                         train_dataset=Dataset.from_list(grpo_rows(two_per_scene) * 4),
                         video_kwargs=VIDEO, rollout_log=RolloutLog(tmp_path))
    trainer.train()
    assert [len(clips) for clips in trainer.encoded_clips] == [16, 8]  # 4 prompts × 4; 4 groups × G/2 shuffled
    assert len({id(c) for c in trainer.encoded_clips[0]}) == 2  # two scenes
    assert trainer.loss_rows == [(8, 8), (8, 8)] and trainer.loss_rows_match == [True, True]
    assert calls == ([] if engine == "trl" else [16 + 8])  # one call: 4 prompts x (G + G/2)
    steps = RolloutLog(tmp_path).by_step()
    assert sum(r["shuffled"] for r in steps[0]) == 8 and all(sorted(r["frame_order"]) == list(range(8))
                                                             for r in steps[0] if r["shuffled"])


def test_shuffled_rollouts_and_bonuses_follow_the_rules(records, tmp_path):
    rows = grpo_rows(records[:2])
    model, processor = load_model("tiny")
    model.train()
    # min_acc = -1 and a wide length window make every completion qualify, so both bonuses fire
    # even though the untrained model never answers right.
    rules = dict(temporal=True, temporal_alpha=0.3, length_rule=True, length_low=0, length_high=10**6,
                 length_bonus=0.2, min_acc=-1.0)
    log = RolloutLog(tmp_path)
    from spacer_core.rewards import accuracy_reward, format_reward
    from spacer_core.train.grpo import length_reward, temporal_reward

    trainer = SpyTrainer(model=model, processing_class=processor,
                         reward_funcs=[format_reward, accuracy_reward, temporal_reward, length_reward],
                         args=grpo_args(tmp_path, per_device_train_batch_size=8, max_steps=2, **rules),
                         train_dataset=Dataset.from_list(rows), video_kwargs=VIDEO, rollout_log=log)
    trainer.train()
    G = 4
    # Per step: generation from 8 ordered rows (2 groups), then 2 shuffled batches of G/2 rows.
    ordered, shuffled = trainer.encoded_clips[0], trainer.encoded_clips[1]
    assert len(ordered) == 8 and len(shuffled) == 2 * (G // 2)
    base = load_clip(rows[0]["prompt"][0]["content"][0]["video"], **VIDEO)
    perm = shuffled[0]
    assert sorted(perm.indices) == sorted(base.indices) and perm.indices != base.indices
    # Only the ordered rows reach the loss, each with its video.
    assert trainer.loss_rows == [(8, 8), (8, 8)]

    steps = log.by_step()
    assert sorted(steps) == [0, 1]
    for step_rows in steps.values():
        for group in (0, 1):
            o = [r for r in step_rows if r["group"] == group and not r["shuffled"]]
            s = [r for r in step_rows if r["group"] == group and r["shuffled"]]
            assert len(o) == G and len(s) == G // 2
            assert all(sorted(r["frame_order"]) == list(range(8)) for r in s)
            expected_t = temporal_rule([r["accuracy"] for r in o], [r["accuracy"] for r in s], 0.3, 1.0, -1.0)
            assert [r["temporal_bonus"] for r in o] == expected_t == [0.3] * G
            assert [r["length_bonus"] for r in o] == [0.2] * G
            # Bonuses enter the reward before group normalisation: advantage = (r - mean) / (std + 1e-4).
            rewards = torch.tensor([r["format"] + r["accuracy"] + r["temporal_bonus"] + r["length_bonus"] for r in o])
            adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
            assert [r["advantage"] for r in o] == pytest.approx(adv.tolist(), abs=1e-5)
    # The group metrics reach TRL's log beside its own, one entry per step.
    logged = [h for h in trainer.state.log_history if "sg_rlvr/temporal_bonus_rate" in h]
    assert len(logged) == 2 and all(h["sg_rlvr/temporal_bonus_rate"] == 1.0 and "kl" in h for h in logged)
    assert all(0 <= h["sg_rlvr/map_rate"] <= 1 and 0 <= h["sg_rlvr/shuffled_accuracy"] <= 2 for h in logged)


@pytest.mark.slow
def test_grpo_learns_a_trivially_learnable_reward(records, tmp_path, untrained_tiny_dir):
    """Reward = share of completion tokens from the lower half of the vocabulary (about 0.5 for the
    untrained model, with spread in every group); GRPO through our trainer pushes it up."""
    model, processor = load_model(untrained_tiny_dir)
    cut = len(processor.tokenizer) // 2

    def lower_half(prompts, completions, completion_ids, **kwargs):
        return [sum(t < cut for t in ids) / len(ids) for ids in completion_ids]

    model.train()
    trainer = SGRLVRTrainer(model=model, processing_class=processor, reward_funcs=[lower_half],
                            args=grpo_args(tmp_path, max_completion_length=8, max_steps=20, learning_rate=3e-2,
                                           per_device_train_batch_size=8, temporal=False, length_rule=False),
                            train_dataset=Dataset.from_list(grpo_rows(records[:4]) * 20), video_kwargs=VIDEO)
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.1, rewards


def test_sft_collator_masks_the_prompt_and_trains_the_vision_tower(records, untrained_tiny_dir):
    model, processor = load_model(untrained_tiny_dir)
    model.train()
    rows = sft_rows(records[:2])
    batch = VideoSFTCollator(processor, VIDEO)(rows)
    assert batch["pixel_values_videos"].shape[0] == batch["video_grid_thw"].prod(-1).sum()
    target = processor.tokenizer.decode(batch["input_ids"][0][batch["labels"][0] != -100])
    assert target == rows[0]["completion"] + "<|im_end|>\n"
    assert "<map>" in target  # spatial items: the true map is in the reasoning target
    before = vision_weights(model)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        loss = model(**batch).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert moved(model, before) == len(before)


@pytest.mark.slow
def test_balance_tasks_gives_each_task_an_equal_share(sim, records):
    def tally(rows):
        out = {}
        for r in rows:
            out[vsi_task(r["question_type"])] = out.get(vsi_task(r["question_type"]), 0) + 1
        return out

    before = tally(records)
    assert max(before.values()) > 2 * min(before.values())  # the generated data are unbalanced
    balanced = balance_tasks(records, seed=1)
    after = tally(balanced)
    assert len(balanced) == len(records) and after.keys() == before.keys()
    assert max(after.values()) - min(after.values()) <= 1
    ids = {r["problem_id"] for r in balanced}
    rare = [t for t, n in before.items() if n <= min(after.values())]
    assert rare and all(r["problem_id"] in ids for r in records if vsi_task(r["question_type"]) in rare)
    assert balance_tasks(records, seed=1) == balanced and balance_tasks(records, seed=2) != balanced
    with pytest.raises(ValueError, match=r"record 1 \(problem_id x\) has no question_type"):
        balance_tasks([records[0], {**records[1], "problem_id": "x", "question_type": ""}])
    # strength 0 keeps the data's shares (every record once); 0.5: shares ∝ the square roots of the counts
    assert sorted(r["problem_id"] for r in balance_tasks(records, 1, strength=0.0)) == sorted(r["problem_id"] for r in records)
    half = tally(balance_tasks(records, seed=1, strength=0.5))
    roots = {t: n ** 0.5 for t, n in before.items()}
    assert sum(half.values()) == len(records)
    assert all(abs(half[t] - len(records) * roots[t] / sum(roots.values())) < 1 for t in before)
    # --balance_tasks reaches the SFT and RL stages' records, not the vision warm-up's
    spacer = dict(model="tiny", train_file=str(sim / "train.jsonl"), balance_tasks=1.0)
    assert tally(load_records(SpacerArgs(stage="sft", **spacer), seed=1)) == after
    assert tally(load_records(SpacerArgs(stage="vision", **spacer), seed=1)) == before
    with pytest.raises(ValueError, match=r"balance_tasks must be in \[0, 1\], got 2"):
        SpacerArgs(stage="sft", **{**spacer, "balance_tasks": 2})


def test_sft_with_freeze_vision_trains_the_decoder_only(sim, tmp_path, untrained_tiny_dir):
    from safetensors.torch import load_file

    res = run_cli("train", "--config", "configs/sft_tiny.yaml", "--model", str(untrained_tiny_dir), "--train_file",
                  str(sim / "train.jsonl"), "--output_dir", str(tmp_path / "sft"), "--max_steps", "2",
                  "--save_strategy", "no", "--freeze_vision", "true")
    assert res.returncode == 0, res.stderr[-2000:]
    before, after = load_file(untrained_tiny_dir / "model.safetensors"), load_file(tmp_path / "sft" / "final" / "model.safetensors")
    vision = {k for k in before if "visual" in k}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert vision and not changed & vision
    assert any("language_model" in k or "layers" in k for k in changed)


def run_cli(*args, **kw):
    return subprocess.run([*SPACER, *args], capture_output=True, text=True, cwd=ROOT, **kw)


@pytest.mark.slow
def test_cli_sft_then_rl_and_resume_after_kill(sim, tmp_path, killed_at_call):
    data = ["--train_file", str(sim / "train.jsonl")]
    sft = run_cli("train", "--config", "configs/sft_tiny.yaml", *data, "--output_dir", str(tmp_path / "sft"),
                  "--max_steps", "2", "--save_steps", "2")
    assert sft.returncode == 0, sft.stderr[-2000:]
    start = str(tmp_path / "sft" / "final")
    # the model records the synth settings of its data, so that more scenes of its world can be made
    manifest = json.loads((sim / "manifest.json").read_text())
    assert json.loads((tmp_path / "sft" / "final" / "spacer_data.json").read_text()) == {"config": manifest["config"]}
    out = tmp_path / "rl"
    args = ["train", "--config", "configs/sg_rlvr_tiny.yaml", "--model", start, *data, "--output_dir", str(out),
            "--max_steps", "6", "--save_steps", "2", "--max_completion_length", "8"]
    # Killed at a fixed point: as step 4's rollouts start (steps 1-3 done, checkpoint-2 saved).
    killed = killed_at_call("spacer_core.train.grpo.SGRLVRTrainer._generate_and_score_completions", 4, args, cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (out / "checkpoint-2").exists() and not (out / "checkpoint-4").exists() and not (out / "final").exists()
    assert sorted(RolloutLog(out).by_step()) == [0, 1, 2]  # step 3's rollouts were logged, not checkpointed
    assert [row["step"] for row in read_metrics(out)] == [1, 2, 3]  # logged as they came (logging_steps 1)

    again = run_cli(*args)  # without --resume: refuses to train over the checkpoints
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    steps = RolloutLog(out).by_step()
    assert sorted(steps) == list(range(6))  # no missing or duplicated step
    metrics = read_metrics(out)
    assert [row["step"] for row in metrics if "loss" in row] == [1, 2, 3, 4, 5, 6]  # step 3 logged once
    assert all("reward" in row for row in metrics[:-1]) and "train_runtime" in metrics[-1]  # then the summary
    assert "train_runtime" in read_metrics(tmp_path / "sft")[-1]
    assert all(sum(not r["shuffled"] for r in rows) == 4 for rows in steps.values())


def test_resume_skips_a_checkpoint_whose_saving_was_interrupted(tmp_path, caplog):
    # what a SIGKILL during a save leaves: checkpoint-4 without the trainer state written last
    for step, files in ((2, ["model.safetensors", "trainer_state.json"]), (4, ["model.safetensors"]),
                        (10, ["model.safetensors", "trainer_state.json"])):
        (tmp_path / f"checkpoint-{step}").mkdir()
        for name in files:
            (tmp_path / f"checkpoint-{step}" / name).write_text("{}")
    assert resume_checkpoint(str(tmp_path), resume=True) == str(tmp_path / "checkpoint-10")  # by step, not name
    (tmp_path / "checkpoint-10" / "trainer_state.json").unlink()
    assert resume_checkpoint(str(tmp_path), resume=True) == str(tmp_path / "checkpoint-2")
    assert "skipping" in caplog.text and "checkpoint-4" in caplog.text and "checkpoint-10" in caplog.text
    with pytest.raises(FileExistsError, match="already holds checkpoint-10"):
        resume_checkpoint(str(tmp_path), resume=False)
    (tmp_path / "checkpoint-2" / "trainer_state.json").unlink()
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        resume_checkpoint(str(tmp_path), resume=True)
    assert resume_checkpoint(str(tmp_path / "fresh"), resume=False) is None


@pytest.mark.slow
def test_bad_dataset_line_is_reported_with_its_line_number(sim, tmp_path):
    lines = (sim / "train.jsonl").read_text().splitlines()
    bad = json.loads(lines[2])
    bad["problem_type"] = "essay"
    lines[2] = json.dumps(bad)
    lines[4] = lines[4][:20]  # a torn line
    broken = tmp_path / "train.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    os.symlink(sim / "videos", tmp_path / "videos")
    res = run_cli("train", "--config", "configs/sg_rlvr_tiny.yaml", "--train_file", str(broken),
                  "--output_dir", str(tmp_path / "out"))
    assert res.returncode == 2
    assert f"{broken}:3: problem_type" in res.stderr
    assert f"{broken}:5" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_reshaped_or_missing_trl_hook_stops_the_trainer(monkeypatch):
    from spacer_core.train.grpo import TRL_HOOKS, check_trl_hooks

    check_trl_hooks()  # the installed TRL is the one the trainer was written against

    class Renamed(GRPOTrainer):  # a TRL whose hook lost a parameter
        def _calculate_rewards(self, inputs, prompts, completions):
            pass

    with pytest.raises(RuntimeError, match=r"GRPOTrainer._calculate_rewards is \('self', 'inputs', 'prompts', "
                                           r"'completions'\), but SGRLVRTrainer was written against TRL 1.16.0"):
        check_trl_hooks(Renamed)
    gone = type("Gone", (), {name: GRPOTrainer.__dict__.get(name) for name in TRL_HOOKS if name != "_compute_loss"})
    with pytest.raises(RuntimeError, match="GRPOTrainer._compute_loss is missing"):
        check_trl_hooks(gone)
    import trl

    monkeypatch.setattr(trl, "__version__", "9.9.9")  # another release with the same hooks: a warning
    with pytest.warns(UserWarning, match="TRL 9.9.9: SGRLVRTrainer was tested with TRL 1.16.0"):
        check_trl_hooks()


def test_video_blind_rollout_engines_and_a_plain_grpo_config_are_refused_before_trl_builds_anything(tmp_path):
    from trl import GRPOConfig

    with pytest.raises(TypeError, match="SGRLVRTrainer needs args=SGRLVRConfig"):
        SGRLVRTrainer(model="no/such-model", reward_funcs=[varied_reward], args=GRPOConfig(str(tmp_path), use_cpu=True))
    config = grpo_args(tmp_path, use_vllm=True)
    for call in (lambda: SGRLVRTrainer(model="no/such-model", reward_funcs=[varied_reward], args=config),
                 lambda: SGRLVRTrainer("no/such-model", [varied_reward], config)):
        with pytest.raises(NotImplementedError, match="vLLM rollouts do not carry video"):
            call()  # a model TRL would fail to load: the refusal comes first
    with pytest.raises(NotImplementedError, match="continuous batching takes no video inputs"):
        SGRLVRTrainer(model="no/such-model", reward_funcs=[varied_reward],
                      args=grpo_args(tmp_path, use_transformers_continuous_batching=True))
    with pytest.raises(ValueError, match="rollout_engine must be one of dynamic, static, compact, trl"):
        grpo_args(tmp_path, rollout_engine="vllm")


def test_training_clips_follow_the_checkpoints_video_settings(tmp_path):
    from spacer_core.models import TINY_MODEL_DIR
    from spacer_core.train.config import TRAINING_VIDEO, SpacerArgs

    tiny = json.loads((Path(TINY_MODEL_DIR) / "spacer_video.json").read_text())
    assert {k: SpacerArgs(model="tiny").video_kwargs()[k] for k in tiny} == tiny  # 8 small frames, as it was built
    assert SpacerArgs(model="tiny", nframes=4).video_kwargs()["nframes"] == 4  # a field set in the config wins
    no_file = SpacerArgs(model=str(tmp_path)).video_kwargs()  # a checkpoint without the file: SpaceR's setup
    assert {k: no_file[k] for k in TRAINING_VIDEO} == TRAINING_VIDEO and no_file["nframes"] is None


def test_malformed_yaml_config_is_named_with_its_line(tmp_path, capsys):
    from spacer_core.cli import main

    config = tmp_path / "bad.yaml"
    config.write_text("stage: sft\nmax_steps: [1, 2\nlearning_rate: 3\n")
    assert main(["train", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (f"spacer train: {config}, line 3: not valid YAML "
                                               "(expected ',' or ']', but got ':')")
    config.write_text("- stage\n- sft\n")
    assert main(["train", "--config", str(config)]) == 2
    assert f"{config}: expected 'field: value' lines, got a list" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["sg_rlvr_tiny", "sft_tiny", "sg_rlvr_7b"])
def test_configs_parse_and_build(name):
    # Stand-ins for the 8-GPU machine the 7B config is written for: bf16 is refused without a GPU,
    # and 1 row per device × 8 processes becomes 8 rows per generation in one process.
    machine = ["--use_cpu", "true", "--steps_per_generation", "8"] if name == "sg_rlvr_7b" else []
    spacer, config = parse(str(ROOT / "configs" / f"{name}.yaml"), None, ["--max_steps", "3", *machine])
    assert config.max_steps == 3
    if spacer.stage == "rl":
        assert (config.loss_type, config.beta, config.scale_rewards) == ("grpo", 0.04, "group")
        assert (config.temporal_ratio, config.map_reward, config.reward_rules) == (1.0, True, "workbench")
    if name == "sg_rlvr_7b":
        assert spacer.model == "Qwen/Qwen2.5-VL-7B-Instruct" and config.num_generations == 8
        assert spacer.video_kwargs()["max_pixels"] == 401408 and config.max_completion_length == 1024


@pytest.mark.slow
def test_two_process_ddp_runs_two_steps(sim, tmp_path):
    """Two CPU processes (gloo) through torchrun: accelerate's launcher runs multi-CPU jobs only
    through mpirun, while the trainer takes torch.distributed's environment from either."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "spacer_core.cli", "train",
           "--config", "configs/sg_rlvr_tiny.yaml", "--train_file", str(sim / "train.jsonl"),
           "--output_dir", str(out), "--max_steps", "2", "--max_completion_length", "8", "--save_steps", "2",
           "--per_device_train_batch_size", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on two cores
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("trained model saved") == 2  # both ranks ran the command
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    steps = RolloutLog(out).by_step()
    # 2 processes × 2 rows = one group of G = 4 that spans both ranks: its rewards are gathered
    # across processes, rank 0 runs its G/2 shuffled rollouts (rank 1 joins the generate call with a
    # throwaway rollout), and rank 0 logs the whole group once.
    assert sorted(steps) == [0, 1]
    for rows in steps.values():
        assert sorted((r["group"], r["shuffled"]) for r in rows) == [(0, False)] * 4 + [(0, True)] * 2
        assert len({r["problem_id"] for r in rows}) == 1
