#!/usr/bin/env bash
# Refreshes the Redoc bundle that `/docs` serves from the binary (no CDN at run
# time) from the npm registry. Pin the version here; commit what it writes.
#   scripts/vendor-redoc.sh
set -euo pipefail
version=2.5.4
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/crates/server/assets/redoc"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "redoc@$version" >/dev/null && tar xzf "redoc-$version.tgz")
cp "$work/package/bundles/redoc.standalone.js" "$work/package/bundles/redoc.standalone.js.LICENSE.txt" "$dest/"
cat >"$dest/README.md" <<NOTE
Redoc $version (MIT, https://github.com/Redocly/redoc), the standalone bundle
from the npm package \`redoc@$version\`, written by \`scripts/vendor-redoc.sh\`.
Served at \`/docs/redoc.standalone.js\`; the licenses of what it bundles are in
\`redoc.standalone.js.LICENSE.txt\`.
NOTE
echo "vendored redoc $version into $dest"
