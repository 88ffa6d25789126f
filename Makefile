# Data and model stages, tests, benchmarks, the demo. Infrastructure and streaming: Makefile-stream.
.DEFAULT_GOAL := help
include common.mk

.PHONY: help install lint format test test-unit test-integration corpus sync combine filter \
	process label export-for-labelling split data train train-best evaluate inference report retrain mlflow-ui \
	notebooks bench demo live live-down clean

##@ Set-up and checks
install: $(STAMP) ## Create .venv and install the project with everything it needs

lint: $(STAMP) ## ruff check and format check; the layering contracts (.importlinter)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

format: $(STAMP) ## ruff fix and format
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# Two pytest-xdist workers: the integration tests wait on servers, SSH and subprocesses much of
# the time, so two run side by side on two cores; the SSH-host tests share one worker.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup

test: $(STAMP) ## The whole test suite: unit, data, model and integration (the CI command)
	$(PYTEST)

test-unit: $(STAMP) ## Unit tests only (no stand-ins)
	$(PYTEST) -m "not integration"

test-integration: $(STAMP) ## Integration tests against the local stand-ins
	$(PYTEST) -m integration

##@ Data stages (folders under DATA_DIR)
corpus: $(STAMP) ## Rebuild the bundled demo corpus from the SemEval files (SOURCE=...)
	$(CLI) corpus build $(if $(SOURCE),--source $(SOURCE))

sync: $(STAMP) ## Copy new raw objects from the bucket's raw prefix to DATA_DIR/raw
	$(CLI) sync

combine: $(STAMP) ## Raw JSON Lines -> de-duplicated Parquet by date (quarantine bad records and objects)
	$(CLI) combine

filter: $(STAMP) ## Keep mission tweets (profile's keep/drop terms), with a reason per tweet
	$(CLI) filter

process: $(STAMP) ## Normalised model text, features, near-duplicate removal
	$(CLI) process

label: $(STAMP) ## Join human annotations, derive needs_support
	$(CLI) label

export-for-labelling: $(STAMP) ## Write a sample of unlabelled tweets as CSV for annotators
	$(CLI) export-for-labelling

split: $(STAMP) ## Chronological train/val/test split with a manifest
	$(CLI) split

data: sync combine filter process label split ## All data stages in order

##@ Model (MODEL_DIR, REPORTS_DIR, the MLflow registry)
train: $(STAMP) ## Fine-tune the needs-support classifier (GPU if present)
	$(CLI) train $(TRAIN_ARGS)

train-best: $(STAMP) ## The best CPU model: mission + bundled general set, 1 epoch; champion, test figures in its run
	$(CLI) train --budget full --num-train-epochs 1 --promote $(TRAIN_ARGS)
	$(CLI) evaluate

evaluate: $(STAMP) ## ML and business metrics on the test split, plots, report
	$(CLI) evaluate

inference: $(STAMP) ## Predict on DATA_DIR's test split (PREDICT_ARGS="--engine torch") and the trends report with a drift check
	data_dir="$$($(CLI) config get DATA_DIR)"
	$(CLI) predict --input "$$data_dir/splits/test" --output "$$data_dir/predictions/test.parquet" $(PREDICT_ARGS)
	$(CLI) trends --predictions "$$data_dir/predictions/test.parquet"

report: $(STAMP) ## Rebuild the evaluation report from the last evaluation
	$(CLI) report

retrain: $(STAMP) ## Challenger on every label so far; promoted only when better (RETRAIN_ARGS="--budget demo")
	$(CLI) triage export-decisions
	$(CLI) retrain $(RETRAIN_ARGS)

mlflow-ui: $(STAMP) ## Browse the MLflow runs (http://127.0.0.1:5001)
	$(BIN)/mlflow ui --backend-store-uri "$$($(CLI) tracking-uri)" --host 127.0.0.1 --port 5001

##@ Notebooks, benchmarks, the demo and the whole stack on this machine
notebooks: $(STAMP) ## Run the notebooks headless against the local stand-ins (notebooks/executed/)
	$(CLI) notebooks run

bench: $(STAMP) ## Benchmarks (benchmarks/results/); BENCH="soak corpus_model" runs the long ones
	$(BIN)/python -m benchmarks.run $(BENCH)

demo: $(STAMP) ## From nothing to a trained model and report, then tear everything down
	$(CLI) demo

live: $(STAMP) ## Whole stack left running with a model (trains one if none); prints inbox URL + login
	$(BIN)/python -m tweet_triage_local.live up

live-down: $(STAMP) ## Stop everything `make live` started
	$(BIN)/python -m tweet_triage_local.live down

clean: ## Stop local stand-ins, remove generated data, models, reports, run state (keeps .venv)
	if [ -x $(CLI) ]; then $(CLI) local down; fi
	rm -rf data models reports mlruns notebooks/executed .run spark-warehouse
