"""SpatialReasoner on the tiny model: answers, streams and batches, frame settings, `spacer infer`."""

from __future__ import annotations

import json

import pytest

from spacer_core.cli import main
from spacer_core.infer import Query, SpatialReasoner, VideoSettings, parse_completion
from spacer_core.inputs import chat_text, encode
from spacer_core.models import TINY_MODEL_DIR
from spacer_core.parsing import extract_think
from spacer_core.prompts import GENERIC_INDOOR_CATEGORIES, build_prompt
from spacer_core.video import VideoError
from tests.conftest import write_mp4

OPTIONS = ["A. the chair", "B. the table", "C. the door"]


@pytest.fixture(scope="module")
def reasoner(tiny):
    return SpatialReasoner(*tiny, temperature=0)


@pytest.fixture(scope="module")
def scrambled(scrambled_tiny_dir):
    return SpatialReasoner.from_pretrained(scrambled_tiny_dir, temperature=0)


@pytest.fixture(scope="module")
def long_mp4(tmp_path_factory):
    """45 s at 2 fps, small frames."""
    return write_mp4(tmp_path_factory.mktemp("long") / "long.mp4", num_frames=90, size=(96, 128), fps=2)


def test_default_video_settings_follow_spacer_evaluation(mp4_file, long_mp4):
    settings = VideoSettings()
    assert (settings.fps, settings.max_frames, settings.max_pixels) == (1.0, 32, 448 * 448)
    long = settings.load(long_mp4)
    assert long.num_frames == 32  # 1 fps over 45 s, capped at 32
    assert long.timestamps[-1] - long.timestamps[0] > 40  # spread over the whole video
    short = settings.load(mp4_file)
    assert short.num_frames == 4  # 1 fps over 4 s: capped by the duration
    for clip in (long, short):
        h, w = clip.size
        assert h % 28 == 0 and w % 28 == 0 and h * w <= 448 * 448


def test_checkpoint_folder_overrides_video_settings(tmp_path):
    tiny = VideoSettings.for_model("tiny")
    expected = json.loads((TINY_MODEL_DIR / "spacer_video.json").read_text())
    assert {k: getattr(tiny, k) for k in expected} == expected
    assert tiny.fps == VideoSettings().fps  # keys not in the file keep the defaults
    assert VideoSettings.for_model(tmp_path) == VideoSettings()  # no file: defaults
    assert VideoSettings.for_model("Qwen/Qwen2.5-VL-7B-Instruct") == VideoSettings()  # hub id
    (tmp_path / "spacer_video.json").write_text('{"nframes": 4, "frames": 8}')
    with pytest.raises(ValueError, match=r"spacer_video.json.*'frames'"):
        VideoSettings.for_model(tmp_path)
    (tmp_path / "spacer_video.json").write_text("{nframes: 4")
    with pytest.raises(ValueError, match="spacer_video.json: not valid JSON"):
        VideoSettings.for_model(tmp_path)


def test_reasoner_takes_the_video_settings_of_its_checkpoint(tiny):
    assert SpatialReasoner(*tiny).video == VideoSettings.for_model(TINY_MODEL_DIR)


def test_answer_is_the_decoded_greedy_generation(reasoner, mp4_file):
    result = reasoner.answer(mp4_file, "Which object is closest to the door?", OPTIONS, max_new_tokens=10)
    model, processor = reasoner.model, reasoner.processor
    # The same call by hand: frames, prompt, tensors, greedy generate.
    clip = reasoner.video.load(mp4_file)
    prompt = build_prompt("Which object is closest to the door?", OPTIONS, "multiple choice", "thinking_map")
    batch = encode(processor, [chat_text(processor, prompt)], [clip])
    out = model.generate(**batch, max_new_tokens=10, do_sample=False)[0, batch["input_ids"].shape[1]:]
    assert result.prompt == prompt
    assert result.prompt_tokens == batch["input_ids"].shape[1]
    assert 1 <= result.completion_tokens <= 10
    assert result.raw == processor.decode(out[: result.completion_tokens], skip_special_tokens=True)
    assert (result.frames, result.frame_size) == (clip.num_frames, clip.size) == (reasoner.video.nframes, clip.size)
    assert reasoner.video.nframes == 16  # the shipped model's own (its spacer_video.json)
    assert result.timestamps == pytest.approx(clip.timestamps.tolist())
    # thinking_map without categories asks for (and reads back) the generic indoor list
    assert (result.think, result.map, result.answer) == parse_completion(result.raw, "multiple choice",
                                                                        GENERIC_INDOOR_CATEGORIES)
    assert result.seconds > 0
    as_json = json.loads(json.dumps(result.to_dict()))  # serialisable as is
    assert (as_json["raw"], as_json["answer"], as_json["frames"]) == (result.raw, result.answer, result.frames)


