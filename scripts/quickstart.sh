#!/usr/bin/env bash
# First run on a fresh machine: build mailtest, then run the whole event-to-email pipeline
# once in one process (`mailtest smoke`): embedded Kafka broker, capture sink, reference
# notification service, every sample event produced, every email verified.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
exec target/release/mailtest smoke "$@"
