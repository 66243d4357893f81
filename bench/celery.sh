#!/usr/bin/env bash
# Celery tasks to RabbitMQ: `mailtest produce --amqp` (publisher confirms, JSON, protocol
# v2) next to Celery's own client (`send_task`, with confirm_publish, which waits for each
# confirm, and without confirms) sending the same number of the same task, alternating,
# RUNS times, against one RabbitMQ started here on its own
# ports (no worker: only publishing is timed; the queue is purged between runs). Prints the
# medians and the ratio, and writes bench/results/celery.json.
#   bench/celery.sh [TASKS] [RUNS]      (defaults: 20000, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
tasks=${1:-20000}
runs=${2:-3}
venv=target/tools/celery-venv
[ -x "$venv/bin/celery" ] || bash scripts/setup.sh
cargo build --release --locked -q
work=$(mktemp -d)
amqp=$(free_port); dist=$(free_port); epmd=$(free_port)
export HOME=$work RABBITMQ_NODENAME=bench$amqp@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$amqp RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE=$work/mnesia RABBITMQ_LOG_BASE=$work/log RABBITMQ_LOGS=$work/server.log
export RABBITMQ_ENABLED_PLUGINS_FILE=$work/enabled_plugins RABBITMQ_PID_FILE=$work/pid
export RABBITMQ_CONFIG_FILE=$work/rabbitmq RABBITMQ_ADVANCED_CONFIG_FILE=$work/advanced.config
echo "[]." > "$work/enabled_plugins"
chown -R rabbitmq:rabbitmq "$work"
rabbitmq-server > /dev/null 2>&1 &
# The server runs as Debian's `rabbitmq` user with its own cookie, so it is stopped by the
# PID it writes, and its epmd after it.
stop() {
  pid=$(cat "$work/pid" 2> /dev/null || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  fi
  epmd -port "$epmd" -kill > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop EXIT
for _ in $(seq 240); do grep -qs "startup complete" "$work/server.log" && break; sleep 0.25; done
grep -qs "startup complete" "$work/server.log" || { echo "rabbitmq did not start" >&2; exit 1; }
url="amqp://guest:guest@127.0.0.1:$amqp/%2f"
purge() { "$venv/bin/python" -c 'import sys, kombu; c = kombu.Connection(sys.argv[1]); c.default_channel.queue_purge("celery"); c.close()' "$url"; }
mt=() ; py=() ; raw=()
for _ in $(seq "$runs"); do
  out=$(target/release/mailtest produce -q --output json --catalog examples/catalogs/celery \
    --amqp "$url" --type welcome --count "$tasks")
  mt+=("$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert d['delivered']==$tasks, d; print(d['per_second'])" "$out")")
  purge
  py+=("$("$venv/bin/python" bench/peers/celery_publish.py "$url" "$tasks" confirm)")
  purge
  raw+=("$("$venv/bin/python" bench/peers/celery_publish.py "$url" "$tasks" noconfirm)")
  purge
done
mkdir -p bench/results
python3 - "$tasks" "${mt[*]}" "${py[*]}" "${raw[*]}" <<'PY'
import json, statistics, sys
tasks, mt, py, raw = int(sys.argv[1]), *[list(map(float, a.split())) for a in sys.argv[2:]]
m = {"mailtest": statistics.median(mt), "celery": statistics.median(py), "celery_unconfirmed": statistics.median(raw)}
print(f"celery tasks to RabbitMQ ({tasks:,} per run, median of {len(mt)} runs)")
print(f"  {'mailtest produce --amqp (confirmed)':<40}{m['mailtest']:>10,.0f}/s")
print(f"  {'Celery send_task, confirm_publish':<40}{m['celery']:>10,.0f}/s   mailtest {m['mailtest']/m['celery']:.1f}x")
print(f"  {'Celery send_task, no confirms':<40}{m['celery_unconfirmed']:>10,.0f}/s   mailtest {m['mailtest']/m['celery_unconfirmed']:.1f}x")
json.dump({"tasks": tasks, "runs": {"mailtest": mt, "celery": py, "celery_unconfirmed": raw}, "median": m,
           "ratio": m["mailtest"] / m["celery"], "ratio_unconfirmed": m["mailtest"] / m["celery_unconfirmed"]},
          open("bench/results/celery.json", "w"), indent=2)
PY
