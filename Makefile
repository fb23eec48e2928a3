# Two commands on a fresh machine: `make run` and `make test`.
# Each creates .venv with the system python3 and installs the project on first use
# (again whenever pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint bench debs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/aggregator run --host $(HOST) --port $(PORT)

# Two test processes (pytest-xdist), each taking whole files (--dist loadfile, so a
# module's one Dovecot or Chromium fixture starts once): the suite waits on real
# servers, subprocesses and browsers much of the time. TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 2

test: $(STAMP) debs
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check aggregator tests benchmarks
	$(VENV)/bin/mypy aggregator

bench: $(STAMP)
	$(PY) benchmarks/ingest.py

# Translations: extract the marked texts (babel.cfg) into messages.pot, update the fr and
# en .po catalogs (translations kept, new texts empty), compile the .mo files. Then fill
# the new French msgstr in aggregator/web/translations/fr/LC_MESSAGES/messages.po and
# run it again. See aggregator/web/catalog.py.
.PHONY: catalog
catalog: $(STAMP)
	$(PY) -m aggregator.web.catalog

# The real third-party parts the tests drive, from Debian (command → package):
# chromium for what a person clicks (Playwright's own browser download is not
# possible here), newsboat as a sync client, tmux to drive it like a person,
# dovecot for a throwaway IMAP server. Installed when missing and we are root;
# otherwise the tests that need them skip and print why.
DEBS := chromium:chromium newsboat:newsboat tmux:tmux doveadm:dovecot-imapd

debs:
	@missing=""; for pair in $(DEBS); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian packages for the tests:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "missing and we are not root:$$missing; the tests that need them will be skipped"; fi

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
