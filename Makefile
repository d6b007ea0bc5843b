# Docent: two user-facing targets.
#   make run   set up and run Docent locally (embedded Postgres, demo data, web + worker + beat)
#   make test  set up and run every check and the whole test suite
# Everything else here is a building block of those two.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
NODE_STAMP := node_modules/.installed
ONNX_STAMP := var/onnx/.exported
CHROMIUM := /usr/bin/chromium
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test

run: $(RUN_STAMP) $(ONNX_STAMP)
	DOCENT_DEV=1 $(PY) manage.py run_docent

test: $(DEV_STAMP) $(NODE_STAMP) $(CHROMIUM) $(ONNX_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DOCENT_DEV=1 $(VENV)/bin/mypy .
	$(VENV)/bin/pytest

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: an unpinned torch (pulled in by sentence-transformers) would fetch a CUDA build.
$(RUN_STAMP): requirements.txt | $(VENV)/bin/python
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt $(RUN_STAMP)
	$(PIP) install -r requirements-dev.txt
	touch $@

# The onnx / onnx-int8 embedding backends: export and quantize the shipped model once, offline.
$(ONNX_STAMP): $(RUN_STAMP)
	DOCENT_DEV=1 $(PY) manage.py export_onnx_model
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	mkdir -p node_modules && touch $@

# Browser tests drive Debian's Chromium (never a downloaded browser build).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium is missing: install Debian's 'chromium' package (sudo apt-get install chromium)."; exit 1; \
	fi
