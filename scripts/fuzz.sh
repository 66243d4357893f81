#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on the committed seeds (fuzz/seeds/<target>),
# with the corpus it grows kept under fuzz/corpus (not committed).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20)
# cargo-fuzz needs unstable compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain take
# them. No sanitizer: librdkafka's C build does not link under ASan, and the targets are safe
# Rust, where a panic is the bug being looked for.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
for target in smtp_command smtp_session smtp_framing event_source expectations mime checks providers capture_records; do
  mkdir -p "corpus/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  log=$(mktemp)
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" \
    -- -max_total_time="$seconds" > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target failed; a crash input is kept in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E "^Done" "$log" >&2
  # A crash leaves an artifact behind: fail, and keep it for a regression test.
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz: $target crashed, see fuzz/artifacts/$target" >&2
    exit 1
  fi
done
