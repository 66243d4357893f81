//! `mailtest render`: every template with every fixture (snapshots), locales, the `.eml`
//! read back by a MIME parser and stored unchanged by the sink, the CLI, strict undefined.

use std::sync::Arc;
use std::time::SystemTime;

use mailparse::MailHeaderMap;
use mailtest::catalog::Catalog;
use mailtest::event::Event;
use mailtest::render::{Renderer, Templates, message};

use crate::util::{copy_dir, mailtest, root, snapshot_filters};

pub fn builtin() -> (Renderer, Catalog) {
    let renderer = Renderer::new(Templates::builtin().expect("built-in templates load"));
    (
        renderer,
        Catalog::builtin().expect("built-in catalog loads"),
    )
}

pub fn fixture_event(catalog: &Catalog, name: &str) -> Event {
    let kind = catalog.get(name.split('/').next().unwrap()).unwrap();
    let fixture = kind.fixtures.iter().find(|f| f.name == name).unwrap();
    serde_json::from_str(&fixture.text).unwrap()
}

#[test]
fn every_template_renders_with_every_fixture() {
    let (renderer, catalog) = builtin();
    let mut count = 0;
    for kind in catalog.types() {
        for fixture in &kind.fixtures {
            let event = fixture_event(&catalog, &fixture.name);
            let r = renderer
                .render(&event)
                .unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
            assert!(
                !r.text.trim().is_empty() && !r.text_derived,
                "{}",
                fixture.name
            );
            let shown = format!(
                "subject: {}\npreheader: {}\nlocale: {}\n\n--- text ---\n{}\n--- html ---\n{}",
                r.subject, r.preheader, r.locale, r.text, r.html
            );
            snapshot_filters().bind(|| {
                insta::assert_snapshot!(fixture.name.replace('/', "__"), shown);
            });
            count += 1;
        }
    }
    assert_eq!(count, 16, "8 types with 2 fixtures each");
}

#[test]
fn the_locale_picks_words_dates_and_money() {
    let (renderer, catalog) = builtin();
    let de = renderer
        .render(&fixture_event(&catalog, "order_confirmation/de"))
        .unwrap();
    assert_eq!(
        de.subject,
        "Bestellung ORD-004212 bestätigt: 1.249,00\u{a0}€"
    );
    let en = renderer
        .render(&fixture_event(&catalog, "order_confirmation/default"))
        .unwrap();
    assert!(
        en.text
            .contains("3 × Organic green tea (100 g) ($14.50)  $43.50"),
        "{}",
        en.text
    );
    assert!(
        en.preheader.contains("4 items"),
        "quantities summed: {}",
        en.preheader
    );
    let mut event = fixture_event(&catalog, "account_locked/de");
    event.locale = "de-AT".into();
    let at = renderer.render(&event).unwrap();
    assert!(
        at.text
            .contains("am 20. November 2026, 10:00 UTC+01:00 gesperrt"),
        "{}",
        at.text
    );
    event.locale = "fr".into();
    assert_eq!(
        renderer.render(&event).unwrap().locale,
        "en",
        "no French strings: English"
    );
}

#[test]
fn the_eml_parses_back_and_the_sink_stores_it_unchanged() {
    let (renderer, catalog) = builtin();
    let event = fixture_event(&catalog, "email_verification/de");
    let rendered = renderer.render(&event).unwrap();
    let sender = &renderer.templates().config.sender;
    let eml = message::build(&rendered, &event, sender, SystemTime::now())
        .unwrap()
        .formatted();
    let parsed = mailparse::parse_mail(&eml).unwrap();
    assert_eq!(parsed.ctype.mimetype, "multipart/alternative");
    let subject = parsed.headers.get_first_value("Subject").unwrap();
    assert_eq!(
        subject, "Bestätige deine E-Mail-Adresse",
        "encoded word decodes"
    );
    let raw_subject = eml
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Subject:"))
        .unwrap();
    assert!(raw_subject.is_ascii(), "the subject header is encoded");
    assert_eq!(
        parsed.headers.get_first_value("Message-ID").unwrap(),
        format!("<{}@example.com>", event.event_id)
    );
    assert_eq!(
        parsed
            .headers
            .get_first_value("X-Mailtest-Event-Type")
            .as_deref(),
        Some("email_verification")
    );
    assert!(parsed.headers.get_first_value("Date").is_some());
    let parts: Vec<_> = parsed
        .subparts
        .iter()
        .map(|p| p.ctype.mimetype.clone())
        .collect();
    assert_eq!(parts, ["text/plain", "text/html"]);
    // MIME text lines end in CRLF.
    let body = |i: usize| parsed.subparts[i].get_body().unwrap().replace("\r\n", "\n");
    assert_eq!(body(0), rendered.text);
    assert_eq!(body(1), rendered.html.replace("\r\n", "\n"));
    let stored = through_a_sink(&eml, &event.recipient.email);
    assert_eq!(stored.trim_ascii_end(), eml.trim_ascii_end());
}

