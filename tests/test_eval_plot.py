"""`spacer eval plot`: groups of finished runs (seeds) drawn as per-type bars, mean ± sd."""

from __future__ import annotations

import json

import pytest

from spacer_core.cli import main
from spacer_core.eval.plots import group_scores, parse_group


def summary(overall: float, counting: float, swapped: float | None = None) -> dict:
    """A sim summary as `spacer eval` writes one (scores, chance/prior, and a swap control's scores)."""
    out = {"benchmark": "sim", "n": 2, "overall": overall, "per_type": {"object_counting": counting, "room_size_estimation": 50.0},
           "chance": {"overall": 40.0, "per_type": {"object_counting": 55.5, "room_size_estimation": 68.6}}}
    if swapped is not None:
        out["controls"] = {"scores": {"normal": {"overall": overall, "per_type": out["per_type"]},
                                      "swap": {"overall": swapped, "per_type": {"object_counting": swapped}}}}
    return out


@pytest.fixture
def runs(tmp_path):
    folders = []
    for name, s in (("seed1", summary(50.0, 70.0, 40.0)), ("seed2", summary(60.0, 80.0, 44.0))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(s))
        folders.append(str(tmp_path / name))
    return folders


def test_groups_are_the_mean_and_sd_of_their_runs_and_controls(runs):
    table, chance = group_scores([("own", runs), ("swapped", [f"{r}:swap" for r in runs]), ("one", runs[:1])])
    assert table["own"]["overall"] == pytest.approx((55.0, 50 ** 0.5))
    assert table["own"]["object_counting"] == pytest.approx((75.0, 50 ** 0.5))
    assert list(table["swapped"]) == ["overall", "object_counting"]  # a type the control lacks is left out
    assert table["swapped"]["object_counting"] == pytest.approx((42.0, 8 ** 0.5))
    assert table["one"]["room_size_estimation"] == (50.0, 0.0)
    assert chance["overall"] == 40.0


def test_cli_writes_the_figure_and_names_what_is_wrong(runs, tmp_path, capsys):
    out = tmp_path / "img" / "bars.png"
    assert main(["eval", "plot", "--out", str(out), f"own video={','.join(runs)}", f"another's={runs[0]}:swap"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["eval", "plot", "--out", str(out), f"given={runs[0]}:given"]) == 2
    assert f"{runs[0]}: no 'given' control in its summary (it has: swap)" in capsys.readouterr().err
    assert main(["eval", "plot", "--out", str(out), runs[0]]) == 2
    assert "expected LABEL=RUN[,RUN...]" in capsys.readouterr().err
    with pytest.raises(ValueError, match="expected LABEL"):
        parse_group("own=")
    stress = tmp_path / "stress"  # a summary of another kind
    stress.mkdir()
    (stress / "summary.json").write_text(json.dumps({"overall": 40.0}))
    assert main(["eval", "plot", "--out", str(out), f"other={stress}"]) == 2
    assert f"{stress}: its summary has no per-type scores" in capsys.readouterr().err
