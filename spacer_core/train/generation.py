"""Rollouts for video prompts with transformers' own `generate` (the engine that runs where vLLM
cannot: docs/design.md, "Rollout engines").

Every engine runs the vision tower once per distinct clip: the G rows of a group (and T-GRPO's
shuffled rows of one permutation) share one `VisualRow`, whose features go to `generate` as
precomputed ``mm_encoder_outputs`` instead of G copies of the clip's patches.

- ``dynamic``: one `generate` call with transformers' dynamic KV cache. It stops when every row
  has ended (EOS), as plain `generate` does.
- ``static``: a static KV cache whose length is the prompt width rounded up to ``bucket`` tokens
  plus the completion budget, so the shapes recur from step to step. On CUDA, transformers compiles
  the decode step for a static cache by itself (torch.compile with CUDA graphs); on CPU it runs
  uncompiled, which is what the equivalence tests check.
- ``compact``: `dynamic` in chunks of ``chunk`` new tokens; after each chunk the rows that have
  ended leave the batch (their KV cache rows are dropped), so one long completion does not make
  the whole batch decode to its length.

With greedy decoding every engine writes the same tokens as plain `generate` on the same rows
(tests/test_generation.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from spacer_core.train.visual import VisualRow, mm_token_types, shared_video_inputs

ENGINES = ("dynamic", "static", "compact")


def left_pad(prompt_ids: Sequence[Sequence[int]], pad_id: int, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), left-padded to the longest prompt rounded up to ``multiple``."""
    width = max(len(p) for p in prompt_ids)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for i, p in enumerate(prompt_ids):
        if p:
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
    return ids, mask


def trim_at_eos(completions: torch.Tensor, eos_ids: Sequence[int]) -> list[list[int]]:
    """Each row's tokens up to and including its first EOS (all of them when it has none)."""
    eos = set(eos_ids)
    out = []
    for row in completions.tolist():
        end = next((i for i, t in enumerate(row) if t in eos), len(row) - 1)
        out.append(row[: end + 1])
    return out


def _inputs(model, prompt_ids, rows, pad_id: int, video_token_id: int, multiple: int, device) -> dict:
    ids, mask = left_pad(prompt_ids, pad_id, multiple)
    inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if any(r is not None for r in rows):
        inputs.update(shared_video_inputs(model, rows))
        inputs["mm_token_type_ids"] = mm_token_types(inputs["input_ids"], video_token_id)
    return inputs


@torch.no_grad()
def generate_completions(model, prompt_ids: Sequence[Sequence[int]], rows: Sequence[VisualRow | None],
                         generation_config, *, engine: str = "dynamic", pad_id: int, eos_ids: Sequence[int],
                         video_token_id: int, bucket: int = 64, chunk: int = 64) -> list[list[int]]:
    """Completion token ids (each up to and including its first EOS) for ``prompt_ids``, each with
    its row's video (or none). ``model``: an unwrapped Qwen2/2.5-VL model in eval mode;
    ``generation_config``: sampling and ``max_new_tokens``, as TRL builds it."""
    if engine not in ENGINES:
        raise ValueError(f"rollout engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    device = next(model.parameters()).device
    if hasattr(model.model, "rope_deltas"):  # set by the last prefill; this batch's prefill sets its own
        model.model.rope_deltas = None
    config = generation_config
    if engine == "static":
        # TRL's generation config turns compilation off; a static cache is only worth it compiled.
        config = _copy(config, cache_implementation="static", disable_compile=False)
    inputs = _inputs(model, prompt_ids, rows, pad_id, video_token_id, bucket if engine == "static" else 1, device)
    if engine != "compact":
        out = model.generate(**inputs, generation_config=config)
        return trim_at_eos(out[:, inputs["input_ids"].size(1):], eos_ids)
    return _compact(model, inputs, config, eos_ids, chunk)


def _copy(config, **changes):
    import copy

    config = copy.deepcopy(config)
    for key, value in changes.items():
        setattr(config, key, value)
    return config


# Generation settings that count from the start of each `generate` call, so that chunks would
# restart them (min_new_tokens is carried over by hand), or that end a row without an EOS token.
PER_CALL = ("forced_eos_token_id", "exponential_decay_length_penalty", "begin_suppress_tokens", "max_time",
            "stop_strings", "min_length")


def _compact(model, inputs: dict, config, eos_ids: Sequence[int], chunk: int) -> list[list[int]]:
    """`generate` ``chunk`` tokens at a time, dropping the rows that have ended between chunks.

    The KV cache is carried over, so each chunk decodes only its new tokens;
    Qwen2.5-VL's M-RoPE offsets (``rope_deltas``, set at the prefill) are cut to the rows kept.
    """
    unsupported = [k for k in PER_CALL if getattr(config, k, None) not in (None, 0, [], ())]
    if unsupported:
        raise ValueError(f"rollout engine compact: {', '.join(unsupported)} would restart at every chunk; "
                         "use rollout_engine dynamic with these settings")
    budget = config.max_new_tokens
    n = inputs["input_ids"].size(0)
    done: list[list[int] | None] = [None] * n
    alive = list(range(n))
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    cache, new = None, [[] for _ in range(n)]
    eos = set(eos_ids)
    while alive:
        made = len(new[alive[0]])  # every row still in the batch has made as many tokens
        step = min(chunk, budget - made)
        # min_new_tokens counts from each call's input: what is left of it, within this chunk
        least = min(step, max(0, (config.min_new_tokens or 0) - made))
        out = model.generate(input_ids=ids, attention_mask=mask, cache=cache, **extra,
                             generation_config=_copy(config, max_new_tokens=step, min_new_tokens=least,
                                                     return_dict_in_generate=True))
        cache, extra = out.cache, {}  # the video went in with the prefill
        fresh = out.sequences[:, ids.size(1):]
        keep = []
        for j, (i, tokens) in enumerate(zip(alive, trim_at_eos(fresh, eos_ids), strict=True)):
            new[i] += tokens
            if tokens[-1] not in eos and len(new[i]) < budget and len(tokens) == step:
                keep.append(j)
            else:
                done[i] = new[i]
        if not keep:
            break
        if len(keep) < len(alive):
            index = torch.tensor(keep, dtype=torch.long, device=ids.device)
            cache.batch_select_indices(index)
            rope = getattr(model.model, "rope_deltas", None)
            if rope is not None:
                if rope.size(0) != len(alive):
                    raise RuntimeError(f"M-RoPE offsets for {rope.size(0)} rows, {len(alive)} in the batch")
                model.model.rope_deltas = rope[index]
            alive = [alive[j] for j in keep]
            ids, fresh = out.sequences[index], fresh[index]
            mask = torch.cat([mask[index], torch.ones_like(fresh)], dim=1)
        else:
            ids = out.sequences
            mask = torch.cat([mask, torch.ones_like(fresh)], dim=1)
    return [d or [] for d in done]
