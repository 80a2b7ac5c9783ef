"""The tutorials in notebooks/: each runs top to bottom on the embedded tiny model, and the files in
the repository carry no outputs.

Notebooks are executed as copies in tmp_path with the project's kernel (nbclient), so the committed
files are never written. A few printed claims the tutorials make are checked in the executed outputs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_scenes_and_data",
    "02_cognitive_maps_and_rewards",
    "03_sg_rlvr_step_by_step",
    "04_inference_and_reasoning",
    "05_evaluation",
]
# Printed lines that must appear in the executed notebook: what the tutorial's text relies on.
CLAIMS = {
    "01_scenes_and_data": [r"types covered: 10 of 10", r"2 problem\(s\) in the data"],
    "02_cognitive_maps_and_rewards": [r"greedy +score 0\.7879", r"hungarian +score 0\.8586"],
    "03_sg_rlvr_step_by_step": [
        r"(\d+) of \1 vision parameters got a gradient; \1 non-zero",  # ours: every vision parameter
        r"video-blind loss \S+: 0 of \d+ vision parameters got a gradient",  # stock TRL's loss pass
        r"vision parameters changed by the step: (\d+) of \1",
    ],
    "04_inference_and_reasoning": [r"\d+ updates; the first ones:", r"answer: B"],
    "05_evaluation": [r"same as before: True", r"without resume: .*already exists"],
}


def stdout(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def test_the_five_tutorials_are_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell should be the parameters cell"
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"{path.name}: code cell {i} has outputs (strip them before committing)"
        assert cell.execution_count is None, f"{path.name}: code cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"{path.name}: code cell {i} has execution timings"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    original = path.read_bytes()
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    # Raises CellExecutionError (with the cell and its traceback) on the first failing cell.
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, copy)  # the executed copy, for a look after a failure
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = stdout(nb)
    for claim in CLAIMS[path.stem]:
        assert re.search(claim, text), f"{path.name}: no output matches {claim!r}"
    assert path.read_bytes() == original  # the committed file was not touched
