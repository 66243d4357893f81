#!/usr/bin/env bash
# verify at scale: 100 expectations (each selecting by recipient and subject, then checking
# the text, links and envelope of what it selects) against a store of 100,000 messages.
# Prints the median wall time of RUNS runs against the target of one second, and writes
# bench/results/verify.json.
#   bench/verify.sh [MESSAGES] [EXPECTATIONS] [RUNS]   (defaults: 100000, 100, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-100000}
expectations=${2:-100}
runs=${3:-3}
cargo build --release --locked -q --bin mailtest --example fill_store
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/fill_store "$work/store" "$messages" >/dev/null
# Let the writes of the fill settle, so the runs measure verify, not the disk flushing.
sync
python3 - "$messages" "$expectations" > "$work/expect.yaml" <<'PY'
import sys
messages, n = int(sys.argv[1]), int(sys.argv[2])
print("timeout: 10s\nexpect:")
for k in range(n):
    i = (k * 7919) % messages          # spread over the whole store
    print(f"  - name: order {i}")
    print(f"    match: {{to: user{i % 1000}@example.com, subject: {{contains: 'Order {i} '}}}}")
    print(f"    count: 1")
    print(f"    assert:")
    print(f"      text: {{contains: 'order {i}.'}}")
    print(f"      links: {{all_match: '^https://shop\\.example\\.com/orders/{i}$'}}")
    print(f"      envelope: {{rcpt_to: {{contains: audit@example.com}}}}")
PY
times=()
evals=()
for _ in $(seq "$runs"); do
  start=$(date +%s.%N)
  target/release/mailtest -q verify "$work/expect.yaml" --store "$work/store" --output json > "$work/report.json"
  end=$(date +%s.%N)
  times+=("$(python3 -c "print($end - $start)")")
  evals+=("$(python3 -c "import json; print(json.load(open('$work/report.json'))['elapsed_ms'] / 1000)")")
done
mkdir -p bench/results
python3 - "$messages" "$expectations" "$work/report.json" "${times[*]}" "${evals[*]}" <<'PY'
import json, statistics, sys
messages, n, report = int(sys.argv[1]), int(sys.argv[2]), json.load(open(sys.argv[3]))
times = [float(t) for t in sys.argv[4].split()]
evals = [float(t) for t in sys.argv[5].split()]
median, evaluate = statistics.median(times), statistics.median(evals)
held = sum(v["passed"] for v in report["verdicts"])
print(f"verify: {n} expectations against {messages:,} stored messages, median of {len(times)} runs")
print(f"  {held} of {n} held")
print(f"  whole command (open the store, read 100k summaries, check): {median:.2f} s (target: under 1 s)")
print(f"  checking alone: {evaluate:.3f} s")
json.dump({"messages": messages, "expectations": n, "held": held, "seconds": times,
           "median": median, "checking_seconds": evals, "checking_median": evaluate},
          open("bench/results/verify.json", "w"), indent=2)
if held != n:
    sys.exit("verify bench: expectations that should hold did not")
PY
