//! mailtest: pre-production email testing for event-driven backends.
//!
//! Map of the crate:
//! - `cli` parses the command line; `settings` resolves flags, environment and config file,
//!   both through the typed values of `value` (sizes, durations);
//! - `commands/*` holds one entry function per subcommand, and `commands::failure` the one
//!   mapping from errors to exit codes;
//! - `catalog` (event types, schemas, generation) and `event` (the envelope, reading input);
//! - `kafka` builds clients; `broker` runs the embedded cluster; `produce` and `consume` move
//!   events;
//! - `mail` is mail apart from any protocol: the envelope, the incoming message, the
//!   `Deliver` seam from a session to the store, and the parsed view of a stored message;
//! - `smtp`, `store` and `api` make the capture sink, which `sink` runs as one piece;
//! - `render` turns events into mail (templates to a complete message), `dispatch` is the
//!   reference notification service, `outbound` sends mail on (dispatch's sender, release,
//!   `produce --fallback-smtp`), `verify` checks captured mail, and `smoke` runs the whole
//!   chain in one process;
//! - `printer`, `logging`, `hint`, `ready` and `exit_code` (a leaf of codes and error kinds)
//!   are the shared output and error plumbing; `located` is where bad input is
//!   (`file:line:column`).
//!
//! `docs/architecture.md` draws the two data flows and where new capabilities plug in.

pub mod amqp;
pub mod api;
pub mod broker;
pub mod capture;
pub mod catalog;
pub mod celery;
pub mod checks;
pub mod cli;
mod commands;
pub mod consume;
pub mod dispatch;
pub mod event;
pub mod exit_code;
mod hint;
pub mod kafka;
pub mod located;
mod logging;
pub mod mail;
pub mod outbound;
pub mod printer;
pub mod produce;
pub mod ready;
pub mod record;
pub mod render;
pub mod settings;
pub mod sink;
pub mod smoke;
pub mod smtp;
pub mod store;
pub mod value;
pub mod verify;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::exit_code::Outcome;
use crate::printer::Printer;

/// Runs mailtest with these arguments (the first is the program name) and returns the exit
/// code; errors are printed here and nowhere else.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version to stdout with exit 0, usage errors with exit 2.
            let _ = err.print();
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    let printer = Printer::new(cli.global.quiet, cli.global.color);
    logging::init(
        cli.global.verbose,
        cli.global.quiet,
        cli.global.log_format,
        printer.color(),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            printer.error(&anyhow::Error::new(err).context("cannot start the async runtime"));
            return ExitCode::from(exit_code::FAILURE);
        }
    };
    let result = runtime.block_on(commands::run(cli, &printer));
    // A thread still stuck in a client library (a Kafka close with the broker gone) must
    // not keep the process from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(outcome) => outcome.into(),
        Err(err) if err.is_broken_pipe() => Outcome::Success.into(),
        Err(err) => {
            printer.error(err.error());
            ExitCode::from(err.process_exit_code())
        }
    }
}
