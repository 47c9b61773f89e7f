# Two commands on a fresh clone: `make demo` and `make test`. Every target is idempotent.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JARS_STAMP := .stack/jars/.resolved
# command:Debian package, installed by `make setup` only when the command is missing
DEBS := kcat:kcat psql:postgresql-client chromium:chromium

.PHONY: setup debs test test-slow demo up down status lint bench

setup: $(VENV)/.installed $(JARS_STAMP) debs

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# Kafka's jars from Maven Central (pinned in stack/pom.xml; Maven's cache is ~/.m2).
$(JARS_STAMP): stack/pom.xml $(VENV)/.installed
	@$(BIN)/python -m stack jars >/dev/null
	@touch $@

debs:
	@stack/debs.sh $(DEBS)

# Start Kafka (127.0.0.1:9092) and the engine (127.0.0.1:6875) in the background.
# `make up FORMAT=avro` (or STACK_FORMAT=avro) also starts the schema registry (127.0.0.1:8081).
up: setup
	@$(BIN)/python -m stack up $(if $(filter avro,$(FORMAT)),--registry)

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m stack down; fi

status:
	@$(BIN)/python -m stack status

# pytest's own exit codes pass through: 5 (no tests collected) fails the target too.
# TEST_WORKERS pytest-xdist workers (0: one process). Each test module runs whole on one of
# them, the slowest modules first; the run's controller owns the shared Kafka (tests/conftest.py).
TEST_WORKERS ?= 2
test: setup
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-slow: setup
	$(BIN)/pytest -m slow

demo: setup
	@$(BIN)/python -m stack.demo

# The marts benchmark on real Kafka and the real engine, with Flink SQL and Pathway on the same
# topics (each in its own venv under .bench/): a table, and .bench/latest.json.
# `make bench QUICK=1` for a short run; `make bench SOAK=30m` for the soak (10,000 events/s,
# memory every minute); BENCH_ARGS passes other options (see --help).
bench: setup
	$(BIN)/python bench/marts_bench.py $(if $(QUICK),--quick) $(if $(SOAK),--soak $(SOAK)) $(BENCH_ARGS)

lint: setup
	$(BIN)/ruff check .
