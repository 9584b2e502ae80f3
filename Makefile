# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv if missing and install this project (editable) with the tested pins.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vau-installed
DEMO_DIR ?= .demo
# Test files run in parallel (pytest-xdist), each file on one worker so that its fixtures are built once.
TEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(TEST_WORKERS) --dist loadfile
BENCH_ARGS ?=

.PHONY: demo test test-fast install clean bench experiment experiment-curve experiment-sweep experiment-quick experiment-motion-prompts experiment-motion \
	experiment-motion-sweep experiment-motion-small experiment-motion-quick gpu-check

install: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every test but the e2e ones (those that start lmms-eval, llamafactory-cli, torchrun, accelerate or deepspeed): a few
# minutes on 2 cores, for the edit-test loop; `make test` (CI) runs them all.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not e2e"

demo: $(STAMP)
	$(BIN)/vau-plugin demo --workdir $(DEMO_DIR)

# Speed benchmarks (ratios against baselines measured in the same run); BENCH_ARGS=--quick for CI-sized runs.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# GRPO against matched SFT with a random-reward control and a pre-registered rule (issue 27); see experiments/grpo_vs_sft/README.md.
experiment: $(STAMP)
	$(BIN)/python experiments/grpo_vs_sft/run.py

# The SFT curve on val that chooses how long SFT runs before the arms start.
experiment-curve: $(STAMP)
	$(BIN)/python experiments/grpo_vs_sft/run.py --curve

# The learning rates of the GRPO and extra-SFT arms, chosen on val.
experiment-sweep: $(STAMP)
	$(BIN)/python experiments/grpo_vs_sft/run.py --sweep

# The motion prompts' own question on the same protocol: SFT with a learnable motion prompt against SFT without.
experiment-motion-prompts: $(STAMP)
	$(BIN)/python experiments/grpo_vs_sft/run.py --motion

experiment-quick: $(STAMP)
	$(BIN)/python experiments/grpo_vs_sft/run.py --quick

# The earlier protocol: motion prompts x GRPO x the matched extra-SFT control on the order bench (issue 13); see
# experiments/motion_vau/README.md.
experiment-motion: $(STAMP)
	$(BIN)/python experiments/motion_vau/run.py

# The optimisation sweep on the order bench's val split that chose that experiment's Adam beta2 and learning rates.
experiment-motion-sweep: $(STAMP)
	$(BIN)/python experiments/motion_vau/run.py --sweep

# The same protocol on the order bench's harder tier (a 14-px square), with the settings swept on the large tier.
experiment-motion-small: $(STAMP)
	$(BIN)/python experiments/motion_vau/run.py --tier small

experiment-motion-quick: $(STAMP)
	$(BIN)/python experiments/motion_vau/run.py --quick

# The GPU path (bf16 training and lmms-eval on CUDA, a GRPO step against bare TRL, peak memory); needs a GPU.
gpu-check: $(STAMP)
	$(BIN)/vau-plugin gpu-check --workdir .gpu-check

clean:
	rm -rf $(DEMO_DIR) .gpu-check build dist *.egg-info .pytest_cache .ruff_cache
