//! The process exit codes mailtest documents, and the one place that maps errors to them.

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

/// The classes of error the library raises; each maps to one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad flags, config or input data: exit 2.
    BadInput,
    /// A needed service could not be reached: exit 3.
    Unavailable,
    /// Anything else: exit 1.
    Other,
}

impl ErrorClass {
    pub fn code(self) -> u8 {
        match self {
            Self::BadInput => USAGE,
            Self::Unavailable => UNAVAILABLE,
            Self::Other => FAILURE,
        }
    }
}

/// The exit code for an error: the first error in the cause chain that knows its class wins.
pub fn classify(err: &anyhow::Error) -> ErrorClass {
    for cause in err.chain() {
        if cause.is::<crate::event::InputError>()
            || cause.is::<crate::catalog::CatalogError>()
            || cause.is::<crate::settings::SettingsError>()
            || cause.is::<crate::render::RenderError>()
            || cause.is::<crate::render::SourceError>()
            || cause.is::<crate::verify::SpecError>()
            || cause.is::<crate::dispatch::ledger::LedgerError>()
        {
            return ErrorClass::BadInput;
        }
        if let Some(crate::smoke::SmokeError::Bind { .. }) = cause.downcast_ref() {
            return ErrorClass::BadInput;
        }
        if let Some(crate::store::StoreError::Open { .. }) = cause.downcast_ref() {
            return ErrorClass::BadInput;
        }
        if let Some(crate::verify::SourceError::Unreachable { .. }) = cause.downcast_ref() {
            return ErrorClass::Unavailable;
        }
        if let Some(e) = cause.downcast_ref::<crate::kafka::KafkaError>() {
            return e.class();
        }
    }
    ErrorClass::Other
}

/// True when the error is only a closed stdout (`mailtest consume | head`), which is success.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
