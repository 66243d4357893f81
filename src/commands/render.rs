//! `mailtest render`: one email previewed (subject and text, one part, `.eml`, JSON), the
//! gallery of every template with every fixture, the live preview server, and lints.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::catalog::Catalog;
use crate::cli::{RenderArgs, RenderFormat};
use crate::event::{self, Event, InputError};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::render::lint::Severity;
use crate::render::{Renderer, Templates, gallery, live, message};
use crate::settings::{self, ConfigFile, RenderMode, SettingsError};

/// Where templates and the catalog come from: flags, then the config file.
struct Sources {
    templates: Option<PathBuf>,
    catalog: Option<PathBuf>,
}

impl Sources {
    fn load(&self) -> Result<(Renderer, Catalog)> {
        let templates = Templates::load(self.templates.as_deref(), self.catalog.as_deref())?;
        let catalog = settings::load_catalog(self.catalog.as_deref())?;
        Ok((Renderer::new(templates), catalog))
    }
}

pub async fn run(args: RenderArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let settings = settings::render(&args, config)?;
    let sources = Sources {
        templates: settings.templates,
        catalog: settings.catalog,
    };
    match settings.mode {
        RenderMode::Serve { addr, ready_file } => {
            serve(&addr, ready_file.as_deref(), sources, printer).await
        }
        RenderMode::Check { strict, json } => {
            let (renderer, catalog) = sources.load()?;
            check(&renderer, &catalog, strict, json, printer)
        }
        RenderMode::All { out } => {
            let (renderer, catalog) = sources.load()?;
            all(&renderer, &catalog, &out, printer)
        }
        RenderMode::One {
            event_type,
            event,
            fixture,
            format,
        } => {
            let (renderer, catalog) = sources.load()?;
            let event = pick_event(
                &catalog,
                event_type.as_deref(),
                event.as_deref(),
                fixture.as_deref(),
            )?;
            one(&renderer, &event, format, printer)
        }
    }
}

fn one(
    renderer: &Renderer,
    event: &Event,
    format: RenderFormat,
    printer: &Printer,
) -> Result<Outcome> {
    let rendered = renderer.render(event)?;
    let sender = &renderer.templates().config.sender;
    let eml = || -> Result<String> {
        let message = message::build(&rendered, event, sender, SystemTime::now())?;
        Ok(String::from_utf8_lossy(&message.formatted()).into_owned())
    };
    let out = match format {
        RenderFormat::Subject => rendered.subject.clone(),
        RenderFormat::Html => rendered.html.clone(),
        RenderFormat::Text => rendered.text.clone(),
        RenderFormat::Eml => eml()?,
        RenderFormat::Json => serde_json::to_string_pretty(&rendered)?,
        RenderFormat::Summary => format!(
            "Subject:   {}\nPreheader: {}\nTo:        {} <{}>\nLocale:    {}\n\n{}",
            rendered.subject,
            rendered.preheader,
            event.recipient.name,
            event.recipient.email,
            rendered.locale,
            rendered.text
        ),
    };
    printer.data(out.trim_end_matches('\n'))?;
    Ok(Outcome::Success)
}

/// The event to render: from `event` (a file), else the type's `fixture` (or `default`).
fn pick_event(
    catalog: &Catalog,
    event_type: Option<&str>,
    event: Option<&Path>,
    fixture: Option<&str>,
) -> Result<Event> {
    if let Some(path) = event {
        return read_event(catalog, path, event_type);
    }
    let Some(name) = event_type else {
        return Err(SettingsError::invalid(
            "TYPE",
            "name an event type (see `mailtest catalog`), or give --event FILE, --all, --check or --serve",
        )
        .into());
    };
    let kind = catalog.get(name).ok_or_else(|| {
        SettingsError::invalid(
            "TYPE",
            format!(
                "no event type `{name}`; known: {}",
                catalog.names().join(", ")
            ),
        )
    })?;
    if kind.fixtures.is_empty() && fixture.is_none() {
        // No sample to show: a generated one, the same on every run.
        let value = crate::catalog::generate::Generator::new(Some(1)).event(kind);
        return Event::from_value(value).context("generated event");
    }
    let wanted = fixture.unwrap_or("default");
    // Fixtures are named `type/name`; the type may be left out.
    let full = format!("{name}/{wanted}");
    let found = kind
        .fixtures
        .iter()
        .find(|f| f.name == wanted || f.name == full)
        .or_else(|| kind.fixtures.first().filter(|_| fixture.is_none()))
        .ok_or_else(|| {
            let names: Vec<&str> = kind.fixtures.iter().map(|f| f.name.as_str()).collect();
            SettingsError::invalid(
                "--fixture",
                format!(
                    "`{name}` has no fixture `{wanted}`; it has: {}",
                    names.join(", ")
                ),
            )
        })?;
    event::from_fixture(found, catalog)
        .map_err(|(_, message)| anyhow::anyhow!(message))
        .with_context(|| format!("fixture `{}`", found.path))
}

