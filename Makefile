# Orchestre — two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
LAYERS := build/layers
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: install run reset test fuzz synth cdk-app layers openapi bench clean

$(STAMP): pyproject.toml requirements/runtime.txt requirements/dev.txt requirements/validation.txt requirements/pdf.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements/dev.txt -c constraints.txt
	@# The project's own folders on the venv's path (no build step): shared/ (the layer), local/, infra/, the root.
	$(PY) -c "import site,sys; open(site.getsitepackages()[0]+'/orchestre-dev.pth','w').write(chr(10).join(sys.argv[1:])+chr(10))" \
	  $(CURDIR)/shared $(CURDIR)/local $(CURDIR)/infra $(CURDIR)
	@touch $@

install: $(STAMP)

## Start the whole platform locally: API on 127.0.0.1:3000, moto behind it, demo data.
## Its data is kept in .local-data/ (git-ignored) from one run to the next.
run: install openapi
	$(PY) -m orchestre_local

## Forget the local platform's data: the next `make run` starts afresh with the demo data.
reset:
	rm -rf .local-data

## Install everything and run every test (unit, HTTP, end-to-end, CDK synth, cdk-nag, cfn-lint).
test: install openapi
	$(PY) -m pytest -n 2 --dist loadfile -q

## A long fuzzing run of every route (schemathesis, a new seed each time): 10 minutes per demo user.
fuzz: install openapi
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} FUZZ_SEED=$${FUZZ_SEED:-random} $(PY) -m pytest tests/test_fuzz.py -q

## The Lambda layers of the spec (core: domain + runtime deps; validation: saxonche and the
## official artefacts), built for Lambda's Linux with pip: no Docker.
$(LAYERS)/.built: requirements/runtime.txt requirements/validation.txt requirements/pdf.txt constraints.txt $(shell find shared/orchestre -name '*.py')
	$(PY) -m orchestre_local.build layers $(LAYERS)
	@touch $@

layers: install $(LAYERS)/.built

## Synthesize the CloudFormation template without Docker or the CDK CLI.
synth: layers openapi
	ORCHESTRE_LAYERS_DIR=$(LAYERS) $(PY) infra/app.py
	@echo "template: infra/cdk.out/Orchestre.template.json"

## What the CDK CLI runs (cdk.json "app": `npx cdk synth|deploy` from the root): the venv, the
## layers (unless ORCHESTRE_LAYERS_DIR names built ones), then the app. make's output goes to
## stderr: the CLI reads the cloud assembly the app writes to CDK_OUTDIR.
cdk-app: install openapi
	@test -n "$$ORCHESTRE_LAYERS_DIR" || $(MAKE) --no-print-directory -s layers >&2
	@$(PY) infra/app.py

## The OpenAPI document served by the docs function (built from every function's routes).
openapi: install
	$(PY) -m orchestre_local.openapi

bench: install
	$(PY) -m bench

clean:
	rm -rf build infra/cdk.out .pytest_cache
