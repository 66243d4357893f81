//! `mailtest verify`: checks captured mail against an expectations file and reports as a
//! table, JSON or JUnit XML, with exit codes for CI.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::{OutputFormat, VerifyArgs};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::render::{Renderer, Templates};
use crate::settings::{self, ConfigFile};
use crate::verify::golden::GoldenRenderer;
use crate::verify::{self, Report, Source, Spec, report};

pub async fn run(args: VerifyArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let mut spec = Spec::load(&args.file)?;
    if let Some(timeout) = args.timeout {
        spec.timeout = Some(timeout.0);
    }
    if args.mailbox.is_some() {
        spec.mailbox.clone_from(&args.mailbox);
    }
    let vars = settings::vars(&args.vars)?;
    let base = args.file.parent().unwrap_or(Path::new("."));
    let templates = Templates::load(args.templates.as_deref().or(config.templates.as_deref()))?;
    let catalog = settings::load_catalog(args.catalog.as_deref().or(config.catalog.as_deref()))?;
    let golden = GoldenRenderer::new(Renderer::new(templates), catalog, base);
    let check = |m: &verify::message::Message, g: &verify::spec::Golden| golden.check(m, g);
    let mut source = open_source(&args, config, spec.mailbox.as_deref()).await?;
    loop {
        let report = verify::run(&spec, &mut source, &vars, &check).await?;
        print(&report, &args, printer)?;
        if !args.watch {
            return Ok(if report.passed {
                Outcome::Success
            } else {
                Outcome::Failure
            });
        }
        printer.status("watching for more mail; Ctrl-C stops");
        let seen = source.messages().len();
        while source.messages().len() == seen {
            tokio::select! {
                waited = source.wait(tokio::time::Instant::now() + Duration::from_secs(60)) => waited?,
                _ = tokio::signal::ctrl_c() => return Ok(Outcome::Interrupted),
            }
        }
    }
}

async fn open_source(
    args: &VerifyArgs,
    config: &ConfigFile,
    mailbox: Option<&str>,
) -> Result<Source> {
    if let Some(dir) = &args.store {
        return Ok(Source::store(dir, mailbox)?);
    }
    if !args.eml.is_empty() {
        return Ok(Source::files(&args.eml)?);
    }
    let url = args
        .sink
        .as_deref()
        .or(config.sink.http.as_deref())
        .unwrap_or(settings::DEFAULT_HTTP);
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    Ok(Source::sink(&url, args.api_token.clone(), mailbox).await?)
}

fn print(report: &Report, args: &VerifyArgs, printer: &Printer) -> Result<()> {
    if let Some(path) = &args.junit {
        let suite = args.file.display().to_string();
        let xml = report::junit(report, &suite).context("cannot write the JUnit report")?;
        std::fs::write(path, xml).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if args.output == OutputFormat::Json {
        printer.data(&serde_json::to_string(report)?)?;
    } else {
        printer.data(&super::verdict_table(report, printer).to_string())?;
    }
    printer.status(&report::summary(report));
    Ok(())
}
