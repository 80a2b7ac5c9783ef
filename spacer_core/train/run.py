"""One entry point for both stages: load data and model, build the trainer, train, save.

Works the same under ``accelerate launch`` (DDP; DeepSpeed/FSDP through accelerate configs) and
``torchrun`` (the CPU DDP path the tests exercise).
"""

from __future__ import annotations

import logging
from pathlib import Path

from spacer_core.data import load_dataset_jsonl
from spacer_core.train.config import SpacerArgs
from spacer_core.train.dataset import balance_tasks, grpo_rows, sft_rows

logger = logging.getLogger(__name__)
DATA_FILE = "spacer_data.json"


def load_records(spacer: SpacerArgs, seed: int = 0) -> list[dict]:
    records = load_dataset_jsonl(spacer.train_file, spacer.video_root, spacer.maps_path(), spacer.exclude_file)
    records = records[: spacer.limit] if spacer.limit else records
    if spacer.balance_tasks and spacer.stage in ("sft", "rl"):
        return balance_tasks(records, seed, spacer.balance_tasks)
    return records


def resume_checkpoint(output_dir: str, resume: bool) -> str | None:
    """The newest complete checkpoint to resume from; refuses to silently train over existing checkpoints.

    A checkpoint is complete when it has trainer_state.json, which the Trainer writes last: a run
    killed while saving leaves a newer, partial folder, and resuming skips it (with a warning)."""
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, sort_checkpoints

    found = sort_checkpoints(output_dir, PREFIX_CHECKPOINT_DIR) if Path(output_dir).is_dir() else []
    if not resume and found:
        raise FileExistsError(f"{output_dir} already holds {Path(found[-1]).name}; pass --resume to continue it, "
                              "or choose another --output_dir")
    complete = [c for c in found if (Path(c) / TRAINER_STATE_NAME).is_file()]
    if resume and not complete:
        raise FileNotFoundError(f"--resume: no complete checkpoint-* folder in {output_dir}")
    for partial in found[found.index(complete[-1]) + 1:] if complete else []:
        logger.warning("--resume: skipping %s, a checkpoint whose saving was interrupted", partial)
    return complete[-1] if complete else None


def train(spacer: SpacerArgs, config, resume: bool = False) -> Path:
    """Train one stage; returns the folder with the final model and processor."""
    from datasets import Dataset

    from spacer_core.models import load_model, save_processor
    from spacer_core.train.metrics_log import MetricsLog

    checkpoint = resume_checkpoint(config.output_dir, resume)
    if config.use_cpu and config.bf16:
        logger.warning("bf16 autocast on CPU (TRL's default): slower than float32 on CPUs without bf16 units, "
                       "~2.5x for the tiny model here; pass --bf16 false to train in float32")
    if config.process_index == 0:  # TrainingArguments sets up the (distributed) state here
        _record_args(spacer, Path(config.output_dir))
    model, processor = load_model(spacer.model, device="cpu" if config.use_cpu else "auto",
                                  dtype=spacer.model_dtype, attn=spacer.attn)
    model.train()
    if spacer.stage == "vision":
        return _vision_stage(spacer, config, model, processor)
    if spacer.freeze_vision:
        model.model.visual.requires_grad_(False)
    if spacer.stage == "lookup":
        from spacer_core.train.lookup import lookup_trainer

        trainer = lookup_trainer(spacer, config, model, processor)
    elif spacer.stage == "sft":
        trainer = _sft_trainer(spacer, config, model, processor, Dataset.from_list(sft_rows(load_records(spacer, config.seed))))
    else:
        rows = grpo_rows(load_records(spacer, config.seed), config.map_reward)
        trainer = _grpo_trainer(spacer, config, model, processor, Dataset.from_list(rows), checkpoint)
    trainer.add_callback(MetricsLog(config.output_dir))
    trainer.train(resume_from_checkpoint=checkpoint)
    out = Path(config.output_dir) / "final"
    trainer.model.config.use_cache = True  # trainers switch the KV cache off; inference wants it
    trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        save_processor(processor, out, spacer.saved_video_settings())
        record_data(spacer, out)
    return out


