# Two commands on a fresh machine: `make run` and `make test`.
# Each creates .venv with the system python3 and installs the project on first use
# (again whenever pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint bench chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/aggregator run --host $(HOST) --port $(PORT)

test: $(STAMP) chromium
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check aggregator tests benchmarks
	$(VENV)/bin/mypy aggregator

bench: $(STAMP)
	$(PY) benchmarks/ingest.py

# Browser tests drive Debian's chromium (Playwright's own browser download is not
# possible here). Install it when missing and we are root; otherwise those tests
# skip and print why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing and we are not root: browser tests will be skipped"; fi

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
