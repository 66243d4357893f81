//! Sinks beyond one machine: replicas that capture into Kafka and readers of the topic, as
//! processes on an embedded broker (also a process, so it can be stopped) and on tansu.
//! Load comes from postfix's `smtp-source`, whose `-v` log names every capture id it saw
//! acknowledged ("queued as ..."): each must be readable through a reader exactly once.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::sink::Sink;
use crate::util::{http_get, http_request, mailtest, signal};

/// `mailtest broker` as a process with the capture topic.
pub struct BrokerProcess {
    child: Child,
    pub bootstrap: String,
}

impl BrokerProcess {
    pub fn start(topic: &str, partitions: u16) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailtest"))
            .args(["broker", "--topic", topic, "--partitions"])
            .arg(partitions.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let bootstrap = line.trim().to_owned();
        assert!(!bootstrap.is_empty(), "the broker printed its address");
        Self { child, bootstrap }
    }

    fn signal(&self, name: &str) {
        assert!(signal(self.child.id(), name, false));
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn replica(dir: &std::path::Path, bootstrap: &str, topic: &str, extra: &[&str]) -> Sink {
    let mut args = vec!["--capture-topic", topic, "-b", bootstrap];
    args.extend_from_slice(extra);
    Sink::start_with(dir, &args)
}

pub fn reader(dir: &std::path::Path, bootstrap: &str, topic: &str) -> Sink {
    Sink::start_with(dir, &["--from-topic", topic, "-b", bootstrap])
}

/// The API's `host:port`.
pub fn api(sink: &Sink) -> &str {
    sink.http.trim_start_matches("http://")
}

/// Runs smtp-source to the end (or until the server goes); the capture ids it saw
/// acknowledged, each sent on `acked` as it comes.
pub fn smtp_source(addr: &str, args: &[&str], acked: &mpsc::Sender<String>) {
    let mut child = Command::new("/usr/sbin/smtp-source")
        .arg("-v")
        .args(args)
        .arg(addr)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("smtp-source runs (scripts/setup.sh installs postfix)");
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if let Some(id) = line.split("<<< 250 2.0.0 Ok: queued as ").nth(1) {
            let _ = acked.send(id.trim().to_owned());
        }
    }
    let _ = child.wait();
}

/// A stored message as the API lists it.
pub struct Listed {
    pub capture: String,
    pub subject: String,
    pub id: u64,
    pub rcpt: String,
}

/// Every stored message, through the API.
pub fn listed(sink: &Sink) -> Vec<Listed> {
    let (status, body) = http_get(api(sink), "/api/v1/messages?limit=1000000");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Listed {
            capture: m["capture"].as_str().unwrap_or_default().to_owned(),
            subject: m["subject"].as_str().unwrap_or_default().to_owned(),
            id: m["id"].as_u64().unwrap(),
            rcpt: m["envelope"]["rcpt_to"][0].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Waits (server-side) until `count` messages match `query` on the reader.
pub fn wait_for(sink: &Sink, query: &str, count: usize) {
    let path = format!("/api/v1/wait?count={count}&timeout=90s&{query}");
    let (status, body) = http_get(api(sink), &path);
    assert_eq!(status, 200, "waiting for {count} of {query}: {body}");
}

/// One message over a raw SMTP session; the whole last reply.
pub fn send(addr: &str, to: &str, subject: &str, body: &[u8]) -> String {
    let mut session = Session::open(addr).expect("the replica listens");
    session
        .send(to, subject, body)
        .expect("the replica answers")
}

/// A plain SMTP client session, for senders that retry.
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    fn open(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut session = Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        session.reply()?;
        session.command("EHLO test.example")?;
        Ok(session)
    }

    fn reply(&mut self) -> std::io::Result<String> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line.trim_end().to_owned());
            }
        }
    }

    fn command(&mut self, line: &str) -> std::io::Result<String> {
        write!(self.writer, "{line}\r\n")?;
        self.reply()
    }

    /// One message; the reply to its data (or to the command that refused it).
    fn send(&mut self, to: &str, subject: &str, body: &[u8]) -> std::io::Result<String> {
        for line in [
            "MAIL FROM:<app@example.com>".to_owned(),
            format!("RCPT TO:<{to}>"),
        ] {
            let reply = self.command(&line)?;
            if !reply.starts_with('2') {
                return Ok(reply);
            }
        }
        let reply = self.command("DATA")?;
        if !reply.starts_with('3') {
            return Ok(reply);
        }
        let head = format!("From: app@example.com\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n");
        self.writer.write_all(head.as_bytes())?;
        self.writer.write_all(body)?;
        let end: &[u8] = if body.ends_with(b"\r\n") {
            b".\r\n"
        } else {
            b"\r\n.\r\n"
        };
        self.writer.write_all(end)?;
        self.reply()
    }
}