def record_data(spacer: SpacerArgs, out: Path) -> None:
    """``spacer_data.json`` beside a trained model: ``{"config": ...}``, the synth settings of the data
    it was trained on (the manifest's config, `spacer data synth` flag names), so that fresh held-out
    scenes of the same world can be generated. The lookup stage trains on no data file and keeps
    the start checkpoint's; data without a manifest (not generated) leaves none."""
    import json
    import shutil

    from spacer_core.models import resolve_path

    manifest = Path(spacer.train_file).parent / "manifest.json"
    start = Path(resolve_path(spacer.model)) / DATA_FILE
    if spacer.stage != "lookup" and manifest.is_file():
        config = json.loads(manifest.read_text())["config"]
        (out / DATA_FILE).write_text(json.dumps({"config": config}, indent=1) + "\n")
    elif spacer.stage == "lookup" and start.is_file():
        shutil.copy(start, out / DATA_FILE)


def _vision_stage(spacer, config, model, processor) -> Path:
    """The vision warm-up (one process): held-out accuracies come from test.jsonl beside the
    training file, when there is one; they are written to output_dir/vision_warmup.json."""
    import json

    from spacer_core.models import save_processor
    from spacer_core.train.vision_warmup import METRICS_FILE, TokenTargetSet, scene_files, warm_up_vision

    if config.world_size > 1:
        raise ValueError("the vision warm-up runs in one process (it takes minutes on a CPU); launch it without "
                         "torchrun/accelerate")
    scenes_dir = Path(spacer.video_root or Path(spacer.train_file).parent) / "scenes"
    video = spacer.video_kwargs()
    train_set = TokenTargetSet(scene_files(load_records(spacer), scenes_dir), processor, video)
    test_file = Path(spacer.train_file).with_name("test.jsonl")
    held_out = None
    if test_file.is_file():
        test = load_dataset_jsonl(test_file, spacer.video_root, exclude=spacer.exclude_file)
        held_out = TokenTargetSet(scene_files(test, scenes_dir), processor, video)
    metrics = warm_up_vision(model, train_set, held_out, config)
    out = Path(config.output_dir) / "final"
    model.save_pretrained(out)
    save_processor(processor, out, spacer.saved_video_settings())
    record_data(spacer, out)
    (Path(config.output_dir) / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
    return out


def _grpo_trainer(spacer, config, model, processor, dataset, checkpoint):
    from spacer_core.rewards import accuracy_reward, format_reward, spacer_accuracy_reward
    from spacer_core.train.grpo import SGRLVRTrainer, length_reward, temporal_reward
    from spacer_core.train.rollout_log import RolloutLog

    log = RolloutLog(config.output_dir)
    if config.process_index == 0:
        if checkpoint is not None:
            step = int(Path(checkpoint).name.split("-")[-1])
            log.truncate_from(step)  # lines written after the checkpoint are regenerated
        elif log.path.exists():
            log.path.unlink()
    return SGRLVRTrainer(
        model=model, processing_class=processor, args=config, train_dataset=dataset,
        reward_funcs=[format_reward, spacer_accuracy_reward if config.reward_rules == "spacer" else accuracy_reward,
                      temporal_reward, length_reward],
        video_kwargs=spacer.video_kwargs(), rollout_log=log,
    )


def _sft_trainer(spacer, config, model, processor, dataset):
    from trl import SFTTrainer

    from spacer_core.train.sft import VideoSFTCollator

    config.remove_unused_columns = False
    config.dataset_kwargs = {**(config.dataset_kwargs or {}), "skip_prepare_dataset": True}
    lookups = None
    if spacer.lookup_batch:
        from spacer_core.train.lookup import LookupTasks, parse_span

        lookups = iter(LookupTasks(processor, spacer.lookup_copy_fraction, parse_span(spacer.lookup_asked),
                                   config.seed, spacer.lookup_world, spacer.lookup_arith_fraction,
                                   spacer.lookup_option_marks, spacer.lookup_marks_fraction,
                                   spacer.lookup_distance_fraction))
    collator = VideoSFTCollator(processor, spacer.video_kwargs(), lookups, spacer.lookup_batch)
    return SFTTrainer(model=model, processing_class=processor, args=config, train_dataset=dataset,
                      data_collator=collator)


def _record_args(spacer: SpacerArgs, out: Path) -> None:
    """Our config beside TRL's training_args.bin (the app's Rollouts tab reads train_file from it)."""
    import dataclasses
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / "spacer_args.json").write_text(json.dumps(dataclasses.asdict(spacer), indent=2) + "\n")
