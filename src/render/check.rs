//! `mailtest render --check` over a whole catalog: every fixture of every type rendered and
//! linted, and a generated event for each type that has none.

use super::lint::{Finding, Severity, lint};
use super::{RenderError, Renderer};
use crate::catalog::{Catalog, EventType, Fixture};
use crate::event::Event;

/// Renders every fixture of every catalog type and lints the result.
pub fn check_all(renderer: &Renderer, catalog: &Catalog) -> (Vec<Finding>, usize) {
    let mut out = Vec::new();
    let mut emails = 0;
    // With a team's layout, the types it names: the others are not the service's mail.
    let types = catalog
        .types()
        .filter(|t| renderer.templates().covers(t.name()));
    for kind in types {
        // A type without fixtures is checked on a generated event of each locale its
        // templates have, so no template goes unchecked for want of a sample.
        let generated = if kind.fixtures.is_empty() {
            generated_samples(kind, renderer)
        } else {
            Vec::new()
        };
        for fixture in kind.fixtures.iter().chain(&generated) {
            emails += 1;
            let finding = |rule, file: String, line, message| Finding {
                severity: Severity::Error,
                rule,
                file,
                fixture: fixture.name.clone(),
                line,
                message,
            };
            // Generated samples are envelopes; fixtures are in the type's wire format.
            let event = if kind.fixtures.is_empty() {
                serde_json::from_str::<Event>(&fixture.text).map_err(|e| (e.line(), e.to_string()))
            } else {
                crate::event::from_fixture(fixture, catalog)
            };
            let event = match event {
                Ok(event) => event,
                Err((line, message)) => {
                    out.push(finding("fixture", fixture.path.clone(), line, message));
                    continue;
                }
            };
            match renderer.render(&event) {
                Ok(rendered) => out.extend(lint(&rendered, &fixture.name, renderer.templates())),
                Err(RenderError::Template {
                    file,
                    line,
                    message,
                }) => out.push(finding("render", file, line, message)),
                Err(e) => out.push(finding("render", kind.name().to_owned(), 0, e.to_string())),
            }
        }
    }
    (out, emails)
}

/// Samples of a type that has no fixtures: a generated event (seeded, so every run checks
/// the same one) in each locale the templates have strings for, named `type/generated.LOCALE`.
fn generated_samples(kind: &EventType, renderer: &Renderer) -> Vec<Fixture> {
    let mut generator = crate::catalog::generate::Generator::new(Some(1));
    renderer
        .templates()
        .locales()
        .into_iter()
        .map(|locale| {
            let mut event = generator.event(kind);
            event["locale"] = serde_json::Value::String(locale.clone());
            Fixture {
                name: format!("{}/generated.{locale}", kind.name()),
                path: format!("{} (generated, locale {locale})", kind.name()),
                text: event.to_string(),
            }
        })
        .collect()
}
