# make up    - deploy the dev stack on local Docker (Pulumi local backend, passphrase secrets)
# make test  - install everything the tests need, then run them
# make plan / make render - what `pulumi up` would create / every generated file, offline

VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
ENV     ?= dev

.PHONY: up down test tools plan render bench clean

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

up: $(STAMP)
	@bash scripts/up.sh $(ENV)

down: $(STAMP)
	@bash scripts/up.sh $(ENV) --destroy

tools:
	@bash scripts/install-tools.sh

test: $(STAMP) tools
	$(PYTHON) -m pytest

plan: $(STAMP)
	$(PYTHON) -m stack plan $(ENV)

render: $(STAMP)
	$(PYTHON) -m stack render $(ENV)

clean:
	rm -rf $(VENV) rendered .pytest_cache

bench: $(STAMP)
	$(PYTHON) scripts/bench.py
