#!/usr/bin/env bash
# Capture into Kafka next to the local store: postfix's smtp-source sends 4 KB messages over
# 20 sessions (and over 1) to a sink on its own store, to one replica (`--capture-topic`,
# writing to the embedded broker and to tansu), and to three replicas at once; then a reader
# (`--from-topic`) builds its store from tansu's topic. Prints messages/s, the sink's CPU
# per message (from /proc: user and system time over messages; the broker's apart), the
# replicas' produce latency (from their /metrics), and each ratio to the local store.
# Writes bench/results/capture.json.
#   bench/capture.sh [MESSAGES] [RUNS]     (defaults: 20000 messages, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-20000}
runs=${2:-3}
bash scripts/setup.sh >/dev/null
cargo build --release --locked -q
bin=$PWD/target/release/mailtest
tansu=$PWD/target/tools/bin/tansu
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
source bench/lib.sh
ticks=$(getconf CLK_TCK)

# cpu PID: user plus system seconds the process has used.
cpu() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

# broker KIND: starts the embedded broker or tansu; sets $bootstrap and $broker_pid.
broker() {
  if [ "$1" = embedded ]; then
    "$bin" -q broker --topic mail-capture --partitions 12 --ready-file "$work/broker.env" >/dev/null &
    broker_pid=$!
    for _ in $(seq 200); do [ -s "$work/broker.env" ] && break; sleep 0.05; done
    bootstrap=$(cat "$work/broker.env"); rm -f "$work/broker.env"
  else
    local port; port=$(free_port)
    "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >/dev/null 2>&1 &
    broker_pid=$!; bootstrap=127.0.0.1:$port
    wait_port "$port"
  fi
  pids+=("$broker_pid")
}

# sink FLAGS...: starts a sink; adds "PID SMTP_PORT HTTP_PORT" to $started.
sink() {
  local smtp http; smtp=$(free_port); http=$(free_port)
  "$bin" -q sink --smtp 127.0.0.1:$smtp --http 127.0.0.1:$http --max-connections 100 "$@" \
    >/dev/null 2>"$work/sink-$smtp.log" &
  local pid=$!; pids+=("$pid")
  wait_port "$smtp"
  started+=("$pid $smtp $http")
}

# latency HTTP_PORT: mean and p99 (a bucket's bound) of the replica's produce latency, in ms.
latency() {
  curl -s "http://127.0.0.1:$1/metrics" | python3 -c '
import sys
b, s, c = [], 0.0, 0
for line in sys.stdin:
    if line.startswith("mailtest_capture_append_seconds_bucket"):
        le = line.split("le=\"")[1].split("\"")[0]; b.append((float("inf") if le == "+Inf" else float(le), int(line.split()[-1])))
    elif line.startswith("mailtest_capture_append_seconds_sum"): s = float(line.split()[-1])
    elif line.startswith("mailtest_capture_append_seconds_count"): c = int(line.split()[-1])
p99 = next(le for le, n in b if n >= 0.99 * c) if c else 0
print(f"{1000 * s / max(c, 1):.2f} {1000 * p99:g}")'
}

results="$work/results.txt"
# run NAME SESSIONS REPLICAS FLAGS...: REPLICAS sinks with FLAGS, smtp-source spread over them.
run() {
  local name=$1 sessions=$2 replicas=$3; shift 3
  local per=$((messages / replicas)) bcpu0=0 i
  started=()
  for i in $(seq "$replicas"); do sink "$@"; done
  [ -n "${broker_pid:-}" ] && bcpu0=$(cpu "$broker_pid")
  local t0 senders=(); t0=$(date +%s.%N)
  for s in "${started[@]}"; do
    set -- $s
    /usr/sbin/smtp-source -s "$sessions" -m "$per" -l 4096 -t "load+$name@example.com" 127.0.0.1:"$2" &
    senders+=($!)
  done
  wait "${senders[@]}"
  local t1; t1=$(date +%s.%N)
  local cpu_total=0 lat="- -"
  for s in "${started[@]}"; do
    set -- $s
    cpu_total=$(python3 -c "print($cpu_total + $(cpu "$1"))")
    [ "$name" != local ] && lat=$(latency "$3")
    kill "$1"; wait "$1" 2>/dev/null || true
  done
  local bcpu=0
  [ -n "${broker_pid:-}" ] && bcpu=$(python3 -c "print($(cpu "$broker_pid") - $bcpu0)")
  local total=$((per * replicas))
  python3 -c "print('$name', $sessions, $replicas, round($total / ($t1 - $t0)), round(1e6 * $cpu_total / $total), round(1e6 * $bcpu / $total), '$lat')" >> "$results"
}