/// Sends `count` messages with subjects `{prefix}-{i}`, each until it is answered 250
/// (a 451 or a broken connection: again, on a new connection), as a careful sender does.
/// Each subject's capture id, and how many 451s it took.
fn send_with_retries(addr: &str, to: &str, prefix: &str, count: usize) -> (Vec<String>, usize) {
    let (mut ids, mut refused) = (Vec::new(), 0);
    let mut session: Option<Session> = None;
    for i in 0..count {
        let subject = format!("{prefix}-{i}");
        loop {
            if session.is_none() {
                session = Session::open(addr).ok();
            }
            let Some(open) = session.as_mut() else {
                continue;
            };
            match open.send(to, &subject, b"hello") {
                Ok(reply) if reply.starts_with("250") => {
                    ids.push(reply.rsplit(' ').next().unwrap().to_owned());
                    break;
                }
                Ok(reply) => {
                    assert!(reply.starts_with("451 4.3.0"), "{reply}");
                    refused += 1;
                    let _ = open.command("RSET");
                }
                Err(_) => session = None,
            }
        }
    }
    (ids, refused)
}

/// A metric's value from `/metrics`.
pub fn metric(sink: &Sink, name: &str) -> f64 {
    let (_, body) = http_get(api(sink), "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .parse()
        .unwrap()
}

/// How many times each capture id is stored.
fn counted(list: &[Listed]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in list {
        *counts.entry(m.capture.clone()).or_insert(0) += 1;
    }
    counts
}

/// Sends a marker through `replica` to `to` and waits for it on `reader`: the marker shares
/// a partition with everything sent to `to` before it, so the reader has read all of that.
fn settle(replica: &Sink, reader: &Sink, to: &str, marker: &str) {
    let reply = send(&replica.addr, to, marker, b"marker");
    assert!(reply.starts_with("250"), "{reply}");
    wait_for(reader, &format!("subject={marker}"), 1);
}

#[test]
fn three_replicas_and_a_reader_hold_every_acknowledged_message_once() {
    let broker = BrokerProcess::start("mail-capture", 6);
    let b = broker.bootstrap.as_str();
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let replicas: Vec<Sink> = (0..3)
        .map(|i| replica(dirs[i].path(), b, "mail-capture", &[]))
        .collect();
    let reader = reader(dirs[3].path(), b, "mail-capture");
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for (i, r) in replicas.iter().enumerate() {
            let (tx, to) = (tx.clone(), format!("load+r{i}@example.com"));
            let args = ["-s", "4", "-m", "400", "-l", "1024", "-t"];
            scope.spawn(move || smtp_source(&r.addr, &[&args[..], &[to.as_str()]].concat(), &tx));
        }
    });
    drop(tx);
    let acked: Vec<String> = rx.iter().collect();
    assert_eq!(
        acked.len(),
        1200,
        "smtp-source saw every message acknowledged"
    );
    wait_for(&reader, "", 1200);
    let stored = counted(&listed(&reader));
    let want: BTreeMap<String, usize> = acked.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(
        stored, want,
        "each acknowledged capture exactly once, nothing else"
    );
    assert!(metric(&replicas[0], "mailtest_capture_appended_total") >= 400.0);
    assert_eq!(http_get(api(&replicas[0]), "/readyz").0, 200);
    assert_eq!(http_get(api(&reader), "/readyz").0, 200);

    // A delete through the reader reaches every reader: a new one, built from the topic.
    let to = "load+r0@example.com";
    let all = listed(&reader);
    let victim = all.iter().find(|m| m.rcpt == to).unwrap();
    let path = format!("/api/v1/messages/{}", victim.id);
    assert_eq!(http_request(api(&reader), "DELETE", &path, "").0, 204);
    let fresh = self::reader(dirs[4].path(), b, "mail-capture");
    settle(&replicas[0], &fresh, to, "marker-one");
    let seen: HashSet<String> = listed(&fresh).into_iter().map(|m| m.capture).collect();
    assert_eq!(seen.len(), 1200, "1199 messages and the marker");
    assert!(
        !seen.contains(&victim.capture),
        "the deleted capture stays deleted"
    );

    // A restarted reader resumes where it stopped: it reads only what came since.
    wait_for(&reader, "subject=marker-one", 1);
    let mut reader = reader;
    assert!(signal(reader.child.id(), "TERM", false));
    reader.child.wait().unwrap();
    let reader = self::reader(dirs[3].path(), b, "mail-capture");
    settle(&replicas[1], &reader, to, "marker-two");
    let records = metric(&reader, "mailtest_reader_records_total");
    assert!(
        records < 10.0,
        "read {records} records again after a restart"
    );
    assert_eq!(counted(&listed(&reader)).len(), 1201);
    assert!(counted(&listed(&reader)).values().all(|n| *n == 1));

    // verify reads the topic itself: a run's mailbox passes, a wrong expectation fails.
    let spec = dirs[0].path().join("run.yaml");
    let want =
        "expect:\n  - name: r2's load\n    match: {to: load+r2@example.com}\n    count: 400\n";
    std::fs::write(&spec, want).unwrap();
    let verify = |spec: &std::path::Path| {
        mailtest()
            .args([
                "verify",
                "--capture-topic",
                "mail-capture",
                "-b",
                b,
                "--mailbox",
                "r2",
            ])
            .arg(spec)
            .run()
    };
    assert_eq!(verify(&spec).code, 0, "{}", verify(&spec).stderr);
    std::fs::write(&spec, want.replace("400", "401")).unwrap();
    let failed = verify(&spec);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stdout.contains("400 (want 401)"),
        "{}",
        failed.stdout
    );
    drop(broker);
}

