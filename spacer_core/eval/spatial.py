"""Spatial benchmarks: the bundled sim, VSI-Bench, STI-Bench and SPAR-Bench.

VSI-Bench and the sim share the official VSI-Bench scorer and aggregation
(`spacer_core.metrics.vsibench_score` / `vsibench_aggregate`). The sim also scores the cognitive
map of every completion that draws one (its scenes have true maps).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spacer_core.cogmap import parse_map, score_map_details
from spacer_core.eval.base import (
    Benchmark,
    BenchmarkError,
    Item,
    Score,
    count_by,
    field_of,
    find_file,
    item_mean_summary,
    mean_by,
    read_parquet,
    register,
    score_choice,
)
from spacer_core.metrics import (
    MRA_TOLERANCES,
    MULTIPLE_CHOICE_TYPES,
    NUMERICAL_TYPES,
    mean_relative_accuracy,
    vsibench_aggregate,
    vsibench_prediction,
    vsibench_score,
)
from spacer_core.parsing import MAP, answer_text, extract_answer
from spacer_core.rewards import format_ok
from spacer_core.sim.questions import named_categories

ASSETS_SIM = Path(__file__).resolve().parents[2] / "assets" / "sim"

logger = logging.getLogger(__name__)

# The categories SpaceR's VSI-Bench evaluation asks the model to map (SpaceR-Eval, vsi_util.py).
VSIBENCH_MAP_CATEGORIES = (
    "ceiling light", "trash can", "bed", "heater", "closet", "pillow", "backpack", "chair", "refrigerator",
    "tv", "nightstand", "keyboard", "computer tower", "coat hanger", "table", "trash bin", "whiteboard",
    "monitor", "sofa", "clock", "computer mouse", "radiator", "telephone",
)  # fmt: skip


def vsibench_problem_type(question_type: str, where: str) -> str:
    if question_type in MULTIPLE_CHOICE_TYPES:
        return "multiple choice"
    if question_type in NUMERICAL_TYPES:
        return "numerical"
    known = sorted(MULTIPLE_CHOICE_TYPES | NUMERICAL_TYPES)
    raise BenchmarkError(f"{where}: unknown VSI-Bench question_type {question_type!r}; expected one of {known}")


_MARKED = re.compile(r"\b([A-Z])\. ([^:.\n]+?)(?: vs [^:.\n]+)?: yes\.")
# where a derivation starts going through the options (`spacer data synth --option-lines`)
_OPTION_LINES = re.compile(r"\n[A-Z]\. [^\n]*?: (?:yes|no)\.")
# one such line: the option as the derivation copied it from the prompt ("B. front-left")
_OPTION_LINE = re.compile(r"^([A-Z]\. .*?) vs .*?: (?:yes|no)\.(?=<|$)", re.M)


def derivation_choice(completion: str, options: Sequence[str]) -> str | None:
    """The option letter a completion's reasoning arrives at, before its answer: where it goes
    through the options (`spacer data synth --option-lines`), the one option it marks ``yes``
    with that option's text (None when it marks several); else the option whose text it names
    last, as a whole word (the longer text where two end at the same place: "coffee table" over
    "table"); None when it names none."""
    reasoning = completion.split("<answer>")[0]
    texts = dict(o.strip().partition(". ")[::2] for o in options)
    marked = {letter for letter, text in _MARKED.findall(reasoning) if texts.get(letter) == text.strip()}
    if marked:
        return marked.pop() if len(marked) == 1 else None
    return _named_last(reasoning, texts)


def copies_options(completion: str, options: Sequence[str]) -> bool | None:
    """Whether a derivation's option lines (`spacer data synth --option-lines`) list the prompt's
    options exactly, in its order; None when it has none."""
    copied = _OPTION_LINE.findall(completion.split("<answer>")[0])
    return copied == [o.strip() for o in options] if copied else None


def conclusion_choice(completion: str, options: Sequence[str]) -> str | None:
    """The option whose text the reasoning names last before it goes through the options: the
    conclusion it derives, apart from the step that turns it into a letter; None when it names none."""
    reasoning = _OPTION_LINES.split(completion.split("<answer>")[0], 1)[0]
    return _named_last(reasoning, dict(o.strip().partition(". ")[::2] for o in options))


def _named_last(reasoning: str, texts: dict[str, str]) -> str | None:
    ends = {}
    for letter, text in texts.items():
        hits = [m.end() for m in re.finditer(rf"(?<![\w-]){re.escape(text)}(?![\w-])", reasoning, re.I)] if text else []
        if hits:
            ends[letter] = (hits[-1], len(text))
    return max(ends, key=ends.get) if ends else None


def vsibench_row_score(item: Item, completion: str) -> Score:
    """The official score, and the normalised prediction it was computed from."""
    return Score(vsibench_score(completion, item.ground_truth, item.question_type), vsibench_prediction(completion))


def _rate(rows: Sequence[Mapping[str, Any]], key: str) -> dict[str, float] | None:
    """The share of ``rows`` whose ``key`` is true, of those that have it (None when none has)."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return {"rate": sum(values) / len(values), "count": len(values)} if values else None


