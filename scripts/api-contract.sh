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
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
up=
for _ in $(seq 1 100); do
    if curl -sf "$base/healthz" >/dev/null; then up=1 && break; fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$up" ]; then
    echo "flowhook did not come up; its log follows" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
admin=$(cat "$work/data/admin-token")
new_key() {
    curl -sf -X POST "$base/v1/accounts" -H "Authorization: Bearer $admin" \
        -H 'Content-Type: application/json' -d "{\"name\":\"contract $1\",\"allow_http\":true}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["security_id"])'
}

cd "$work"
# A run that lost its credentials tests nothing but the 401/403 path: fail it,
# except the one whose operations may lock their own account out.
{ echo 'warnings.fail-on = ["missing_auth"]'; cat "$root/scripts/schemathesis.toml"; } >strict.toml
status=0
run() {
    local who=$1 config=$2
    shift 2
    echo "==> schemathesis as $who"
    schemathesis --config-file "$config" run "$base/openapi.json" --checks all --max-examples "$examples" \
        --seed 1 --no-color --generation-database none "$@" || status=1
}
# Creating and listing accounts is the operator's alone; reading and changing
# one is open to both. An account that sets its own whitelist (or, through
# PATCH, its settings) can lock itself out, so those run last, with a key of
# their own, after everything else has run with a key that stays usable.
run "an account" strict.toml -H "Authorization: Bearer $(new_key main)" \
    --exclude-operation-id-regex '^(create_account|list_accounts|update_account|put_whitelist)$'
run "an account changing itself" "$root/scripts/schemathesis.toml" -H "Authorization: Bearer $(new_key self)" \
    --include-operation-id-regex '^(get_account|update_account|get_whitelist|put_whitelist)$'
run "the operator" strict.toml -H "Authorization: Bearer $admin" \
    --include-operation-id-regex '^(create_account|list_accounts|get_account|update_account)$'
if [ $status -ne 0 ]; then
    echo "the server and its OpenAPI document disagree; the server log follows" >&2
    tail -n 50 "$work/serve.log" >&2
fi
exit $status
