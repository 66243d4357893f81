#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what the tests need, check formatting and
# lints, then run every test (unit, integration, interop with kcat, tansu, confluent-kafka,
# swaks, smtp-source), after fuzzing the parsers for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# Bounded fuzzing of the parsers that meet untrusted bytes (its report goes to stderr).
bash scripts/fuzz.sh 20
cargo test --locked --all-targets