/// Reads and checks one event from a file or stdin; schema problems are reported all at
/// once as `file:line: field ...`, as `produce` does.
fn read_event(catalog: &Catalog, path: &Path, expected_type: Option<&str>) -> Result<Event> {
    let (name, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read stdin")?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.display().to_string(),
            source,
        })?;
        (path.display().to_string(), text)
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("json");
    let mut events = event::source::parse(&name, &text, ext)?;
    if events.len() != 1 {
        bail!(SettingsError::invalid(
            "--event",
            format!(
                "`{name}` holds {} events; render takes exactly one",
                events.len()
            )
        ));
    }
    let source = events.remove(0);
    let event = event::decode(&source.value, &crate::catalog::Meta::default(), catalog)
        .map_err(|violations| {
            InputError::Invalid(violations.iter().map(|v| source.problem(v)).collect())
        })?
        .event;
    if let Some(expected) = expected_type.filter(|t| *t != event.event_type) {
        bail!(SettingsError::invalid(
            "TYPE",
            format!(
                "`{name}` is a `{}` event, not `{expected}`",
                event.event_type
            )
        ));
    }
    Ok(event)
}

fn check(
    renderer: &Renderer,
    catalog: &Catalog,
    strict: bool,
    json: bool,
    printer: &Printer,
) -> Result<Outcome> {
    let (findings, emails) = crate::render::check::check_all(renderer, catalog);
    for finding in &findings {
        let line = if json {
            serde_json::to_string(finding)?
        } else {
            finding.to_string()
        };
        printer.data(&line)?;
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    printer.status(&format!(
        "checked {emails} emails ({} types): {errors} error(s), {warnings} warning(s)",
        catalog
            .types()
            .filter(|t| renderer.templates().covers(t.name()))
            .count()
    ));
    Ok(if errors > 0 || (strict && warnings > 0) {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn all(renderer: &Renderer, catalog: &Catalog, out: &Path, printer: &Printer) -> Result<Outcome> {
    let entries = gallery::build(renderer, catalog, SystemTime::now());
    let pages = gallery::pages(&entries, false);
    gallery::write(out, &pages)
        .with_context(|| format!("cannot write the gallery to `{}`", out.display()))?;
    let failed: Vec<_> = entries
        .iter()
        .filter_map(|e| e.outcome.as_ref().err())
        .collect();
    for failure in &failed {
        printer.warn(failure);
    }
    printer.data(&out.join("index.html").display().to_string())?;
    printer.status(&format!(
        "rendered {} of {} emails into {}",
        entries.len() - failed.len(),
        entries.len(),
        out.display()
    ));
    Ok(if failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

async fn serve(
    addr: &str,
    ready_file: Option<&Path>,
    sources: Sources,
    printer: &Printer,
) -> Result<Outcome> {
    // Fail now, not on the first page load, when the templates or catalog are broken.
    sources.load()?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        SettingsError::invalid("--serve", format!("cannot listen on `{addr}`: {e}"))
    })?;
    let url = format!("http://{}", listener.local_addr()?);
    let watch: Vec<PathBuf> = [&sources.templates, &sources.catalog]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let sources = Arc::new(sources);
    let build: live::Build = Arc::new(move || match sources.load() {
        Ok((renderer, catalog)) => gallery::pages(
            &gallery::build(&renderer, &catalog, SystemTime::now()),
            true,
        ),
        Err(e) => error_site(&e),
    });
    if let Some(path) = ready_file {
        super::write_ready_file(path, &format!("MAILTEST_RENDER={url}"))?;
    }
    printer.data(&url)?;
    if watch.is_empty() {
        printer.warn("serving the built-in templates and catalog, which do not change; give --templates DIR to edit live");
    }
    printer.status(&format!(
        "gallery at {url}/, reloading on changes; Ctrl-C stops"
    ));
    let status = printer.clone();
    let rebuilt: Arc<dyn Fn(u64) + Send + Sync> =
        Arc::new(move |n| status.status(&format!("rebuilt ({n})")));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop.send(true);
        }
    });
    live::serve(listener, build, watch, rebuilt, shutdown).await?;
    Ok(Outcome::Interrupted)
}

/// A one-page site showing why the gallery cannot be built (say, a YAML typo), so the
/// browser shows the error and reloads when it is fixed.
fn error_site(error: &anyhow::Error) -> live::Site {
    let text = format!("{error:#}");
    let page = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>mailtest: error</title><pre style=\"color:#b91c1c\">{}</pre>\
<script>new EventSource('/_live').onmessage=()=>location.reload()</script>",
        gallery::escape(&text)
    );
    let mut site = live::Site::new();
    site.insert("index.html".to_owned(), page.into_bytes());
    site.insert(
        "error.json".to_owned(),
        json!({"error": text}).to_string().into_bytes(),
    );
    site
}
