//! The `mailtest` binary: everything lives in the library; this only hands over and exits.

use std::process::ExitCode;

fn main() -> ExitCode {
    mailtest::main(std::env::args_os())
}
