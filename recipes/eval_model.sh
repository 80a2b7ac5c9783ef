#!/usr/bin/env bash
# One trained model on the 560 held-out items of the experiments (docs/tiny-ablation.md, "Since v6"):
# own video with the swap control, then the true map given; rows and summaries kept in RESULTS, with
# the model's files (RESULTS/model, 4 MB) so the next session can evaluate it again.
#
#   recipes/eval_model.sh MODEL RUN RESULTS [BUDGET]
#
# RUN/eval and RUN/eval_given_map are the runs (continued with --resume when run again); BUDGET is
# --max-new-tokens (default 640: the longest derivation of the small world's items is about 520).
set -euo pipefail
model=$1 run=$2 results=$3 budget=${4:-640}
PY=${PY:-.venv/bin/python}
items=runs/tiny-small-marks/data  # the marks model's test split: the same 560 items every row uses
common=(--bench sim --model "$model" --data-root "$items" --batch-size 8 --max-new-tokens "$budget" --resume --no-progress)
"$PY" -m spacer_core.cli eval "${common[@]}" --out "$run/eval" --control swap
"$PY" -m spacer_core.cli eval "${common[@]}" --out "$run/eval_given_map" --given-map
mkdir -p "$results/eval/controls/swap" "$results/eval_given_map"
for e in eval eval_given_map; do
	cp "$run/$e"/summary.* "$results/$e/"
	gzip -nc "$run/$e/results.jsonl" > "$results/$e/results.jsonl.gz"
done
gzip -nc "$run/eval/controls/swap/results.jsonl" > "$results/eval/controls/swap/results.jsonl.gz"
"$PY" -m spacer_core.cli model copy "$model" "$results/model"
