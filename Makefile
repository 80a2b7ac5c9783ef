# SpaceR workbench. `make demo` and `make test` set everything up themselves.
PY      := .venv/bin/python
STAMP   := .venv/.installed
PORT    ?= 7860

.PHONY: setup demo test test-fast lint lab bench tiny-model tiny-arith tiny-walls clean

setup: $(STAMP)

# Re-install only when the project's dependencies change (fast when already done).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# Debian's Chromium drives the browser test (playwright cannot download its own here).
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium; the browser test will be skipped"; fi
	touch $(STAMP)

demo: setup
	.venv/bin/spacer ui --port $(PORT)

test: setup
	$(PY) -m pytest

# The inner loop: everything but the tests marked slow (subprocess training, DDP, notebooks, browser).
test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	.venv/bin/ruff check .

lab: setup
	.venv/bin/jupyter lab notebooks/

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

tiny-model: setup
	$(PY) recipes/spacer_tiny.py --world small --whole-categories --lookup-lines --lookup-steps 6000 \
		--lookup-batch 8 --sft-steps 1800 --test-fraction 0.05 --rl-steps 150 --rl-prompts 4 \
		--results docs/results/small_world --ship sft

# The cell-arithmetic experiment (docs/tiny-ablation.md): an arithmetic stage, then SFT on derivations
# that spell the arithmetic out; it reuses tiny-model's stages before SFT (run that first) and
# resumes stage by stage.
tiny-arith: setup
	$(PY) recipes/spacer_tiny.py --world small --whole-categories --lookup-lines --cell-arithmetic \
		--arith-steps 6000 --reuse runs/tiny-small --lookup-steps 6000 --lookup-batch 8 --sft-steps 1800 \
		--test-fraction 0.05 --seeds 0 --max-new-tokens 384 --results docs/results/small_world_arith_drill

# Tinted walls and 16 frames (docs/tiny-ablation.md): the same scenes and questions as tiny-model's,
# videos whose walls show which way the camera faces, read as 16 frames. Then the shipped chain's SFT
# is evaluated again on its own videos (now with the map cells counted; run tiny-model first) and the
# two compared on the same items.
WALLS := docs/results/small_world_walls_f16
tiny-walls: setup
	$(PY) recipes/spacer_tiny.py --world small --tinted-walls --nframes 16 --whole-categories --lookup-lines \
		--lookup-steps 6000 --lookup-batch 8 --sft-steps 1800 --test-fraction 0.05 --seeds 0 --results $(WALLS)
	for split in eval eval_swapped; do \
		data=$$( [ $$split = eval ] && echo data || echo data_swapped ); \
		$(PY) -m spacer_core.cli eval --bench sim --model runs/tiny-small/sft/final --data-root runs/tiny-small/$$data \
			--out runs/tiny-small/$${split}_cells/sft --batch-size 8 --max-new-tokens 288 --resume --no-progress || exit 1; \
		$(PY) -m spacer_core.cli eval compare runs/tiny-small/$${split}_cells/sft runs/tiny-small-walls-f16/$$split/sft \
			--out $(WALLS)/compare_$$split.md || exit 1; \
		mkdir -p $(WALLS)/shipped/$$split && cp runs/tiny-small/$${split}_cells/sft/summary.json $(WALLS)/shipped/$$split/ \
			&& gzip -nc runs/tiny-small/$${split}_cells/sft/results.jsonl > $(WALLS)/shipped/$$split/results.jsonl.gz; \
	done

clean:
	rm -rf .venv .pytest_cache build *.egg-info
