#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what the tests need, check formatting and
# lints, then run every test (unit, integration, interop with kcat, tansu, confluent-kafka,
# swaks, smtp-source), after fuzzing the parsers for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# Bounded fuzzing of the parsers that meet untrusted bytes (its report goes to stderr).
bash scripts/fuzz.sh 20
# Every test in its own process with a per-test timeout (.config/nextest.toml, profile
# ci); the benchmarks run once each as tests. Where nextest is missing, `cargo test` runs
# the same tests in one process per binary.
if command -v cargo-nextest >/dev/null; then
  cargo test --locked --benches
  cargo nextest run --locked --workspace --lib --bins --tests --profile ci
else
  cargo test --locked --all-targets
fi
echo "test.sh: the whole suite took $((SECONDS - start)) s" >&2
