# underwrite: `make run` trains the model, `make test` runs every test. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Variables (set on the command line: `make serve SERVE_PORT=3001`); `make help` lists them.
UV_VERSION ?= 0.13.8## uv bootstrapped into .tools/ when none is installed
AZURITE_PORT ?= 10000## the local Azure Blob emulator's port
SERVE_PORT ?= 3000## `make serve` listens on localhost:SERVE_PORT
STAGING_PORT ?= 3100## local staging (`make stage`, `make release`)
PROD_PORT ?= 3200## local production (`make promote`, `make rollback`)
BASE ?= main## what `make report` compares with
VERSION ?=## a registered model version for build/stage/promote (default: dvc.lock's)
INFERENCE_LOG ?= logs/inference## the log `make drift` and `make simulate` use
LABELS ?= logs/labels.csv## true outcomes `make simulate` writes and the retrain loop reads
SHIFT ?= none## `make simulate`: none or a shift in params.yaml drift.shifts
ROWS ?=## `make simulate`: applications to replay (default: drift.window_rows)
APPEND ?=## `make simulate APPEND=1` adds to the log instead of starting a fresh one
DRIFT_END ?= now## end of the drift window: now, latest or an ISO 8601 time

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# the bootstrapped uv on PATH, for recipes and for `bentoml build` (it locks packages with uv)
export PATH := $(CURDIR)/.tools/bin:$(PATH)
RUN := $(UV) run --locked --no-sync
export UNDERWRITE_STAGING_PORT := $(STAGING_PORT)
export UNDERWRITE_PROD_PORT := $(PROD_PORT)

.PHONY: help setup run repro push pull test test-fast lint format azurite azurite-stop doctor clean

help: ## List the targets and the variables
	@echo "Targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables (make TARGET NAME=value):"
	@awk '/^[A-Z_]+ \?=.*## / {name = $$1; rest = substr($$0, index($$0, "?=") + 2); split(rest, part, "## "); \
		gsub(/^ +| +$$/, "", part[1]); printf "  \033[33m%-14s\033[0m %-16s %s\n", name, (part[1] == "" ? "(none)" : part[1]), part[2]}' $(MAKEFILE_LIST)
	@echo "Exit codes: 0 ok, 1 error, 3 gate refused, 4 drift found, 5 cannot tell;"
	@echo "make reports a recipe's code as 'make: *** [...] Error N' and then exits 2 itself."

.tools/bin/uv:
	@echo "installing uv $(UV_VERSION) into .tools/"
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	@echo "installing the Python dependencies from uv.lock and compiling them (about a minute)"
	$(UV) sync --locked --compile-bytecode  # each stage process then skips compiling its imports
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "installing Azurite and the other Node tools from package-lock.json"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: .venv/.synced node_modules/.installed ## Install Python and Node dependencies (uv, npm)

azurite: setup ## Start the local Azure Blob emulator and point the DVC remote at it
	$(RUN) underwrite azurite start --port $(AZURITE_PORT)
	$(RUN) underwrite azurite configure-dvc --port $(AZURITE_PORT)

azurite-stop: ## Stop the local Azure Blob emulator
	$(RUN) underwrite azurite stop

doctor: setup ## Check the DVC remote: write, read and delete one test blob
	$(RUN) underwrite doctor

repro: setup ## Run the pipeline (dvc repro)
	$(RUN) dvc repro

push: setup ## Push data, models and the run cache to the blob remote
	$(RUN) dvc push --run-cache

pull: setup ## Pull data, models and the run cache from the blob remote
	$(RUN) dvc pull --run-cache

run: azurite repro push ## Set everything up, train and evaluate (dvc repro), push to blob storage
	@$(RUN) underwrite summary

lint: setup ## ruff check and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: setup ## Fix what ruff can fix
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: setup lint ## Run the whole test suite (real dvc, Azurite, bentoml serve)
	$(RUN) pytest

test-fast: setup ## The unit tests that start no process (well under a minute): the inner loop
	$(RUN) pytest tests/unit -m "not slow and not integration" -q

# Release (docs/release.md). VERSION=v0.0.3 picks a registered version; without it, the model
# pinned by the committed dvc.lock (registered as a new version when its md5 is new).
.PHONY: build stage promote release rollback release-status release-stop

