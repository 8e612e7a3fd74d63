# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_VERSION := $(shell ls /etc/postgresql 2>/dev/null | head -n 1)
ARGS ?=

.PHONY: run test lint bench postgres tools bytecode clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP) bytecode
	$(BIN)/connectmail serve $(ARGS)

# Where PYTHONDONTWRITEBYTECODE is set (as on the machine this was written on), no process
# keeps what it compiles: each server a test starts compiled connectmail anew, 0.2 s of the
# 1.2 s of CPU its start took. Compiled here once (then only what changed); Python still
# reads the files.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q connectmail bench tests

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
	  echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1

# wrk drives the benchmark, valgrind counts its instructions (and their smoke tests); Debian
# has both.
tools:
	@for tool in wrk valgrind; do \
	  command -v $$tool >/dev/null || (apt-get install -y -qq $$tool >/dev/null 2>&1 || \
	    (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $$tool >/dev/null)) || \
	    { echo "$$tool is missing and could not be installed (apt-get install $$tool)" >&2; exit 1; }; \
	done

lint: $(STAMP)
	$(BIN)/ruff check connectmail tests bench
	$(BIN)/ruff format --check connectmail tests bench
	$(BIN)/mypy

# Three pytest workers on two CPUs: the tests wait on servers, relays, subprocesses and sleeps
# (two workers kept 1.5 CPUs busy); worksteal keeps the long tests from ending the run alone.
# On a quiet hour of 2026-12-07: 536 s with -n 2, 468 s with -n 3, 439 s like this.
test: $(STAMP) postgres tools lint bytecode
	$(BIN)/pytest -n 3 --dist worksteal $(ARGS)

bench: $(STAMP) postgres tools bytecode
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) connectmail-data .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
	find connectmail bench tests -name __pycache__ -type d -prune -exec rm -rf {} +
