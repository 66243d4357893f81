//! Diagnostics through `tracing` on stderr: `-v`/`-q` pick the default, `MAILTEST_LOG`
//! (an `EnvFilter` string such as `mailtest=debug,librdkafka=info`) overrides it.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber; call once, early.
pub fn init(verbose: u8, quiet: bool, format: LogFormat, color: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "mailtest=error",
        (false, 0) => "mailtest=warn",
        (false, 1) => "mailtest=info,librdkafka=warn",
        (false, 2) => "mailtest=debug,librdkafka=info",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("MAILTEST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2);
    // A second init (in tests that call `run` repeatedly) is harmless: the first one stays.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(color).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
