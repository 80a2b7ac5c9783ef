"""Ask a video a question: one answer, a streamed answer, or a batch, with SpaceR's evaluation defaults.

`SpatialReasoner` wraps a loaded Qwen2/2.5-VL ``(model, processor)``. Every call goes the same way:
video → `VideoSettings.load` (frames) → `spacer_core.prompts.build_prompt` → `spacer_core.inputs`
(chat text, tensors; left padding for batches) → ``model.generate`` → `spacer_core.parsing`
(think / map / answer). Left padding is safe for Qwen2.5-VL: transformers computes the M-RoPE
position ids from the attention mask, so a padded row gets the same positions as alone.

Decoding: ``temperature=0`` is greedy; a positive temperature samples (SpaceR evaluated with 0.01,
which is greedy except for near-ties, while keeping the model's own top-k/top-p settings).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spacer_core.cogmap import CogMap, parse_map
from spacer_core.inputs import chat_text, encode
from spacer_core.parsing import MAP, answer_text, extract_think, normalize_option, parse_number
from spacer_core.prompts import GENERIC_INDOOR_CATEGORIES, MODES, build_prompt
from spacer_core.video import Clip, VideoSettings

DEFAULT_TEMPERATURE = 0.01
# New-token budgets per prompt mode: SpaceR's thinking runs allow 1024; VSI-Bench's direct answer 16.
DEFAULT_MAX_NEW_TOKENS = {"thinking_map": 1024, "thinking": 1024, "direct": 16}


@dataclass
class Query:
    """One question about one video (``video``: a file path or an already sampled `Clip`; None asks
    the question with no video at all: no vision tokens reach the model)."""

    video: str | Path | Clip | None
    question: str
    options: Sequence[str] | None = None
    mode: str = "thinking_map"
    categories: Sequence[str] | None = None
    problem_type: str | None = None  # None: "multiple choice" when options are given, else "numerical"
    # Text the completion is made to start with: the model continues after it, and the result's
    # ``raw`` includes it (e.g. ``<think><map>{true map}</map>``: `spacer eval --given-map`).
    reasoning_start: str = ""

    @property
    def kind(self) -> str:
        return self.problem_type or ("multiple choice" if self.options else "numerical")


@dataclass
class Result:
    """A parsed completion. ``map`` is None when the completion has no ``<map>``; ``answer`` is the
    ``<answer>`` text (the whole completion in direct mode), normalised to an option letter or a
    number where the problem type asks for one; ``raw`` is the completion as generated."""

    raw: str
    think: str | None
    map: CogMap | None
    answer: str
    prompt: str
    mode: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    frames: int
    frame_size: tuple[int, int]
    timestamps: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["map"] = None if self.map is None else {k: [list(p) for p in v] for k, v in self.map.items()}
        return out


def normalize_answer(text: str, problem_type: str) -> str:
    """The option letter (multiple choice) or the number (numerical, regression) an answer names;
    the text itself when there is none, or for other problem types."""
    if problem_type == "multiple choice":
        return normalize_option(text) or text
    if problem_type in ("numerical", "regression"):
        value = parse_number(text)
        if value is not None:
            return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return text


def map_categories(query: Query) -> Sequence[str] | None:
    """The categories the prompt asked to map (thinking_map), used to read the map back; None
    (keep every key) for the other modes."""
    if query.mode != "thinking_map":
        return None
    return query.categories or GENERIC_INDOOR_CATEGORIES


def parse_completion(raw: str, problem_type: str, categories: Sequence[str] | None = None):
    """(think, map, answer) of a completion; see `Result`."""
    cogmap = parse_map(raw, categories) if MAP[0] in raw else None
    return extract_think(raw), cogmap, normalize_answer(answer_text(raw), problem_type)


class SpatialReasoner:
    """Answer questions about videos with a Qwen2/2.5-VL model.

    ``video``: frame settings (default: `VideoSettings.for_model` of the model's checkpoint).
    ``gen_defaults``: keyword arguments for ``generate`` used by every call unless overridden, e.g.
    ``temperature`` (default 0.01; 0 = greedy) or ``max_new_tokens`` (default per mode,
    `DEFAULT_MAX_NEW_TOKENS`).
    """

    def __init__(self, model, processor, video: VideoSettings | None = None, **gen_defaults):
        self.model = model
        self.processor = processor
        self.video = video if video is not None else VideoSettings.for_model(getattr(model, "name_or_path", None))
        self.gen_defaults = {"temperature": DEFAULT_TEMPERATURE, **gen_defaults}

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "tiny", device: str = "auto", dtype: str = "auto",
                        attn: str = "auto", **gen_defaults) -> SpatialReasoner:
        """Load a checkpoint (`spacer_core.models.load_model`) with its video settings."""
        from spacer_core.models import load_model

        model, processor = load_model(name_or_path, device=device, dtype=dtype, attn=attn)
        return cls(model, processor, VideoSettings.for_model(name_or_path), **gen_defaults)

    # --- building blocks ------------------------------------------------------------------------

    def clip(self, video: str | Path | Clip | None) -> Clip | None:
        return video if video is None or isinstance(video, Clip) else self.video.load(video)

    def prompt(self, query: Query) -> str:
        if query.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {query.mode!r}")
        return build_prompt(query.question, query.options, query.kind, query.mode, query.categories)

    def generation_kwargs(self, modes: Sequence[str], **overrides) -> dict[str, Any]:
        opts = {**self.gen_defaults, **overrides}
        opts.setdefault("max_new_tokens", max(DEFAULT_MAX_NEW_TOKENS[m] for m in modes))
        temperature = float(opts.pop("temperature"))
        if temperature > 0:
            opts.update(do_sample=True, temperature=temperature)
        else:
            opts["do_sample"] = False
        tokenizer = self.processor.tokenizer
        if self.model.generation_config.pad_token_id is None and "pad_token_id" not in opts:
            opts["pad_token_id"] = tokenizer.pad_token_id
        return opts

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list | tuple) else [eos] if eos is not None else [])
        return ids or {self.processor.tokenizer.eos_token_id}

    def _inputs(self, queries: Sequence[Query]):
        prompts = [self.prompt(q) for q in queries]
        clips = [self.clip(q.video) for q in queries]
        texts = [chat_text(self.processor, p, video=c is not None) + q.reasoning_start
                 for p, q, c in zip(prompts, queries, clips, strict=True)]
        batch = encode(self.processor, texts, clips)
        return clips, prompts, batch.to(self.model.device)

    def _results(self, queries, clips, prompts, batch, sequences, seconds: float) -> list[Result]:
        eos = self._eos_ids()
        width = batch["input_ids"].shape[1]
        out = []
        for i, (query, clip, prompt) in enumerate(zip(queries, clips, prompts, strict=True)):
            new = sequences[i, width:].tolist()
            n = next((j + 1 for j, t in enumerate(new) if t in eos), len(new))  # up to the first EOS
            raw = query.reasoning_start + self.processor.tokenizer.decode(new[:n], skip_special_tokens=True)
            think, cogmap, answer = parse_completion(raw, query.kind, map_categories(query))
            out.append(Result(raw=raw, think=think, map=cogmap, answer=answer, prompt=prompt, mode=query.mode,
                              prompt_tokens=int(batch["attention_mask"][i].sum()), completion_tokens=n,
                              seconds=seconds, frames=clip.num_frames if clip else 0,
                              frame_size=clip.size if clip else (0, 0),
                              timestamps=[float(t) for t in clip.timestamps] if clip else []))
        return out

    # --- public API -----------------------------------------------------------------------------

    def answer(self, video: str | Path | Clip, question: str, options: Sequence[str] | None = None,
               mode: str = "thinking_map", categories: Sequence[str] | None = None,
               problem_type: str | None = None, **gen) -> Result:
        """Answer one question (``gen`` overrides the generation defaults for this call)."""
        return self.answer_batch([Query(video, question, options, mode, categories, problem_type)], **gen)[0]

    def answer_batch(self, items: Sequence[Query | dict], **gen) -> list[Result]:
        """Answer several questions in one left-padded ``generate`` call. Each result's ``seconds``
        is the batch's wall time divided by its size."""
        import torch

        queries = [q if isinstance(q, Query) else Query(**q) for q in items]
        if not queries:
            return []
        start = time.perf_counter()
        clips, prompts, batch = self._inputs(queries)
        with torch.inference_mode():
            sequences = self.model.generate(**batch, **self.generation_kwargs([q.mode for q in queries], **gen))
        seconds = (time.perf_counter() - start) / len(queries)
        return self._results(queries, clips, prompts, batch, sequences, seconds)

    def stream(self, video: str | Path | Clip, question: str, options: Sequence[str] | None = None,
               mode: str = "thinking_map", categories: Sequence[str] | None = None,
               problem_type: str | None = None, **gen) -> Iterator[str | Result]:
        """Yield the completion text as it grows (str), then the final `Result`.

        Generation runs in a thread feeding transformers' ``TextIteratorStreamer``; an error in
        generation is raised here after the text produced so far.
        """
        import torch
        from transformers import TextIteratorStreamer

        query = Query(video, question, options, mode, categories, problem_type)
        start = time.perf_counter()
        clips, prompts, batch = self._inputs([query])
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        done: dict[str, Any] = {}

        def work() -> None:
            try:
                with torch.inference_mode():
                    done["sequences"] = self.model.generate(**batch, streamer=streamer,
                                                            **self.generation_kwargs([mode], **gen))
            except BaseException as err:  # handed to the consumer below
                done["error"] = err
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        text = ""
        for chunk in streamer:
            if chunk:
                text += chunk
                yield text
        thread.join()
        if "error" in done:
            raise done["error"]
        yield self._results([query], clips, prompts, batch, done["sequences"], time.perf_counter() - start)[0]
