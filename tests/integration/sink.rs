//! `mailtest sink` as a process: it stores what it acknowledges, survives kill -9, refuses a
//! second writer and non-loopback binds, and `sink list|show` read the store.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::util::{json_lines, mailtest};

/// `mailtest sink` on free loopback ports, followed by the store directory.
const SERVE_ON_FREE_PORTS: [&str; 6] = [
    "sink",
    "--smtp",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--store",
];

/// A running `mailtest sink` child and the SMTP address it reported.
pub struct Sink {
    pub child: Child,
    pub addr: String,
    /// The API's base URL, `http://127.0.0.1:<port>`.
    pub http: String,
}

impl Sink {
    pub fn start(store: &std::path::Path) -> Self {
        Self::start_with(store, &[])
    }

    /// With more flags (`--idle-timeout 3s`...).
    pub fn start_with(store: &std::path::Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailtest"))
            .args(SERVE_ON_FREE_PORTS)
            .arg(store)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The status line says where it listens; reading it is the readiness signal.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (addr, http) = loop {
            let line = lines.next().expect("sink printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("sink: SMTP on ") {
                let smtp = rest.split(',').next().unwrap().to_owned();
                let http = rest
                    .split("API on ")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_owned();
                break (smtp, http);
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr, http }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends messages one after another, reporting each subject once it is answered 250.
fn send_until_cut(addr: &str, prefix: &str, acked: &mpsc::Sender<String>) {
    let Ok(stream) = TcpStream::connect(addr) else {
        return;
    };
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let reply = |reader: &mut BufReader<TcpStream>| -> Option<String> {
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line);
            }
        }
    };
    reply(&mut reader);
    if writer.write_all(b"EHLO load.test\r\n").is_err() || reply(&mut reader).is_none() {
        return;
    }
    for n in 0.. {
        let subject = format!("{prefix}-{n}");
        let envelope = b"MAIL FROM:<load@example.com>\r\nRCPT TO:<sink@example.com>\r\nDATA\r\n";
        if writer.write_all(envelope).is_err() {
            return;
        }
        for _ in 0..3 {
            if reply(&mut reader).is_none() {
                return;
            }
        }
        let body = format!("Subject: {subject}\r\n\r\n{}\r\n.\r\n", "x".repeat(2000));
        if writer.write_all(body.as_bytes()).is_err() {
            return;
        }
        match reply(&mut reader) {
            Some(line) if line.starts_with("250") => {
                if acked.send(subject).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

fn stored_subjects(store: &std::path::Path) -> HashSet<String> {
    let out = mailtest()
        .args(["sink", "list", "--output", "json", "--store"])
        .arg(store)
        .ok();
    json_lines(&out)
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_acknowledged_message_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = HashSet::new();
    for round in 0..3 {
        let mut sink = Sink::start(dir.path());
        let (tx, rx) = mpsc::channel();
        let clients: Vec<_> = (0..4)
            .map(|c| {
                let (addr, tx) = (sink.addr.clone(), tx.clone());
                std::thread::spawn(move || send_until_cut(&addr, &format!("r{round}c{c}"), &tx))
            })
            .collect();
        drop(tx);
        // Kill it while the clients are mid-stream, after some hundreds of acknowledgements.
        for subject in rx.iter().take(300) {
            acked.insert(subject);
        }
        sink.child.kill().unwrap();
        sink.child.wait().unwrap();
        acked.extend(rx.iter());
        for client in clients {
            client.join().unwrap();
        }
        let stored = stored_subjects(dir.path());
        let lost: Vec<_> = acked.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but not stored: {lost:?}"
        );
    }
    assert!(acked.len() >= 900);
}

#[test]
fn a_store_has_one_writer_and_binds_stay_local() {
    let dir = tempfile::tempdir().unwrap();
    let _sink = Sink::start(dir.path());
    let second = mailtest().args(SERVE_ON_FREE_PORTS).arg(dir.path()).run();
    second.fails_with(2, "another mailtest sink is using this store");
    let remote = mailtest()
        .args(["sink", "--smtp", "0.0.0.0:0", "--memory"])
        .run();
    remote.fails_with(2, "--allow-remote");
    let missing = mailtest()
        .args(["sink", "list", "--store", "/nonexistent/store"])
        .run();
    missing.fails_with(2, "holds no mailtest store");
}

/// `sink list --output json` of a store with these filters.
pub fn listed(store: &std::path::Path, filters: &[&str]) -> Vec<serde_json::Value> {
    let out = mailtest()
        .args(["sink", "list", "--output", "json"])
        .args(filters)
        .arg("--store")
        .arg(store)
        .ok();
    json_lines(&out)
}

#[test]
fn list_and_show_read_a_running_sinks_store() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(dir.path());
    let out = Command::new(crate::util::tool("swaks"))
        .args([
            "--server",
            &sink.addr,
            "--from",
            "app@example.com",
            "--to",
            "alice@example.com,audit@example.com",
        ])
        .args([
            "--header",
            "Subject: Verify your address",
            "--header",
            "X-Mailtest-Run: run-9",
        ])
        .args(["--body", "Click https://app.example.com/verify?token=abc"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let listed = listed(dir.path(), &["--mailbox", "run-9"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["subject"], "Verify your address");
    assert_eq!(
        listed[0]["envelope"]["rcpt_to"],
        serde_json::json!(["alice@example.com", "audit@example.com"])
    );
    let id = listed[0]["id"].to_string();
    let raw = mailtest()
        .args(["sink", "show", &id, "--store"])
        .arg(dir.path())
        .ok();
    assert!(raw.contains("Subject: Verify your address\r\n"), "{raw}");
    assert!(raw.contains("token=abc"), "{raw}");
    let table = mailtest()
        .args(["sink", "list", "--store"])
        .arg(dir.path())
        .ok();
    assert!(table.contains("Verify your address"), "{table}");
    let search = |filters: &[&str]| self::listed(dir.path(), filters).len();
    assert_eq!(
        search(&["--text", "TOKEN=ABC", "--header", "x-mailtest-run: RUN-9"]),
        1
    );
    assert_eq!(search(&["--text", "token=xyz"]), 0);
    // Exported as an .eml file that a MIME parser reads back.
    let out = dir.path().join("eml");
    mailtest()
        .args(["sink", "export", "--mailbox", "run-9", "--store"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .ok();
    let file = std::fs::read(out.join(format!("{id}.eml"))).unwrap();
    assert_eq!(file, raw.as_bytes());
    let parsed = mailparse::parse_mail(&file).unwrap();
    assert_eq!(
        parsed
            .headers
            .iter()
            .find(|h| h.get_key() == "Subject")
            .unwrap()
            .get_value(),
        "Verify your address"
    );
    // The running sink's API sees the same message, through a server-side wait.
    let host = sink.http.trim_start_matches("http://");
    let mut http = TcpStream::connect(host).unwrap();
    let request = "GET /api/v1/wait?mailbox=run-9&timeout=10s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    http.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut http, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("\"subject\":\"Verify your address\""),
        "{response}"
    );
}

#[test]
fn sigterm_drains_like_ctrl_c() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::start(&dir.path().join("store"));
    let mut smtp = std::net::TcpStream::connect(&sink.addr).unwrap();
    smtp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut replies = BufReader::new(smtp.try_clone().unwrap());
    let mut reply = || {
        let mut line = String::new();
        replies.read_line(&mut line).unwrap();
        while line.as_bytes().get(3) == Some(&b'-') {
            line.clear();
            replies.read_line(&mut line).unwrap();
        }
        line
    };
    assert!(reply().starts_with("220"));
    smtp.write_all(b"HELO t\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .unwrap();
    for code in ["250", "250", "250", "354"] {
        assert!(reply().starts_with(code));
    }
    smtp.write_all(b"Subject: in flight\r\n\r\nhalf").unwrap();
    assert!(crate::util::signal(sink.child.id(), "TERM", false));
    // The message in flight is finished and acknowledged; then the session is closed.
    smtp.write_all(b" and the rest\r\n.\r\n").unwrap();
    assert!(reply().starts_with("250"), "the drain lets it finish");
    let mut rest = String::new();
    let _ = smtp.read_to_string(&mut rest);
    let status = sink.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "exits cleanly, not killed by the signal"
    );
    assert_eq!(stored_subjects(&dir.path().join("store")).len(), 1);
}
