# pytest-cdc developer commands.  `make help` lists them.
#   make install            the package and every dev tool, editable, into $(PYTHON)'s environment
#   make demo               the demo suite in examples/ on the embedded PostgreSQL
#   make test               the test suite (embedded default + the server at $(CDC_SERVER))
# Use another interpreter or server with  make test PYTHON=.venv/bin/python CDC_SERVER=...

PYTHON ?= python
CDC_SERVER ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

# The tools run from $(PYTHON)'s environment even when it is not activated: pre-commit's
# `language: system` hooks look up ruff, mypy, pytest and cdc-* on PATH.
SCRIPTS := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)
WITH_SCRIPTS := $(if $(SCRIPTS),PATH="$(SCRIPTS):$$PATH")

# hooks/ installs as the package pytest_cdc_hooks and imports itself under that name. An
# editable install serves that name through an import hook that mypy cannot follow, so mypy is
# shown the package under its installed name through a symlink in an ignored directory.
MYPY_PATH_DIR := build/mypy

.PHONY: help install demo test lint typecheck setup-hooks run-hooks update-hooks bench clean

help:
	@echo "make install       pip install -e '.[dev]' into $(PYTHON)'s environment"
	@echo "make demo          run the demo suite in examples/ on the embedded PostgreSQL"
	@echo "make test          run the tests (server: CDC_SERVER=$(CDC_SERVER))"
	@echo "make lint          ruff check and ruff format --check"
	@echo "make typecheck     mypy --strict on pytest_cdc and the pre-commit hooks"
	@echo "make setup-hooks   install the git pre-commit hook"
	@echo "make run-hooks     run every pre-commit hook on every file"
	@echo "make update-hooks  pre-commit autoupdate"
	@echo "make bench         run every bench/bench_*.py"
	@echo "make clean         remove build, cache and coverage files"

install:
	$(PYTHON) -m pip install -e '.[dev]'

demo:
	$(PYTHON) -m pytest examples -p no:cacheprovider -v

test:
	$(PYTHON) -m pytest -n 2 --cdc-db=server=$(CDC_SERVER) $(PYTEST_ARGS)

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck:
	@mkdir -p $(MYPY_PATH_DIR) && ln -sfn ../../hooks $(MYPY_PATH_DIR)/pytest_cdc_hooks
	MYPYPATH=$(MYPY_PATH_DIR) $(PYTHON) -m mypy -p pytest_cdc -p pytest_cdc_hooks

setup-hooks:
	$(PYTHON) -m pre_commit install

run-hooks:
	$(WITH_SCRIPTS) $(PYTHON) -m pre_commit run --all-files

# Every hook in .pre-commit-config.yaml is a local one whose tools come from the dev extra
# (upgrade them with `make install`); autoupdate keeps any remote repository entry current.
update-hooks:
	$(PYTHON) -m pre_commit autoupdate

# Each benchmark runs pytest-cdc and its peers in one run and prints ratios. All of them run;
# the target fails at the end if any failed.
bench:
	@failed=""; \
	for script in bench/bench_*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; break; }; \
		echo "== $$script"; \
		$(PYTHON) "$$script" || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "benchmarks failed:$$failed"; exit 1; fi

clean:
	rm -rf build dist .eggs *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		.coverage .coverage.* coverage.xml htmlcov reports .tox
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
