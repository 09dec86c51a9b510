# batchpipe — `make help` lists the targets. Quick start: `make demo`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin
STACK_ENV := $${BATCHPIPE_STACK_DIR:-.stack}/env
WITH_STACK := set -a && . $(STACK_ENV) && set +a &&
DBT := .venvs/dbt/bin/dbt
DBT_ARGS := --project-dir dbt --profiles-dir dbt

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: setup
setup: ## Install what is missing: system packages (as root), uv, the Python environments
	@scripts/setup.sh all

.PHONY: stack-up
stack-up: setup ## Start the local stack (PostgreSQL, Kafka, S3 API server) and the services
	@$(VENV)/batchpipe stack up

.PHONY: stack-down
stack-down: ## Stop the local stack (keeps its data; `batchpipe stack down --wipe` deletes it)
	@$(VENV)/batchpipe stack down

.PHONY: demo
demo: setup ## The main job: stack + services + Airflow, a 1M-row file through the whole pipeline
	@$(VENV)/batchpipe demo

AIRFLOW_PYTEST := .venvs/airflow/bin/python -m pytest --confcutdir tests/orchestration -p no:cacheprovider

.PHONY: test
test: setup ## Run every test against the local stack (started if needed)
	@$(VENV)/batchpipe stack up
	@$(VENV)/pytest tests -m "not slow" --ignore tests/orchestration
	@$(AIRFLOW_PYTEST) tests/orchestration

.PHONY: test-unit
test-unit: setup ## The quick loop, under a minute: the tests that need no stack, no lint, no build
	@$(VENV)/pytest tests -m "not integration and not slow and not build" --ignore tests/orchestration --ignore tests/lint -q

.PHONY: test-orchestration
test-orchestration: setup ## Only the Airflow tests (DAGs, lag trigger, end to end), in Airflow's venv
	@$(VENV)/batchpipe stack up
	@$(AIRFLOW_PYTEST) tests/orchestration

.PHONY: test-images
test-images: ## Build the service images from services/Dockerfile, run them on the local stack (as root: docs/docker.md)
	@scripts/setup.sh images
	@$(VENV)/batchpipe stack up
	@$(VENV)/pytest tests/images --durations=10

.PHONY: test-faults
test-faults: setup ## The full fault-injection suite (slow)
	@$(VENV)/batchpipe stack up
	@$(VENV)/pytest tests/faults

.PHONY: lint
lint: setup ## pre-commit hooks on every file: ruff, mypy, sqlfluff, hadolint, compose schema
	@$(VENV)/pre-commit run --all-files

.PHONY: dbt-build
dbt-build: ## dbt build (models + tests) against the local stack
	@$(WITH_STACK) $(DBT) build $(DBT_ARGS)

.PHONY: dbt-docs
dbt-docs: ## dbt docs generate against the local stack
	@$(WITH_STACK) $(DBT) docs generate $(DBT_ARGS)

.PHONY: bench
bench: ## Benchmark batchpipe against COPY, pandas INSERT and dlt; writes docs/benchmarks.md
	@scripts/setup.sh bench
	@$(VENV)/batchpipe stack up
	@$(VENV)/python -m bench.run
	@$(VENV)/python -m bench.cli_startup

.PHONY: bench-history
bench-history: ## Only the dbt history curve of `make bench` (1M, 10M, 30M rows of history)
	@$(VENV)/batchpipe stack up
	@$(VENV)/python -m bench.run --only-history

.PHONY: dbt-quality
dbt-quality: ## Every dbt test over every row (what the daily batchpipe_quality DAG runs)
	@$(WITH_STACK) $(DBT) test $(DBT_ARGS) --selector full_history --vars '{test_scope: full}'

# The Docker targets need Docker (with Compose v2.23+), make and a POSIX shell, nothing else:
# no Python, Java, Maven or PostgreSQL on the host.
.PHONY: up
up: ## Docker: build the images, start the whole stack, wait until every service is healthy
	@sh infra/docker/write-env.sh .env.example .env
	@mkdir -p data/inbox
	docker compose up --build --detach --wait --wait-timeout 900
	@docker compose ps

COMPOSE_DEMO_ARGS ?=
.PHONY: compose-demo
compose-demo: ## Docker: a 1M-row sample through batchpipe_ingest via Airflow's REST API (after `make up`)
	@mkdir -p data/inbox
	docker compose run --rm --build --user "$$(id -u):$$(id -g)" demo $(COMPOSE_DEMO_ARGS)

.PHONY: down
down: ## Docker: stop the stack (data kept in volumes; `docker compose down -v` deletes it)
	docker compose down

.PHONY: clean
clean: ## Stop the stack and delete its state
	@$(VENV)/batchpipe stack down --wipe
