#!/usr/bin/env bash
# Load on `mailtest sink` (durable store): 1,000 connections held open while swaks still gets
# its message in, then a burst of MESSAGES 4 KB messages from postfix's smtp-source over 100
# sessions. Records the sink's peak memory (VmHWM) and open file handles (sampled every
# 50 ms) in each phase, and messages sent versus stored. Writes bench/results/load.json.
#   bench/load.sh [MESSAGES]     (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-100000}
bash scripts/setup.sh >/dev/null
cargo build --release --locked -q
bin=$PWD/target/release/mailtest
work=$(mktemp -d)
server=""; sampler=""
trap '[ -n "$sampler" ] && kill $sampler 2>/dev/null; [ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh
fds() { ls /proc/$server/fd | wc -l; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$server/status; }
# sample FILE: the highest open-file count seen until killed, written to FILE.
sample() { local peak=0 n; while true; do n=$(ls /proc/$server/fd 2>/dev/null | wc -l); [ "$n" -gt "$peak" ] && peak=$n && echo $peak > "$1"; sleep 0.05; done; }

port=$(free_port)
"$bin" -q sink --smtp 127.0.0.1:$port --http 127.0.0.1:0 --store "$work/store" --max-connections 1100 & server=$!
wait_port "$port"
idle_fds=$(fds); idle_rss=$(rss_kb)

# Phase 1: 1,000 held connections, each greeted; one more client sends meanwhile.
held=$(python3 - "$port" "$server" <<'PY'
import socket, subprocess, sys, json
port, pid = int(sys.argv[1]), sys.argv[2]
socks = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    assert s.recv(64).startswith(b"220")
    socks.append(s)
fds = len(__import__("os").listdir(f"/proc/{pid}/fd"))
rss = int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
sent = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--to", "held@example.com",
                       "--silent", "2"], capture_output=True).returncode == 0
print(json.dumps({"held": len(socks), "fds": fds, "rss_kb": rss, "other_client_served": sent}))
PY
)
# The sessions give their handles back once the clients are gone.
for _ in $(seq 200); do [ "$(fds)" -le $((idle_fds + 2)) ] && break; sleep 0.05; done
after_fds=$(fds)

# Phase 2: the burst.
sample "$work/peak_fds" & sampler=$!
t0=$(date +%s.%N)
/usr/sbin/smtp-source -s 100 -m "$messages" -l 4096 127.0.0.1:"$port"
t1=$(date +%s.%N)
kill $sampler; wait $sampler 2>/dev/null || true; sampler=""
hwm=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
burst_fds=$(cat "$work/peak_fds")
kill $server; wait $server 2>/dev/null || true; server=""
stored=$("$bin" -q sink list --store "$work/store" --output json | wc -l)

mkdir -p bench/results
python3 - "$held" "$idle_fds" "$idle_rss" "$after_fds" "$burst_fds" "$hwm" "$messages" "$stored" "$t0" "$t1" <<'PY'
import json, sys
held = json.loads(sys.argv[1])
idle_fds, idle_rss, after_fds, burst_fds, hwm, messages, stored = map(int, sys.argv[2:9])
seconds = float(sys.argv[10]) - float(sys.argv[9])
print(f"idle sink: {idle_fds} open files, {idle_rss / 1024:.1f} MB RSS")
print(f"1,000 held connections: {held['fds']} open files, {held['rss_kb'] / 1024:.1f} MB RSS, "
      f"another client served meanwhile: {'yes' if held['other_client_served'] else 'NO'}; "
      f"{after_fds} open files once they closed")
print(f"burst of {messages:,} x 4 KB over 100 sessions: {messages / seconds:,.0f} msg/s, "
      f"peak {burst_fds} open files, peak RSS {hwm / 1024:.1f} MB (whole run), "
      f"{stored:,} of {messages + 1:,} stored")
json.dump({"held": held, "idle_fds": idle_fds, "after_fds": after_fds, "burst_peak_fds": burst_fds,
           "peak_rss_mb": hwm / 1024, "messages": messages, "stored": stored,
           "msg_per_s": messages / seconds}, open("bench/results/load.json", "w"), indent=2)
PY
