#!/usr/bin/env bash
# A CI job in plain shell: start the capture sink in the background, let the service under
# test send its mail to it, and gate the job on `mailtest verify`. Exit code: verify's
# (0 all expectations hold, 1 one failed, 2 bad expectations file, 3 sink unreachable).
#   MAILTEST=path/to/mailtest JUNIT=report.xml examples/ci/verify-signup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mailtest=${MAILTEST:-mailtest}
work=$(mktemp -d)
trap 'kill "$sink" 2>/dev/null || true; rm -rf "$work"' EXIT

# 1. The sink, on free ports; the ready file appears once both are listening.
"$mailtest" -q sink --memory --smtp 127.0.0.1:0 --http 127.0.0.1:0 --ready-file "$work/ready" &
sink=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
# shellcheck disable=SC1091
source "$work/ready"   # MAILTEST_SMTP=host:port, MAILTEST_HTTP=http://host:port
export MAILTEST_HTTP

# 2. The service under test sends its mail to $MAILTEST_SMTP. Here a stand-in: the
#    verification mail rendered by mailtest and sent with swaks, with audit@ as a BCC
#    (an envelope recipient in no header). Put your app here.
"$mailtest" render email_verification --format eml > "$work/verify.eml"
swaks --silent 2 --server "$MAILTEST_SMTP" --from no-reply@example.com \
  --to alice.nguyen@example.com,audit@example.com --data "@$work/verify.eml"

# 3. The gate: waits on the sink (server-side) until the expectations hold or time out.
"$mailtest" verify "$here/signup.yaml" --junit "${JUNIT:-$work/junit.xml}"
