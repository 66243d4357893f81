//! The error a command fails with, and the exit code it maps to: the one place that turns
//! an error into an exit code (as nextest's `ExpectedError::process_exit_code`).

use std::error::Error as StdError;

use crate::exit_code::{self, ErrorKind};

/// A failed command: its error with the cause chain to print, by the kind that decides
/// the exit code.
#[derive(Debug)]
pub enum CommandError {
    /// Bad flags, config or input, or an address that cannot be listened on (exit 2).
    BadInput(anyhow::Error),
    /// A service the command needs could not be reached (exit 3).
    Unavailable(anyhow::Error),
    /// Anything else (exit 1).
    Failed(anyhow::Error),
}

impl CommandError {
    pub fn new(kind: ErrorKind, error: anyhow::Error) -> Self {
        match kind {
            ErrorKind::BadInput => Self::BadInput(error),
            ErrorKind::Unavailable => Self::Unavailable(error),
            ErrorKind::Failed => Self::Failed(error),
        }
    }

    pub fn error(&self) -> &anyhow::Error {
        match self {
            Self::BadInput(e) | Self::Unavailable(e) | Self::Failed(e) => e,
        }
    }

    pub fn process_exit_code(&self) -> u8 {
        match self {
            Self::BadInput(_) => ErrorKind::BadInput.code(),
            Self::Unavailable(_) => ErrorKind::Unavailable.code(),
            Self::Failed(_) => ErrorKind::Failed.code(),
        }
    }

    /// Only a closed stdout (`mailtest consume | head`), which is success.
    pub fn is_broken_pipe(&self) -> bool {
        exit_code::is_broken_pipe(self.error())
    }
}

/// The kind of the first error in the chain that knows its own; the context commands add
/// on the way up keeps the kind of what it wraps.
impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        let kind = error.chain().find_map(kind_of).unwrap_or(ErrorKind::Failed);
        Self::new(kind, error)
    }
}

/// The kind of one error, when it is one of the library's.
fn kind_of(cause: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    macro_rules! ask {
        ($($error:ty),+ $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$error>() {
                return Some(e.kind());
            })+
        };
    }
    ask!(
        crate::amqp::AmqpError,
        crate::catalog::CatalogError,
        crate::celery::results::ResultsError,
        crate::dispatch::ledger::LedgerError,
        crate::event::InputError,
        crate::kafka::KafkaError,
        crate::outbound::release::ReleaseError,
        crate::render::RenderError,
        crate::render::TemplatesError,
        crate::settings::SettingsError,
        crate::smoke::SmokeError,
        crate::smtp::tls::TlsError,
        crate::store::StoreError,
        crate::verify::SourceError,
        crate::verify::SpecError,
    );
    None
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::CommandError;

    fn code(error: impl Into<anyhow::Error>) -> u8 {
        CommandError::from(error.into().context("while running")).process_exit_code()
    }

    #[test]
    fn each_kind_of_error_has_its_exit_code_through_added_context() {
        let io = || std::io::Error::other("disk full");
        // Failed writes are failures, wherever they happen.
        assert_eq!(code(crate::dispatch::ledger::LedgerError::Write(io())), 1);
        assert_eq!(code(crate::store::StoreError::Write(io())), 1);
        // What the user gave and can fix.
        assert_eq!(
            code(crate::dispatch::ledger::LedgerError::Busy("state".into())),
            2
        );
        assert_eq!(code(crate::kafka::KafkaError::Config("x".into())), 2);
        // A service that is not there.
        let unreachable = crate::verify::SourceError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            reason: "refused".into(),
        };
        assert_eq!(code(unreachable), 3);
        // A server that answered is not unreachable.
        let answered = crate::verify::SourceError::Api {
            url: "http://127.0.0.1:1".into(),
            status: 500,
            body: String::new(),
        };
        assert_eq!(code(answered), 1);
        // An error no module claims.
        assert_eq!(code(io()), 1);
        // The innermost known kind is not hidden by a wrapper that knows none.
        let wrapped = Err::<(), _>(crate::kafka::KafkaError::Internal("gone".into()))
            .context("starting")
            .unwrap_err();
        assert_eq!(CommandError::from(wrapped).process_exit_code(), 1);
    }
}
