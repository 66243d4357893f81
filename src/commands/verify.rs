//! `mailtest verify`: checks captured mail against an expectations file and reports as a
//! table, JSON or JUnit XML, with exit codes for CI.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::{OutputFormat, VerifyArgs};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::render::{Renderer, Templates};
use crate::settings::{self, ConfigFile, MailSource};
use crate::verify::checks::Checks;
use crate::verify::golden::GoldenRenderer;
use crate::verify::kafka::KafkaEvents;
use crate::verify::{self, Report, Source, Spec, SpecError, report};

pub async fn run(args: VerifyArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let settings = settings::verify(&args, config)?;
    let mut spec = Spec::load(&settings.file)?;
    if settings.timeout.is_some() {
        spec.timeout = settings.timeout;
    }
    if settings.mailbox.is_some() {
        spec.mailbox.clone_from(&settings.mailbox);
    }
    let base = settings.file.parent().unwrap_or(Path::new("."));
    let templates = Templates::load(settings.templates.as_deref(), settings.catalog.dir())?;
    let mut golden = GoldenRenderer::new(Renderer::new(templates), settings.catalog.clone(), base);
    if let Some(connection) = &settings.kafka {
        let (topics, catalog) = (settings.topics.clone(), settings.catalog.clone());
        golden = golden.with_kafka(KafkaEvents::new(connection.clone(), topics, catalog));
    }
    let check = |m: &verify::message::Message, g: &verify::spec::Golden| golden.check(m, g);
    let checks =
        Checks::new(settings.spamd.clone()).with_celery_results(settings.celery_results.clone());
    needs(&spec, &checks, &settings.file)?;
    let mut source = open_source(&settings.source, spec.mailbox.as_deref()).await?;
    loop {
        let report = verify::run(&spec, &mut source, &settings.vars, &check, &checks).await?;
        print(&report, &settings, printer)?;
        if !settings.watch {
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

async fn open_source(source: &MailSource, mailbox: Option<&str>) -> Result<Source> {
    Ok(match source {
        MailSource::Store(dir) => Source::store(dir, mailbox)?,
        MailSource::Topic { connection, topic } => {
            let (connection, topic) = (connection.clone(), topic.clone());
            let read = move || crate::capture::read_to_end(&connection, &topic);
            let store = tokio::task::spawn_blocking(read).await??;
            Source::from_store(&store, mailbox)
        }
        MailSource::Files(paths) => Source::files(paths)?,
        MailSource::Sink { url, token } => Source::sink(url, token.clone(), mailbox).await?,
    })
}

fn print(report: &Report, settings: &settings::Verify, printer: &Printer) -> Result<()> {
    if let Some(path) = &settings.junit {
        let suite = settings.file.display().to_string();
        let xml = report::junit(report, &suite).context("cannot write the JUnit report")?;
        std::fs::write(path, xml).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if settings.output == OutputFormat::Json {
        printer.data(&serde_json::to_string(report)?)?;
    } else {
        printer.data(&super::verdict_table(report, printer).to_string())?;
    }
    printer.status(&report::summary(report));
    Ok(())
}

/// The services the file's conditions need, given before any mail is read (exit 2).
fn needs(spec: &Spec, checks: &Checks, file: &Path) -> Result<(), SpecError> {
    let missing = if spec.uses_spam_check() && !checks.has_spamd() {
        "`spam_check` needs a SpamAssassin daemon: give --spamassassin HOST:PORT"
    } else if spec.celery.is_some() && !checks.has_celery_results() {
        "`celery` needs Celery's result backend: give --celery-results redis://HOST:PORT/DB"
    } else {
        return Ok(());
    };
    Err(SpecError::Semantic {
        file: file.display().to_string(),
        message: missing.to_owned(),
    })
}
