"""Training and evaluation records on disk: SpaceR-151k / Video-R1 style JSONL and
``cognitive_map.jsonl``, validated line by line, with an exclude list of scene names."""

from spacer_core.data.maps import check_cognitive_maps, load_cognitive_maps
from spacer_core.data.problems import DataError, Problem
from spacer_core.data.records import (
    CheckReport,
    check_dataset,
    load_dataset_jsonl,
    load_exclude_list,
    scene_of,
    validate_record,
)

__all__ = [
    "CheckReport",
    "DataError",
    "Problem",
    "check_cognitive_maps",
    "check_dataset",
    "load_cognitive_maps",
    "load_dataset_jsonl",
    "load_exclude_list",
    "scene_of",
    "validate_record",
]
