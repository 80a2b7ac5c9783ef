"""SG-RLVR on TRL's GRPOTrainer: video in generation and in every log-prob pass, map-gated
rewards, T-GRPO's shuffled-frame rollouts, the length bonus, and a rollout log.

What we change in TRL 1.16 and why (the rest — sampling, advantages, loss, KL, optimisation,
checkpoints, DDP/DeepSpeed — is TRL's):
- ``_tokenize_prompts``: rows whose prompt holds ``{"type": "video", "video": PATH}`` are encoded
  with `spacer_core.video.load_clip` + the processor, so generation sees the video.
- ``_get_per_token_logps_and_entropies``: TRL builds the model inputs itself and drops video
  tensors; we hand it the model with the rows' video arguments bound, chunk by chunk, so the
  policy, old-policy and reference passes all see the video. The vision tower runs once per
  distinct clip in a chunk (`shared_video_inputs`), not once per row of its group.
- ``_generate_and_score_completions`` / ``_compute_loss``: the rows' `VisualRow` list rides along
  with the batch (TRL shuffles and splits lists with the tensors).
- ``_calculate_rewards``: scores every completion (for the group rules and the rollout log; TRL's
  reward functions then score them again, which costs microseconds), runs the shuffled-frame
  rollouts in training (scored, never trained on), and applies the temporal and length rules per
  group before TRL normalises.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from accelerate.utils import gather_object
from trl import GRPOConfig, GRPOTrainer

from spacer_core.rewards import (
    RULES,
    RewardTerms,
    completion_text,
    length_bonus,
    score_completion,
    temporal_bonus,
)
from spacer_core.train.rollout_log import RolloutLog
from spacer_core.train.visual import (
    VisualRow,
    encode_rows,
    mm_token_types,
    shared_video_inputs,
    video_tensors,
)
from spacer_core.video import Clip, load_clip

VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")

# The private GRPOTrainer methods this trainer overrides or calls, with their parameters in the TRL
# release it was written against. Renamed or reshaped, an override would be skipped without an
# error and training would turn video-blind again, so the trainer refuses to start instead.
TRL_TESTED = "1.16.0"
TRL_HOOKS = {
    "_tokenize_prompts": ("self", "prompts"),
    "_get_per_token_logps_and_entropies": (
        "self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
        "compute_aux_loss", "pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask",
        "spatial_shapes", "num_tiles", "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids"),
    "_generate_and_score_completions": ("self", "inputs"),
    "_compute_loss": ("self", "model", "inputs"),
    "_calculate_rewards": ("self", "inputs", "prompts", "completions", "completion_ids_list"),
    "_generate_single_turn": ("self", "prompt_ids", "images", "multimodal_fields", "num_generations",
                              "has_tool_images"),
    "_log_metric": ("self", "name", "value"),  # what TRL hands reward functions as `log_metric`
}


def check_trl_hooks(trainer_class: type = GRPOTrainer) -> None:
    """Raise unless ``trainer_class`` has every hook of TRL_HOOKS with the same parameters; warn when
    the hooks match but TRL is another release (their behaviour may still have changed)."""
    import inspect
    import warnings

    import trl

    for name, expected in TRL_HOOKS.items():
        hook = getattr(trainer_class, name, None)
        found = None if hook is None else tuple(inspect.signature(hook).parameters)
        if found != expected:
            raise RuntimeError(
                f"TRL {trl.__version__}: GRPOTrainer.{name} is {'missing' if found is None else found}, "
                f"but SGRLVRTrainer was written against TRL {TRL_TESTED}, where it is {expected}. Without "
                "that hook the video would not reach generation or the loss; install trl=="
                f"{TRL_TESTED} (pyproject.toml) or port spacer_core/train/grpo.py (docs/design.md)")
    if trl.__version__ != TRL_TESTED:
        warnings.warn(f"TRL {trl.__version__}: SGRLVRTrainer was tested with TRL {TRL_TESTED}; its hooks match, "
                      "but check that video still reaches the loss (tests/test_train.py)", stacklevel=2)


@dataclass
class SGRLVRConfig(GRPOConfig):
    """TRL's GRPOConfig plus SG-RLVR's reward rules (method.md). Every field can be set in YAML or
    on the `spacer train` command line."""

    map_reward: bool = field(default=True, metadata={
        "help": "map gate: score <map> against the true map (off: plain accuracy, same prompts)"})
    temporal: bool = field(default=True, metadata={"help": "T-GRPO: shuffled-frame rollouts and their bonus"})
    temporal_alpha: float = field(default=0.3, metadata={"help": "the temporal bonus"})
    temporal_ratio: float = field(default=1.0, metadata={
        "help": "bonus if p >= ratio * p_shuffled; SpaceR's released code uses 0.8, Video-R1's author says 1.0"})
    length_rule: bool = field(default=True, metadata={"help": "length bonus for correct completions"})
    length_low: int = field(default=320, metadata={"help": "the length window's first token count"})
    length_high: int = field(default=512, metadata={"help": "the length window's last token count"})
    length_bonus: float = field(default=0.2, metadata={"help": "the length bonus"})
    min_acc: float = field(default=0.1, metadata={"help": "accuracy a completion needs for either bonus"})
    reward_rules: str = field(default="workbench", metadata={
        "help": "workbench (ours) or spacer (SpaceR's released reward code, quirks included: docs/design.md)"})

    def __post_init__(self):
        super().__post_init__()
        if self.reward_rules not in RULES:
            raise ValueError(f"reward_rules must be one of {', '.join(RULES)}, got {self.reward_rules!r}")


def temporal_reward(prompts, completions, temporal_bonus: Sequence[float], **kwargs) -> list[float]:
    """T-GRPO's temporal bonus, computed per group by the trainer (column ``temporal_bonus``)."""
    return list(temporal_bonus)


