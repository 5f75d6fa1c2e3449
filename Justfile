# bucky's recipes. `npm run up` and `npm test` install the tools, then call these.

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/node_modules/.bin:" + env_var("PATH")

# List the recipes
default:
    @just --list

# Compile the single `dist/bucky` executable. cpu-features is an optional native addon
# of ssh2, which loads it in a try/catch: left out, ssh2 runs its pure-JS code. The seal
# worker is an entry point of its own: Bun's compiled binaries need that for workers.
build:
    bun build cmd/main.ts lib/backup/seal-worker.ts --compile --minify --bytecode --sourcemap --external cpu-features --outfile dist/bucky

# Create a zone in this home if there is none, then run the node (Ctrl-C stops it)
up: build
    ./dist/bucky init --if-missing
    ./dist/bucky daemon

# Run every test: unit, property and end-to-end (builds first)
test: build
    bun test --timeout 30000

# Unit and property tests only (no binary needed)
unit:
    bun test --timeout 30000 protocol lib cmd

# End-to-end tests against the compiled binary
e2e: build
    bun test --timeout 30000 test

# Type-check and lint
lint:
    tsc -p .
    biome check .

# Everything CI checks
check: lint test

# What `npm test` runs: the whole suite
ci: check

# Benchmarks, each beside its anchor measured in the same run
bench: build
    bun bench/startup.ts
    bun bench/sync.ts
    bun bench/apps.ts
    bun bench/gateway.ts
    bun bench/relay.ts
    bun bench/backup.ts

# Format the code
fmt:
    biome check --write .
