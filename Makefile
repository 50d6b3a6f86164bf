# Quick start: `make demo` trains a small DNC, `make test` runs the tests.
# Both create a virtualenv in .venv and install the project into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint clean

$(INSTALLED): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,viz]'
	touch $@

# A short repeat-copy run (about a minute on 2 CPU cores) whose loss falls
# and whose sampled output comes to match the targets. No checkpoints.
demo: $(INSTALLED)
	$(BIN)/python train.py --num_training_iterations=4000 \
	  --learning_rate=1e-3 --report_interval=500 \
	  --checkpoint_dir=$$(mktemp -d) --seed=0

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The suite in two processes (pytest-xdist): most tests wait on one XLA
# compilation or a subprocess at a time, so two fill two cores.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
