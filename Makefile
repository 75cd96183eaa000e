# Every target installs what it needs first, so a fresh clone needs only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo serve test lint format bench bench-full screenshots clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/wbl demo

# The web app on the demo database (demo-out/): made by `wbl demo` the first time, migrated,
# links listed in demo-out/links.csv, a queue worker in the background while it serves.
# For a person at a terminal: CI never runs it.
SERVE_DIR := $(CURDIR)/demo-out
SERVE_ENV := WBL_DATABASE_URL=sqlite:///$(SERVE_DIR)/wbl.db WBL_QUEUE_PATH=$(SERVE_DIR)/queue.db WBL_QUEUE_NAME=wbl-demo

serve: $(STAMP)
	@[ -f $(SERVE_DIR)/wbl.db ] || $(BIN)/wbl demo --out $(SERVE_DIR)
	$(SERVE_ENV) $(BIN)/wbl db upgrade
	$(SERVE_ENV) $(BIN)/wbl round links "$$($(BIN)/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["round"]["id"])' $(SERVE_DIR)/problem.json)" --program demo -o $(SERVE_DIR)/links.csv
	@echo "feed links of the demo round: $(SERVE_DIR)/links.csv"
	@echo "log in at http://127.0.0.1:5000/login as:"
	$(SERVE_ENV) $(BIN)/wbl user add coordinator@demo.example --program demo --role coordinator --name "Demo coordinator" --generate-password
	$(SERVE_ENV) $(BIN)/wbl worker & worker=$$!; \
	trap 'kill $$worker' EXIT INT TERM; \
	$(SERVE_ENV) $(BIN)/wbl serve --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The quick benchmark (500 and 5,000 students); bench-full adds 20,000 and 100,000.
bench: $(STAMP)
	$(BIN)/python -m bench.compare --sizes 500,5000

bench-full: $(STAMP)
	$(BIN)/python -m bench.compare --sizes 500,5000,20000,100000

# The README's screenshots: the browser tests, photographing into docs/screenshots/
# (needs Debian's chromium: apt-get install -y chromium).
screenshots: $(STAMP)
	WBL_SCREENSHOTS=$(CURDIR)/docs/screenshots WBL_REQUIRE_BROWSER=1 $(BIN)/pytest tests/e2e -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
