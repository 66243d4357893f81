//! The `mailtest` binary: everything lives in the library; this only hands over and exits.

use std::process::ExitCode;

// Event checking and JSON handling allocate a lot of small objects; mimalloc does that
// markedly faster than the system allocator (see bench/kafka.sh).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mailtest::main(std::env::args_os())
}
