"""SpaceR-Sim: procedural rooms rendered to video, with VSI-Bench questions and exact cognitive maps.

scene.py (rooms and objects) → render.py (camera walk, frames, visibility, mp4) → questions.py (all
VSI-Bench question types, true chains of thought) → writers.py (JSONL, maps, parquet); synth.py
runs the pipeline for `spacer data synth`. The schemas are documented in docs/sim.md.
"""
