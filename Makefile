# mipnet: `make demo` installs mipnet in .venv and trains on a bundled dataset; `make test` installs the test
# extras and runs the test suite. Both work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[scip,dev]'
	# PyTorch (CPU) is optional: its cross-check tests skip without it
	$(BIN)/pip install --quiet torch==2.13.0 || echo "torch not installed: the PyTorch tests will be skipped"
	# Gurobi is optional too (its pip wheel carries a size-limited licence, enough for the tests)
	$(BIN)/pip install --quiet gurobipy || echo "gurobipy not installed: the Gurobi tests will be skipped"
	# Marabou (verification cross-check) is optional
	$(BIN)/pip install --quiet maraboupy==2.0.0 || echo "maraboupy not installed: its cross-check will be skipped"
	# skl2onnx (scikit-learn MLP -> ONNX, for an ONNX import test) is optional
	$(BIN)/pip install --quiet skl2onnx || echo "skl2onnx not installed: its ONNX import test will be skipped"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mipnet demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_train.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