/// Sends `eml` with lettre to an in-process sink; what the sink stored.
fn through_a_sink(eml: &[u8], to: &str) -> Vec<u8> {
    use mailtest::smtp::{Server, ServerSettings};
    use mailtest::store::{Query, Store};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Arc::new(Store::memory());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let serve = Server::serve(listener, ServerSettings::default(), store.clone(), shutdown);
        tokio::spawn(serve);
        let target = mailtest::outbound::release::Target {
            host: addr.ip().to_string(),
            port: addr.port(),
            ..Default::default()
        };
        let timeout = mailtest::outbound::release::RELEASE_TIMEOUT;
        mailtest::outbound::release::release(
            eml,
            "no-reply@example.com",
            &[to.to_owned()],
            &target,
            timeout,
        )
        .await
        .unwrap();
        let found = store.list(&Query::default());
        store.raw(found[0].id).unwrap()
    })
}

#[test]
fn the_cli_prints_each_part() {
    let summary = mailtest().args(["render", "welcome"]).ok();
    assert!(
        summary.starts_with("Subject:   Welcome to Example App, Priya Singh\n"),
        "{summary}"
    );
    assert!(
        summary.contains("Your free trial runs for 14 days."),
        "{summary}"
    );
    let subject = mailtest()
        .args([
            "render",
            "welcome",
            "--fixture",
            "long_name",
            "--format",
            "subject",
        ])
        .ok();
    assert_eq!(
        subject,
        "Willkommen bei Example App, Anne-Marie Wolfeschlegelstein…\n"
    );
    let html = mailtest()
        .args(["render", "password_reset", "--format", "html"])
        .ok();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("style=\"margin: 0;"),
        "CSS inlined"
    );
    let eml = mailtest()
        .args(["render", "password_reset", "--format", "eml"])
        .ok();
    let parsed = mailparse::parse_mail(eml.as_bytes()).unwrap();
    assert_eq!(parsed.subparts.len(), 2);
    let json: serde_json::Value = serde_json::from_str(
        &mailtest()
            .args(["render", "role_upgrade", "--format", "json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(json["subject"], "You are now editor on Example App");
    let file = root().join("fixtures/events/welcome/long_name.json");
    let from_file = mailtest()
        .args(["render", "--format", "subject", "--event"])
        .arg(&file)
        .ok();
    assert_eq!(from_file, subject);
}

#[test]
fn bad_render_input_names_what_and_where() {
    mailtest()
        .args(["render", "nope"])
        .run()
        .fails_with(2, "no event type `nope`; known: account_locked");
    mailtest()
        .args(["render", "welcome", "--fixture", "fr"])
        .run()
        .fails_with(
            2,
            "`welcome` has no fixture `fr`; it has: welcome/default, welcome/long_name",
        );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\n  \"event_type\": \"welcome\",\n  \"locale\": 7\n}\n",
    )
    .unwrap();
    let done = mailtest().args(["render", "--event"]).arg(&bad).run();
    done.fails_with(2, "bad.json:3: field `locale`: expected string");
    mailtest()
        .args(["render", "--templates", "/nonexistent/templates", "welcome"])
        .run()
        .fails_with(
            2,
            "cannot read templates directory `/nonexistent/templates`",
        );
}

/// A templates directory: a copy of the built-in one, with `files` written over it.
pub fn templates_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("templates"), dir.path());
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn strict_undefined_names_template_line_and_variable() {
    let body = "{% extends \"_layout/base.html\" %}\n{% block content %}\n<p>{{ recipient.name }}</p>\n<p>{{ data.nickname }}</p>\n{% endblock %}\n";
    let dir = templates_with(&[("welcome/body.html", body)]);
    let done = mailtest()
        .args(["render", "welcome", "--templates"])
        .arg(dir.path())
        .run();
    let file = dir.path().join("welcome/body.html");
    done.fails_with(
        2,
        &format!("{}:4: undefined variable `data.nickname`", file.display()),
    );
    // An optional field a fixture leaves out is undefined too, unless tested with `is defined`.
    let dir = templates_with(&[("welcome/subject.txt", "Welcome, {{ data.trial_days }} days")]);
    let catalog = catalog_with_fixture("welcome", "no_trial", |event| {
        event["data"].as_object_mut().unwrap().remove("trial_days");
    });
    let done = mailtest()
        .args(["render", "--check", "--templates"])
        .arg(dir.path())
        .arg("--catalog")
        .arg(catalog.path())
        .run();
    assert_eq!(done.code, 1, "{}", done.stderr);
    let wanted = format!(
        "error[render]: {}:1 (fixture welcome/no_trial): undefined variable `data.trial_days`",
        dir.path().join("welcome/subject.txt").display()
    );
    assert_eq!(done.stdout.lines().collect::<Vec<_>>(), [wanted.as_str()]);
}

/// A catalog directory with the built-in `kind` plus one fixture changed by `edit`.
fn catalog_with_fixture(
    kind: &str,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &root().join("fixtures/events").join(kind),
        &dir.path().join(kind),
    );
    let default = dir.path().join(kind).join("default.json");
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(default).unwrap()).unwrap();
    edit(&mut event);
    let path = dir.path().join(kind).join(format!("{name}.json"));
    std::fs::write(path, serde_json::to_string_pretty(&event).unwrap()).unwrap();
    dir
}