#[test]
fn a_replica_killed_mid_load_loses_no_acknowledged_message() {
    let broker = BrokerProcess::start("mail-capture", 4);
    let b = broker.bootstrap.as_str();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let steady = replica(dirs[0].path(), b, "mail-capture", &[]);
    let mut doomed = replica(dirs[1].path(), b, "mail-capture", &[]);
    let reader = reader(dirs[2].path(), b, "mail-capture");
    let (tx, rx) = mpsc::channel();
    let args = [
        "-s",
        "4",
        "-m",
        "100000",
        "-l",
        "2048",
        "-t",
        "load+killed@example.com",
    ];
    let killed_addr = doomed.addr.clone();
    let load = std::thread::spawn({
        let tx = tx.clone();
        move || smtp_source(&killed_addr, &args, &tx)
    });
    let mut acked: Vec<String> = rx.iter().take(300).collect();
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    load.join().unwrap();
    let doomed_boot = acked[0].split('-').next().unwrap().to_owned();
    // Restarted, it takes mail again (with a new capture id prefix), beside the other.
    let restarted = replica(dirs[1].path(), b, "mail-capture", &[]);
    std::thread::scope(|scope| {
        for (r, to) in [
            (&restarted, "load+killed@example.com"),
            (&steady, "load+steady@example.com"),
        ] {
            let tx = tx.clone();
            scope.spawn(move || smtp_source(&r.addr, &["-s", "4", "-m", "200", "-t", to], &tx));
        }
    });
    drop(tx);
    acked.extend(rx.iter());
    settle(
        &restarted,
        &reader,
        "load+killed@example.com",
        "marker-killed",
    );
    settle(&steady, &reader, "load+steady@example.com", "marker-steady");
    let stored = counted(&listed(&reader));
    for id in &acked {
        assert_eq!(stored.get(id), Some(&1), "acknowledged {id} stored once");
    }
    // Captured but never acknowledged: at most the messages in flight when it died, one
    // per session, all from the killed replica.
    let acked: HashSet<&String> = acked.iter().collect();
    let extra: Vec<String> = listed(&reader)
        .into_iter()
        .filter(|m| !acked.contains(&m.capture) && !m.subject.starts_with("marker"))
        .map(|m| m.capture)
        .collect();
    assert!(extra.len() <= 4, "{extra:?}");
    assert!(
        extra.iter().all(|c| c.starts_with(&doomed_boot)),
        "{extra:?}"
    );
    drop(broker);
}

