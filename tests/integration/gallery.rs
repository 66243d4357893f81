//! The gallery (`render --all`) loaded in headless Chromium, with screenshots, and the live
//! preview server (`render --serve`) reloading pages when a template changes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::render::{builtin, fixture_event, templates_with};
use crate::util::{chromium, http_get, mailtest, root};

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
    next_reload(&mut events);
    let (_, after) = http_get(&addr, page);
    assert!(after.contains("Hello from the live preview"), "{after}");
    // A broken template shows as an error on the page, and the server keeps running.
    std::fs::write(
        templates.path().join("welcome/subject.txt"),
        "{{ data.nope }}",
    )
    .unwrap();
    next_reload(&mut events);
    let (_, broken) = http_get(&addr, page);
    assert!(
        broken.contains("undefined variable `data.nope`"),
        "{broken}"
    );
}

/// Reads the event stream up to the next reload event.
fn next_reload(events: &mut BufReader<std::net::TcpStream>) {
    let mut line = String::new();
    while !line.starts_with("data: ") {
        line.clear();
        assert!(
            events.read_line(&mut line).unwrap() > 0,
            "event stream closed"
        );
    }
}
