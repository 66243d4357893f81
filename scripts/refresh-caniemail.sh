#!/usr/bin/env bash
# Refreshes the vendored caniemail.com support data behind the HTML check
# (`data/caniemail/`) from the npm package `caniemail`, which ships caniemail.com's
# data.json under its MIT licence. Usage: scripts/refresh-caniemail.sh [VERSION]
set -euo pipefail
version="${1:-latest}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball="$(npm pack --silent "caniemail@$version")"
tar xzf "$tarball"
got="$(node -p 'require("./package/package.json").version')"
dest="$root/data/caniemail"
mkdir -p "$dest"
# One record per line keeps refreshes reviewable as diffs.
python3 - package/dist/data/caniemail.json "$dest/caniemail.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
assert data["data"] and data["nicenames"], "not caniemail data"
with open(sys.argv[2], "w") as out:
    out.write('{"api_version": %s, "last_update_date": %s,\n' % (
        json.dumps(data["api_version"]), json.dumps(data["last_update_date"])))
    out.write('"nicenames": %s,\n"data": [\n' % json.dumps(data["nicenames"], ensure_ascii=False))
    out.write(",\n".join(json.dumps(d, ensure_ascii=False) for d in data["data"]))
    out.write("\n]}\n")
PY
cp package/LICENSE "$dest/LICENSE"
updated="$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["last_update_date"])' "$dest/caniemail.json")"
printf 'npm caniemail %s, data of %s\n' "$got" "$updated" > "$dest/VERSION"
echo "data/caniemail: caniemail $got (data of $updated)" >&2
