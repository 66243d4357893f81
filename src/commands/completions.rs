//! `mailtest completions SHELL`: print shell completions generated from the CLI definition.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit_code::Outcome;

pub fn run(args: &CompletionsArgs) -> Result<Outcome> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "mailtest", &mut out);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    Ok(Outcome::Success)
}
