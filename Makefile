# The README's commands: `make run` and `make test` do all set-up on a fresh machine.
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PYTHON ?= python3
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install install-dev run test test-sqlite test-postgres lint format bench browser node-tools clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	$(BIN)/gunicorn --worker-class gthread --workers 2 --threads 8 --bind 127.0.0.1:5000 --access-logfile - wsgi:app

# Browser tests drive Debian's Chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The symbolication tests build a TypeScript bundle with esbuild (tests/js, pinned by its lockfile) and an
# ELF file with gcc.
NODE_TOOLS := tests/js/node_modules/.package-lock.json

$(NODE_TOOLS): tests/js/package.json tests/js/package-lock.json
	@command -v npm >/dev/null && command -v gcc >/dev/null || { \
		echo "Installing Debian's nodejs, npm and gcc for the symbolication tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm gcc binutils; }
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $@

node-tools: $(NODE_TOOLS)

test: install-dev browser node-tools test-sqlite test-postgres

# Each pass spreads over every core (pytest-xdist): every worker migrates its own SQLite file or PostgreSQL schema
# and has its own storage folder, servers on free ports and browser. TEST_WORKERS=0 runs one process.
TEST_WORKERS ?= auto

test-sqlite: install-dev
	$(BIN)/pytest -n $(TEST_WORKERS)

test-postgres: install-dev
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -n $(TEST_WORKERS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python bench/seed_demo.py

clean:
	rm -rf $(VENV) instance
