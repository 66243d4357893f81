//! `mailtest smoke`: resolves the flags, runs the whole pipeline once, prints the report and,
//! with `--keep`, leaves everything up until Ctrl-C.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{OutputFormat, SmokeArgs};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::render::Templates;
use crate::settings::{self, ConfigFile, SettingsError};
use crate::smoke::{self, Pipeline, Report, Scenario};
use crate::verify::report;

pub async fn run(args: SmokeArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    super::raise_open_file_limit();
    let resolved = settings::smoke(&args, config)?;
    let (output, junit) = (resolved.output, resolved.junit.clone());
    let (keep, ready_file) = (resolved.keep, resolved.ready_file.clone());
    let settings = setup(resolved)?;
    printer.status(&format!(
        "smoke: scenario `{}` ({})",
        settings.scenario.name, settings.scenario.file
    ));
    // Steps show on a live line on a terminal; the report below has them all.
    let bar = printer.progress(None, "starting the pipeline");
    let on_step = |s: &smoke::Step| {
        tracing::info!(step = s.step, ms = s.ms, "{}", s.detail);
        bar.set_message(format!("{}: {}", s.step, s.detail));
    };
    // Before anything is up: `--keep` waits for it, and a ready file may be read at once.
    let stop = keep.then(super::StopSignal::listen).transpose()?;
    let mut pipeline = match Pipeline::start(&settings, &on_step).await {
        Ok(pipeline) => pipeline,
        Err(err) => {
            bar.finish_and_clear();
            return Err(err.into());
        }
    };
    if let Some(path) = &ready_file {
        super::write_ready_file(path, &ready_lines(&pipeline))?;
    }
    let report = pipeline.run(&settings, &on_step).await;
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            pipeline.stop().await;
            return Err(err.into());
        }
    };
    print(&report, output, junit.as_deref(), printer)?;
    if let Some(stop) = stop {
        printer.status(&format!(
            "kept up: {}; web inbox at {}/; Ctrl-C stops",
            ready_lines(&pipeline).replace('\n', ", "),
            pipeline.sink.url()
        ));
        stop.recv().await;
    }
    pipeline.stop().await;
    Ok(if report.passed {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn ready_lines(p: &Pipeline) -> String {
    format!(
        "MAILTEST_BROKERS={}\nMAILTEST_SMTP={}\nMAILTEST_HTTP={}",
        p.bootstrap,
        p.sink.smtp,
        p.sink.url()
    )
}

/// The run's setup: the settings with the scenario and templates loaded.
fn setup(settings: settings::Smoke) -> Result<smoke::Setup> {
    let mut scenario = match &settings.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::builtin()?,
    };
    if settings.wait.is_some() {
        scenario.spec.timeout = settings.wait;
    }
    if scenario.spec.celery.is_some() && settings.celery_results.is_none() {
        return Err(SettingsError::invalid(
            "--celery-results",
            "the scenario's `celery:` task states need Celery's result backend: give --celery-results redis://HOST:PORT/DB",
        )
        .into());
    }
    let templates = Templates::load(settings.templates.as_deref(), settings.catalog.dir())?;
    Ok(smoke::Setup {
        kafka: settings.kafka,
        properties: settings.properties,
        catalog: settings.catalog,
        templates,
        scenario,
        layout: settings.layout,
        smtp: settings.smtp,
        http: settings.http,
        dispatch: settings.dispatch,
        vars: settings.vars,
        worker: settings.worker,
        celery_results: settings.celery_results,
    })
}

fn print(
    report: &Report,
    output: OutputFormat,
    junit: Option<&Path>,
    printer: &Printer,
) -> Result<()> {
    if let Some(path) = junit {
        let xml = report::junit(&report.verify, &report.scenario)
            .context("cannot write the JUnit report")?;
        std::fs::write(path, xml).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if output == OutputFormat::Json {
        printer.data(&serde_json::to_string(report)?)?;
    } else {
        let mut steps = printer.table(&["step", "what happened", "ms"]);
        for s in &report.steps {
            steps.add_row(vec![s.step.to_owned(), s.detail.clone(), s.ms.to_string()]);
        }
        printer.data(&steps.to_string())?;
        printer.data(&super::verdict_table(&report.verify, printer).to_string())?;
    }
    let verdict = if report.passed { "passed" } else { "FAILED" };
    let mut line = format!(
        "smoke {verdict}: {} events produced, {} emails captured",
        report.produced, report.captured
    );
    if let Some(d) = &report.dispatch {
        line.push_str(&format!(
            " ({} sent, {} retried, {} dead-lettered)",
            d.sent, d.retried, d.dead_lettered
        ));
    }
    line.push_str(&format!(
        "; {}; {:.2}s in all",
        report::summary(&report.verify),
        report.elapsed_ms as f64 / 1000.0
    ));
    printer.status(&line);
    Ok(())
}