def test_parse_completion_reads_think_map_and_answer():
    raw = ('<think>Let me map it. <map>{"chair": [[1, 2]], "Tables": [[3, 4]], "cat": [[5, 5]]}</map> '
           "The chair is left.</think><answer>(B) the table</answer>")
    think, cogmap, answer = parse_completion(raw, "multiple choice", ["chair", "table"])
    assert think == extract_think(raw)
    assert cogmap == {"chair": [(1.0, 2.0)], "table": [(3.0, 4.0)]}  # categories filter and normalise keys
    assert answer == "B"
    assert parse_completion("<answer>about 3.50 m</answer>", "numerical") == (None, None, "3.5")
    assert parse_completion("<answer>twelve</answer>", "numerical")[2] == "12"
    assert parse_completion("42 chairs", "numerical")[2] == "42"  # direct mode: the whole text
    assert parse_completion("<answer>none</answer>", "numerical")[2] == "none"
    assert parse_completion("no map here", "numerical")[1] is None


def test_batch_gives_the_same_greedy_answers_as_one_by_one(scrambled, mp4_file, long_mp4):
    queries = [
        Query(mp4_file, "Which object is closest to the door?", OPTIONS, mode="thinking_map", categories=["chair"]),
        Query(long_mp4, "How many chairs are in the room?", mode="direct"),
        Query(mp4_file, "How long is the sofa, in centimetres?", mode="thinking"),
    ]
    batch = scrambled.answer_batch(queries, max_new_tokens=20)
    alone = [scrambled.answer_batch([q], max_new_tokens=20)[0] for q in queries]
    assert len({r.prompt_tokens for r in batch}) == 3  # different lengths: the batch is padded
    assert len({r.raw for r in alone}) == 3  # the answers differ, so equality below means something
    for b, a in zip(batch, alone, strict=True):
        assert (b.raw, b.completion_tokens, b.prompt_tokens) == (a.raw, a.completion_tokens, a.prompt_tokens)
        assert (b.think, b.map, b.answer) == (a.think, a.map, a.answer)


def test_stream_yields_growing_text_then_the_result(scrambled, mp4_file):
    steps = list(scrambled.stream(mp4_file, "How many chairs are there?", max_new_tokens=16))
    *texts, result = steps
    assert texts and all(isinstance(t, str) for t in texts)
    assert all(a == b[: len(a)] and len(a) < len(b) for a, b in zip(texts, texts[1:], strict=False))
    assert texts[-1] == result.raw
    assert result.raw == scrambled.answer(mp4_file, "How many chairs are there?", max_new_tokens=16).raw


def test_stream_raises_a_generation_error(reasoner, mp4_file):
    with pytest.raises(ValueError, match="max_new_tokens"):
        list(reasoner.stream(mp4_file, "How many chairs?", max_new_tokens=-1))


def test_decoding_settings(reasoner, tiny):
    assert reasoner.generation_kwargs(["thinking"])["do_sample"] is False
    assert reasoner.generation_kwargs(["thinking"])["max_new_tokens"] == 1024
    assert reasoner.generation_kwargs(["direct"])["max_new_tokens"] == 16
    sampled = SpatialReasoner(*tiny).generation_kwargs(["direct"], max_new_tokens=5)
    assert (sampled["do_sample"], sampled["temperature"], sampled["max_new_tokens"]) == (True, 0.01, 5)


def test_unreadable_video_names_the_file(reasoner, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match="broken.mp4"):
        reasoner.answer(bad, "How many chairs?")
    with pytest.raises(ValueError, match="mode"):
        reasoner.answer(bad, "How many chairs?", mode="fast")


def test_infer_command_json(mp4_file, capsys):
    code = main(["infer", "--video", str(mp4_file), "--question", "Which is closest?", "--options", "chair",
                 "table", "--json", "--max-new-tokens", "6", "--temperature", "0"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"think", "map", "answer", "raw", "prompt_tokens", "completion_tokens"} <= out.keys()
    assert "Options:\nA. chair\nB. table" in out["prompt"]
    assert 1 <= out["completion_tokens"] <= 6


def test_infer_command_streams_then_answers(mp4_file, capsys, tmp_path):
    code = main(["infer", "--video", str(mp4_file), "--question", "How many chairs?", "--mode", "direct",
                 "--max-new-tokens", "4", "--temperature", "0"])
    captured = capsys.readouterr()
    assert code == 0
    assert "\nAnswer: " in captured.out
    assert "tokens in" in captured.err
    assert main(["infer", "--video", str(tmp_path / "missing.mp4"), "--question", "Q?"]) == 1
    assert "missing.mp4" in capsys.readouterr().err
