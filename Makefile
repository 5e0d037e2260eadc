# Two commands for a fresh machine with Python 3.11 and Node.js 20:
#   make run   - install everything, start moto + mountebank + chalice local, print demo keys
#   make test  - install everything, lint, run every test (the tests start their own stack)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
MB_STAMP := mountebank/node_modules/.installed
# Linters of the API document (npm packages of their own, like the mock bank's).
API_LINT := tools/api-lint
API_LINT_STAMP := $(API_LINT)/node_modules/.installed
# The headless Chromium of the browser tests (npm @sparticuz/chromium: no browser download).
BROWSER_STAMP := browser/node_modules/.installed

.PHONY: install run test lint bench soak package preview deploy clean

install: $(PY_STAMP) $(MB_STAMP) $(BROWSER_STAMP)

$(PY_STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# The merchants' Python client (clients/python), which the tests drive against the stack.
	$(PY) -m pip install --quiet --disable-pip-version-check -e ./clients/python
	touch $@

$(MB_STAMP): mountebank/package-lock.json
	cd mountebank && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(API_LINT_STAMP): $(API_LINT)/package-lock.json
	cd $(API_LINT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(BROWSER_STAMP): browser/package-lock.json
	cd browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(PY_STAMP) $(MB_STAMP)
	$(PY) -m payments_admin.stack

# mypy reads its settings (strict on chalicelib and pulumi/) from pyproject.toml; ruff format
# checks the Python files and the Python blocks of the Markdown docs.
# The API document must pass Redocly's and Spectral's OpenAPI rules with no error or warning.
lint: $(PY_STAMP) $(API_LINT_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(API_LINT)/node_modules/.bin/redocly \
		lint --config $(API_LINT)/redocly.yaml docs/openapi.json
	$(API_LINT)/node_modules/.bin/spectral lint --ruleset $(API_LINT)/spectral.yaml \
		--fail-severity warn docs/openapi.json

test: install lint
	$(PY) -m pytest

# Latency, throughput, CPU and round trips beside a floor: writes docs/benchmarks.md (+ .png).
bench: install
	$(PY) scripts/bench.py

# 10,000 charges against one local stack (minutes): its figures go into docs/benchmarks.md.
# It measures the stack, not the per-merchant rate limits (which have their own tests): the
# demo merchant's flows would otherwise meet the token limit (20/s) and get 429s.
soak: install
	PAYMENTS_RATE_LIMIT_RPS=100000 PAYMENTS_RATE_LIMIT_BURST=100000 \
	PAYMENTS_TOKEN_RATE_LIMIT_RPS=100000 PAYMENTS_TOKEN_RATE_LIMIT_BURST=100000 \
	$(PY) -m pytest -m soak tests/soak -q

# Lambda artifact for Pulumi (docs/deploy.md): one zip for every function.
PACKAGE_DIR ?= build/chalice
package: $(PY_STAMP)
	rm -rf $(PACKAGE_DIR)
	cd chalice_app && AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
		$(abspath $(VENV))/bin/chalice package --stage dev $(abspath $(PACKAGE_DIR))
	@$(PY) -c "import os,sys; z=sys.argv[1]; print(f'{z}: {os.path.getsize(z)/1e6:.1f} MB')" \
		$(PACKAGE_DIR)/deployment.zip

# Pulumi CLI wrappers (the CLI is installed separately; STACK selects the stack).
STACK ?= dev
preview: package
	PATH=$(abspath $(VENV))/bin:$$PATH pulumi preview --stack $(STACK)

deploy: package
	PATH=$(abspath $(VENV))/bin:$$PATH pulumi up --stack $(STACK)

clean:
	rm -rf $(VENV) mountebank/node_modules $(API_LINT)/node_modules browser/node_modules build .run .pytest_cache .ruff_cache