@register
class SimBench(Benchmark):
    """The test split of `spacer data synth` output (SpaceR-151k-style ``test.jsonl`` + true maps)."""

    name = "sim"
    title = "SpaceR-Sim (VSI-Bench scoring)"
    default_mode = "thinking_map"
    default_root = ASSETS_SIM

    def load(self, root: Path) -> list[Item]:
        """The test items; with the train split beside them, each item also carries its chance/prior
        score (``meta["chance"]``, see `chance_score`), so the summary can say what beats chance."""
        from spacer_core.data import DataError, load_dataset_jsonl

        path = find_file(root, ["test.jsonl"], "sim test split (test.jsonl)")
        maps = path.parent / "cognitive_map.jsonl"
        try:
            records = load_dataset_jsonl(path, path.parent, maps if maps.is_file() else None)
        except DataError as err:
            raise BenchmarkError(str(err)) from None
        items = []
        for record in records:
            where = f"{path} problem_id {record['problem_id']}"
            qtype = str(field_of(record, "question_type", where, str))
            scored_as = vsibench_problem_type(qtype, where)
            if scored_as != record["problem_type"]:
                raise BenchmarkError(f"{where}: problem_type {record['problem_type']!r} does not match question_type "
                                     f"{qtype!r} (VSI-Bench scores it as {scored_as})")
            items.append(Item(
                id=str(record["problem_id"]), question=record["problem"], ground_truth=extract_answer(record["solution"]),
                question_type=qtype, problem_type=record["problem_type"], options=record["options"] or None,
                video=record["media_path"], categories=record.get("map_categories"),
                true_map=record.get("cognitive_map"), meta={"scene": record.get("scene_id")},
            ))
        train = path.parent / "train.jsonl"
        if train.is_file():
            try:  # the train split only adds the chance/prior: a problem there costs that, not the run
                medians = train_medians(train)
                missing = sorted({i.question_type for i in items if i.question_type in NUMERICAL_TYPES} - set(medians))
                if missing:
                    raise BenchmarkError(f"{train}: no answers of type {', '.join(missing)}")
            except BenchmarkError as err:
                logger.warning("no chance/prior for this run: %s", err)
            else:
                for item in items:
                    item.meta["chance"] = chance_score(item, medians)
        return items

    def score(self, item: Item, completion: str) -> Score:
        """VSI-Bench's score; plus, when the completion draws a map, ``map_score`` (SpaceR's map
        score against the scene's true map) and ``map_cells``: of the true map's objects, how many
        the map puts in their cell and how many within one cell (a neighbour, diagonals too), by
        the map score's matching. SpaceR's score gives a point 1 − d/(10·√2), so a map of uniformly
        random cells scores about 0.63 (1% of objects in their cell, 8% within one). For a
        multiple-choice item, ``agrees``: whether the answer is the option the reasoning arrives at
        (`derivation_choice`; None when it names no option), ``concludes``: whether the
        conclusion the reasoning derives is the right option's text (`conclusion_choice`), and
        ``copies``: whether its option lines copy the prompt's options (`copies_options`). For every
        item, ``format_ok``: whether the completion is one think/answer pair (`rewards.format_ok`),
        and where the question names object categories and the completion reasons, ``names_objects``:
        whether the reasoning after the map (all of it, when there is no map) names every one of them
        (a plural counts: "The map lists 2 lamps")."""
        result = vsibench_row_score(item, completion)
        result.extra["format_ok"] = format_ok(completion)
        names = named_categories(item.question)
        if names and "<think>" in completion:
            reasoning = completion.partition("<think>")[2]
            derivation = (reasoning.partition(MAP[1])[2] if MAP[0] in reasoning else reasoning).partition("</think>")[0]
            result.extra["names_objects"] = set(names) <= set(named_categories(derivation))
        if item.options:
            choice = derivation_choice(completion, item.options)
            result.extra["agrees"] = None if choice is None else choice == result.prediction.upper()
            result.extra["concludes"] = conclusion_choice(completion, item.options) == item.ground_truth.upper()
            result.extra["copies"] = copies_options(completion, item.options)
        if item.true_map is None or MAP[0] not in completion:
            result.extra["map_score"] = None
            return result
        details = score_map_details(parse_map(completion, item.categories), item.true_map)
        distances = [pair[2] for category in details.categories for pair in category.pairs]
        result.extra["map_score"] = details.score
        result.extra["map_cells"] = {"objects": sum(c.n_true for c in details.categories),
                                     "exact": sum(d == 0 for d in distances),
                                     "near": sum(d < 1.5 for d in distances)}
        return result

    def aggregate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        out = vsibench_aggregate(rows)
        scores = [r["map_score"] for r in rows if r.get("map_score") is not None]
        out["map"] = {"mean": sum(scores) / len(scores) if scores else None, "count": len(scores)}
        # rows written before agreement and map cells were counted lack them
        agrees = [r["agrees"] for r in rows if r.get("agrees") is not None]
        if agrees:
            out["agreement"] = {"rate": sum(agrees) / len(agrees), "count": len(agrees)}
        for key, name in (("format_ok", "format"), ("names_objects", "names_objects")):
            if rate := _rate(rows, key):
                out[name] = rate
        for key, name in (("concludes", "conclusions"), ("copies", "copies")):
            if rate := _rate(rows, key):
                # per type too: a type whose conclusions are right but whose options are not copied
                # loses its points in the step that turns words into a letter
                by_type = {t: _rate([r for r in rows if r["question_type"] == t], key)
                           for t in dict.fromkeys(r["question_type"] for r in rows)}
                out[name] = rate | {"by_type": {t: v for t, v in by_type.items() if v}}
        cells = [r["map_cells"] for r in rows if r.get("map_cells")]
        objects = sum(c["objects"] for c in cells)
        if objects:
            out["map"]["cells"] = {"objects": objects, "exact": sum(c["exact"] for c in cells) / objects,
                                   "near": sum(c["near"] for c in cells) / objects}
        if all("chance" in (r.get("meta") or {}) for r in rows):
            # aggregated exactly like the model's scores (per type, then the mean of the tasks)
            chance = vsibench_aggregate([{"question_type": r["question_type"], "score": r["meta"]["chance"]}
                                         for r in rows])
            out["chance"] = {"overall": chance["overall"], "per_type": chance["per_type"]}
        return out


