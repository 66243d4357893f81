#!/usr/bin/env bash
# End to end on one machine: events produced to the embedded broker, consumed by
# `mailtest dispatch`, rendered, sent over SMTP and captured by `mailtest sink` (durable
# store). Prints the latency from produce to capture (p50/p99, dispatch's own measure from
# the Kafka timestamp to the sink's 250) at a steady rate, and the throughput of a burst,
# against the targets (p99 under 50 ms at 200 events/s; 2,000 emails/s); writes
# bench/results/e2e.json.
#   bench/e2e.sh [BURST_EVENTS] [STEADY_SECONDS]    (defaults: 20000, 15)
set -euo pipefail
cd "$(dirname "$0")/.."
burst=${1:-20000}
seconds=${2:-15}
cargo build --release --locked -q --bin mailtest
bin=$PWD/target/release/mailtest
work=$(mktemp -d)
pids=()
trap 'kill -INT "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return; sleep 0.05; done; echo "no $1" >&2; exit 1; }

"$bin" broker --partitions 3 --group-join-delay "${JOIN_DELAY:-0s}" --ready-file "$work/broker" >/dev/null 2>&1 & pids+=($!)
wait_file "$work/broker"; brokers=$(cat "$work/broker")
"$bin" -q sink --store "$work/store" --smtp 127.0.0.1:0 --http 127.0.0.1:0 --ready-file "$work/sink" >/dev/null 2>&1 & pids+=($!)
wait_file "$work/sink"; source "$work/sink"
"$bin" -q dispatch -b "$brokers" --smtp "$MAILTEST_SMTP" --state "$work/dispatch" \
  --concurrency "${CONCURRENCY:-16}" --http 127.0.0.1:0 --ready-file "$work/dispatch.ready" >/dev/null 2>&1 & pids+=($!)
wait_file "$work/dispatch.ready"; source "$work/dispatch.ready"
# Ready once the group has given it partitions and the sink answers.
for _ in $(seq 300); do curl -sf "$MAILTEST_DISPATCH_HTTP/readyz" >/dev/null && break; sleep 0.1; done

captured() { curl -s "$MAILTEST_HTTP/api/v1/messages?limit=1" | python3 -c "import json,sys; print(json.load(sys.stdin)['total'])"; }
wait_for() { curl -s -o /dev/null "$MAILTEST_HTTP/api/v1/wait?count=$1&timeout=300s"; }
metric() { curl -s "$MAILTEST_DISPATCH_HTTP/metrics" | awk -v k="$1" '$1 == k {print $2}'; }

# 1. Latency at a steady rate.
steady=$((200 * seconds))
"$bin" -q produce -b "$brokers" --count "$steady" --seed 1 --rate 200
wait_for "$steady"
p50=$(metric 'mailtest_dispatch_latency_ms{quantile="0.5"}')
p99=$(metric 'mailtest_dispatch_latency_ms{quantile="0.99"}')

# 2. Throughput of a burst: produce everything, time until the sink holds all of it.
"$bin" -q produce -b "$brokers" --count "$burst" --seed 2 --dry-run > "$work/burst.jsonl"
before=$(captured)
start=$(date +%s.%N)
"$bin" -q produce -b "$brokers" "$work/burst.jsonl"
wait_for "$((before + burst))"
end=$(date +%s.%N)
after=$(captured)
sent=$(metric mailtest_dispatch_sent_total)
dups=$(metric mailtest_dispatch_duplicates_total)
mkdir -p bench/results
python3 - "$steady" "$p50" "$p99" "$burst" "$start" "$end" "$after" "$sent" "$dups" <<'PY'
import json, os, sys
steady, p50, p99, burst = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
start, end, captured, sent, dups = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
rate = burst / (end - start)
print(f"end to end: broker -> dispatch -> SMTP -> sink (durable store), one machine, {os.cpu_count()} CPUs")
print(f"  steady 200 events/s, {steady} events: latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 < 50 ms)")
print(f"  burst of {burst} events: {rate:,.0f} emails/s produce-to-capture (target 2,000/s)")
print(f"  captured {captured} emails for {steady + burst} events; dispatch sent {sent}, skipped {dups} duplicates")
json.dump({"steady_events": steady, "latency_p50_ms": p50, "latency_p99_ms": p99,
           "burst_events": burst, "burst_seconds": end - start, "emails_per_second": rate,
           "captured": captured, "sent": sent}, open("bench/results/e2e.json", "w"), indent=2)
if captured != steady + burst:
    sys.exit("e2e bench: captured count does not match the events produced")
PY
