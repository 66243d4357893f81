#!/usr/bin/env bash
# A CI smoke check of your own notification service: your Kafka, your service; mailtest
# produces the scenario's events, captures the mail your service sends and checks it.
# Exit code: smoke's (0 every expectation held, 1 one did not, 2 bad scenario, 3 no broker).
#   MAILTEST=path/to/mailtest BROKERS=kafka:9092 SMTP=127.0.0.1:2525 \
#     SCENARIO=ci/smoke.yaml JUNIT=report.xml examples/ci/smoke-own-service.sh
set -euo pipefail
mailtest=${MAILTEST:-mailtest}
smtp=${SMTP:-127.0.0.1:2525}
work=$(mktemp -d)
pids=()
# Stopped newest first: the service before the broker it reads from.
stop() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap stop EXIT

# 1. Kafka: yours ($BROKERS), else the embedded broker for this demonstration.
if [ -z "${BROKERS:-}" ]; then
  "$mailtest" -q broker --ready-file "$work/broker" >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/broker" ] && break; sleep 0.1; done
  BROKERS=$(cat "$work/broker")
fi

# 2. The service under test: it consumes the email events from $BROKERS and sends its mail
#    to $smtp, where smoke's sink listens. Here a stand-in: mailtest's reference service.
#    Put your service here.
"$mailtest" -q dispatch --brokers "$BROKERS" --smtp "$smtp" --no-state --http 127.0.0.1:0 &
pids+=($!)

# 3. The check: produce, capture, verify; a report on stdout and JUnit for the CI.
"$mailtest" smoke --brokers "$BROKERS" --no-dispatch --smtp-listen "$smtp" \
  ${SCENARIO:+--scenario "$SCENARIO"} --junit "${JUNIT:-$work/junit.xml}"