def train_medians(train: Path) -> dict[str, float]:
    """The median answer of every numerical question type in a SpaceR-151k-style train split."""
    import statistics

    answers: dict[str, list[float]] = {}
    with open(train, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if record.get("question_type") in NUMERICAL_TYPES:
                    answers.setdefault(record["question_type"], []).append(float(extract_answer(record["solution"])))
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise BenchmarkError(f"{train}:{number}: cannot read a numerical answer ({err})") from None
    return {qtype: statistics.median(values) for qtype, values in answers.items()}


def chance_score(item: Item, medians: Mapping[str, float]) -> float:
    """What a model that ignores the video scores on ``item`` (in [0, 1]): 1/#options for multiple
    choice; for a numerical type, the MRA of always answering the train split's median for it."""
    if item.question_type in NUMERICAL_TYPES:
        return mean_relative_accuracy(medians[item.question_type], float(item.ground_truth))
    return 1.0 / len(item.options)  # load() checked the type is multiple choice, and the data its options


@register
class VSIBench(Benchmark):
    name = "vsibench"
    title = "VSI-Bench"
    default_mode = "thinking_map"
    map_categories = VSIBENCH_MAP_CATEGORIES
    columns = ("id", "dataset", "scene_name", "question_type", "question", "options", "ground_truth")

    def load(self, root: Path) -> list[Item]:
        path = find_file(root, ["test-*.parquet", "*.parquet"], "VSI-Bench parquet")
        folder = path.parent
        items = []
        for i, row in enumerate(read_parquet(path, self.columns)):
            where = f"{path} row {i}"
            qtype = str(field_of(row, "question_type", where, str))
            # Official layout {dataset}/{scene}.mp4; `spacer data synth` writes videos/{scene}.mp4.
            candidates = [folder / str(row["dataset"]) / f"{row['scene_name']}.mp4",
                          folder / "videos" / f"{row['scene_name']}.mp4"]
            video = next((c for c in candidates if c.is_file()), candidates[0])
            items.append(Item(
                id=str(field_of(row, "id", where)), question=str(field_of(row, "question", where, str)),
                ground_truth=str(field_of(row, "ground_truth", where)), question_type=qtype,
                problem_type=vsibench_problem_type(qtype, where), options=list(row["options"] or []) or None,
                video=str(video), meta={"dataset": row["dataset"], "scene": row["scene_name"]},
            ))
        return items

    def score(self, item: Item, completion: str) -> Score:
        return vsibench_row_score(item, completion)

    def aggregate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return vsibench_aggregate(rows)


@register
class VSIBenchDebiased(VSIBench):
    """VSI-Bench-Debiased (Brown et al., 2025): VSI-Bench with its blind-solvable items reworked. Its
    layout is assumed to be VSI-Bench's (the same parquet columns, videos as ``{dataset}/{scene}.mp4``);
    that is not checked against the released files here (no network): a fixture in that layout is."""

    name = "vsibench-debiased"
    title = "VSI-Bench-Debiased"


@register
class STIBench(Benchmark):
    """STI-Bench: ``qa.parquet`` + ``video/``; multiple choice over a time span of the video."""

    name = "stibench"
    title = "STI-Bench"
    columns = ("Video", "ID", "time_start", "time_end", "Question", "Candidates", "Answer", "Task")

    def load(self, root: Path) -> list[Item]:
        path = find_file(root, ["qa.parquet", "*/qa.parquet"], "STI-Bench qa.parquet")
        items = []
        for i, row in enumerate(read_parquet(path, self.columns)):
            where = f"{path} row {i}"
            candidates = field_of(row, "Candidates", where, (dict, str))
            if isinstance(candidates, str):  # some exports store the dict as JSON text
                try:
                    candidates = json.loads(candidates)
                except ValueError:
                    raise BenchmarkError(f"{where}: field 'Candidates' is not a JSON object") from None
            options = [f"{k}. {v}" for k, v in sorted(candidates.items()) if v is not None]
            if not options:
                raise BenchmarkError(f"{where}: field 'Candidates' has no options")
            video = str(field_of(row, "Video", where, str))
            # The official prompt states the time span before the question.
            question = f"From {row['time_start']} seconds to {row['time_end']} seconds. {row['Question']}"
            items.append(Item(
                id=f"{video}|{row['ID']}|{row['time_start']}|{row['time_end']}", question=question,
                ground_truth=str(field_of(row, "Answer", where)).strip(), question_type=str(row["Task"]),
                problem_type="multiple choice", options=options, video=str(path.parent / "video" / video),
                meta={"scene": row.get("Scene"), "source": row.get("Source")},
            ))
        return items

    def score(self, item: Item, completion: str) -> Score:
        return score_choice(completion, item.ground_truth)

    def aggregate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        # Overall: mean over questions (the task means weighted by their counts), as STI-Bench reports.
        return item_mean_summary(rows, groups=("scene",))


# --- SPAR-Bench -----------------------------------------------------------------------------

SPAR_MULTIPLE_CHOICE = frozenset({
    "obj_spatial_relation_oo", "obj_spatial_relation_oc_mv", "obj_spatial_relation_oo_mv",
    "spatial_imagination_oc", "spatial_imagination_oo", "spatial_imagination_oc_mv", "spatial_imagination_oo_mv",
    "position_matching", "camera_motion_infer", "distance_infer_center_oo", "distance_infer_center_oo_mv",
})  # fmt: skip
SPAR_NUMERICAL = frozenset({
    "depth_prediction_oc", "depth_prediction_oo", "distance_prediction_oc", "distance_prediction_oo",
    "depth_prediction_oc_mv", "depth_prediction_oo_mv", "distance_prediction_oo_mv", "distance_prediction_oc_mv",
})  # fmt: skip
SPAR_VIEW_CHANGE = "view_change_infer"
SPAR_TIERS = {
    "low": SPAR_NUMERICAL,
    "middle": frozenset({SPAR_VIEW_CHANGE, "position_matching", "camera_motion_infer"}),
    "high": SPAR_MULTIPLE_CHOICE - {"position_matching", "camera_motion_infer"},
}
# view_change_infer answers are "move_right:0.5,rotate_left:10,…"; each axis is a signed difference.
VIEW_AXES = (("move_right", "move_left"), ("move_up", "move_down"), ("move_forward", "move_backward"),
             ("rotate_right", "rotate_left"), ("rotate_up", "rotate_down"))
_NUMBER = re.compile(r"\d+\.\d+|\d+")


def parse_view_change(text: str) -> dict[str, float]:
    """``"move_right:0.5, rotate_left:10"`` → {"move_right": 0.5, "rotate_left": 10.0}; ValueError if malformed."""
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition(":")
        if not sep:
            raise ValueError(f"not an action:value pair: {part!r}")
        out[key.strip()] = float(value)
    return out


def view_change_score(prediction: str, truth: str) -> float:
    """Mean over the five axes of the relative accuracy of the predicted signed movement; a true
    value of 0 uses the absolute error. 0 when the prediction does not parse.

    (SpaceR's code passes prediction and truth the other way round; this divides by the truth, as
    MRA does everywhere else.)
    """
    try:
        pred, true = parse_view_change(prediction), parse_view_change(truth)
    except ValueError:
        return 0.0
    scores = []
    for plus, minus in VIEW_AXES:
        p = pred.get(plus, 0.0) - pred.get(minus, 0.0)
        t = true.get(plus, 0.0) - true.get(minus, 0.0)
        if t == 0:  # no relative error: SPAR-Bench compares the absolute error with the same thresholds
            scores.append(sum(abs(p) <= tol + 1e-9 for tol in MRA_TOLERANCES) / len(MRA_TOLERANCES))
        else:
            scores.append(mean_relative_accuracy(p, t))
    return sum(scores) / len(scores)


@register
class SPARBench(Benchmark):
    """SPAR-Bench: parquet shards with multi-view images; the views are shown as the frames of one clip."""

    name = "sparbench"
    title = "SPAR-Bench"
    columns = ("id", "img_type", "task", "image", "question", "answer")

    def load(self, root: Path) -> list[Item]:
        if root.is_file():
            paths = [root]
        else:
            paths = sorted(root.glob("data/*.parquet")) or sorted(root.glob("*.parquet"))
            if not paths:
                raise BenchmarkError(f"no SPAR-Bench parquet files in {root} (looked for data/*.parquet, "
                                     "*.parquet); see docs/eval.md")
        items = []
        for i, row in enumerate(read_parquet(paths, self.columns)):
            where = f"SPAR-Bench row {i} (id {row.get('id')!r})"
            task = str(field_of(row, "task", where, str))
            if task in SPAR_MULTIPLE_CHOICE:
                problem_type = "multiple choice"
            elif task in SPAR_NUMERICAL:
                problem_type = "numerical"
            elif task == SPAR_VIEW_CHANGE:
                problem_type = "free-form"
            else:
                raise BenchmarkError(f"{where}: unknown SPAR-Bench task {task!r}")
            images = [img["bytes"] if isinstance(img, dict) else img for img in field_of(row, "image", where, list)]
            if not images or not all(isinstance(b, bytes) for b in images):
                raise BenchmarkError(f"{where}: field 'image' must be a non-empty list of encoded images")
            tier = next(name for name, tasks in SPAR_TIERS.items() if task in tasks)
            items.append(Item(
                id=str(row["id"]), question=str(field_of(row, "question", where, str)),
                ground_truth=str(field_of(row, "answer", where)).strip(), question_type=task,
                problem_type=problem_type, images=images, meta={"img_type": row["img_type"], "tier": tier},
            ))
        return items

    def clip(self, item: Item, settings):
        from spacer_core.eval.images import images_clip

        return images_clip(item.images, settings, name=f"SPAR-Bench item {item.id}")

    def score(self, item: Item, completion: str) -> Score:
        if item.problem_type == "multiple choice":
            return score_choice(completion, item.ground_truth)
        text = answer_text(completion)
        if item.question_type == SPAR_VIEW_CHANGE:
            return Score(view_change_score(text, item.ground_truth), text)
        numbers = _NUMBER.findall(text)
        if not numbers:
            return Score(0.0, text)
        # SPAR-Bench reads the last number for multi-view distance/depth answers, the first otherwise.
        value = float(numbers[-1] if item.question_type.endswith("_mv") else numbers[0])
        truth = float(item.ground_truth)
        return Score(mean_relative_accuracy(value, truth) if math.isfinite(truth) else 0.0, f"{value:g}")

    def aggregate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Overall and tiers: plain means of the per-task means (SPAR-Bench's aggregation)."""
        per_type = mean_by(rows, lambda r: r["question_type"])
        if not per_type:
            raise BenchmarkError("no result rows to aggregate")
        tiers = {}
        for name, tasks in SPAR_TIERS.items():
            present = [v for t, v in per_type.items() if t in tasks]
            tiers[name] = sum(present) / len(present) if present else None
        by_img = {img: sum(v) / len(v) for img, v in _task_means_by(rows, "img_type").items()}
        return {"overall": sum(per_type.values()) / len(per_type), "per_type": per_type,
                "counts": count_by(rows), "tiers": tiers, "groups": {"img_type": by_img}}


def _task_means_by(rows: Sequence[Mapping[str, Any]], meta_key: str) -> dict[str, list[float]]:
    """For each value of ``meta[meta_key]``: the list of its per-task means."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str((row.get("meta") or {}).get(meta_key)), []).append(row)
    return {k: list(mean_by(g, lambda r: r["question_type"]).values()) for k, g in groups.items()}
