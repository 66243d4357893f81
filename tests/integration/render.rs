//! `mailtest render`: every template with every fixture (snapshots), the `.eml` read back
//! by a MIME parser and accepted by the sink unchanged, strict undefined, lints, the gallery
//! in headless Chromium, and live reload of the preview server.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailparse::MailHeaderMap;
use mailtest::catalog::Catalog;
use mailtest::event::Event;
use mailtest::render::{Renderer, Templates, message};

use crate::util::{chromium, http_get, mailtest, root, snapshot_filters};

fn builtin() -> (Renderer, Catalog) {
    let renderer = Renderer::new(Templates::builtin().expect("built-in templates load"));
    (
        renderer,
        Catalog::builtin().expect("built-in catalog loads"),
    )
}

fn fixture_event(catalog: &Catalog, name: &str) -> Event {
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
        let addr = listener.local_addr().unwrap().to_string();
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let serve = Server::serve(listener, ServerSettings::default(), store.clone(), shutdown);
        tokio::spawn(serve);
        mailtest::release::release(eml, "no-reply@example.com", &[to.to_owned()], &addr)
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
fn templates_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("templates"), dir.path());
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
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

#[test]
fn lints_find_what_breaks_in_inboxes_and_pass_clean_templates() {
    let clean = mailtest().args(["render", "--check"]).run();
    assert_eq!(
        (clean.code, clean.stdout.as_str()),
        (0, ""),
        "{}",
        clean.stderr
    );
    assert!(
        clean
            .stderr
            .contains("checked 16 emails (8 types): 0 error(s), 0 warning(s)")
    );
    let body = "{% extends \"_layout/base.html\" %}\n{% block content %}\n<img src=\"https://cdn.example.com/logo.png\">\n<a href=\"#\">here</a> <a href=\"http://app.example.com\">app</a>\n<table><tr><td>cell</tr></table>\n{% endblock %}\n";
    let long = "A subject line that goes on and on well past what any inbox list shows in one row";
    let dir = templates_with(&[("welcome/body.html", body), ("welcome/subject.txt", long)]);
    std::fs::remove_file(dir.path().join("welcome/body.txt")).unwrap();
    let done = mailtest()
        .args(["render", "--check", "--format", "json", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(done.code, 1, "{}", done.stderr);
    let found: Vec<(String, String, u64)> = crate::util::json_lines(&done.stdout)
        .iter()
        .filter(|f| f["fixture"] == "welcome/default")
        .map(|f| {
            let file = f["file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            (
                f["rule"].as_str().unwrap().to_owned(),
                file,
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("text-part", "body.html", 0),
        ("subject-length", "subject.txt", 0),
        ("img-alt", "body.html", 3),
        ("img-width", "body.html", 3),
        ("link-placeholder", "body.html", 4),
        ("link-https", "body.html", 4),
        ("unbalanced-tag", "body.html", 5),
    ];
    let expected: Vec<(String, String, u64)> = expected
        .iter()
        .map(|(r, f, l)| ((*r).to_owned(), (*f).to_owned(), *l))
        .collect();
    assert_eq!(found, expected);
    // Warnings alone pass, unless --strict.
    let dir = templates_with(&[("welcome/subject.txt", long)]);
    let lenient = mailtest()
        .args(["render", "--check", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(lenient.code, 0, "{}", lenient.stdout);
    assert!(
        lenient.stdout.contains("warning[subject-length]"),
        "{}",
        lenient.stdout
    );
    let strict = mailtest()
        .args(["render", "--check", "--strict", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(strict.code, 1);
}

#[test]
fn html_past_gmails_clipping_limit_is_an_error() {
    let padding = format!(
        "{{% extends \"_layout/base.html\" %}}{{% block content %}}<p>{}</p>{{% endblock %}}",
        "x".repeat(110 * 1024)
    );
    let dir = templates_with(&[("account_unlocked/body.html", &padding)]);
    let done = mailtest()
        .args(["render", "--check", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(done.code, 1);
    assert!(
        done.stdout.contains("error[html-size]") && done.stdout.contains("Gmail clips past 104448"),
        "{}",
        done.stdout
    );
}

#[test]
fn the_gallery_loads_in_chromium_and_shows_every_email() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let printed = mailtest()
        .args(["render", "--all", "--out"])
        .arg(&site)
        .ok();
    assert_eq!(
        printed.trim(),
        site.join("index.html").display().to_string()
    );
    let index = format!("file://{}/index.html", site.display());
    let dom = chromium(&["--dump-dom"], &index);
    let (renderer, catalog) = builtin();
    let mut cards = 0;
    for kind in catalog.types() {
        for fixture in &kind.fixtures {
            let subject = renderer
                .render(&fixture_event(&catalog, &fixture.name))
                .unwrap()
                .subject;
            // The DOM serializer writes no-break spaces as entities.
            let escaped = mailtest::render::gallery::escape(&subject).replace('\u{a0}', "&nbsp;");
            assert!(dom.contains(&escaped), "{subject} missing from the gallery");
            assert!(dom.contains(&format!("href=\"{}/index.html\"", fixture.name)));
            cards += 1;
        }
    }
    assert_eq!(dom.matches("class=\"card email\"").count(), cards);
    let detail = format!(
        "file://{}/order_confirmation/default/index.html",
        site.display()
    );
    let page = chromium(&["--dump-dom"], &detail);
    assert!(page.contains("class=\"desktop\"") && page.contains("class=\"mobile\""));
    assert!(page.contains("X-Mailtest-Event-Type"), "headers shown");
    // Screenshots for people to look at; kept under target/screenshots.
    let shots = root().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, url) in [("gallery.png", &index), ("gallery-email.png", &detail)] {
        let path = shots.join(name);
        let _ = std::fs::remove_file(&path);
        chromium(
            &[
                &format!("--screenshot={}", path.display()),
                "--window-size=1400,1000",
            ],
            url,
        );
        let png = std::fs::read(&path).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "{name}: {} bytes",
            png.len()
        );
    }
}

/// A running `mailtest render --serve`, killed on drop.
struct Preview(Child);

impl Drop for Preview {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_preview_server_reloads_pages_when_a_template_changes() {
    let templates = templates_with(&[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .args(["render", "--serve", "127.0.0.1:0", "--templates"])
        .arg(templates.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _preview = Preview(child);
    // The URL is printed once the port is bound.
    let mut url = String::new();
    BufReader::new(stdout).read_line(&mut url).unwrap();
    let addr = url.trim().trim_start_matches("http://").to_owned();
    let page = "/welcome/default/index.html";
    let (status, before) = http_get(&addr, page);
    assert_eq!(status, 200);
    assert!(
        before.contains("Welcome to Example App, Priya Singh"),
        "{before}"
    );
    assert!(
        before.contains("new EventSource('/_live')"),
        "pages carry the reload script"
    );
    // Subscribe first: once the response head is in, the server has the subscription.
    let mut events = std::net::TcpStream::connect(&addr).unwrap();
    events
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(events, "GET /_live HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut events = BufReader::new(events);
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        events.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "event stream closed");
    }
    std::fs::write(
        templates.path().join("welcome/subject.txt"),
        "Hello from the live preview",
    )
    .unwrap();
    loop {
        line.clear();
        assert!(
            events.read_line(&mut line).unwrap() > 0,
            "event stream closed"
        );
        if line.starts_with("data: ") {
            break;
        }
    }
    let (_, after) = http_get(&addr, page);
    assert!(after.contains("Hello from the live preview"), "{after}");
    // A broken template shows as an error on the page, and the server keeps running.
    std::fs::write(
        templates.path().join("welcome/subject.txt"),
        "{{ data.nope }}",
    )
    .unwrap();
    loop {
        line.clear();
        assert!(
            events.read_line(&mut line).unwrap() > 0,
            "event stream closed"
        );
        if line.starts_with("data: ") {
            break;
        }
    }
    let (_, broken) = http_get(&addr, page);
    assert!(
        broken.contains("undefined variable `data.nope`"),
        "{broken}"
    );
}
