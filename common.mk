# Shared by Makefile and Makefile-stream: the venv and the commands run inside it.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CLI := $(BIN)/tweet-triage
# Loads .env (and the running stand-ins' settings) for tools that are not ours.
ENVRUN := $(BIN)/python -m tweet_triage.envrun
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap.sh
	touch $@

##@ Help
help: ## List the targets with one line each, under their section (`##@ ...` lines)
	@awk 'BEGIN {FS = ":.*?## "} /^##@ / {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*?## / {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
