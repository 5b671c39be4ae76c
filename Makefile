# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest demo bench-ledger bench-gateway down clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/saas-copilot up

down: install
	$(BIN)/saas-copilot down

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared services/tenant-api/tenant_api services/copilot-gateway/copilot_gateway services/saturn-local/saturn_local cli/saas_copilot

pytest: install
	$(BIN)/python -m pytest

test: lint typecheck pytest

demo: install
	$(BIN)/python -m saas_copilot.demo

bench-ledger: install
	$(BIN)/python bench/ledger.py

# A stack of its own (own data dir and ports), torn down whatever the bench says.
BENCH_ENV := COPILOT_DATA_DIR=.data/bench COPILOT_RUN_DIR=.run/bench GATEWAY_PORT=18000 \
	TENANT_API_PORT=18001 SATURN_LOCAL_PORT=18002 OFFLINE_LATENCY_MS=0

bench-gateway: install
	$(BENCH_ENV) $(BIN)/saas-copilot up --detach
	$(BIN)/python bench/gateway.py --stack .run/bench/stack.json; rc=$$?; \
	$(BENCH_ENV) $(BIN)/saas-copilot down; exit $$rc

clean:
	rm -rf $(VENV) .data .run
