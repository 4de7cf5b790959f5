# The two commands a new user needs (README): `make quickstart` and `make test`.
# Each creates .venv and installs what it needs on first use; later runs reuse it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Extras the test suite needs; grows as providers land.
TEST_EXTRAS ?= local,aws,gcp,dev

.PHONY: quickstart test test-fast lint bench clean

$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[$*]"
	touch $@

quickstart: $(VENV)/.installed-local
	$(VENV)/bin/unifiedml quickstart

test: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pytest --durations=15

test-fast: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pytest -m "not slow"

lint: $(VENV)/.installed-$(TEST_EXTRAS)
	$(VENV)/bin/ruff check unifiedml tests benchmarks

bench: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV) .unifiedml .pytest_cache
