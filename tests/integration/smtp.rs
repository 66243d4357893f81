//! The SMTP server: the command parser table, sessions over real sockets, and outside
//! clients (swaks, postfix's smtp-source) we did not write.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailtest::mail::{Deliver, DeliverFuture, Incoming};
use mailtest::smtp::command::{Command, Param, parse};
use mailtest::smtp::{Server, ServerSettings, SessionConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::util::tool;

fn p(key: &str, value: Option<&str>) -> Param {
    Param {
        key: key.into(),
        value: value.map(Into::into),
    }
}

#[test]
#[allow(clippy::too_many_lines)] // a table: one line per case reads best
fn command_parser_table() {
    let cases: Vec<(&[u8], Command)> = vec![
        (
            b"EHLO client.example\r\n",
            Command::Ehlo("client.example".into()),
        ),
        (b"ehlo [127.0.0.1]\r\n", Command::Ehlo("[127.0.0.1]".into())),
        (b"HELO x\n", Command::Helo("x".into())),
        (b"EHLO\r\n", Command::Invalid("EHLO needs a domain")),
        (
            b"MAIL FROM:<a@example.com>\r\n",
            Command::Mail {
                from: "a@example.com".into(),
                params: vec![],
            },
        ),
        (
            b"MAIL FROM:<>\r\n",
            Command::Mail {
                from: String::new(),
                params: vec![],
            },
        ),
        (
            b"mail from: <a@example.com> SIZE=1000 BODY=8BITMIME\r\n",
            Command::Mail {
                from: "a@example.com".into(),
                params: vec![p("SIZE", Some("1000")), p("BODY", Some("8BITMIME"))],
            },
        ),
        (
            "MAIL FROM:<jürgen@bücher.example> SMTPUTF8\r\n".as_bytes(),
            Command::Mail {
                from: "jürgen@bücher.example".into(),
                params: vec![p("SMTPUTF8", None)],
            },
        ),
        (
            b"MAIL FROM:<\"odd>name\"@example.com>\r\n",
            Command::Mail {
                from: "\"odd>name\"@example.com".into(),
                params: vec![],
            },
        ),
        (
            b"MAIL FROM:<@relay.example:a@example.com>\r\n",
            Command::Mail {
                from: "a@example.com".into(),
                params: vec![],
            },
        ),
        (
            b"MAIL FROM:a@example.com\r\n",
            Command::Mail {
                from: "a@example.com".into(),
                params: vec![],
            },
        ),
        (
            b"MAIL FROM:bad address\r\n",
            Command::Invalid("expected MAIL FROM:<address>"),
        ),
        (
            b"MAIL TO:<a@example.com>\r\n",
            Command::Invalid("expected MAIL FROM:<address>"),
        ),
        (
            b"MAIL FROM:<a@example.com\r\n",
            Command::Invalid("expected MAIL FROM:<address>"),
        ),
        (
            b"MAIL FROM:<a@example.com> =x\r\n",
            Command::Invalid("expected MAIL FROM:<address>"),
        ),
        (
            b"RCPT TO:<b@example.com>\r\n",
            Command::Rcpt {
                to: "b@example.com".into(),
                params: vec![],
            },
        ),
        (
            b"RCPT TO:<>\r\n",
            Command::Invalid("RCPT TO needs an address"),
        ),
        (
            b"RCPT FROM:<b@example.com>\r\n",
            Command::Invalid("expected RCPT TO:<address>"),
        ),
        (b"DATA\r\n", Command::Data),
        (b"DATA now\r\n", Command::Invalid("DATA takes no arguments")),
        (
            b"BDAT 100\r\n",
            Command::Bdat {
                size: 100,
                last: false,
            },
        ),
        (
            b"BDAT 0 LAST\r\n",
            Command::Bdat {
                size: 0,
                last: true,
            },
        ),
        (b"BDAT x\r\n", Command::Unframed("BDAT needs a chunk size")),
        (
            b"BDAT 1 FIRST\r\n",
            Command::Unframed("expected BDAT <size> [LAST]"),
        ),
        (b"RSET\r\n", Command::Rset),
        (b"NOOP anything\r\n", Command::Noop),
        (b"VRFY alice\r\n", Command::Vrfy("alice".into())),
        (b"VRFY\r\n", Command::Invalid("VRFY needs a string")),
        (b"HELP\r\n", Command::Help),
        (b"QUIT\r\n", Command::Quit),
        (b"STARTTLS\r\n", Command::StartTls),
        (
            b"AUTH PLAIN AGFAAGI=\r\n",
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGFAAGI=".into()),
            },
        ),
        (
            b"auth login\r\n",
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial: None,
            },
        ),
        (b"XYZZY\r\n", Command::Unknown("XYZZY".into())),
        (b"\r\n", Command::Unknown(String::new())),
        (
            b"\xff\xfe\r\n",
            Command::Invalid("command line is not UTF-8"),
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(parse(line), expected, "{}", String::from_utf8_lossy(line));
    }
}

