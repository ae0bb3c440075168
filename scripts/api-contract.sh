#!/usr/bin/env bash
# Checks that the server does what its OpenAPI document says, with every
# schemathesis check on, against a throwaway server on embedded SQLite.
#   scripts/api-contract.sh                 # builds, runs, cleans up
#   FLOWHOOK_BIN=path scripts/api-contract.sh   # uses a built binary
#   CONTRACT_EXAMPLES=N                     # examples per operation (default 40)
# Runs twice: with an account's key over the account operations, and with the
# admin token over the operator's. Fails on any failure. Leaves the tree clean:
# schemathesis runs in a temporary directory, so its cache lands there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v schemathesis >/dev/null 2>&1; then
    python3 -m pip install --quiet 'schemathesis>=4.3,<5'
fi
bin=${FLOWHOOK_BIN:-}
if [ -z "$bin" ]; then
    cargo build --quiet -p flowhook
    bin="$root/target/debug/flowhook"
fi
examples=${CONTRACT_EXAMPLES:-40}

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# A receiver that is not there: deliveries fail fast, and flows may call it.
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
admin=$(cat "$work/data/admin-token")
key=$(curl -sf -X POST "$base/v1/accounts" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d '{"name":"contract","allow_http":true}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["security_id"])')

cd "$work"
status=0
run() {
    local who=$1
    shift
    echo "==> schemathesis as $who"
    schemathesis --config-file "$root/scripts/schemathesis.toml" run "$base/openapi.json" --checks all --max-examples "$examples" \
        --seed 1 --no-color --generation-database none "$@" || status=1
}
# Creating and listing accounts is the operator's alone; reading and changing
# one is open to both.
run "an account" -H "Authorization: Bearer $key" \
    --exclude-operation-id-regex '^(create_account|list_accounts)$'
run "the operator" -H "Authorization: Bearer $admin" \
    --include-operation-id-regex '^(create_account|list_accounts|get_account|update_account)$'
if [ $status -ne 0 ]; then
    echo "the server and its OpenAPI document disagree; the server log follows" >&2
    tail -n 50 "$work/serve.log" >&2
fi
exit $status
