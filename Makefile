# Every target creates the virtualenv it needs: a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install generate check-generated lint test demo smoke bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# Dependency groups (the pinned dev tools) need pip >= 25.1; a new venv may come with an older one.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . --group dev
	@touch $(STAMP)

install: $(STAMP)

generate: $(STAMP)
	$(BIN)/python generator/generate.py

check-generated: $(STAMP)
	$(BIN)/python generator/generate.py --check

lint: $(STAMP)
	$(BIN)/ruff check clickfunnels_async tests generator examples benchmarks
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python -m examples.demo

smoke: $(STAMP)
	bash .ci/smoke_extras.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
