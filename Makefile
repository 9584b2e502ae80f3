# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv if missing and install this project (editable) with the tested pins.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vau-installed
DEMO_DIR ?= .demo
PYTEST_ARGS ?=

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/vau-plugin demo --workdir $(DEMO_DIR)

clean:
	rm -rf $(DEMO_DIR) build dist *.egg-info .pytest_cache
