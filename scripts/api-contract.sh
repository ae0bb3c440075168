#!/usr/bin/env bash
# Checks that the server does what its OpenAPI document says, with every
# schemathesis check on, against a throwaway server on embedded SQLite.
#   scripts/api-contract.sh                     # builds, runs, cleans up
#   FLOWHOOK_BIN=path scripts/api-contract.sh   # uses a built binary
#   CONTRACT_EXAMPLES=N                         # examples per operation (default 40)
# It runs three times: with an account's key over the account operations, with
# a second account's key over the operations that change the account itself
# (they may lock it out), and with the admin token over the operator's. It
# fails on any failure. The server and schemathesis run in a network namespace
# of their own with only loopback, when `unshare` may make one (root), so that
# generated URLs reach nothing. schemathesis runs in a temporary directory,
# so its cache lands there and the tree stays clean.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"

if [ -z "${CONTRACT_ISOLATED:-}" ]; then
    pip_need schemathesis '>=4.3,<5'
    FLOWHOOK_BIN=$(flowhook_bin)
    export FLOWHOOK_BIN
    if unshare --net true 2>/dev/null; then
        exec unshare --net env CONTRACT_ISOLATED=1 "$0" "$@"
    fi
    echo "warning: cannot make a network namespace (not root?); generated URLs may reach the network" >&2
else
    ip link set lo up
fi
examples=${CONTRACT_EXAMPLES:-40}

work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
start_server "$FLOWHOOK_BIN" "$work"
admin=$(cat "$work/data/admin-token")
main_key=$(new_key "$work" "contract main")
self_key=$(new_key "$work" "contract self")
# The short-link endpoints name their account by its custToken, not a bearer
# token: schemathesis sends the main account's (scripts/schemathesis.toml).
CONTRACT_SHORT_TOKEN=$(curl -sf "$base/v1/accounts" -H "Authorization: Bearer $admin" |
    python3 -c 'import json,sys; print(next(a["short_token"] for a in json.load(sys.stdin) if a["name"] == "contract main"))')
export CONTRACT_SHORT_TOKEN

cd "$work"
# A run that lost its credentials tests nothing but the 401/403 path: fail it,
# except the one whose operations may lock their own account out.
{ echo 'warnings.fail-on = ["missing_auth"]'; cat "$root/scripts/schemathesis.toml"; } >strict.toml
status=0
run() {
    local who=$1 config=$2
    shift 2
    echo "==> schemathesis as $who"
    python3 -m schemathesis.cli --config-file "$config" run "$base/openapi.json" \
        --checks all --max-examples "$examples" --seed 1 --no-color \
        --generation-database none "$@" || status=1
}
# Creating and listing accounts is the operator's alone; reading and changing
# one is open to both.
run "an account" strict.toml -H "Authorization: Bearer $main_key" \
    --exclude-operation-id-regex '^(create_account|list_accounts|update_account|put_whitelist|rotate_short_token)$'
run "an account changing itself" "$root/scripts/schemathesis.toml" -H "Authorization: Bearer $self_key" \
    --include-operation-id-regex '^(get_account|update_account|get_whitelist|put_whitelist|rotate_short_token)$'
run "the operator" strict.toml -H "Authorization: Bearer $admin" \
    --include-operation-id-regex '^(create_account|list_accounts|get_account|update_account|rotate_short_token)$'
if [ $status -ne 0 ]; then
    echo "the server and its OpenAPI document disagree; the server log follows" >&2
    tail -n 50 "$work/serve.log" >&2
fi
exit $status
