# Comerix Insights. `make run` starts the service with a demo workspace; `make test` runs every check.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck docs bench fuzz screenshots clean

install: $(STAMP) ## Create .venv and install the project (the `comerix` command lands in .venv/bin)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: install docs ## Migrate, create the demo workspace on an empty database, serve on http://$(HOST):$(PORT)
	$(BIN)/comerix demo --if-empty
	$(BIN)/comerix serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install
	$(BIN)/mypy

docs: install ## Build the user documentation (docs/help) into the package, served at /help; a broken link fails
	$(BIN)/mkdocs build --quiet

test: lint typecheck docs ## Lint, type-check, build the docs and run the whole suite (SQLite, and PostgreSQL when reachable)
	$(BIN)/pytest --numprocesses auto --maxprocesses 4 --dist loadfile --cov --cov-report=term

bench: install ## Benchmarks of the issue (a script, not a test); e.g. make bench BENCH_ARGS="--quick --backend sqlite"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

fuzz: install ## Hostile input: Schemathesis over a real service (~3 min), then random bodies at the Engine API on both databases; e.g. make fuzz FUZZ_ARGS="--seed 1"
	$(BIN)/python tests/fuzz/run_schemathesis.py $(FUZZ_ARGS)
	COMERIX_TEST_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q -p no:cacheprovider -m fuzz tests/functional

screenshots: install ## Take the pictures in docs/screenshots again from the browser tests, on the full demo
	COMERIX_SCREENSHOTS_DIR=docs/screenshots COMERIX_TEST_DEMO_SCALE=1 $(BIN)/pytest -q -p no:cacheprovider tests/functional/browser

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage src/comerix/help_site
