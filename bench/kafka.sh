#!/usr/bin/env bash
# Kafka throughput, mailtest next to kcat (same librdkafka underneath) on the same embedded
# broker, same events, same producer settings; then on the tansu broker next to Python's
# confluent-kafka (Debian's kcat cannot talk to tansu: its librdkafka 2.0.2 fails the
# ApiVersions exchange). Prints medians of N runs and the ratios, and writes
# bench/results/kafka.json.
#   bench/kafka.sh [EVENTS] [RUNS]      (defaults: 200000 events, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
runs=${2:-3}
bash scripts/setup.sh >/dev/null
cargo build --release --locked -q
bin=$PWD/target/release/mailtest
work=$(mktemp -d)
"$bin" broker --partitions 3 --ready-file "$work/ready" >/dev/null 2>"$work/broker.log" &
broker=$!
trap 'kill $broker 2>/dev/null || true; wait $broker 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
b=$(cat "$work/ready")

# The same events for everyone: generated once, then keyed by recipient for kcat.
"$bin" produce --dry-run --count "$events" --seed 1 > "$work/events.jsonl"
python3 - "$work/events.jsonl" > "$work/keyed.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["recipient"]["email"] + "\t" + line, end="")
PY
bytes=$(stat -c %s "$work/events.jsonl")
# mailtest's producer defaults, given to kcat explicitly so both send the same way.
same=(-X acks=all -X enable.idempotence=true -X compression.type=gzip -X partitioner=murmur2_random -X linger.ms=10)

now() { date +%s.%N; }
rate() { python3 -c "print(round($events / ($2 - $1)))"; }
declare -A results
for run in $(seq "$runs"); do
  t0=$(now); kcat -P -b "$b" -t "kcat-$run" -K $'\t' "${same[@]}" -l "$work/keyed.txt"; t1=$(now)
  results[produce_kcat]+="$(rate "$t0" "$t1") "
  t0=$(now); "$bin" -q produce -b "$b" --topic "mt-$run" "$work/events.jsonl"; t1=$(now)
  results[produce_mailtest]+="$(rate "$t0" "$t1") "
  t0=$(now); "$bin" -q produce -b "$b" --raw --topic "raw-$run" "$work/events.jsonl"; t1=$(now)
  results[produce_mailtest_raw]+="$(rate "$t0" "$t1") "
  t0=$(now); n=$(kcat -C -b "$b" -t "kcat-$run" -e -q -o beginning -f '%s\n' | wc -l); t1=$(now)
  [ "$n" -eq "$events" ] || { echo "kcat read $n of $events" >&2; exit 1; }
  results[consume_kcat]+="$(rate "$t0" "$t1") "
  t0=$(now); n=$("$bin" -q consume -b "$b" -t "kcat-$run" -e --format raw | wc -l); t1=$(now)
  [ "$n" -eq "$events" ] || { echo "mailtest read $n of $events" >&2; exit 1; }
  results[consume_mailtest]+="$(rate "$t0" "$t1") "
done

# The same on tansu (in-memory storage), where the peer is confluent-kafka.
tport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/tools/bin/tansu broker --listener-url "tcp://127.0.0.1:$tport" --advertised-listener-url \
  "tcp://127.0.0.1:$tport" --storage-engine memory://tansu/ >/dev/null 2>&1 &
tansu=$!
trap 'kill $broker $tansu 2>/dev/null || true; wait $broker $tansu 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$tport) 2>/dev/null && break; sleep 0.1; done
t="127.0.0.1:$tport"
secs() { python3 -c "print(round($events / $1))"; }
for run in $(seq "$runs"); do
  results[tansu_produce_python]+="$(secs "$(python3 bench/peers/kafka_rate.py produce "$t" "py-$run" "$work/events.jsonl")") "
  t0=$(now); "$bin" -q produce -b "$t" --raw --topic "traw-$run" "$work/events.jsonl"; t1=$(now)
  results[tansu_produce_mailtest_raw]+="$(rate "$t0" "$t1") "
  results[tansu_consume_python]+="$(secs "$(python3 bench/peers/kafka_rate.py consume "$t" "py-$run" "$events")") "
  # By count: tansu's watermarks are not reliable enough for reading to the end.
  t0=$(now); n=$("$bin" -q consume -b "$t" -t "py-$run" --from beginning --count "$events" --format raw | wc -l); t1=$(now)
  [ "$n" -eq "$events" ] || { echo "mailtest read $n of $events from tansu" >&2; exit 1; }
  results[tansu_consume_mailtest]+="$(rate "$t0" "$t1") "
done

mkdir -p bench/results
python3 - "$events" "$bytes" "$runs" \
  "${results[produce_kcat]}" "${results[produce_mailtest]}" "${results[produce_mailtest_raw]}" \
  "${results[consume_kcat]}" "${results[consume_mailtest]}" \
  "${results[tansu_produce_python]}" "${results[tansu_produce_mailtest_raw]}" \
  "${results[tansu_consume_python]}" "${results[tansu_consume_mailtest]}" <<'PY'
import json, statistics, sys, platform, os
events, size, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
names = ["produce_kcat", "produce_mailtest", "produce_mailtest_raw", "consume_kcat", "consume_mailtest",
         "tansu_produce_python", "tansu_produce_mailtest_raw", "tansu_consume_python", "tansu_consume_mailtest"]
data = {n: [int(x) for x in v.split()] for n, v in zip(names, sys.argv[4:])}
med = {n: statistics.median(v) for n, v in data.items()}
rows = [
    ("produce", "kcat -P", med["produce_kcat"], 1.0),
    ("produce", "mailtest produce (checked)", med["produce_mailtest"], med["produce_mailtest"] / med["produce_kcat"]),
    ("produce", "mailtest produce --raw", med["produce_mailtest_raw"], med["produce_mailtest_raw"] / med["produce_kcat"]),
    ("consume", "kcat -C", med["consume_kcat"], 1.0),
    ("consume", "mailtest consume", med["consume_mailtest"], med["consume_mailtest"] / med["consume_kcat"]),
    ("tansu", "confluent-kafka produce", med["tansu_produce_python"], 1.0),
    ("tansu", "mailtest produce --raw", med["tansu_produce_mailtest_raw"], med["tansu_produce_mailtest_raw"] / med["tansu_produce_python"]),
    ("tansu", "confluent-kafka consume", med["tansu_consume_python"], 1.0),
    ("tansu", "mailtest consume", med["tansu_consume_mailtest"], med["tansu_consume_mailtest"] / med["tansu_consume_python"]),
]
print(f"{events} events of {size // events} bytes, median of {runs} runs, embedded broker, {os.cpu_count()} cores")
print(f"{'workload':<9} {'tool':<28} {'events/s':>10} {'vs peer':>8}  (peer: kcat; on tansu, confluent-kafka)")
for w, t, r, ratio in rows:
    print(f"{w:<9} {t:<28} {r:>10,.0f} {ratio:>8.2f}")
json.dump({"events": events, "event_bytes": size // events, "runs": data, "median": med,
           "ratio_produce": med["produce_mailtest"] / med["produce_kcat"],
           "ratio_produce_raw": med["produce_mailtest_raw"] / med["produce_kcat"],
           "ratio_consume": med["consume_mailtest"] / med["consume_kcat"],
           "ratio_tansu_produce": med["tansu_produce_mailtest_raw"] / med["tansu_produce_python"],
           "ratio_tansu_consume": med["tansu_consume_mailtest"] / med["tansu_consume_python"],
           "machine": platform.platform()}, open("bench/results/kafka.json", "w"), indent=2)
PY
