//! The process exit codes mailtest documents and the kinds of error that map to them. A
//! leaf: library modules name their errors' kinds here, and `commands::failure` is the one
//! place that finds the kind of a failed command's error.

use std::process::ExitCode;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// The command ran, but a check it made failed (undelivered events, failed expectations).
pub const FAILURE: u8 = 1;
/// The command line, a config file or an input file was wrong (clap also uses 2).
pub const USAGE: u8 = 2;
/// A service the command needs (a Kafka broker, an SMTP server, a sink) could not be reached.
pub const UNAVAILABLE: u8 = 3;
/// Interrupted by Ctrl-C (128 + SIGINT), as shells report it.
pub const INTERRUPTED: u8 = 130;

/// How a command that did not fail with an error ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A check failed; the command already printed why.
    Failure,
    Interrupted,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Self::Success => SUCCESS,
            Self::Failure => FAILURE,
            Self::Interrupted => INTERRUPTED,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(outcome.code())
    }
}

/// What kind of failure an error is; each library error type says which of its variants
/// is which (a `kind()` method), and the kind decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags, config or input data, or an address that cannot be listened on: exit 2.
    BadInput,
    /// A needed service could not be reached: exit 3.
    Unavailable,
    /// Anything else (a failed write, a service that failed mid-way): exit 1.
    Failed,
}

impl ErrorKind {
    pub fn code(self) -> u8 {
        match self {
            Self::BadInput => USAGE,
            Self::Unavailable => UNAVAILABLE,
            Self::Failed => FAILURE,
        }
    }
}

/// True when the error is only a closed stdout (`mailtest consume | head`), which is success.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
