"""The GPU benchmark's CPU dry run: toy shapes, the same code paths as on a GPU, well-formed figures."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"^([a-z0-9_]+): (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?) (\S+)(?: \((.+)\))?$")
SKIPPED = re.compile(r"^([a-z0-9_]+): skipped \((.+)\)$")
SUMMARY = re.compile(r"^summary:((?: [a-z_]+=\S+)+)$")
ENGINES = ["trl", "dynamic", "static", "compact"]
PARTS = ["generation", "ref_logprobs", "policy_forward", "policy_backward", "optimizer"]
EXPECTED = [
    "matmul_peak", "rollout_hf", "eval_batch1", "eval_batch8", "eval_batch8_speedup", "update_forward_flops",
    *(f"{kind}_{e}" for e in ENGINES for kind in ("rollout", "policy_logprob")),
    *(f"{kind}_{e}" for e in ENGINES[1:] for kind in ("rollout", "logprob_delta")),
    *(f"rollout_{e}_over_trl" for e in ENGINES[1:]),
    *(f"update_{kind}_{e}" for e in ENGINES for kind in [*PARTS, "other", "step", "mfu_train", "mfu_step"]),
    "static_first_batch", "static_later_batch",
]


pytestmark = pytest.mark.slow  # every test reads one dry run of the benchmark (a subprocess)

@pytest.fixture(scope="module")
def summary_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench") / "summary.json"


@pytest.fixture(scope="module")
def dry_run(summary_file) -> list[str]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--size", "toy", "--device", "cpu",
           "--steps", "1", "--json", str(summary_file)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()


def parse(lines: list[str]) -> tuple[dict[str, tuple[float, str, str]], dict[str, str], dict[str, str]]:
    figures, skipped = {}, {}
    for line in lines[:-1]:
        if line.startswith("# "):
            continue
        if m := FIGURE.match(line):
            figures[m[1]] = (float(m[2]), m[3], m[4] or "")
        elif m := SKIPPED.match(line):
            skipped[m[1]] = m[2]
        else:
            pytest.fail(f"malformed output line: {line!r}")
    summary = SUMMARY.match(lines[-1])
    assert summary, f"last line is not the summary: {lines[-1]!r}"
    return figures, skipped, dict(kv.split("=", 1) for kv in summary[1].split())


def test_dry_run_prints_every_figure_positive_and_a_summary(dry_run):
    figures, skipped, summary = parse(dry_run)
    assert set(EXPECTED) <= set(figures), set(EXPECTED) - set(figures)
    assert not set(figures) & set(skipped)
    for name in EXPECTED:
        if name.startswith("policy_logprob"):
            assert figures[name][0] < 0, (name, figures[name])
        else:
            assert figures[name][0] > 0, (name, figures[name])
    assert figures["rollout_hf"][1] == "tokens/s" and figures["update_mfu_train_trl"][1] == "%"
    # The summary repeats the figures it names, as printed.
    assert float(summary["hf_tokens_per_s"]) == figures["rollout_hf"][0]
    assert float(summary["step_s"]) == figures["update_step_trl"][0]
    assert summary["fastest_engine"] in ENGINES
    assert summary["size"] == "toy" and summary["device"] == "cpu"


def test_vllm_is_measured_or_skipped_with_a_reason(dry_run):
    figures, skipped, summary = parse(dry_run)
    if importlib.util.find_spec("vllm") is None:
        assert "not installed" in skipped["rollout_vllm"]
        assert summary["vllm_tokens_per_s"] == "skipped" and summary["vllm_over_hf"] == "skipped"
    else:  # vLLM present but no CUDA device in this dry run
        assert "rollout_vllm" in skipped


def test_work_is_fixed_so_rates_compare(dry_run):
    """Every rollout and eval answer runs to its full token budget (random weights could stop at EOS),
    and one update generates G trained + G/2 shuffled-frame rollouts (T-GRPO)."""
    figures, _, _ = parse(dry_run)
    assert re.search(r"G=8 x 16 new tokens", figures["rollout_hf"][2])
    for name in ("eval_batch1", "eval_batch8"):
        assert "64 new tokens" in figures[name][2]  # 8 items x 8 tokens
    for engine in ENGINES:  # 4 prompts x 12 rows x 16 tokens, whatever the engine
        assert "4 prompts x (8 + 4 shuffled) rows, 768 new tokens" in figures[f"rollout_{engine}"][2]
        assert "12 rollouts (8 trained + 4 shuffled-frame), 192 new tokens" in figures[f"update_step_{engine}"][2]


def test_update_phases_are_disjoint_parts_of_the_step(dry_run):
    figures, _, _ = parse(dry_run)
    for engine in ENGINES:
        parts = [f"update_{p}_{engine}" for p in PARTS]
        step = figures[f"update_step_{engine}"][0]
        # update_other is the step minus the timed parts: it stays positive only if no phase is counted twice.
        assert 0 < figures[f"update_other_{engine}"][0] < step
        assert sum(figures[p][0] for p in parts) < step


def test_engines_sample_what_the_policy_samples(dry_run, summary_file):
    """Every engine's samples score under the policy like those of TRL's path (float32 on CPU: the
    differences are sampling error), and summary.json holds every engine's figures."""
    figures, _, _ = parse(dry_run)
    engines = json.loads(summary_file.read_text())["engines"]
    assert set(engines) == set(ENGINES) and engines["trl"]["rollout_over_trl"] == 1.0
    error = engines["trl"]["policy_logprob_stderr"]
    for engine in ENGINES[1:]:
        assert engines[engine]["logprob_abs_delta"] < 6 * error, (engine, engines[engine], error)
        assert {"rollout_tokens_per_s", "update_seconds", "update_mfu"} <= set(engines[engine])
        assert engines[engine]["rollout_tokens_per_s"] == pytest.approx(figures[f"rollout_{engine}"][0], rel=1e-3)


def test_static_engine_compiles_only_on_cuda(dry_run):
    figures, _, _ = parse(dry_run)
    assert figures["static_graphs_compiled"][0] == 0 and "none on CPU" in figures["static_graphs_compiled"][2]
    assert "over 3 batches" in figures["static_graphs_compiled"][2]


def test_sdpa_comparison_is_skipped_off_cuda(dry_run):
    _, skipped, summary = parse(dry_run)
    assert "CUDA" in skipped["decode_step_cudnn_over_flash"]
    assert summary["cudnn_over_flash"] == "skipped"
