#!/usr/bin/env bash
# Generates a Python client from a throwaway server's /openapi.json with
# openapi-python-client (progenitor reads OpenAPI 3.0 only; flowhook serves
# 3.1), byte-compiles it, and runs scripts/client_smoke.py with it: create a
# webhook, save a flow, start an execution, read its flow-end delivery.
#   scripts/client-smoke.sh                       # builds, runs, cleans up
#   FLOWHOOK_BIN=path scripts/client-smoke.sh     # uses a built binary
# Fails when the generator warns (e.g. skips an endpoint). Everything it makes
# (database, document, generated code, byte code) lives in a temporary
# directory removed on exit; the tree is left as it was.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"

# The generator, and what the code it generates imports (with --meta none it
# writes no package metadata to install them from).
pip_need openapi-python-client '>=0.29,<0.30'
if ! python3 -c 'import attrs, dateutil, httpx' 2>/dev/null; then
    python3 -m pip install --quiet 'attrs>=22.2' 'httpx>=0.23,<0.29' 'python-dateutil>=2.8,<3'
fi
bin=$(flowhook_bin)

work=$(mktemp -d)
export PYTHONPYCACHEPREFIX="$work/pycache"
trap 'stop_server; rm -rf "$work"' EXIT
# The server may reach loopback, where the smoke test's receiver listens.
start_server "$bin" "$work" FLOWHOOK_EGRESS_ALLOW_CIDRS=127.0.0.1/32 FLOWHOOK_RETRY_SCHEDULE=1,1,1
curl -sf "$base/openapi.json" -o "$work/openapi.json"

echo "==> generating the client with openapi-python-client"
# No post hooks: formatting the generated code needs ruff and proves nothing.
# Enums as literals: time zone names such as GMT+0 and GMT-0 would collide as
# Python identifiers.
echo '{"post_hooks": [], "literal_enums": true}' >"$work/generator.json"
pkg="$work/client/flowhook_client"
if ! (cd "$work" && python3 -m openapi_python_client generate --path "$work/openapi.json" \
    --output-path "$pkg" --meta none --config "$work/generator.json" \
    --fail-on-warning) >"$work/generate.log" 2>&1; then
    cat "$work/generate.log" >&2
    echo "the generator failed or warned about /openapi.json (above)" >&2
    exit 1
fi
for op in create_account create_webhook create_flow start_execution get_execution \
    list_deliveries get_delivery; do
    if [ -z "$(find "$pkg/api" -name "$op.py")" ]; then
        echo "the generated client has no $op" >&2
        exit 1
    fi
done
python3 -m compileall -q "$work/client"

echo "==> smoke test"
if ! PYTHONPATH="$work/client" python3 "$root/scripts/client_smoke.py" "$base" "$work/data/admin-token"; then
    echo "the smoke test failed; the server log follows" >&2
    tail -n 50 "$work/serve.log" >&2
    exit 1
fi

