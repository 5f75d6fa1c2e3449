# bucky's recipes. `npm run up` and `npm test` install the tools, then call these.

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/node_modules/.bin:" + env_var("PATH")

# List the recipes
default:
    @just --list

# Compile the single `dist/bucky` executable. cpu-features is an optional native addon
# of ssh2, which loads it in a try/catch: left out, ssh2 runs its pure-JS code. The seal
# worker is an entry point of its own: Bun's compiled binaries need that for workers.
# Split into ES module chunks, a command loads only the code it runs: `bucky --version`
# 15 ms before, 9 after (the whole bundle's bytecode was read at every start). Each
# chunk's source map is named by its content: the last build's are removed first.
# The binary reads no bunfig.toml, .env, package.json or tsconfig.json from the directory
# it runs in (Bun's compiled binaries read the first two by default): a bunfig.toml's
# preload would run its code as whoever typed `bucky` there, a .env choose BUCKY_HOME.
# The JIT starts ten times slower to compile; cmd/main.ts sets it back once a command has
# run 100 ms (`bucky status` with no node: 2-5 ms less CPU).
# Built twice: the first binary is run the ways bucky most often starts (a daemon, then
# `status`: build/bytecode-order.ts), recording which functions of its bytecode each run
# used, and the second lays those out together at the front of the bytecode, so a process
# keeps resident only the pages of what it runs (an idle daemon 3-4 MB less).
build:
    rm -f dist/*.js.map
    bun build {{ build_flags }} --outfile dist/bucky
    rm -rf dist/bytecode-order dist/*.js.map
    bun build {{ build_flags }} --bytecode-order "$(bun build/bytecode-order.ts dist/bucky dist/bytecode-order)" --outfile dist/bucky

build_flags := "cmd/main.ts lib/backup/seal-worker.ts --compile --splitting --format esm --minify --bytecode --sourcemap --external cpu-features --no-compile-autoload-bunfig --no-compile-autoload-dotenv --no-compile-autoload-package-json --no-compile-autoload-tsconfig --compile-jit-policy 10"

# Put `bucky` on the PATH, create a zone in this home if there is none, and run its node
# in the background (`bucky stop` ends it; `bucky daemon` is the foreground form)
up: build link
    ./dist/bucky up

# Link dist/bucky into /usr/local/bin as root, else into ~/.local/bin, saying which
link:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ $(id -u) == 0 ]]; then bin=/usr/local/bin; else bin="$HOME/.local/bin"; fi
    mkdir -p "$bin"
    ln -sfn "$PWD/dist/bucky" "$bin/bucky"
    echo "bucky is $bin/bucky (a link to $PWD/dist/bucky)" >&2
    case ":$PATH:" in
      *":$bin:"*) ;;
      *) echo "$bin is not on your PATH: add it (export PATH=\"$bin:\$PATH\") to type bucky by name" >&2 ;;
    esac

# Install the system packages the tests need (as root), or say which are missing
system-packages:
    test/system-packages.sh

# Run every test: unit, property and end-to-end (builds first). Two files at a time, each
# in a worker process of its own: most end-to-end files wait on daemons more than they
# compute, and on two cores the suite takes about half as long as one file at a time.
test: system-packages build
    bun test --parallel=2 --timeout 30000

# Unit and property tests only (no binary needed)
unit:
    bun test --timeout 30000 protocol lib cmd

# End-to-end tests against the compiled binary
e2e: system-packages build
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
    test/system-packages.sh --bench
    bun bench/startup.ts
    bun bench/memory.ts
    bun bench/sync.ts
    bun bench/apps.ts
    bun bench/images.ts
    bun bench/gateway.ts
    bun bench/relay.ts
    bun bench/backup.ts
    bun bench/verify.ts
    bun bench/replication.ts
    bun bench/state-seal.ts
    bun bench/compaction.ts
    bun bench/collection-stall.ts

# Format the code
fmt:
    biome check --write .
