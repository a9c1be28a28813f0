# BrokerSync BRM: `make run` serves the app, `make test` runs the whole suite. Both set up
# everything first on a fresh clone: the virtualenv, pinned packages, bun and Swagger UI from
# the npm registry into .tools/ (ignored), and Chromium for the browser tests.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
BUN_VERSION := 1.4.5
SWAGGER_UI_VERSION := 5.35.0
AXE_CORE_VERSION := 4.14.1

.PHONY: run dev setup chromium test test-fast types types-baseline lint format bench clean help

help:
	@echo "make run    - set up, migrate, first-start data, serve on BRM_PORT (default 3000)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make bench  - performance benchmarks (prints BENCH lines)"
	@echo "make lint   - ruff check + format check"
	@echo "make types  - mypy on brm_app/ against mypy-baseline.txt (also part of make test)"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(TOOLS)/.installed: Makefile
	npm install --no-save --no-audit --no-fund --prefix $(TOOLS) bun@$(BUN_VERSION) swagger-ui-dist@$(SWAGGER_UI_VERSION) axe-core@$(AXE_CORE_VERSION)
	touch $@

setup: $(VENV)/.installed $(TOOLS)/.installed

run: setup
	$(BIN)/brm serve

dev: setup
	$(BIN)/brm serve --dev

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

.PHONY: nginx
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update -qq && apt-get install -y -qq nginx >/dev/null)

test: setup chromium nginx
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n 2 --dist loadfile   # includes tests/test_types.py (mypy against its baseline)

# mypy on brm_app/: fails on any error not in mypy-baseline.txt (the baseline only shrinks).
types: setup
	$(BIN)/pytest -q tests/test_types.py

# Rewrite the baseline after fixing errors (refuses to add new ones).
types-baseline: setup
	$(BIN)/python tests/test_types.py

test-fast: setup
	$(BIN)/pytest -q -m "not e2e"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: wrk
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)

bench: setup wrk chromium
	$(BIN)/python -m bench
	$(BIN)/python -m bench.users   # 100 users, 5 minutes, two workers on PostgreSQL + Redis

clean:
	rm -rf .web .states $(TOOLS) $(VENV)

# The container image (Containerfile), built offline from Debian packages with podman.
.PHONY: podman image test-image
podman:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v mmdebstrap >/dev/null \
	  && command -v podman-compose >/dev/null \
	  || (apt-get update -qq && apt-get install -y -qq podman runc iptables mmdebstrap podman-compose >/dev/null)

image: setup podman
	deploy/build-image.sh

# Builds the image, starts it, signs in over HTTP, restarts it, checks the data survived.
test-image: image
	deploy/test-image.sh
