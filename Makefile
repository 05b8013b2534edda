# flowgate — every target works from a fresh clone and is safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export FLOWGATE_BIN_DIR := $(CURDIR)/.bin
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/.bin:$(PATH)

.PHONY: all setup system-deps image-deps console venv lock binaries ui image chart-sync bundle check lint test bench demo clean

all: setup

setup: system-deps venv binaries

# Debian packages the data plane, the browser tests and the alerting tests need (root, apt).
system-deps:
	@hack/install-system-deps.sh
	@hack/install-system-deps.sh browser
	@hack/install-system-deps.sh monitoring

# What building the image needs (root, apt): buildah, and debootstrap for the Debian base image.
image-deps:
	@hack/install-system-deps.sh image

# The product (gateway/) and, for development, the testbed (testbed/) and the tools, at exactly the
# versions of requirements-dev.lock, each file checked against its hash; then flowgate and the
# testbed themselves, editable, built with the locked setuptools.
venv: $(STAMP)
$(STAMP): pyproject.toml testbed/pyproject.toml requirements-dev.lock
	@echo "flowgate: installing Python dependencies into $(VENV)/ (requirements-dev.lock, hashes checked) ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	@PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install -q --no-deps --no-build-isolation -e ./testbed -e '.[dev]'
	@touch $(STAMP)

# Lock the Python dependencies again (requirements.lock, requirements-dev.lock, with hashes) after
# changing them in pyproject.toml or requirements-dev.in, or to take newer versions.
lock: venv
	@hack/lock-python.sh

binaries:
	@hack/build-binaries.sh

# The web UI (console plugin, standalone page, GraphiQL) from plugin-ui/, into gateway/web/.
ui:
	@hack/build-ui.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The real OpenShift console the browser tests run the plugin in, unpacked into the build cache
# (hack/install-console.sh says where the archive comes from).
console:
	@hack/install-console.sh

# The container image localhost/flowgate:<version>, built with buildah (no daemon or registry
# needed); OCI_ARCHIVE=flowgate.tar also writes an archive for `podman load` or `skopeo copy`.
image:
	@hack/build-image.sh $(if $(OCI_ARCHIVE),--oci-archive $(OCI_ARCHIVE))

# Copy deploy/crds, deploy/rbac/clusterroles.yaml, deploy/admission and deploy/monitoring's alerts and
# dashboard into the Helm chart after changing them.
chart-sync:
	@hack/sync-chart-crds.sh

# The OLM bundle (bundle/) and the add-on's manifests (gateway/addon/manifests.yaml), generated
# again from deploy/ after changing it or deploy/olm/; IMAGE=registry/flowgate@sha256:... names the
# image you pushed (every container and relatedImages).
bundle: venv
	@$(PY) hack/generate-bundle.py $(if $(IMAGE),--image $(IMAGE))

# The fast tier: lint, types and unit tests. Python only: no root, no Go, no network.
check: lint
	$(VENV)/bin/pytest -q tests/unit -m "not slow"

# The whole suite, as CI runs it: lint and types, then two lanes at once (hack/test-suite.sh): the
# web UI's lint, types and tests, the unit tier and the integration tier (real API server, the
# manifests in deploy/ with kubectl and helm) beside the end-to-end tier (real OVS, real browser,
# the real console, the container image built and run with buildah). The benchmark is not part of
# it (figures, not assertions): `make bench BENCH=--quick` is its smoke.
test: setup image-deps console lint
	@hack/test-suite.sh

# Every section of bench/RESULTS.md, measured again: the gateway at cluster scale against a naive
# baseline, 1,000 node agents with and without watch filtering, and what flow export costs a node
# on real Open vSwitch (root; it also writes the cost table the product ships,
# gateway/domain/export_cost.json, and the README's table), and each node's projected export
# against what its collector receives (root).
# SECTION=gateway|agents|dataplane|projection measures one and keeps the others; BENCH=--quick runs the smoke
# instead (and writes nothing).
bench: setup
	$(VENV)/bin/python -m bench $(BENCH) $(if $(SECTION),--section $(SECTION))

# A local cluster with three OVS nodes, node agents and the gateway; Ctrl-C tears it down.
demo: setup ui
	$(VENV)/bin/flowgate-testbed demo --dir $(CURDIR)/.demo

clean:
	rm -rf $(VENV) .bin .demo
