#!/usr/bin/env bash
# Web inbox first paint: headless Chromium loads the inbox of a sink holding MESSAGES stored
# messages (4 KB each, from smtp-source) and of an empty one; prints the median milliseconds
# from navigation to the first contentful paint and to the first page of the list shown, their
# ratio to the empty inbox, and the list API's time for that page. Writes bench/results/inbox.json.
#   bench/inbox.sh [MESSAGES] [RUNS]     (defaults: 100000 messages, 7 page loads)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-100000}
runs=${2:-7}
bash scripts/setup.sh >/dev/null
cargo build --release --locked -q
bin=$PWD/target/release/mailtest
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh

measure() { # NAME COUNT: fills a fresh sink with COUNT messages and loads its inbox RUNS times
  local name=$1 count=$2 smtp http
  smtp=$(free_port); http=$(free_port)
  "$bin" -q sink --smtp 127.0.0.1:$smtp --http 127.0.0.1:$http --store "$work/$name" & server=$!
  wait_port "$smtp"; wait_port "$http"
  [ "$count" -gt 0 ] && /usr/sbin/smtp-source -s 20 -m "$count" -l 4096 127.0.0.1:"$smtp"
  python3 bench/peers/inbox_paint.py "http://127.0.0.1:$http/" "$runs" > "$work/$name.json"
  local api
  api=$(for _ in $(seq "$runs"); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$http/api/v1/messages?limit=50"; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$api" > "$work/$name.api"
  kill $server; wait $server 2>/dev/null || true; server=""
}
measure empty 0
measure full "$messages"

mkdir -p bench/results
python3 - "$work" "$messages" "$runs" <<'PY'
import json, statistics, sys
work, messages, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    rows = json.load(open(f"{work}/{name}.json"))
    api_ms = float(open(f"{work}/{name}.api").read()) * 1000
    return {"fcp_ms": statistics.median(r["fcp_ms"] for r in rows),
            "list_ms": statistics.median(r["list_ms"] for r in rows),
            "rows": rows[-1]["rows"], "api_ms": round(api_ms, 1), "runs": rows}
empty, full = load("empty"), load("full")
print(f"web inbox, median of {runs} page loads in headless Chromium")
print(f"{'store':<18} {'first paint ms':>14} {'list shown ms':>13} {'rows':>5} {'list API ms':>11}")
for name, r in ((f"empty", empty), (f"{messages:,} messages", full)):
    print(f"{name:<18} {r['fcp_ms']:>14.0f} {r['list_ms']:>13.0f} {r['rows']:>5} {r['api_ms']:>11.1f}")
ratio = full["list_ms"] / max(empty["list_ms"], 1)
print(f"list shown with {messages:,} stored / empty: {ratio:.2f}x (target: under 1,000 ms)")
json.dump({"messages": messages, "empty": empty, "full": full, "ratio": ratio},
          open("bench/results/inbox.json", "w"), indent=2)
PY
