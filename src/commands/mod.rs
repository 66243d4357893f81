//! One module and one entry function per subcommand; this file only dispatches.

mod broker;
mod catalog;
mod completions;
mod config;
mod consume;
mod dispatch;
mod failure;
mod man;
mod produce;
mod render;
mod sink;
mod smoke;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::settings::ConfigFile;

pub use failure::CommandError;

/// Runs the parsed command.
pub async fn run(cli: Cli, printer: &Printer) -> Result<Outcome, CommandError> {
    Ok(run_command(cli, printer).await?)
}

async fn run_command(cli: Cli, printer: &Printer) -> Result<Outcome> {
    let config = ConfigFile::load(cli.global.config.as_deref(), cli.global.profile.as_deref())?;
    match cli.command {
        Command::Broker(args) => broker::run(args, &config, printer).await,
        Command::Produce(args) => produce::run(args, &config, printer).await,
        Command::Consume(args) => consume::run(args, &config, printer).await,
        Command::Catalog(args) => catalog::run(&args, &config, printer),
        Command::Completions(args) => completions::run(&args),
        Command::Config(args) => config::run(&args, &config, printer),
        Command::Man(args) => man::run(&args, printer),
        Command::Render(args) => render::run(args, &config, printer).await,
        Command::Sink(args) => sink::run(*args, &config, printer).await,
        Command::Verify(args) => verify::run(args, &config, printer).await,
        Command::Dispatch(args) => dispatch::run(*args, &config, printer).await,
        Command::Smoke(args) => smoke::run(*args, &config, printer).await,
    }
}

/// The verdicts of a verify run as a table, wrapped to the terminal (or 120 columns in
/// logs), since reasons and diffs are long.
fn verdict_table(report: &crate::verify::Report, printer: &Printer) -> comfy_table::Table {
    let mut table = printer.table(&["expectation", "matched", "result", "reason"]);
    table.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if table.width().is_none() {
        table.set_width(120);
    }
    crate::verify::report::table(report, table)
}

/// Writes a ready file (see [`crate::ready`]).
fn write_ready_file(path: &std::path::Path, contents: &str) -> Result<()> {
    use anyhow::Context as _;
    crate::ready::write(path, contents)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// A flag that turns true on Ctrl-C, for blocking loops to check.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            set.store(true, Ordering::Relaxed);
        }
    });
    flag
}

/// Raises the soft limit on open files to the hard one, for the servers: each SMTP session
/// and HTTP connection holds a descriptor, and the usual soft limit of 1,024 is soon met.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(err) => tracing::warn!(cause = %err, "cannot raise the open file limit"),
    }
}

/// SIGTERM (how service managers and CI stop a process) or Ctrl-C (SIGINT), listened for
/// from the moment this is made. Make it before the process says it is ready (a ready file,
/// a status line): a signal sent on that word before the handlers were in place would meet
/// the default action and kill the process without its drain.
struct StopSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn listen() -> Result<Self> {
        #[cfg(unix)]
        {
            use anyhow::Context as _;
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| signal(kind).context("cannot listen for stop signals");
            Ok(Self {
                term: listen(SignalKind::terminate())?,
                int: listen(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the first stop signal since [`StopSignal::listen`].
    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