/// A store stand-in that keeps messages and announces each on a channel.
struct Collect {
    tx: mpsc::UnboundedSender<Incoming>,
    count: Mutex<u64>,
}

impl Deliver for Collect {
    fn deliver(&self, message: Incoming) -> DeliverFuture<'_> {
        Box::pin(async move {
            let id = {
                let mut count = self.count.lock().unwrap();
                *count += 1;
                format!("M{count}")
            };
            let _ = self.tx.send(message);
            Ok(id)
        })
    }
}

/// A server on a free loopback port.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub received: mpsc::UnboundedReceiver<Incoming>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

pub async fn server(settings: ServerSettings) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, received) = mpsc::unbounded_channel();
    let (stop, shutdown) = watch::channel(false);
    let deliver = Arc::new(Collect {
        tx,
        count: Mutex::new(0),
    });
    let task = tokio::spawn(Server::serve(listener, settings, deliver, shutdown));
    TestServer {
        addr,
        received,
        stop,
        task,
    }
}

/// A raw SMTP client that reads whole (multi-line) replies.
pub struct Client {
    io: BufReader<TcpStream>,
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let io = BufReader::new(TcpStream::connect(addr).await.unwrap());
        Self { io }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
    }

    /// The next reply: all its lines joined, e.g. "250-a\n250 b".
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
                .await
                .expect("reply in time")
                .unwrap();
            assert!(n > 0, "connection closed; got {lines:?}");
            let line = line.trim_end().to_owned();
            let done = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if done {
                return lines.join("\n");
            }
        }
    }

    pub async fn code(&mut self) -> String {
        self.reply().await.lines().last().unwrap()[..3].to_owned()
    }

    pub async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.io.read(&mut buf)).await,
            Ok(Ok(0))
        )
    }
}

pub async fn greeted(addr: std::net::SocketAddr) -> Client {
    let mut c = Client::connect(addr).await;
    assert!(c.reply().await.starts_with("220 "));
    c.send(b"EHLO client.example\r\n").await;
    let ehlo = c.reply().await;
    for ext in [
        "PIPELINING",
        "SIZE",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ] {
        assert!(ehlo.contains(ext), "{ext} missing from {ehlo}");
    }
    c
}

