//! `mailtest man DIR`: man pages for mailtest and every subcommand, from the CLI definition.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::exit_code::Outcome;
use crate::printer::Printer;

pub fn run(args: &ManArgs, printer: &Printer) -> Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let written = write_pages(&args.out)?;
    printer.status(&format!(
        "{written} man pages written to `{}`; try `man {}/mailtest.1`",
        args.out.display(),
        args.out.display()
    ));
    Ok(Outcome::Success)
}

/// Writes `mailtest.1` and `mailtest-<sub>.1` for each subcommand (and theirs); the count.
pub fn write_pages(dir: &std::path::Path) -> Result<usize> {
    let mut command = Cli::command();
    command.build();
    let mut stack = vec![(String::from("mailtest"), command)];
    let mut written = 0;
    while let Some((name, command)) = stack.pop() {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(command.clone())
            .title(name.clone())
            .render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("cannot write `{}`", path.display()))?;
        written += 1;
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            stack.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
    }
    Ok(written)
}