for run_no in $(seq "$runs"); do
  broker_pid=""
  run local 20 1 --store "$work/local-$run_no"
  run local 1 1 --store "$work/local1-$run_no"
  for kind in embedded tansu; do
    broker "$kind"
    run "replica-$kind" 20 1 --capture-topic mail-capture -b "$bootstrap"
    run "replica-$kind" 1 1 --capture-topic mail-capture -b "$bootstrap"
    run "3-replicas-$kind" 20 3 --capture-topic mail-capture -b "$bootstrap"
    if [ "$kind" = tansu ]; then
      # Everything tansu holds now, read back by a reader from the start.
      held=$((messages * 2 + messages / 3 * 3))
      started=()
      sink --from-topic mail-capture -b "$bootstrap" --store "$work/reader-$run_no"
      read -r pid smtp http <<< "${started[0]}"
      t0=$(date +%s.%N)
      curl -s -o /dev/null "http://127.0.0.1:$http/api/v1/wait?count=$held&timeout=300s"
      t1=$(date +%s.%N)
      rcpu=$(cpu "$pid")
      kill "$pid"; wait "$pid" 2>/dev/null || true
      python3 -c "print('reader-tansu', 0, 1, round($held / ($t1 - $t0)), round(1e6 * $rcpu / $held), 0, '- -')" >> "$results"
    fi
    kill "$broker_pid"; wait "$broker_pid" 2>/dev/null || true; broker_pid=""
  done
done

mkdir -p bench/results
python3 - "$results" "$messages" "$runs" <<'PY'
import json, os, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
messages, runs = int(sys.argv[2]), int(sys.argv[3])
by = {}
for name, sessions, replicas, rate, cpu, bcpu, lat_mean, lat_p99 in rows:
    by.setdefault((name, int(sessions)), []).append((int(rate), int(cpu), int(bcpu), lat_mean, lat_p99))
med = lambda v, i: statistics.median(r[i] for r in v)
local = {s: med(by[("local", s)], 0) for s in (1, 20)}
local_cpu = {s: med(by[("local", s)], 1) for s in (1, 20)}
print(f"{messages} messages of 4 KB from smtp-source, median of {runs} runs, {os.cpu_count()} cores")
print(f"{'sink':<22} {'sessions':>8} {'msg/s':>8} {'vs local':>8} {'CPU us/msg':>10} {'vs local':>8} {'broker us/msg':>13} {'produce ms mean/p99':>20}")
out = {}
for (name, sessions), v in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    rate, cpu, bcpu = med(v, 0), med(v, 1), med(v, 2)
    lat = "-" if v[-1][3] == "-" else f"{v[-1][3]}/{v[-1][4]}"
    vs = lambda x: f"{x:.2f}" if sessions in local else "-"
    print(f"{name:<22} {sessions or '-':>8} {rate:>8,.0f} {vs(rate / local.get(sessions, 1)):>8} {cpu:>10,.0f} {vs(cpu / local_cpu.get(sessions, 1)):>8} {bcpu:>13,.0f} {lat:>20}")
    out[f"{name}/{sessions}"] = {"msg_per_s": rate, "cpu_us_per_msg": cpu, "broker_cpu_us_per_msg": bcpu,
                                 "produce_ms_mean": v[-1][3], "produce_ms_p99": v[-1][4], "runs": [r[0] for r in v]}
json.dump({"messages": messages, "results": out}, open("bench/results/capture.json", "w"), indent=2)
PY