#[tokio::test]
async fn a_message_with_bcc_keeps_its_envelope_and_bytes() {
    let mut s = server(ServerSettings::default()).await;
    let mut c = greeted(s.addr).await;
    c.send(b"MAIL FROM:<app@example.com>\r\n").await;
    assert_eq!(c.code().await, "250");
    for rcpt in ["alice@example.com", "audit@example.com"] {
        c.send(format!("RCPT TO:<{rcpt}>\r\n").as_bytes()).await;
        assert_eq!(c.code().await, "250");
    }
    c.send(b"DATA\r\n").await;
    assert_eq!(c.code().await, "354");
    let body = b"From: app@example.com\r\nTo: alice@example.com\r\nSubject: Hi\r\n\r\nHello\r\n";
    c.send(body).await;
    c.send(b".\r\n").await;
    assert_eq!(c.reply().await, "250 2.0.0 Ok: queued as M1");
    c.send(b"QUIT\r\n").await;
    assert_eq!(c.code().await, "221");
    assert!(c.closed().await);
    let m = s.received.recv().await.unwrap();
    assert_eq!(m.raw, body);
    assert_eq!(m.envelope.mail_from, "app@example.com");
    assert_eq!(
        m.envelope.rcpt_to,
        ["alice@example.com", "audit@example.com"]
    );
    assert_eq!(m.envelope.helo, "client.example");
    assert!(m.envelope.esmtp);
    assert!(
        m.transcript
            .iter()
            .any(|l| l == "C: RCPT TO:<audit@example.com>")
    );
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order() {
    let mut s = server(ServerSettings::default()).await;
    let mut c = greeted(s.addr).await;
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nNOOP\r\nDATA\r\n").await;
    for expected in ["250", "250", "250", "250", "354"] {
        assert_eq!(c.code().await, expected);
    }
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<d@example.com>\r\nRCPT TO:<e@example.com>\r\nDATA\r\n").await;
    for expected in ["250", "250", "250", "354"] {
        assert_eq!(c.code().await, expected);
    }
    c.send(b"second\r\n.\r\nQUIT\r\n").await;
    assert_eq!(c.code().await, "250");
    assert_eq!(c.code().await, "221");
    assert_eq!(s.received.recv().await.unwrap().envelope.rcpt_to.len(), 2);
    assert_eq!(s.received.recv().await.unwrap().raw, b"second\r\n");
}

#[tokio::test]
async fn dot_stuffing_is_undone() {
    let mut s = server(ServerSettings::default()).await;
    let mut c = greeted(s.addr).await;
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await;
    for expected in ["250", "250", "354"] {
        assert_eq!(c.code().await, expected);
    }
    c.send(b"..leading dot\r\n...\r\n.\r\n").await;
    assert_eq!(c.code().await, "250");
    assert_eq!(
        s.received.recv().await.unwrap().raw,
        b".leading dot\r\n..\r\n"
    );
}

#[tokio::test]
async fn bdat_chunks_carry_any_bytes() {
    let mut s = server(ServerSettings::default()).await;
    let mut c = greeted(s.addr).await;
    c.send(b"MAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<b@example.com>\r\n")
        .await;
    assert_eq!(c.code().await, "250");
    assert_eq!(c.code().await, "250");
    let first = b"Subject: chunks\r\n\r\n.\r\n";
    let second = "caf\u{e9} \u{1f4e7}\r\n".as_bytes();
    c.send(format!("BDAT {}\r\n", first.len()).as_bytes()).await;
    c.send(first).await;
    c.send(format!("BDAT {} LAST\r\n", second.len()).as_bytes())
        .await;
    c.send(second).await;
    assert_eq!(c.code().await, "250");
    assert_eq!(c.code().await, "250");
    let m = s.received.recv().await.unwrap();
    assert_eq!(m.raw, [&first[..], second].concat());
    assert!(m.envelope.body_8bit);
}

#[tokio::test]
async fn oversize_messages_get_552_and_the_session_goes_on() {
    let settings = ServerSettings {
        session: SessionConfig {
            max_size: 100,
            ..SessionConfig::default()
        },
        ..ServerSettings::default()
    };
    let mut s = server(settings).await;
    let mut c = greeted(s.addr).await;
    c.send(b"MAIL FROM:<a@example.com> SIZE=5000\r\n").await;
    assert_eq!(c.code().await, "552");
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await;
    for expected in ["250", "250", "354"] {
        assert_eq!(c.code().await, expected);
    }
    c.send(&[b'x'; 150]).await;
    c.send(b"\r\n.\r\n").await;
    assert_eq!(c.code().await, "552");
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 150 LAST\r\n")
        .await;
    c.send(&[b'y'; 150]).await;
    for expected in ["250", "250", "552"] {
        assert_eq!(c.code().await, expected);
    }
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await;
    for expected in ["250", "250", "354"] {
        assert_eq!(c.code().await, expected);
    }
    c.send(b"small\r\n.\r\n").await;
    assert_eq!(c.code().await, "250");
    assert_eq!(s.received.recv().await.unwrap().raw, b"small\r\n");
}

#[tokio::test]
async fn bad_commands_are_answered_and_the_session_goes_on() {
    let s = server(ServerSettings::default()).await;
    let mut c = Client::connect(s.addr).await;
    assert_eq!(c.code().await, "220");
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    let cases: &[(&[u8], &str)] = &[
        (b"MAIL FROM:<a@example.com>\r\n", "503"),
        (b"EHLO c\r\n", "250"),
        (b"RCPT TO:<b@example.com>\r\n", "503"),
        (b"DATA\r\n", "503"),
        (b"BOGUS\r\n", "500"),
        (b"MAIL FROM:bad address\r\n", "501"),
        (long.as_bytes(), "500"),
        (b"VRFY alice\r\n", "252"),
        (b"HELP\r\n", "214"),
        (
            "MAIL FROM:<jürgen@bücher.example> SMTPUTF8\r\n".as_bytes(),
            "250",
        ),
        (b"MAIL FROM:<x@example.com>\r\n", "503"),
        (b"RSET\r\n", "250"),
        (b"NOOP\r\n", "250"),
    ];
    for (line, code) in cases {
        c.send(line).await;
        assert_eq!(
            &c.code().await,
            code,
            "{}",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        );
    }
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    let settings = ServerSettings {
        session: SessionConfig {
            max_errors: 3,
            ..SessionConfig::default()
        },
        ..ServerSettings::default()
    };
    let s = server(settings).await;
    let mut c = Client::connect(s.addr).await;
    c.reply().await;
    c.send(b"A\r\nB\r\nC\r\n").await;
    for expected in ["500", "500", "500", "421"] {
        assert_eq!(c.code().await, expected);
    }
    assert!(c.closed().await);
}

#[tokio::test]
async fn connection_cap_timeout_and_shutdown() {
    let settings = ServerSettings {
        max_connections: 1,
        session: SessionConfig {
            timeout: Duration::from_millis(300),
            ..SessionConfig::default()
        },
        ..ServerSettings::default()
    };
    let s = server(settings).await;
    let mut first = Client::connect(s.addr).await;
    assert_eq!(first.code().await, "220");
    let mut second = Client::connect(s.addr).await;
    assert_eq!(second.code().await, "421", "over the cap");
    // The first client stays silent past the timeout and is told so.
    assert_eq!(first.reply().await, "421 4.4.2 Timeout, closing connection");
    assert!(first.closed().await);
    // An idle session is told when the server shuts down, and the server task ends.
    let mut third = Client::connect(s.addr).await;
    assert_eq!(third.code().await, "220");
    s.stop.send(true).unwrap();
    assert_eq!(third.reply().await, "421 4.3.2 Server shutting down");
    tokio::time::timeout(Duration::from_secs(10), s.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn swaks_sends_with_pipelining_and_attachments() {
    let mut s = server(ServerSettings::default()).await;
    let attachment = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(attachment.path(), b"%PDF-1.4 not really\n").unwrap();
    let out = tokio::process::Command::new(tool("swaks"))
        .args(["--server", &s.addr.to_string(), "--from", "app@example.com"])
        .args([
            "--to",
            "alice@example.com,bob@example.com",
            "--pipeline",
            "--ehlo",
            "swaks.test",
        ])
        .args([
            "--header",
            "Subject: Invoice",
            "--body",
            ".leading dot\nline two",
        ])
        .arg("--attach")
        .arg(attachment.path())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = s.received.recv().await.unwrap();
    assert_eq!(m.envelope.rcpt_to, ["alice@example.com", "bob@example.com"]);
    assert_eq!(m.envelope.helo, "swaks.test");
    let raw = String::from_utf8_lossy(&m.raw);
    assert!(raw.contains("Subject: Invoice"), "{raw}");
    assert!(
        raw.contains("\r\n.leading dot\r\n"),
        "dot-stuffing undone: {raw}"
    );
    assert!(raw.contains("multipart/mixed"), "{raw}");
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_source_messages_over_concurrent_sessions_all_arrive() {
    let mut s = server(ServerSettings::default()).await;
    let out = tokio::process::Command::new("/usr/sbin/smtp-source")
        .args([
            "-s",
            "10",
            "-m",
            "500",
            "-l",
            "4096",
            "-f",
            "load@example.com",
            "-t",
            "sink@example.com",
        ])
        .arg(s.addr.to_string())
        .output()
        .await
        .expect("smtp-source is installed by scripts/setup.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..500 {
        let m = tokio::time::timeout(Duration::from_secs(10), s.received.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.envelope.rcpt_to, ["sink@example.com"]);
        assert!(m.raw.len() >= 4096);
    }
    assert!(s.received.try_recv().is_err(), "no extra messages");
}

pub fn tls_and_auth(users: &str, required: bool) -> ServerSettings {
    use mailtest::smtp::auth::AuthPolicy;
    let tls = mailtest::smtp::tls::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    ServerSettings {
        session: SessionConfig {
            tls: Some(tls),
            auth: Some(AuthPolicy {
                users: Some(AuthPolicy::parse_users(users).unwrap()),
                required,
            }),
            ..SessionConfig::default()
        },
        ..ServerSettings::default()
    }
}

pub async fn swaks(addr: std::net::SocketAddr, extra: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(tool("swaks"))
        .args([
            "--server",
            &addr.to_string(),
            "--from",
            "app@example.com",
            "--to",
            "alice@example.com",
        ])
        .args(["--header", "Subject: secured"])
        .args(extra)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn swaks_starttls_then_auth_plain_and_login() {
    let mut s = server(tls_and_auth("alice:s3cret,bob:pw", true)).await;
    let (ok, log) = swaks(
        s.addr,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "s3cret",
        ],
    )
    .await;
    assert!(ok, "{log}");
    assert!(
        log.contains("STARTTLS") && log.contains("235 2.7.0"),
        "{log}"
    );
    let m = s.received.recv().await.unwrap();
    assert!(m.envelope.tls);
    assert_eq!(m.envelope.auth.as_deref(), Some("alice"));
    assert!(m.transcript.iter().any(|l| l == "S: (TLS established)"));
    assert!(
        !m.transcript.iter().any(|l| l.contains("s3cret")),
        "credentials never reach the transcript"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_or_missing_credentials_are_refused() {
    let mut settings = tls_and_auth("alice:s3cret", true);
    // Plain-text AUTH, so the raw client below can try every answer.
    settings.session.auth_before_tls = true;
    let mut s = server(settings).await;
    let (ok, log) = swaks(
        s.addr,
        &[
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "nope",
        ],
    )
    .await;
    assert!(!ok);
    assert!(log.contains("535 5.7.8"), "{log}");
    let (ok, log) = swaks(s.addr, &[]).await;
    assert!(!ok);
    assert!(log.contains("530 5.7.0"), "{log}");
    assert!(s.received.try_recv().is_err(), "nothing was accepted");
    let mut c = greeted(s.addr).await;
    c.send(b"AUTH CRAM-MD5\r\n").await;
    assert_eq!(c.code().await, "504");
    c.send(b"AUTH PLAIN\r\n").await;
    assert_eq!(c.code().await, "334");
    c.send(b"*\r\n").await;
    assert_eq!(c.code().await, "501");
    c.send(b"AUTH PLAIN !!notbase64\r\n").await;
    assert_eq!(c.code().await, "501");
    c.send(b"AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n").await;
    assert_eq!(c.reply().await, "235 2.7.0 Authentication successful");
    c.send(b"AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n").await;
    assert_eq!(c.code().await, "503", "only once per session");
}

#[test]
fn tls_certificates_load_from_pem_files_or_say_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    assert!(mailtest::smtp::tls::from_files(&cert, &key).is_ok());
    let missing = mailtest::smtp::tls::from_files(&dir.path().join("none.pem"), &key).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("cannot read the TLS certificate"),
        "{missing}"
    );
    let swapped = mailtest::smtp::tls::from_files(&key, &cert).unwrap_err();
    assert!(swapped.to_string().contains("no certificate"), "{swapped}");
    let done = crate::util::mailtest()
        .args([
            "sink",
            "--memory",
            "--smtp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--tls-key",
        ])
        .arg(&key)
        .arg("--tls-cert")
        .arg(dir.path().join("none.pem"))
        .run();
    assert_eq!(done.code, 2, "{}", done.stderr);
    assert!(
        done.stderr.contains("cannot read the TLS certificate"),
        "{}",
        done.stderr
    );
}

/// Arbitrary bytes must never panic or hang a session: mutate real conversations with a
/// seeded generator (repeatable) and feed them over an in-memory stream.
#[tokio::test(flavor = "multi_thread")]
async fn mutated_sessions_never_panic_or_hang() {
    use mailtest::smtp::session::Session;
    use rand::{Rng, SeedableRng};
    const SEEDS: &[&[u8]] = &[
        b"EHLO a\r\nMAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\n..hi\r\n.\r\nQUIT\r\n",
        b"HELO a\r\nMAIL FROM:<a@b> BODY=8BITMIME\r\nRCPT TO:<c@d>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabcRSET\r\n",
        b"EHLO a\r\nAUTH PLAIN\r\nAGEAYg==\r\nAUTH LOGIN YQ==\r\nYg==\r\nVRFY x\r\nHELP\r\nNOOP\r\nSTARTTLS\r\n",
        b"EHLO a\r\nBDAT 99999999999\r\nMAIL FROM:<\"q>\"@b>\r\nRCPT TO:<@r:c@d>\r\nDATA\r\n.\r\n",
    ];
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Drain what sessions deliver so the channel does not grow.
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let deliver = Arc::new(Collect {
        tx,
        count: Mutex::new(0),
    });
    let config = Arc::new(SessionConfig {
        timeout: Duration::from_millis(500),
        max_size: 4096,
        ..SessionConfig::default()
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25);
    for round in 0..2000 {
        let mut bytes = SEEDS[round % SEEDS.len()].to_vec();
        for _ in 0..rng.random_range(1..6) {
            let at = rng.random_range(0..=bytes.len());
            match rng.random_range(0..4) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 => {
                    let tokens: [&[u8]; 6] = [b"\r\n", b".", b"\n", b"\0", b"\xff", b" LAST"];
                    let token = tokens[rng.random_range(0..tokens.len())];
                    bytes.splice(at..at, token.iter().copied());
                }
                2 => bytes.insert(at, rng.random()),
                _ => bytes.truncate(at),
            }
        }
        let (client, server) = tokio::io::duplex(1 << 16);
        let (_stop, shutdown) = watch::channel(false);
        let (config, deliver) = (config.clone(), deliver.clone());
        let session = tokio::spawn(async move {
            let peer = "127.0.0.1:9".parse().unwrap();
            let _ = Session::new(server, peer, &config, &*deliver, shutdown)
                .run()
                .await;
        });
        let (mut read, mut write) = tokio::io::split(client);
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            let _ = read.read_to_end(&mut sink).await;
        });
        let _ = write.write_all(&bytes).await;
        let _ = write.shutdown().await;
        let ended = tokio::time::timeout(Duration::from_secs(10), session).await;
        let outcome = ended.unwrap_or_else(|_| {
            panic!(
                "round {round}: session hung on {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert!(
            outcome.is_ok(),
            "round {round}: session panicked on {:?}",
            String::from_utf8_lossy(&bytes)
        );
        drop(write);
        let _ = reader.await;
    }
}
