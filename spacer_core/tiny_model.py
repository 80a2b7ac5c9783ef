"""The embedded tiny model: the real Qwen2.5-VL architecture at toy size, built by the project.

`build_tiny_model(out_dir)` writes a complete checkpoint folder (config, weights, tokenizer,
image/video processors, chat template) that `AutoProcessor.from_pretrained` and
`Qwen2_5_VLForConditionalGeneration.from_pretrained` load like any Qwen2.5-VL checkpoint.
Everything is deterministic given the seed: the byte-level BPE tokenizer is trained on a corpus
generated here from the project's own vocabulary (prompts, tags, maps, spatial questions).
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

# Qwen2.5-VL's special tokens, in Qwen's order (ids 0..13 here instead of 151643..).
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]

REASONING_TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<map>", "</map>"]

# A chat template that renders messages the way Qwen2.5-VL's does: a default system turn, each
# image/video content item as <|vision_start|><|image_pad|/|video_pad|><|vision_end|>, text as is.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The tiny model's video defaults (read by spacer_core.video.VideoSettings.for_model): 8 frames of
# at most 112×112 pixels, so that a CPU step stays around a second.
VIDEO_DEFAULTS = {"nframes": 8, "min_pixels": 4 * 28 * 28, "max_pixels": 112 * 112}

# Toy sizes; the architecture (windowed ViT + patch merger + M-RoPE decoder) is the real one.
DEFAULT_SIZES = dict(
    vocab_size=2048,
    text_hidden=128,
    text_layers=2,
    text_heads=4,
    text_kv_heads=2,
    text_intermediate=256,
    vision_hidden=64,
    vision_depth=2,
    vision_heads=4,
    vision_intermediate=128,
    # Qwen's 1e6: with 32-wide heads most rotary frequencies barely turn over a few hundred tokens.
    rope_theta=1_000_000,
)

# The shipped model (assets/tiny-model, trained by recipes/spacer_tiny.py) is deeper than the
# default, which stays small for tests that train a fresh model: 4 decoder layers, so it can look
# a category up in its own map while writing the derivation, and 3 ViT blocks.
SHIPPED_SIZES = dict(text_layers=4, vision_depth=3)

_CATEGORIES = [
    "chair", "table", "sofa", "bed", "tv", "lamp", "plant", "cabinet", "refrigerator", "sink",
    "toilet", "door", "window", "desk", "shelf", "bookshelf", "stool", "monitor", "trash can",
    "bathtub", "pillow", "backpack", "towel", "clock", "oven", "microwave", "washer", "ceiling light",
]
_SENTENCES = [
    "These are frames of a video.",
    "How many {a}(s) are in this room?",
    "What is the length of the longest dimension (length, width, or height) of the {a}, measured in centimeters?",
    "What is the size of this room (in square meters)? If multiple rooms are shown, estimate the size of the combined space.",
    "Measuring from the closest point of each object, what is the distance between the {a} and the {b} (in meters)?",
    "Measuring from the closest point of each object, which of these objects ({a}, {b}, {c}) is the closest to the {d}?",
    "If I am standing by the {a} and facing the {b}, is the {c} to my left, right, or back?",
    "If I am standing by the {a} and facing the {b}, is the {c} to my front-left, front-right, back-left, or back-right?",
    "You are a robot beginning at the {a} facing the {b}. You want to navigate to the {c}.",
    "What will be the first-time appearance order of the following categories in the video: {a}, {b}, {c}, {d}?",
    "Go forward until the {a}. Turn left. Turn right. Turn back.",
    "Options:\nA. left\nB. right\nC. back\nD. front-left",
    "Answer with the option's letter from the given choices directly.",
    "Please answer the question using a single word or phrase.",
    "Please think about this question as if you were a human pondering deeply. "
    "Provide your detailed reasoning between the <think> </think> tags, and then give your final answer "
    "between the <answer> </answer> tags.",
    "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags.",
    "Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "Build a cognitive map of the scene: estimate the center of each {a}, {b} and {c} on a 10x10 grid "
    "and give it as <map>{{\"{a}\": [[0, 3], [5, 7]], \"{b}\": [[9, 3]]}}</map>.",
    "<think>The {a} is at (2, 3) and the {b} is at (7, 1). The distance is about 2.9 meters.</think>\n<answer>B</answer>",
    "<think><map>{{\"{a}\": [[1, 4]], \"{b}\": [[6, 2], [8, 8]], \"{c}\": [[3, 9]]}}</map> "
    "The {c} is to the left of the {b}, so the answer is A.</think>\n<answer>A</answer>",
    "I count 3 {a}s. The room is 4.5 meters by 6.2 meters, about 27.9 square meters.",
    "The {a} appears first, then the {b}, then the {c}, and the {d} last.",
]


def tokenizer_corpus(seed: int = 0, repeats: int = 40) -> list[str]:
    """Deterministic training text for the tiny tokenizer."""
    rng = random.Random(seed)
    lines = []
    for _ in range(repeats):
        for template in _SENTENCES:
            a, b, c, d = rng.sample(_CATEGORIES, 4)
            lines.append(template.format(a=a, b=b, c=c, d=d))
        numbers = [str(rng.randint(0, 999)) for _ in range(8)] + [f"{rng.uniform(0, 30):.1f}" for _ in range(8)]
        lines.append(" ".join(numbers))
    letters = " ".join(f"{x}. {y}" for x, y in itertools.product("ABCD", ["left", "right", "back", "front"]))
    lines.append(letters)
    return lines


def build_tokenizer(vocab_size: int = DEFAULT_SIZES["vocab_size"], seed: int = 0, whole_categories: bool = False):
    """A Qwen2 byte-level BPE tokenizer (Qwen's pre-tokenizer and special tokens) trained here.

    ``whole_categories`` adds each object category as a whole token, the same id wherever it stands."""
    from tokenizers import pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    tokenizer = Qwen2Tokenizer(
        vocab={tok: i for i, tok in enumerate(SPECIAL_TOKENS)},
        merges=[],
        errors="replace",
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                              "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"},
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.backend_tokenizer.train_from_iterator(tokenizer_corpus(seed), trainer=trainer)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    # The reasoning tags are whole tokens (plain text, not special: decoding keeps them). With BPE
    # pieces, "<answer" + ">" and "</" + "answer" + ">" share their last token, and the 2-layer model
    # confused the two: after SFT it ended half its answers right after "<answer>".
    tokenizer.add_tokens(REASONING_TAGS)
    # Byte-level BPE makes the question's " chair", the map's "chair" and the derivation's " chairs"
    # three unrelated ids, so a decoder must learn per category that they name one thing before it
    # can look a category up in a map. As added tokens they are one id everywhere (a leading space
    # becomes its own token). With them a 4-layer decoder learned map lookups in a text-only probe
    # (80% of cells right by step 6000); without them it had not (8%; docs/tiny-ablation.md).
    if whole_categories:
        tokenizer.add_tokens(_CATEGORIES)
    return tokenizer


def build_processor(tokenizer):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


def build_config(tokenizer, **sizes):
    from transformers import Qwen2_5_VLConfig

    s = {**DEFAULT_SIZES, **sizes}
    head_dim = s["text_hidden"] // s["text_heads"]
    # M-RoPE splits the head_dim/2 rotary frequencies over (time, height, width) as 2:3:3, like Qwen.
    half = head_dim // 2
    mrope_section = [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]
    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=s["text_hidden"],
            intermediate_size=s["text_intermediate"],
            num_hidden_layers=s["text_layers"],
            num_attention_heads=s["text_heads"],
            num_key_value_heads=s["text_kv_heads"],
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "rope_theta": float(s["rope_theta"]), "mrope_section": mrope_section},
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            pad_token_id=ids("<|endoftext|>"),
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            depth=s["vision_depth"],
            hidden_size=s["vision_hidden"],
            intermediate_size=s["vision_intermediate"],
            num_heads=s["vision_heads"],
            out_hidden_size=s["text_hidden"],
            fullatt_block_indexes=[s["vision_depth"] - 1],
            window_size=112,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            tokens_per_second=2,
        ),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def build_tiny_model(out_dir: str | Path, seed: int = 0, whole_categories: bool = False, **sizes) -> Path:
    """Build the untrained tiny Qwen2.5-VL into ``out_dir`` (deterministic for a seed);
    ``whole_categories``: see `build_tokenizer`."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(sizes.get("vocab_size", DEFAULT_SIZES["vocab_size"]), seed=seed,
                                whole_categories=whole_categories)
    processor = build_processor(tokenizer)
    config = build_config(tokenizer, **sizes)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "spacer_video.json").write_text(json.dumps(VIDEO_DEFAULTS, indent=2) + "\n")
    return out