build: setup ## Build a bento from a registered model version (VERSION=..., default: dvc.lock's)
	$(RUN) underwrite release build $(VERSION)

stage: setup ## Serve a version as staging, run the smoke suite, then assign it to staging
	$(RUN) underwrite release stage $(VERSION)

promote: setup ## Promote the staged version to production if the quality gate allows
	$(RUN) underwrite release promote $(VERSION)

release: setup ## build -> stage -> smoke -> promote the committed dvc.lock's model
	$(RUN) underwrite release all

rollback: setup ## Put production back on the version it served before
	$(RUN) underwrite release rollback

release-status: setup ## Registered versions, stages, and what staging and production serve
	$(RUN) underwrite release status

release-stop: setup ## Stop the local staging and production servers
	$(RUN) underwrite release stop

# The pull-request report (docs/ci.md), as CI posts it: reproduce, then compare with BASE.
# The report is written even when dvc repro fails (it says so); make still exits non-zero.
# A refused gate (judged by BASE's policy, docs/judgement.md) makes the report command exit 3;
# a failed repro's own code comes first.
.PHONY: report
REPORT_DIR ?= reports/pr

report: setup ## Reproduce, then write reports/pr/report.md: what changed against BASE (default main)
	@mkdir -p $(REPORT_DIR)
	@set -o pipefail; status=0; report=0; \
	$(RUN) dvc repro 2>&1 | tee $(REPORT_DIR)/repro.log || status=$$?; \
	$(RUN) underwrite report --base $(BASE) --out $(REPORT_DIR) \
		--repro-log $(REPORT_DIR)/repro.log --fail-on-gate $(REPORT_ARGS) || report=$$?; \
	if [ $$status -ne 0 ]; then exit $$status; fi; exit $$report

# Less discriminatory alternatives (docs/fair-lending.md): one DVC experiment per alternative
# declared in params.yaml (lda), then the frontier of ROC AUC against the race gap.
.PHONY: lda

lda: setup ## Search less discriminatory alternatives (dvc exp queue); frontier in reports/lda
	$(RUN) dvc repro
	$(RUN) python -m underwrite.lda --out reports/lda

# Serving (docs/serving.md): the current model behind the HTTP API on localhost:$(SERVE_PORT).
.PHONY: serve requirements

serve: setup ## Serve the current model (import it into BentoML, then bentoml serve) on SERVE_PORT
	$(RUN) underwrite serve --port $(SERVE_PORT)

# With each package's hashes: the container's `uv pip install` checks every download against them.
requirements: setup ## Export uv.lock's runtime packages to requirements.txt (what a bento installs)
	$(UV) export --frozen --no-dev --no-emit-project -o requirements.txt

# Drift monitoring (docs/drift.md): the inference log against the training data, and the
# loop back to retraining. `make drift` exits 0 no drift, 4 drift, 5 cannot tell, 1 bad input.
.PHONY: drift simulate retrain-loop

drift: setup ## Check the inference log for drift (INFERENCE_LOG=logs/inference); report in reports/drift
	$(RUN) dvc repro profile
	$(RUN) underwrite drift --log $(INFERENCE_LOG) --end $(DRIFT_END)

simulate: setup ## Replay held-out applications into a fresh log (APPEND=1 adds to it; SHIFT=, ROWS=)
	$(RUN) dvc repro prepare train
	$(RUN) underwrite simulate --to-log $(INFERENCE_LOG) --shift $(SHIFT) \
		$(if $(ROWS),--rows $(ROWS)) --labels-out $(LABELS) $(if $(APPEND),--append)

retrain-loop: azurite ## Drift check -> labels -> new data version -> dvc repro -> push to Azurite
	$(RUN) dvc repro
	$(RUN) underwrite retrain loop --log $(INFERENCE_LOG) --labels $(LABELS) --end $(DRIFT_END) --push
	@echo; cat reports/retrain/report.md

# The talk's four demos, replayed in a scratch copy (docs/walkthrough.md).
.PHONY: demo

demo: setup ## Replay the talk's four demos in a scratch copy; prints where its artefacts are
	$(RUN) underwrite demo $(DEMO_ARGS)

clean: azurite-stop ## Stop services and remove local tool folders (not data or git)
	rm -rf .tools .pytest_cache .ruff_cache
