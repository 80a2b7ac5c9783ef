#!/usr/bin/env bash
# The SFT of `make tiny-more-scenes-unfrozen` (the vision tower trained too) for more seeds, one run
# per seed. Each run saves a checkpoint every 300 steps and continues from its newest one when run
# again.
#
#   recipes/unfrozen_sft_seeds.sh OUT "SEEDS" [more `spacer train` flags]
#
# OUT-seedK/sft is seed K's run. Environment: PY (python), DATA (the 6,000 seed-2 scenes; made here
# when missing), VISION (the start: that data's vision warm-up, committed in assets/stages; `make
# tiny-stages` trains it again), STEPS, PARALLEL=1 to run the seeds at once (on one GPU: each
# process decodes its own videos, with its dataloader workers), SYNTH_FLAGS: more `spacer data
# synth` flags for DATA when it is made here (--distance-steps for the shipped model's data).
set -euo pipefail
out=$1 seeds=$2
shift 2
PY=${PY:-.venv/bin/python}
DATA=${DATA:-runs/tiny-small-more-scenes/data}
VISION=${VISION:-assets/stages/tiny-small-more-scenes-vision}
STEPS=${STEPS:-1800}
SCENES=${SCENES:-6000}  # fewer only to try the script out

[ -f "$VISION/config.json" ] || { echo "no model in $VISION (make tiny-stages trains it)" >&2; exit 1; }
if [ ! -f "$DATA/train.jsonl" ]; then  # the data of `make tiny-more-scenes`: the same scenes
	"$PY" -m spacer_core.cli data synth --scenes "$SCENES" --out "$DATA" --test-fraction 0.05 --seed 2 --world small \
		--lookup-lines --cell-arithmetic --tinted-walls --option-lines ${SYNTH_FLAGS:-} > "$DATA.synth.log" 2>&1
fi
pids=()
for seed in $seeds; do
	run=$out-seed$seed
	mkdir -p "$run"
	[ -f "$run/sft/final/config.json" ] && continue
	resume=$(ls -d "$run"/sft/checkpoint-* >/dev/null 2>&1 && echo --resume || true)
	cmd=("$PY" -m spacer_core.cli train --config configs/tiny/sft.yaml --model "$VISION" --freeze_vision false
		--train_file "$DATA/train.jsonl" --output_dir "$run/sft" --max_steps "$STEPS" --lookup_batch 8
		--lookup_world small --lookup_arith_fraction 0.5 --lookup_option_marks --nframes 16 --seed "$seed"
		--save_strategy steps --save_steps 300 $resume "$@")
	if [ "${PARALLEL:-0}" = 1 ]; then
		"${cmd[@]}" >> "$run/sft.log" 2>&1 &
		pids+=($!)
	else
		"${cmd[@]}" >> "$run/sft.log" 2>&1
	fi
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
