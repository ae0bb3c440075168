#!/usr/bin/env bash
# Refreshes axe-core, the accessibility checker the admin UI's browser tests
# inject into every page (crates/server/tests/ui), from the npm registry. Pin
# the version here; commit what it writes. It is test-only: never served.
#   scripts/vendor-axe.sh
set -euo pipefail
version=4.10.2
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/crates/server/tests/ui/vendor"
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "axe-core@$version" >/dev/null && tar xzf "axe-core-$version.tgz")
cp "$work/package/axe.min.js" "$work/package/LICENSE" "$dest/"
cat >"$dest/README.md" <<NOTE
axe-core $version (MPL-2.0, https://github.com/dequelabs/axe-core), \`axe.min.js\`
from the npm package \`axe-core@$version\`, written by \`scripts/vendor-axe.sh\`.
The UI tests inject it into each page through WebDriver and fail on any
serious or critical violation.
NOTE
echo "vendored axe-core $version into $dest"
