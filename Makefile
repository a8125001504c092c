# Every target creates and fills its own virtual environment (.venv) from the lock file,
# so a fresh machine needs nothing but Python >= 3.11 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast test-slow bench lint docs lock system-deps clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --require-virtualenv -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

system-deps:  ## install the system packages the tests need (poppler-utils, chromium) when missing
	@bash scripts/ensure-system-packages

demo: $(STAMP)  ## run the main job end to end on the embedded default
	$(BIN)/adjudicator demo

test: $(STAMP) system-deps  ## the whole test suite, slow tests included (what CI runs)
	$(BIN)/ruff check adjudicator tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/mypy adjudicator
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)  ## the suite without slow and browser tests
	$(BIN)/python -m pytest -q -m "not slow and not browser"

bench: $(STAMP)  ## run every benchmark in benchmarks/ (ratios against the peers)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: $(STAMP)  ## ruff, the import contracts and mypy
	$(BIN)/ruff check adjudicator tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/mypy adjudicator

docs: $(STAMP)  ## regenerate docs/protocol-reference.md and docs/cli.md (tests/test_docs.py checks them)
	$(BIN)/python scripts/gen_docs.py

lock: ## re-pin requirements.lock from the ranges in pyproject.toml (needs the network)
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet ".[test]"
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^adjudicator' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) build *.egg-info
