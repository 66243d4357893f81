//! `mailtest catalog`: list the event types, their fields and fixtures.

use anyhow::Result;
use serde_json::json;

use crate::cli::{CatalogArgs, OutputFormat};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::settings::{self, ConfigFile};

pub fn run(args: &CatalogArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let catalog = settings::load_catalog(args.catalog.as_deref().or(config.catalog.as_deref()))?;
    if args.output == OutputFormat::Json {
        for ty in catalog.types() {
            let fields: Vec<_> = ty
                .schema
                .data
                .iter()
                .map(|(name, f)| json!({"name": name, "type": f.kind.name(), "required": f.required}))
                .collect();
            let fixtures: Vec<_> = ty.fixtures.iter().map(|f| f.name.clone()).collect();
            let line = json!({
                "event_type": ty.name(),
                "schema_version": ty.schema.schema_version,
                "description": ty.schema.description,
                "fields": fields,
                "fixtures": fixtures,
            });
            printer.data(&line.to_string())?;
        }
        return Ok(Outcome::Success);
    }
    for ty in catalog.types() {
        printer.data(&format!(
            "{} (v{}): {}",
            ty.name(),
            ty.schema.schema_version,
            ty.schema.description
        ))?;
        for (name, field) in &ty.schema.data {
            let optional = if field.required { "" } else { ", optional" };
            printer.data(&format!("  data.{name}: {}{optional}", field.kind.name()))?;
        }
        let fixtures: Vec<_> = ty.fixtures.iter().map(|f| f.name.as_str()).collect();
        printer.data(&format!("  fixtures: {}", fixtures.join(", ")))?;
    }
    Ok(Outcome::Success)
}
