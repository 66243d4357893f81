//! `mailtest config show`: the settings in effect and where each comes from.

use anyhow::Result;

use crate::cli::{ConfigAction, ConfigArgs, OutputFormat};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::settings::{ConfigFile, show};

pub fn run(args: &ConfigArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let ConfigAction::Show { output } = args.action;
    let entries = show::entries(config, &|name| std::env::var(name).ok());
    if output == OutputFormat::Json {
        for entry in &entries {
            printer.data(&serde_json::to_string(entry)?)?;
        }
        return Ok(Outcome::Success);
    }
    let mut table = printer.table(&["setting", "value", "from"]);
    for e in entries {
        table.add_row(vec![e.key, e.value, e.source]);
    }
    printer.data(&table.to_string())?;
    printer.status("flags given to a command win over every source shown here");
    Ok(Outcome::Success)
}
