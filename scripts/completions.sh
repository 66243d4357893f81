#!/usr/bin/env bash
# Regenerates the committed shell completions and man pages from the CLI definition.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q
bin=target/debug/mailtest
mkdir -p completions
"$bin" completions bash > completions/mailtest.bash
"$bin" completions zsh > completions/_mailtest
"$bin" completions fish > completions/mailtest.fish
"$bin" completions powershell > completions/_mailtest.ps1
"$bin" completions elvish > completions/mailtest.elv
# Man pages, one per subcommand.
rm -rf man
"$bin" -q man man
