#!/usr/bin/env bash
# Fuzzes the running API from its own OpenAPI document with schemathesis and
# fails on any 5xx. Not part of CI (it needs PyPI); run it by hand:
#   scripts/fuzz-api.sh            # builds, starts a throwaway server, fuzzes, stops it
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet schemathesis
cargo build --quiet -p flowhook
work=$(mktemp -d)
port=18099
./target/debug/flowhook serve --listen "127.0.0.1:$port" --data-dir "$work" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
admin=$(cat "$work/admin-token")
key=$(curl -s -X POST "http://127.0.0.1:$port/v1/accounts" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"name":"fuzz","allow_http":true}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["security_id"])')
schemathesis run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $key" \
  --checks not_a_server_error --max-examples 50
schemathesis run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $admin" \
  --checks not_a_server_error --max-examples 50 --include-path-regex '/v1/accounts'
