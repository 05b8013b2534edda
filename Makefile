# flowgate — every target works from a fresh clone and is safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export FLOWGATE_BIN_DIR := $(CURDIR)/.bin
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/.bin:$(PATH)

.PHONY: all setup system-deps venv binaries ui test lint demo clean

all: setup

setup: system-deps venv binaries

# Debian packages the data plane and the browser tests need (root, apt).
system-deps:
	@hack/install-system-deps.sh

venv: $(STAMP)
$(STAMP): pyproject.toml
	@echo "flowgate: installing Python dependencies into $(VENV)/ ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

binaries:
	@hack/build-binaries.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The whole suite: lint, types, unit, integration and end-to-end (real apiserver, OVS, browser).
test: setup lint
	$(VENV)/bin/pytest -q -ra

# A local cluster with three OVS nodes, node agents and the gateway; Ctrl-C tears it down.
demo: setup
	$(VENV)/bin/flowgate demo --dir $(CURDIR)/.demo

clean:
	rm -rf $(VENV) .bin .demo