def length_reward(prompts, completions, length_bonus: Sequence[float], **kwargs) -> list[float]:
    """SpaceR's length bonus, computed per group by the trainer (column ``length_bonus``)."""
    return list(length_bonus)


def _video_path(prompt: list[dict]) -> str | None:
    for message in prompt:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "video":
                    return part["video"]
    return None


def _text_only(prompt: list[dict]) -> list[dict]:
    """The prompt for the chat template: video parts become placeholders and every part keeps only
    its own keys (Arrow datasets give each part all keys of all parts, e.g. ``"video": None`` on a
    text part, which chat templates would render as another video)."""
    out = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, list):
            content = [{"type": "video"} if p.get("type") == "video" else {"type": "text", "text": p["text"]}
                       for p in content]
        out.append({"role": message["role"], "content": content})
    return out


class SGRLVRTrainer(GRPOTrainer):
    """GRPOTrainer for video prompts with SpaceR's SG-RLVR reward rules.

    Dataset rows: ``prompt`` (conversational; the user turn holds ``{"type": "video", "video":
    PATH}`` and the text), ``solution``, ``problem_type``, ``cognitive_map`` (JSON or ""),
    ``map_categories``, ``problem_id``, ``question_type``. ``video_kwargs`` go to `load_clip`.
    """

    def __init__(self, *args, video_kwargs: dict | None = None, rollout_log: RolloutLog | None = None, **kwargs):
        check_trl_hooks()
        config = kwargs["args"] if "args" in kwargs else args[2] if len(args) > 2 else None
        if not isinstance(config, SGRLVRConfig):
            raise TypeError(f"SGRLVRTrainer needs args=SGRLVRConfig(...) (GRPOConfig with the SG-RLVR rules), "
                            f"got {type(config).__name__}")
        # Refused before TRL's init, which would start building a vLLM engine.
        if config.use_vllm:
            raise NotImplementedError("vLLM rollouts do not carry video inputs yet; use use_vllm=False")
        super().__init__(*args, **kwargs)
        self.video_kwargs = dict(video_kwargs or {})
        self.rollout_log = rollout_log
        self._video_token_id = self.model.config.video_token_id
        # A sampled vision placeholder token in a completion would make the log-prob pass look for
        # video features that do not exist; never sample them.
        tok = self.processing_class.tokenizer
        vision = [tok.convert_tokens_to_ids(t) for t in VISION_TOKENS]
        self.generation_config.suppress_tokens = sorted({*(self.generation_config.suppress_tokens or []), *vision})
        self._visual_rows: list[VisualRow | None] | None = None  # rows being generated / scored
        self._pending_log: list[dict] | None = None

    # --- video in generation ----------------------------------------------------------------

    def _load_clips(self, prompts: list) -> list[Clip | None]:
        paths = [_video_path(p) for p in prompts]
        return [load_clip(p, **self.video_kwargs) if p else None for p in paths]

    def _encode(self, prompts: list, clips: Sequence[Clip | None]):
        texts = [self.processing_class.apply_chat_template(_text_only(p), tokenize=False, add_generation_prompt=True,
                                                           **self.chat_template_kwargs) for p in prompts]
        return encode_rows(self.processing_class, texts, clips, device=self.accelerator.device)

    def _tokenize_prompts(self, prompts: list):
        if not any(_video_path(p) for p in prompts):
            self._visual_rows = None
            return super()._tokenize_prompts(prompts)
        prompt_ids, rows = self._encode(prompts, self._load_clips(prompts))
        self._visual_rows = rows
        return prompt_ids, None, self._generation_fields(rows, prompt_ids)

    def _generation_fields(self, rows: Sequence[VisualRow | None], prompt_ids: list[list[int]]) -> dict:
        """Video fields for TRL's generate call (it left-pads list-of-list fields itself)."""
        video = video_tensors(rows)
        if video:
            video["mm_token_type_ids"] = [mm_token_types(torch.tensor(ids), self._video_token_id).tolist()
                                          for ids in prompt_ids]
        return video

    # --- video in every log-prob pass -------------------------------------------------------

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                           **kwargs):
        rows = self._visual_rows
        if rows is None or all(r is None for r in rows):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **kwargs)
        if len(rows) != input_ids.size(0):
            raise RuntimeError(f"{len(rows)} video rows for a batch of {input_ids.size(0)}")
        kwargs.pop("mm_token_type_ids", None)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids = input_ids[start:end]
            video = shared_video_inputs(self.accelerator.unwrap_model(model), rows[start:end])
            lp, ent, ax = super()._get_per_token_logps_and_entropies(
                functools.partial(model, **video), ids, attention_mask[start:end], logits_to_keep,
                batch_size=end - start, compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss,
                mm_token_type_ids=mm_token_types(ids, self._video_token_id) if video else None, **kwargs)
            logps.append(lp)
            entropies.append(ent)
            aux.append(ax)
        return (torch.cat(logps), torch.cat(entropies) if compute_entropy else None,
                torch.stack(aux).mean() if compute_aux_loss else None)

    @torch.no_grad()
    def policy_logps(self, batch: dict) -> torch.Tensor:
        """Per-token log-probs of a generated batch's completions under the current policy, as the
        loss pass computes them: with each row's video when the batch carries ``visual_rows``, and
        video-blind, as stock TRL computes them, when it does not (notebook 03 shows both)."""
        ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        self._visual_rows = batch.get("visual_rows")
        try:
            return self._get_per_token_logps_and_entropies(self.model, ids, mask, batch["completion_ids"].size(1))[0]
        finally:
            self._visual_rows = None

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self._visual_rows is not None:
            output["visual_rows"] = self._visual_rows
        if self._pending_log is not None and self.rollout_log is not None and self.model.training:
            self._write_log(output["advantages"])
        self._visual_rows, self._pending_log = None, None
        return output

    def _compute_loss(self, model, inputs):
        self._visual_rows = inputs.get("visual_rows")
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._visual_rows = None

    # --- rewards: map gate, T-GRPO, length --------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        mode = "train" if self.model.training else "eval"
        G = self.num_generations if mode == "train" else self.num_generations_eval
        terms = [score_completion(completion_text(c), x["solution"], x["problem_type"], x.get("cognitive_map"),
                                  x.get("map_categories") or None, self.args.reward_rules)
                 for c, x in zip(completions, inputs, strict=True)]
        offset = self.accelerator.process_index * len(prompts)
        # T-GRPO shapes training rewards only; evaluation scores the ordered completions as they are.
        shuffled = self._shuffled_rollouts(inputs, prompts, offset, G) if self.args.temporal and mode == "train" else {}
        lengths = [len(ids) for ids in completion_ids_list]

        # Group rules need whole groups, which may span processes: gather, apply, take our slice.
        all_acc = [a for part in gather_object([[t.accuracy for t in terms]]) for a in part]
        all_len = [n for part in gather_object([lengths]) for n in part]
        # Only the shuffled accuracies travel; the texts stay local until the rollout log is gathered.
        all_shuffled: dict[int, list[float]] = {}
        for part in gather_object([{g: [s["accuracy"] for s in rows] for g, rows in shuffled.items()}]):
            all_shuffled.update(part)
        temporal, length = [0.0] * len(all_acc), [0.0] * len(all_acc)
        for g0 in range(0, len(all_acc), G):
            acc = all_acc[g0:g0 + G]
            if g0 // G in all_shuffled:
                temporal[g0:g0 + G] = temporal_bonus(acc, all_shuffled[g0 // G],
                                                     self.args.temporal_alpha, self.args.temporal_ratio,
                                                     self.args.min_acc, self.args.reward_rules)
            if self.args.length_rule:
                length[g0:g0 + G] = length_bonus(acc, all_len[g0:g0 + G], self.args.length_low,
                                                 self.args.length_high, self.args.length_bonus, self.args.min_acc)
        local = slice(offset, offset + len(prompts))
        inputs = [{**x, "temporal_bonus": t, "length_bonus": n}
                  for x, t, n in zip(inputs, temporal[local], length[local], strict=True)]
        self._log_group_metrics(terms, all_acc, temporal, all_shuffled, G)
        self._pending_log = self._log_rows(inputs, completions, terms, lengths, shuffled, offset, G)
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

    def _shuffled_rollouts(self, inputs, prompts, offset: int, G: int) -> dict[int, list[dict]]:
        """T-GRPO: G/2 rollouts on each local group's clip with its frames permuted; scored by accuracy
        only. Returns {global group index: [{"completion", "accuracy", "order"}]}. Groups are owned by
        the process holding their first row."""
        n_shuf = max(G // 2, 1)
        starts = [i for i in range(len(prompts)) if (offset + i) % G == 0 and _video_path(prompts[i])]
        # Under ZeRO-3/FSDP every rank must join every generate call: a rank that owns no group
        # (its rows all belong to groups started on another rank) generates one throwaway rollout.
        throwaway = not starts
        if throwaway:
            starts, n_shuf = [next(i for i, p in enumerate(prompts) if _video_path(p))], 1
        clips = self._load_clips([prompts[i] for i in starts])
        rows_prompts, rows_clips, orders = [], [], []
        for i, clip in zip(starts, clips, strict=True):
            # Seeded by (seed, step, row): reproducible, and the same after a resume.
            gen = torch.Generator().manual_seed(self.args.seed + 1_000_003 * self.state.global_step + offset + i)
            order = list(range(clip.num_frames))
            while order == sorted(order):  # a "shuffle" that keeps the order would test nothing
                order = torch.randperm(clip.num_frames, generator=gen).tolist()
            permuted = clip.permuted(order)
            rows_prompts += [prompts[i]] * n_shuf
            rows_clips += [permuted] * n_shuf
            orders.append(order)
        prompt_ids, rows = self._encode(rows_prompts, rows_clips)
        completion_ids, _ = self._generate_single_turn(prompt_ids, None, self._generation_fields(rows, prompt_ids),
                                                       n_shuf)
        if throwaway:
            return {}
        texts = self.processing_class.batch_decode(completion_ids, skip_special_tokens=True)
        out: dict[int, list[dict]] = {}
        for k, (i, order) in enumerate(zip(starts, orders, strict=True)):
            x = inputs[i]
            group = []
            for text in texts[k * n_shuf:(k + 1) * n_shuf]:
                t = score_completion(text, x["solution"], x["problem_type"], x.get("cognitive_map"),
                                     x.get("map_categories") or None, self.args.reward_rules)
                group.append({"completion": text, "accuracy": t.accuracy, "order": order, "terms": t.as_dict()})
            out[(offset + i) // G] = group
        return out

    def _log_group_metrics(self, terms: list[RewardTerms], all_acc, temporal, all_shuffled, G):
        """Through TRL's channel for reward-function metrics (`_log_metric`: averaged over each
        logging step and over processes, beside `kl` and the rewards)."""
        groups = [all_acc[g:g + G] for g in range(0, len(all_acc), G)]
        log = self._log_metric
        log("sg_rlvr/all_wrong_group_rate", sum(max(g) <= 0 for g in groups) / len(groups))
        log("sg_rlvr/all_correct_group_rate", sum(min(g) >= 1 for g in groups) / len(groups))
        if all_shuffled:
            log("sg_rlvr/temporal_bonus_rate", sum(t > 0 for t in temporal) / len(temporal))
            shuffled_acc = [a for accs in all_shuffled.values() for a in accs]
            log("sg_rlvr/shuffled_accuracy", sum(shuffled_acc) / len(shuffled_acc))
        scores = [t.map_score for t in terms if t.map_score is not None]
        if scores:
            log("sg_rlvr/map_score", sum(scores) / len(scores))
        log("sg_rlvr/map_rate", sum(t.has_map for t in terms) / len(terms))

    # --- rollout log ------------------------------------------------------------------------

    def _log_rows(self, inputs, completions, terms, lengths, shuffled, offset, G) -> list[dict]:
        rows = []
        for i, (x, c, t, n) in enumerate(zip(inputs, completions, terms, lengths, strict=True)):
            rows.append({
                "problem_id": x.get("problem_id"), "question_type": x.get("question_type"),
                "group": (offset + i) // G, "shuffled": False, "completion": completion_text(c),
                "length": n, **t.as_dict(), "temporal_bonus": x["temporal_bonus"],
                "length_bonus": x["length_bonus"],
            })
        for group, items in shuffled.items():
            x = inputs[group * G - offset]
            for s in items:
                rows.append({"problem_id": x.get("problem_id"), "question_type": x.get("question_type"),
                             "group": group, "shuffled": True, "completion": s["completion"],
                             "frame_order": s["order"], **s["terms"]})
        return rows

    def _write_log(self, advantages: torch.Tensor) -> None:
        rows = self._pending_log
        adv = advantages.tolist()
        k = 0
        for row in rows:
            if not row["shuffled"]:
                row["advantage"] = adv[k]
                row["reward"] = row["total"] + row["temporal_bonus"] + row["length_bonus"]
                k += 1
        rows = [r for part in gather_object([rows]) for r in part]
        if self.accelerator.is_main_process:
            self.rollout_log.write_step(self.state.global_step, rows)
