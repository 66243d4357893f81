#!/usr/bin/env bash
# SMTP ingest, mailtest sink next to postfix's smtp-sink (discards: the near upper bound),
# aiosmtpd writing a file per message and MailDev 3 (npm) keeping each in its mail directory
# (the storing peers), all driven by postfix's smtp-source with 4 KB messages over 1 and 20
# sessions, in two workloads: a new connection per message (smtp-source's default, as a
# service that connects per email) and connections reused (`-d`, as a pooled client).
# Prints medians, ratios, peak RSS and messages lost (sent versus stored); writes
# bench/results/sink.json.
#   bench/sink.sh [MESSAGES] [RUNS]     (defaults: 20000 messages, 3 runs)
# The storing peers are far slower (aiosmtpd about 600 messages/s, MailDev about 170 with 20
# sessions and about 10 with one), so they get AIOSMTPD_MESSAGES (default 5000) and
# MAILDEV_MESSAGES (default 200) per run: rates compare, and the whole run stays short.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-20000}
runs=${2:-3}
bash scripts/setup.sh >/dev/null
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
maildev=$PWD/target/tools/maildev/node_modules/.bin/maildev
[ -x "$maildev" ] || npm install --prefix target/tools/maildev --no-audit --no-fund --silent maildev@3.0.0
maildev_messages=${MAILDEV_MESSAGES:-200}
aiosmtpd_messages=${AIOSMTPD_MESSAGES:-5000}
cargo build --release --locked -q
bin=$PWD/target/release/mailtest
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

source bench/lib.sh

# start NAME PORT: starts a server in the background (under "${pin[@]}"), sets $server and
# $stored_cmd.
start() {
  local name=$1 port=$2 dir="$work/$1-$RANDOM"
  case $name in
    mailtest) "${pin[@]}" "$bin" -q sink --smtp 127.0.0.1:$port --store "$dir" --max-connections 100 & server=$!
              stored_cmd="$bin -q sink list --store $dir --output json | wc -l" ;;
    mailtest-fsync) "${pin[@]}" "$bin" -q sink --smtp 127.0.0.1:$port --store "$dir" --fsync --max-connections 100 & server=$!
              stored_cmd="$bin -q sink list --store $dir --output json | wc -l" ;;
    smtp-sink) "${pin[@]}" /usr/sbin/smtp-sink -u nobody -c 127.0.0.1:$port 256 >/dev/null & server=$!
              stored_cmd="echo -" ;;
    aiosmtpd) "${pin[@]}" python3 bench/peers/aiosmtpd_files.py 127.0.0.1 $port "$dir" >/dev/null & server=$!
              stored_cmd="ls $dir | wc -l" ;;
    maildev) mkdir -p "$dir"
             "${pin[@]}" "$maildev" --smtp $port --ip 127.0.0.1 --web "$(free_port)" --web-ip 127.0.0.1 \
               --mail-directory "$dir" --silent >/dev/null 2>&1 & server=$!
             stored_cmd="ls $dir | wc -l" ;;
  esac
  wait_port "$port"
}

results="$work/results.txt"
for run in $(seq "$runs"); do
  for name in smtp-sink mailtest mailtest-fsync aiosmtpd maildev; do
    count=$messages
    [ "$name" = maildev ] && count=$maildev_messages
    [ "$name" = aiosmtpd ] && count=$aiosmtpd_messages
    for workload in new reuse; do
      reuse=()
      [ "$workload" = reuse ] && reuse=(-d)
      for sessions in 1 20; do
        port=$(free_port)
        # One session: server and client on the same CPU, or VM wake-ups dominate the figure.
        pin=(env)
        [ "$sessions" = 1 ] && pin=(taskset -c 0)
        start "$name" "$port"
        t0=$(date +%s.%N)
        "${pin[@]}" /usr/sbin/smtp-source "${reuse[@]}" -s "$sessions" -m "$count" -l 4096 127.0.0.1:"$port"
        t1=$(date +%s.%N)
        rss=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
        stored=$(eval "$stored_cmd")
        # A peer may write after its reply: give it a moment to catch up before counting.
        for _ in $(seq 40); do [ "$stored" = - ] || [ "$stored" -ge "$count" ] && break; sleep 0.25; stored=$(eval "$stored_cmd"); done
        kill $server; wait $server 2>/dev/null || true; server=""
        rate=$(python3 -c "print(round($count / ($t1 - $t0)))")
        echo "$name $sessions $workload $rate $rss $stored" >> "$results"
      done
    done
  done
