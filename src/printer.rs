//! Where output goes: data to stdout, messages, progress and tables to stderr; colour and
//! progress only when wanted and on a terminal.

use std::io::{self, IsTerminal, Write};

use comfy_table::{Table, presets};
use console::Style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ColorChoice;

/// The one writer of user-facing output, passed to every command.
#[derive(Debug, Clone)]
pub struct Printer {
    quiet: bool,
    color: bool,
    stderr_tty: bool,
}

impl Printer {
    pub fn new(quiet: bool, choice: ColorChoice) -> Self {
        let stderr_tty = io::stderr().is_terminal();
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && stderr_tty
            }
        };
        console::set_colors_enabled(
            color && io::stdout().is_terminal() || choice == ColorChoice::Always,
        );
        console::set_colors_enabled_stderr(color);
        Self {
            quiet,
            color,
            stderr_tty,
        }
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    pub fn color(&self) -> bool {
        self.color
    }

    /// One line of data on stdout. A closed pipe comes back as `BrokenPipe`, which the
    /// caller passes up: `main` treats it as success.
    pub fn data(&self, line: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    }

    /// A status message on stderr, unless quiet.
    pub fn status(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A warning on stderr, shown even when quiet is not set... and when it is: warnings
    /// are about data the user may lose.
    pub fn warn(&self, message: &str) {
        let label = Style::new()
            .yellow()
            .bold()
            .for_stderr()
            .apply_to("warning:");
        eprintln!("{label} {message}");
    }

    /// A progress bar on stderr, hidden when quiet or not on a terminal.
    pub fn progress(&self, len: Option<u64>, what: &str) -> ProgressBar {
        if self.quiet || !self.stderr_tty {
            return ProgressBar::hidden();
        }
        let bar = match len {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        bar.set_message(what.to_owned());
        bar
    }

    /// A table in the house style; printed with [`Printer::table_out`].
    pub fn table(&self, header: &[&str]) -> Table {
        let mut table = Table::new();
        table.load_preset(presets::UTF8_FULL_CONDENSED);
        if !self.color {
            table.force_no_tty();
        }
        table.set_header(header.iter().copied());
        table
    }

    /// A table on stderr (summaries are messages, not data), unless quiet.
    pub fn table_out(&self, table: &Table) {
        if !self.quiet {
            eprintln!("{table}");
        }
    }

    /// Prints an error and its causes, once, as `error: ...` with `caused by:` lines.
    pub fn error(&self, err: &anyhow::Error) {
        let label = Style::new().red().bold().for_stderr().apply_to("error:");
        eprintln!("{label} {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        if let Some(hint) = crate::hint::for_error(err) {
            let label = Style::new().cyan().bold().for_stderr().apply_to("hint:");
            eprintln!("{label} {hint}");
        }
    }
}
