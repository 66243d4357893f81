#!/usr/bin/env bash
# First run on a fresh machine: build mailtest, start the embedded broker, send 10,000
# realistic email events through it and read every one back. (`mailtest smoke`, which runs
# the whole event-to-email pipeline, replaces this once the sink and dispatch land.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=target/release/mailtest
dir=$(mktemp -d)
"$bin" broker --ready-file "$dir/ready" >/dev/null 2>"$dir/broker.log" &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done
[ -s "$dir/ready" ] || { cat "$dir/broker.log" >&2; exit 3; }
export MAILTEST_BROKERS=$(cat "$dir/ready")
echo "== broker at $MAILTEST_BROKERS" >&2
"$bin" produce --count 10000 --seed 1
echo "== reading every event back" >&2
read=$("$bin" -q consume --exit-at-end --format json | wc -l)
echo "== $read of 10000 events read back" >&2
[ "$read" -eq 10000 ]
