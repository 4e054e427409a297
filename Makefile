# parley: `make serve` runs the server, `make test` runs every check. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# .installed: parley with the test tools (make test); .serve-installed: parley alone (make serve).
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.serve-installed

.PHONY: serve test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(SERVE_STAMP)

# `make serve PARLEY_API_KEY=sk-my-key` fixes the key clients use (make passes it on); without
# one, the first start on an empty database mints a key and prints it once.
serve: $(SERVE_STAMP)
	$(BIN)/parley serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The PostgreSQL half of the suite runs when PARLEY_TEST_POSTGRES_URL is set or a PostgreSQL
# takes connections on 127.0.0.1:5432 (user postgres); each test makes and drops its own database.
# Branch coverage of src/parley is printed at the end (the total is the last line): of the
# test process, or with SERVER_COVERAGE=1 of the live servers too (tests/coverage-servers.toml).
COVERAGE := $(BIN)/coverage
COVERAGE_RC := $(if $(SERVER_COVERAGE),--rcfile=tests/coverage-servers.toml,)
pytest: $(STAMP)
	@url="$${PARLEY_TEST_POSTGRES_URL:-$$($(BIN)/python tests/find_postgres.py)}"; \
	if [ -n "$$url" ]; then \
	  echo "make test: the PostgreSQL tests run too (throwaway databases, dropped after)"; \
	  export PARLEY_TEST_POSTGRES_URL="$$url"; \
	fi; \
	$(COVERAGE) erase && $(COVERAGE) run $(COVERAGE_RC) -m pytest
	$(COVERAGE) combine $(COVERAGE_RC) --quiet
	$(COVERAGE) report $(COVERAGE_RC)

test: lint typecheck pytest

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# make bench ARGS=--quick (about a minute); see bench/README.md for --scale and PostgreSQL.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
