# Shared by the scripts that check a throwaway flowhook server: Python tools
# at a pinned major version, the binary, and the server itself. Source it;
# it needs `set -euo pipefail` and `$root` (the repository) set.

# pip_need DIST SPEC: installs DIST (SPEC like '>=4.3,<5') unless the installed
# version has the same compatible prefix as SPEC's lower bound: its major
# version, or major.minor below 1.0 (where minors break). A wrong one is replaced.
pip_need() {
    local dist=$1 spec=$2 lower prefix have
    lower=${spec#>=}
    lower=${lower%%,*}
    case "$lower" in
    0.*) prefix=$(cut -d. -f1,2 <<<"$lower") ;;
    *) prefix=${lower%%.*} ;;
    esac
    have=$(python3 -c "import importlib.metadata as m; print(m.version('$dist'))" 2>/dev/null || true)
    case "$have" in
    "$prefix" | "$prefix".*) ;;
    *) python3 -m pip install --quiet "$dist$spec" ;;
    esac
}

# flowhook_bin: the binary to check, $FLOWHOOK_BIN or a fresh debug build.
flowhook_bin() {
    if [ -n "${FLOWHOOK_BIN:-}" ]; then
        echo "$FLOWHOOK_BIN"
        return
    fi
    (cd "$root" && cargo build --quiet -p flowhook)
    echo "${CARGO_TARGET_DIR:-$root/target}/debug/flowhook"
}

# start_server BIN DIR [NAME=VALUE ...]: serves on a free loopback port with
# data in DIR/data, the log in DIR/serve.log, and only the settings given (no
# FLOWHOOK_* of the caller's). Sets $server and $base; waits for /healthz.
start_server() {
    local bin=$1 dir=$2 port clean=() v
    shift 2
    for v in $(compgen -e | grep '^FLOWHOOK_' || true); do clean+=(-u "$v"); done
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    env "${clean[@]}" "$@" "$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" \
        >"$dir/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do
        curl -sf "$base/healthz" >/dev/null && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "flowhook did not come up; its log follows" >&2
    cat "$dir/serve.log" >&2
    return 1
}

stop_server() {
    if [ -n "${server:-}" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
}

# new_key DIR NAME: creates an account with the admin token and prints its key.
new_key() {
    local admin
    admin=$(cat "$1/data/admin-token")
    curl -sf -X POST "$base/v1/accounts" -H "Authorization: Bearer $admin" \
        -H 'Content-Type: application/json' -d "{\"name\":\"$2\",\"allow_http\":true}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["security_id"])'
}
