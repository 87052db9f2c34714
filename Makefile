# Shifa — the two commands: `make run` and `make test`. Everything else here is a helper.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint audit audit-report format migrations messages lock clean-data help system-packages guides fuzz

help:
	@echo "make run   - set up and run Shifa on http://127.0.0.1:8000 (PORT overrides)"
	@echo "make test  - set up and run the whole test suite"

$(STAMP): pyproject.toml requirements.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

system-packages:
	@scripts/system-packages.sh

# Browser-side test tools (axe-core), exactly as package-lock.json pins them.
NODE_STAMP := node_modules/.installed-stamp
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: system-packages $(STAMP)
	$(BIN)/shifa run

# The API fuzzing runs in a process of its own: under pytest-xdist schemathesis' subtests would not run.
test: system-packages $(STAMP) $(NODE_STAMP) lint
	DJANGO_SETTINGS_MODULE=shifa.settings.test $(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder \
		--ignore=tests/fuzz
	DJANGO_SETTINGS_MODULE=shifa.settings.test $(BIN)/python -m pytest -p no:cacheprovider tests/fuzz

# The API fuzzed at length (issue 13): many schemathesis examples per operation, as every role, with the coverage
# phase; `make test` runs the same test with a few derandomized examples.
fuzz: system-packages $(STAMP)
	SHIFA_FUZZ_EXAMPLES=50 SHIFA_FUZZ_PHASES=examples,coverage,fuzzing DJANGO_SETTINGS_MODULE=shifa.settings.test \
		$(BIN)/python -m pytest -p no:cacheprovider tests/fuzz

# The user guides' screenshots (docs/guides/), taken by the browser test that checks them.
guides: system-packages $(STAMP)
	SHIFA_GUIDE_SCREENSHOTS=docs/guides/screenshots DJANGO_SETTINGS_MODULE=shifa.settings.test \
		$(BIN)/python -m pytest -p no:cacheprovider -q tests/e2e/test_guides.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=shifa.settings.test $(BIN)/shifa manage makemigrations --check --dry-run

# Known vulnerabilities in the pinned dependencies (PyPI's advisory data; needs the network, takes seconds).
# --strict: a pinned version PyPI does not know fails the audit rather than passing unaudited.
audit: $(STAMP)
	$(BIN)/pip-audit --strict --requirement requirements.lock --no-deps --disable-pip --progress-spinner off

# The same audit for CI: fails on a known vulnerability; pins the advisory service cannot answer for from this
# network are counted and reported (scripts/audit.py exits 2 when pip-audit cannot run at all: reported, not failed).
audit-report: $(STAMP)
	$(BIN)/python scripts/audit.py || [ $$? -eq 2 ]

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations: $(STAMP)
	DJANGO_SETTINGS_MODULE=shifa.settings.test $(BIN)/shifa manage makemigrations

# Extract translatable strings and compile the catalogues (needs gettext's xgettext/msgfmt).
messages: $(STAMP)
	cd src/shifa && DJANGO_SETTINGS_MODULE=shifa.settings.test ../../$(BIN)/django-admin makemessages -l ar \
		--no-obsolete --add-location=file --ignore='static/*' --ignore='*/migrations/*'
	cd src/shifa && DJANGO_SETTINGS_MODULE=shifa.settings.test ../../$(BIN)/django-admin compilemessages -l ar

# Re-pin every dependency after changing pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/python -m pip install --quiet '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude shifa | sort > requirements.lock
	rm -rf .lock-venv

clean-data:
	rm -rf .shifa
