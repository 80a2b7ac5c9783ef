"""Training configuration: our fields beside TRL's GRPOConfig / SFTConfig, from YAML + command line.

`spacer train --config FILE [--stage sft|rl|vision] [--resume] [--any_field VALUE ...]`: the YAML sets
defaults for both dataclasses, the command line overrides any field (TRL's `TrlParser`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch and TRL: building the CLI parser must not import them
    from spacer_core.video import VideoSettings

STAGES = ("rl", "sft", "vision", "lookup")
# SpaceR's training clips: 2 fps, at most 16 frames, 128 to 768 patches of 28x28 pixels a frame.
TRAINING_VIDEO = dict(fps=2.0, max_frames=16, min_pixels=128 * 28 * 28, max_pixels=768 * 28 * 28)


@dataclass
class SpacerArgs:
    """Our part of a training config: model, data, video and the lookup stage. TRL's config holds the
    optimisation and generation fields, and for the RL stage SG-RLVR's rules
    (`spacer_core.train.grpo.SGRLVRConfig`)."""

    stage: str = field(default="rl", metadata={
        "help": "rl (SG-RLVR), sft (cold start), vision (warm-up on generated scenes' per-token truth) or "
                "lookup (text-only map lookups for the decoder)"})
    model: str = field(default="tiny", metadata={"help": "tiny, a checkpoint folder or a hub id"})
    model_dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16 or float16"})
    attn: str = field(default="auto", metadata={"help": "auto, sdpa, eager or flash_attention_2"})
    train_file: str = field(default="assets/sim/train.jsonl", metadata={"help": "SpaceR-151k style JSONL"})
    video_root: str | None = field(default=None, metadata={"help": "media root (default: the JSONL's folder)"})
    maps_file: str | None = field(default=None, metadata={
        "help": "cognitive_map.jsonl (default: the one beside the JSONL, if any)"})
    exclude_file: str | None = field(default=None, metadata={"help": "scene names to leave out, one per line"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N records"})
    freeze_vision: bool = field(default=False, metadata={
        "help": "train the decoder only (the vision tower and merger keep their weights)"})
    # Video sampling (spacer_core.video.VideoSettings). A field left unset comes from the checkpoint's
    # spacer_video.json when it has one, else from SpaceR's training setup (TRAINING_VIDEO).
    nframes: int | None = field(default=None, metadata={"help": "fixed frame count (else fps-based)"})
    video_fps: float | None = field(default=None, metadata={"help": "frames per second to sample (SpaceR: 2)"})
    max_frames: int | None = field(default=None, metadata={"help": "at most this many frames (SpaceR: 16)"})
    min_pixels: int | None = field(default=None, metadata={"help": "per-frame pixel floor (SpaceR: 128*28*28)"})
    max_pixels: int | None = field(default=None, metadata={"help": "per-frame pixel cap (SpaceR: 768*28*28)"})
    # The lookup stage (spacer_core.train.lookup), and its tasks mixed into SFT.
    lookup_copy_fraction: float = field(default=0.25, metadata={"help": "share of copy tasks (the rest: lookups)"})
    lookup_arith_fraction: float = field(default=0.0, metadata={
        "help": "share of cell-arithmetic tasks (the derivations of spacer data synth --cell-arithmetic)"})
    lookup_option_marks: bool = field(default=False, metadata={
        "help": "cell-arithmetic tasks list options and end by marking each (spacer data synth --option-lines)"})
    lookup_marks_fraction: float = field(default=0.0, metadata={
        "help": "share of mark tasks alone: lettered options and a conclusion -> the option marks"})
    lookup_distance_fraction: float = field(default=0.0, metadata={
        "help": "share of absolute-distance derivations (spacer data synth --distance-steps)"})
    lookup_asked: str = field(default="3-6", metadata={"help": "categories per lookup question: N or LOW-HIGH"})
    lookup_eval_every: int = field(default=500, metadata={"help": "steps between held-out lookup checks"})
    lookup_eval_scenes: int = field(default=50, metadata={"help": "held-out maps per check"})
    lookup_world: str = field(default="vsi", metadata={
        "help": "the world the lookup tasks' maps come from (spacer data synth --world): vsi or small"})
    lookup_batch: int = field(default=0, metadata={
        "help": "sft: also train on this many lookup/copy tasks every step (keeps a lookup stage's skill)"})
    balance_tasks: float = field(default=0.0, metadata={
        "help": "sft, rl: even out the VSI-Bench tasks' shares of the training items: 0 keeps the data's, "
                "1 gives each task an equal share (rare ones repeated); between, shares ∝ count^(1 − this)"})

    def __post_init__(self):
        from spacer_core.train.lookup import parse_span

        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        try:
            parse_span(self.lookup_asked)
        except ValueError as err:
            raise ValueError(f"lookup_asked: {err}") from None
        if not 0 <= self.balance_tasks <= 1:
            raise ValueError(f"balance_tasks must be in [0, 1], got {self.balance_tasks}")
        if not 0 <= self.lookup_arith_fraction <= 1 - self.lookup_copy_fraction:
            raise ValueError(f"lookup_arith_fraction must be in [0, 1 - lookup_copy_fraction], "
                             f"got {self.lookup_arith_fraction}")
        if not 0 <= self.lookup_marks_fraction <= 1 - self.lookup_copy_fraction - self.lookup_arith_fraction:
            raise ValueError(f"lookup_marks_fraction must be in [0, 1 - lookup_copy_fraction - lookup_arith_fraction], "
                             f"got {self.lookup_marks_fraction}")
        rest = 1 - self.lookup_copy_fraction - self.lookup_arith_fraction - self.lookup_marks_fraction
        if not 0 <= self.lookup_distance_fraction <= rest + 1e-9:
            raise ValueError("lookup_distance_fraction must be in [0, 1 - lookup_copy_fraction - lookup_arith_fraction "
                             f"- lookup_marks_fraction], got {self.lookup_distance_fraction}")
        from spacer_core.sim.scene import get_world

        get_world(self.lookup_world)

    def _chosen_video(self) -> dict:
        chosen = dict(nframes=self.nframes, fps=self.video_fps, max_frames=self.max_frames,
                      min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        return {k: v for k, v in chosen.items() if v is not None}

    def video_settings(self) -> VideoSettings:
        """The training clips' settings: the fields set here, over the checkpoint's own settings
        (spacer_video.json) or, without that file, SpaceR's training setup."""
        from spacer_core.video import VideoSettings

        return replace(VideoSettings.for_model(self.model, default=TRAINING_VIDEO), **self._chosen_video())

    def saved_video_settings(self) -> dict | None:
        """What spacer_video.json beside the trained model holds: the start checkpoint's file with
        the fields set here over it, so that a model trained on 16 frames is evaluated on 16; None
        when neither gives any (a checkpoint without the file keeps the evaluation defaults)."""
        import json

        from spacer_core.models import resolve_path
        from spacer_core.video import VIDEO_SETTINGS_FILE

        path = Path(resolve_path(self.model)) / VIDEO_SETTINGS_FILE
        start = json.loads(path.read_text()) if path.is_file() else {}
        return {**start, **self._chosen_video()} or None

    def video_kwargs(self) -> dict:
        """`video_settings` as `spacer_core.video.load_clip` keyword arguments."""
        return asdict(self.video_settings())

    def maps_path(self) -> str | None:
        if self.maps_file:
            return self.maps_file
        beside = Path(self.train_file).parent / "cognitive_map.jsonl"
        return str(beside) if beside.exists() else None


def parse(config_file: str | None, stage: str | None, overrides: list[str]):
    """(SpacerArgs, SGRLVRConfig | SFTConfig | TrainingArguments) from a YAML file, a stage and
    ``--field value`` overrides."""
    import yaml
    from transformers import TrainingArguments
    from trl import SFTConfig, TrlParser

    from spacer_core.train.grpo import SGRLVRConfig

    fields = {}
    if config_file:
        try:
            with open(config_file) as f:
                fields = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{config_file}, line {mark.line + 1}" if mark else config_file
            raise ValueError(f"{where}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
        if not isinstance(fields, dict):
            raise ValueError(f"{config_file}: expected 'field: value' lines, got a {type(fields).__name__}")
    if stage is None:
        stage = fields.get("stage", "rl")
    trl_config = {"rl": SGRLVRConfig, "sft": SFTConfig, "vision": TrainingArguments, "lookup": TrainingArguments}.get(stage)
    if trl_config is None:
        raise ValueError(f"--stage must be one of {', '.join(STAGES)}, got {stage!r}")
    argv = (["--config", config_file] if config_file else []) + list(overrides) + ["--stage", stage]
    return TrlParser((SpacerArgs, trl_config)).parse_args_and_config(argv)
