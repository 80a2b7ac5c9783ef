#!/usr/bin/env bash
# recipes/unfrozen_sft_seeds.sh for seeds 0, 1 and 2 at once on a lent GPU (the `device` tool; the
# call is in docs/tiny-ablation.md). That machine has PyTorch and transformers but no package index:
# the other packages travel as wheels in .whl. The scenes are made there (16 cores) rather than
# carried. Training stops after BUDGET seconds; each seed's final model, or its newest checkpoint
# when time ran out, comes back in $OUT as gpu-seedK.tar.gz with its log and metrics. Its arguments
# go to `spacer train` (e.g. --balance_tasks 0.5 for that arm's seeds).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, transformers, trl; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)"
start=$(date +%s)
PY=python3 DATA=/tmp/more PARALLEL=1 timeout "${BUDGET:-480}" bash recipes/unfrozen_sft_seeds.sh /tmp/gpu "0 1 2" \
	--use_cpu false --bf16 false --model_dtype float32 --dataloader_num_workers 4 "$@"
echo "unfrozen_sft_seeds.sh: exit $? after $(( $(date +%s) - start )) s"
tail -c 300 /tmp/more.synth.log
for seed in 0 1 2; do
	run=/tmp/gpu-seed$seed
	tail -c 600 "$run/sft.log"
	model=sft/final
	[ -d "$run/$model" ] || model=$(cd "$run" && ls -d sft/checkpoint-*/trainer_state.json 2>/dev/null | sort -V | tail -1)
	model=${model%/trainer_state.json}
	[ -n "$model" ] && tar -czf "$OUT/gpu-seed$seed.tar.gz" -C "$run" "$model" sft.log \
		$(cd "$run" && ls sft/*.jsonl sft/spacer_args.json 2>/dev/null)
done
ls -la "$OUT"