#[test]
fn a_stopped_broker_gets_451s_and_the_senders_retries_land_once() {
    let broker = BrokerProcess::start("mail-capture", 2);
    let b = broker.bootstrap.as_str();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let replica = replica(
        dirs[0].path(),
        b,
        "mail-capture",
        &["--capture-timeout", "1s"],
    );
    let reader = reader(dirs[1].path(), b, "mail-capture");
    let to = "load+outage@example.com";
    let (ids, refused) = std::thread::scope(|scope| {
        let sender = scope.spawn(|| send_with_retries(&replica.addr, to, "m", 300));
        wait_for(&reader, "subject=m-50", 1);
        broker.signal("STOP");
        // Unready for the load balancer while the broker is gone; the sender meets 451s.
        let deadline = Instant::now() + Duration::from_secs(30);
        let poll = Duration::from_millis(50);
        while http_get(api(&replica), "/readyz").0 != 503 {
            assert!(
                Instant::now() < deadline,
                "the replica never turned unready"
            );
            std::thread::sleep(poll);
        }
        let failed = "mailtest_capture_failed_total";
        while metric(&replica, failed) < 2.0 {
            assert!(Instant::now() < deadline, "no message was refused");
            std::thread::sleep(poll);
        }
        broker.signal("CONT");
        sender.join().unwrap()
    });
    assert!(refused >= 2, "{refused} refusals");
    assert_eq!(ids.len(), 300);
    // The voids of the refused writes are in the log before the marker that follows them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&replica, "mailtest_capture_forgets_pending") > 0.0 {
        assert!(Instant::now() < deadline, "the voids were never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    settle(&replica, &reader, to, "marker-outage");
    let stored = listed(&reader);
    let mut subjects: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &stored {
        *subjects.entry(m.subject.as_str()).or_insert(0) += 1;
    }
    for i in 0..300 {
        let subject = format!("m-{i}");
        assert_eq!(
            subjects.get(subject.as_str()),
            Some(&1),
            "{subject} stored once"
        );
    }
    let captures: HashSet<&String> = stored.iter().map(|m| &m.capture).collect();
    assert!(ids.iter().all(|id| captures.contains(id)));
    assert_eq!(stored.len(), 301, "the 300 and the marker, no voided write");
    assert_eq!(http_get(api(&replica), "/readyz").0, 200);
}

#[test]
fn a_25_mib_message_comes_out_of_the_reader_byte_for_byte() {
    let broker = BrokerProcess::start("mail-capture", 12);
    let b = broker.bootstrap.as_str();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let replica = replica(dirs[0].path(), b, "mail-capture", &[]);
    let reader = reader(dirs[1].path(), b, "mail-capture");
    // Base64-like lines up to just under the sink's 25 MiB limit.
    let line: Vec<u8> = (0..76).map(|i| b'A' + (i % 26)).chain(*b"\r\n").collect();
    let lines = (25 * 1024 * 1024 - 4096) / line.len();
    let body: Vec<u8> = line.repeat(lines);
    let reply = send(&replica.addr, "big+large@example.com", "large", &body);
    assert!(reply.starts_with("250"), "{reply}");
    wait_for(&reader, "subject=large", 1);
    let large = listed(&reader)
        .into_iter()
        .find(|m| m.subject == "large")
        .unwrap();
    let raw = raw_bytes(api(&reader), large.id);
    let mut sent =
        b"From: app@example.com\r\nTo: big+large@example.com\r\nSubject: large\r\n\r\n".to_vec();
    sent.extend_from_slice(&body);
    assert_eq!(raw.len(), sent.len());
    assert!(raw == sent, "the bytes differ");
}

/// A message's raw bytes through the API.
fn raw_bytes(addr: &str, id: u64) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/v1/messages/{id}/raw HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = memchr_find(&response, b"\r\n\r\n").unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));
    response[split + 4..].to_vec()
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn replicas_and_a_reader_on_tansu_hold_every_acknowledged_message_once() {
    let tansu = crate::interop::Tansu::start();
    let b = tansu.addr.as_str();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let replicas: Vec<Sink> = (0..2)
        .map(|i| replica(dirs[i].path(), b, "mail-capture", &[]))
        .collect();
    // The reader also serves Mailpit's API over every replica's mail.
    let ready = dirs[2].path().join("ready.env");
    let ready_flag = ready.to_str().unwrap();
    let flags = [
        "--from-topic",
        "mail-capture",
        "-b",
        b,
        "--mailpit",
        "127.0.0.1:0",
    ];
    let reader = Sink::start_with(
        dirs[2].path(),
        &[&flags[..], &["--ready-file", ready_flag]].concat(),
    );
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for (i, r) in replicas.iter().enumerate() {
            let (tx, to) = (tx.clone(), format!("load+t{i}@example.com"));
            let args = ["-s", "4", "-m", "300", "-l", "1024", "-t"];
            scope.spawn(move || smtp_source(&r.addr, &[&args[..], &[to.as_str()]].concat(), &tx));
        }
    });
    drop(tx);
    let acked: Vec<String> = rx.iter().collect();
    assert_eq!(
        acked.len(),
        600,
        "smtp-source saw every message acknowledged"
    );
    for (i, r) in replicas.iter().enumerate() {
        settle(
            r,
            &reader,
            &format!("load+t{i}@example.com"),
            &format!("marker-t{i}"),
        );
    }
    let stored = counted(&listed(&reader));
    assert_eq!(stored.len(), 602, "the 600 and two markers");
    for id in &acked {
        assert_eq!(stored.get(id), Some(&1), "acknowledged {id} stored once");
    }
    let env = crate::util::wait_for_file(&ready);
    let mailpit = env
        .lines()
        .find_map(|l| l.strip_prefix("MAILTEST_MAILPIT=http://"))
        .unwrap();
    let (status, body) = http_get(mailpit, "/api/v1/messages?limit=1");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["total"], 602, "{body}");
}

#[test]
fn a_replica_without_its_broker_answers_451_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the discard port of loopback.
    let flags = ["--capture-timeout", "1s"];
    let replica = replica(dir.path(), "127.0.0.1:9", "mail-capture", &flags);
    let reply = send(&replica.addr, "a+nobroker@example.com", "lost?", b"hello");
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    let (status, body) = http_get(api(&replica), "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("capture log"), "{body}");
    assert!(listed(&replica).is_empty());
    let failed = metric(&replica, "mailtest_capture_failed_total");
    assert!((failed - 1.0).abs() < 0.5, "{failed} failures");
}
