# underwrite: `make run` trains the model, `make test` runs every test. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --locked --no-sync
AZURITE_PORT ?= 10000

.PHONY: help setup run repro push pull test lint format azurite azurite-stop doctor clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: .venv/.synced node_modules/.installed ## Install Python and Node dependencies (uv, npm)

azurite: setup ## Start the local Azure Blob emulator and point the DVC remote at it
	$(RUN) underwrite azurite start --port $(AZURITE_PORT)
	$(RUN) underwrite azurite configure-dvc

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
	@echo
	@$(RUN) dvc metrics show

lint: setup ## ruff check and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: setup ## Fix what ruff can fix
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: setup lint ## Run the whole test suite (real dvc, Azurite, bentoml serve)
	$(RUN) pytest

clean: azurite-stop ## Stop services and remove local tool folders (not data or git)
	rm -rf .tools .pytest_cache .ruff_cache