done

mkdir -p bench/results
python3 - "$results" "$messages" "$runs" <<'PY'
import json, statistics, sys, os
rows = [l.split() for l in open(sys.argv[1])]
messages, runs = int(sys.argv[2]), int(sys.argv[3])
by = {}
for name, sessions, workload, rate, rss, stored in rows:
    by.setdefault((name, int(sessions), workload), []).append((int(rate), int(rss), stored))
med = {k: statistics.median(r for r, _, _ in v) for k, v in by.items()}
print(f"{messages} messages of 4 KB from smtp-source (aiosmtpd {os.environ.get('AIOSMTPD_MESSAGES', '5000')}, MailDev {os.environ.get('MAILDEV_MESSAGES', '200')}), median of {runs} runs, {os.cpu_count()} cores")
print("workload: `new` opens a connection per message (smtp-source's default), `reuse` keeps them (-d)")
print(f"{'server':<16} {'workload':>8} {'sessions':>8} {'msg/s':>8} {'vs smtp-sink':>12} {'vs aiosmtpd':>11} {'vs maildev':>10} {'peak RSS MB':>11} {'stored':>8}")
out = {}
for (name, sessions, workload), v in sorted(by.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
    rate = med[(name, sessions, workload)]
    rss = max(r for _, r, _ in v) / 1024
    stored = v[-1][2]
    vs = lambda peer: rate / med[(peer, sessions, workload)]
    print(f"{name:<16} {workload:>8} {sessions:>8} {rate:>8,.0f} {vs('smtp-sink'):>12.2f} {vs('aiosmtpd'):>11.2f} {vs('maildev'):>10.2f} {rss:>11.1f} {stored:>8}")
    # The connection-per-message figures keep their old keys; reused ones get `/reuse`.
    key = f"{name}/{sessions}" + ("/reuse" if workload == "reuse" else "")
    out[key] = {"msg_per_s": rate, "runs": [r for r, _, _ in v], "peak_rss_mb": rss, "stored": stored}
json.dump({"messages": messages, "results": out}, open("bench/results/sink.json", "w"), indent=2)
PY

# Memory with 100,000 messages stored: peak while taking them in, and after a restart that
# reads the whole store back.
port=$(free_port)
dir="$work/memory"
"$bin" -q sink --smtp 127.0.0.1:$port --store "$dir" & server=$!
wait_port "$port"
/usr/sbin/smtp-source -s 20 -m 100000 -l 4096 127.0.0.1:"$port"
ingest=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
kill $server; wait $server 2>/dev/null || true
port=$(free_port)
"$bin" -q sink --smtp 127.0.0.1:$port --store "$dir" & server=$!
wait_port "$port"
reopened=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
kill $server; wait $server 2>/dev/null || true; server=""
stored=$("$bin" -q sink list --store "$dir" --output json | wc -l)
echo "100,000 messages: peak RSS $((ingest / 1024)) MB while receiving, $((reopened / 1024)) MB after a restart; $stored stored"
python3 - "$ingest" "$reopened" "$stored" <<'PY'
import json, sys
path = "bench/results/sink.json"
data = json.load(open(path))
data["memory_100k"] = {"ingest_mb": int(sys.argv[1]) / 1024, "reopened_mb": int(sys.argv[2]) / 1024, "stored": int(sys.argv[3])}
json.dump(data, open(path, "w"), indent=2)
PY
