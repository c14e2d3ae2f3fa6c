# `make` or `make help` lists the targets: each one's `## ` comment is its help line.
# ENV=<stack> picks the stack (default dev); every pulumi command runs on the
# project's local backend and passphrase (scripts/local-backend.sh).

VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
ENV     ?= dev

.DEFAULT_GOAL := help
.PHONY: help up down secret config plan render rules references test tools bench clean verify demo gameday

help: ## list the targets (ENV=<stack> picks the stack; default dev)
	@echo "make <target> [ENV=<stack>]"
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  make %-10s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

up: $(STAMP) ## deploy the stack: local Docker for dev, the kubeconfig's cluster for ENV=staging|prod (pulumi up)
	@bash scripts/up.sh $(ENV)

down: $(STAMP) ## remove the deployed stack, its volumes and their data (pulumi destroy)
	@bash scripts/up.sh $(ENV) --destroy

secret: ## store a secret: make secret KEY=grafanaAdminPassword (value from stdin or a prompt)
	@bash scripts/config.sh $(ENV) secret

config: ## set a plain setting: make config KEY=alerting.thresholds.hourlyBudgetUsd VALUE=250
	@bash scripts/config.sh $(ENV) plain

plan: $(STAMP) ## what pulumi up would create, and a digest of what each container gets (offline)
	$(PYTHON) -m stack plan $(ENV)

render: $(STAMP) ## write every generated file into rendered/<env>/ (offline)
	$(PYTHON) -m stack render $(ENV)

verify: $(STAMP) ## check the deployed stack really works (after make up); URL="prometheus=https://... loki=..." where a component answers elsewhere
	$(PYTHON) -m stack verify $(ENV) $(foreach url,$(URL),--url $(url))

rules: $(STAMP) ## rewrite the reference rule files in alerts/ from the generator
	$(PYTHON) -m stack rules

references: $(STAMP) ## rewrite the generated pages of docs/reference/ (settings, alerts, contract, redaction, boards)
	$(PYTHON) -m stack references

# Two runs: every test but the game day spread over pytest-xdist workers, one
# more than the cores since the live tests mostly wait on Alertmanager's
# clocks (a file stays on one worker: its fixtures start once; files are
# handed out in tests/conftest.py's order, longest first), then the game
# day alone, since its pages are timed and it keeps two cores busy by itself.
# Both always run; either failing fails the target.
# At most 8: each worker picks ports from its own slice of about 22,000.
TEST_WORKERS ?= $(shell n=$$(( $$(nproc) + 1 )); echo $$(( n < 8 ? n : 8 )))

test: $(STAMP) tools ## install what the tests need and run them (what CI runs)
	@$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --ignore=tests/gameday; suite=$$?; \
	$(PYTHON) -m pytest tests/gameday; gameday=$$?; \
	exit $$(( suite || gameday ))

gameday: $(STAMP) tools ## play the incidents of tests/gameday on 127.0.0.1 and print who got paged, how soon
	$(PYTHON) -m pytest tests/gameday -p no:cacheprovider -q -s

tools: ## fetch the real checkers into the project (.tools/, tests/logql): promtool, amtool, Prometheus, Alertmanager, the LogQL grammar
	@bash scripts/install-tools.sh

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $(BENCH_STAMP)

demo: $(STAMP) ## run the demo gateway on 127.0.0.1 (Ctrl-C stops it)
	$(PYTHON) -m examples.gateway.run

bench: $(BENCH_STAMP) ## measure: redaction in Promtail (PROMTAIL=<binary> for the real one), the kit's logs, metrics and middleware, plan/render
	@echo "make bench 1/5: redaction in Promtail's pipeline ($(if $(PROMTAIL),the real Promtail: about 21 minutes,the Go model, built first))"
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTHON) bench/log_redaction.py $(if $(PROMTAIL),--promtail $(PROMTAIL))
	@echo "make bench 2/5: the kit's logging (about half a minute)"
	@$(PYTHON) bench/kit_logging.py
	@echo "make bench 3/5: one /metrics scrape (about a minute)"
	@$(PYTHON) bench/kit_metrics.py
	@echo "make bench 4/5: the kit's middleware under uvicorn (it prints its own estimate)"
	@$(PYTHON) bench/kit_middleware.py
	@echo "make bench 5/5: the offline commands (about 15 seconds)"
	@$(PYTHON) bench/offline_commands.py

clean: ## remove the virtualenv, rendered/, the checkers in .tools/, the LogQL grammar's node_modules and pytest's cache
	rm -rf $(VENV) rendered .tools tests/logql/node_modules .pytest_cache
