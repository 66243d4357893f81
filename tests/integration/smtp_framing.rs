//! SMTP framing that captures must be able to trust: only `<CR><LF>.<CR><LF>` ends DATA
//! (no smuggling), bare-LF mail kept byte for byte and flagged, an unparseable BDAT ends the
//! session, HTTP lines never run as commands, transcripts cut per message, and AUTH only
//! after STARTTLS.

use mailtest::smtp::{BareLf, ServerSettings, SessionConfig};

use crate::smtp::{Client, greeted, server, swaks, tls_and_auth};
use crate::util::tool;

const SMUGGLED: &[u8] =
    b"MAIL FROM:<smuggled@evil.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nsmuggled\r\n";

async fn in_data(c: &mut Client) {
    c.send(b"MAIL FROM:<app@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        .await;
    for expected in ["250", "250", "354"] {
        assert_eq!(c.code().await, expected);
    }
}

#[tokio::test]
async fn only_crlf_dot_crlf_ends_data_so_nothing_is_smuggled() {
    // (what the client sends before the smuggled commands, what is stored of it)
    let shapes: [(&[u8], &[u8]); 3] = [
        (b"Subject: a\r\n\r\nx\n.\n", b"Subject: a\r\n\r\nx\n.\n"),
        (b"Subject: a\r\n\r\nx\n.\r\n", b"Subject: a\r\n\r\nx\n.\r\n"),
        // After CR LF the dot starts a line: unstuffed, and the line goes on past the LF.
        (b"Subject: a\r\n\r\nx\r\n.\n", b"Subject: a\r\n\r\nx\r\n\n"),
    ];
    for (before, stored) in shapes {
        let mut s = server(ServerSettings::default()).await;
        let mut c = greeted(s.addr).await;
        in_data(&mut c).await;
        c.send(&[before, SMUGGLED, b".\r\nQUIT\r\n"].concat()).await;
        assert_eq!(c.code().await, "250", "{}", String::from_utf8_lossy(before));
        assert_eq!(
            c.code().await,
            "221",
            "the smuggled MAIL was data, not a command"
        );
        let m = s.received.recv().await.unwrap();
        assert_eq!(m.raw, [stored, SMUGGLED].concat());
        assert_eq!(m.envelope.mail_from, "app@example.com");
        assert!(m.envelope.bare_lf);
        assert!(
            s.received.try_recv().is_err(),
            "one submission, one message"
        );
    }
}

#[tokio::test]
async fn lf_only_mail_is_kept_byte_for_byte_and_flagged() {
    let mut s = server(ServerSettings::default()).await;
    let mut c = greeted(s.addr).await;
    in_data(&mut c).await;
    let file = b"From: a@example.com\nSubject: lf\n\nfirst\n.\n.dot line\n..two\nlast\n";
    // What curl sends for an LF-only file: the bytes as they are, then CR LF . CR LF.
    c.send(&[&file[..], b"\r\n.\r\n"].concat()).await;
    assert_eq!(c.code().await, "250");
    let m = s.received.recv().await.unwrap();
    assert_eq!(m.raw, [&file[..], b"\r\n"].concat());
    assert!(m.envelope.bare_lf);
    let parsed = mailtest::mail::parsed::parse(&m.raw);
    assert!(parsed.lints.iter().any(|l| l.rule == "bare-lf"));
    // A clean CR LF message is not flagged.
    in_data(&mut c).await;
    c.send(b"Subject: ok\r\n\r\n..stuffed\r\n.\r\n").await;
    assert_eq!(c.code().await, "250");
    let m = s.received.recv().await.unwrap();
    assert_eq!(m.raw, b"Subject: ok\r\n\r\n.stuffed\r\n");
    assert!(!m.envelope.bare_lf);
    assert!(
        !mailtest::mail::parsed::parse(&m.raw)
            .lints
            .iter()
            .any(|l| l.rule == "bare-lf")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_uploads_an_lf_only_file_whole() {
    let mut s = server(ServerSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lf.eml");
    let content = b"From: app@example.com\nTo: bob@example.com\nSubject: from curl\n\nbefore\n.\n.dot line\nafter\n";
    std::fs::write(&file, content).unwrap();
    let out = tokio::process::Command::new(tool("curl"))
        .args(["--silent", "--show-error"])
        .arg(format!("smtp://{}", s.addr))
        .args(["--mail-from", "app@example.com"])
        .args(["--mail-rcpt", "bob@example.com"])
        .arg("--upload-file")
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = s.received.recv().await.unwrap();
    let text = String::from_utf8_lossy(&m.raw);
    assert!(
        text.contains("before\n.\n.dot line\nafter\n"),
        "every line arrived as sent: {text:?}"
    );
    assert!(m.envelope.bare_lf);
}

#[tokio::test]
async fn bare_lf_can_be_refused_as_postfix_does() {
    let settings = ServerSettings {
        session: SessionConfig {
            bare_lf: BareLf::Reject,
            ..SessionConfig::default()
        },
        ..ServerSettings::default()
    };
    let mut s = server(settings.clone()).await;
    let mut c = greeted(s.addr).await;
    in_data(&mut c).await;
    c.send(b"Subject: a\r\n\r\nx\n.\nQUIT\r\n").await;
    assert_eq!(c.reply().await, "550 5.5.2 Error: bare <LF> received");
    assert!(c.closed().await);
    let mut c = Client::connect(s.addr).await;
    c.reply().await;
    c.send(b"EHLO a\n").await;
    assert_eq!(c.code().await, "550", "commands too");
    assert!(c.closed().await);
    // CR LF mail still goes through.
    let mut c = greeted(s.addr).await;
    in_data(&mut c).await;
    c.send(b"Subject: ok\r\n\r\nfine\r\n.\r\n").await;
    assert_eq!(c.code().await, "250");
    assert_eq!(
        s.received.recv().await.unwrap().raw,
        b"Subject: ok\r\n\r\nfine\r\n"
    );
}

#[tokio::test]
async fn an_unparseable_bdat_ends_the_session() {
    for line in [&b"BDAT 12 BOGUS\r\n"[..], b"BDAT twelve\r\n", b"BDAT\r\n"] {
        let mut s = server(ServerSettings::default()).await;
        let mut c = greeted(s.addr).await;
        c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
            .await;
        assert_eq!(c.code().await, "250");
        assert_eq!(c.code().await, "250");
        // The chunk bytes look like commands; none may run.
        c.send(&[line, b"RSET\r\nNOOP\r\n"].concat()).await;
        let reply = c.reply().await;
        assert!(reply.starts_with("501 5.5.4"), "{reply}");
        assert!(c.closed().await, "{}", String::from_utf8_lossy(line));
        assert!(s.received.try_recv().is_err());
    }
}

#[tokio::test]
async fn an_http_request_to_the_smtp_port_plants_nothing() {
    let requests: [&[u8]; 3] = [
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1:1025\r\nContent-Type: text/plain\r\n\r\n",
        b"GET / HTTP/1.1\r\n",
        // A request line the server may never see whole still has header lines after it.
        b"Host: 127.0.0.1:1025\r\n",
    ];
    for request in requests {
        let mut s = server(ServerSettings::default()).await;
        let mut c = Client::connect(s.addr).await;
        assert_eq!(c.code().await, "220");
        let body = b"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nplanted\r\n.\r\n";
        c.send(&[request, body].concat()).await;
        assert_eq!(c.code().await, "221");
        assert!(c.closed().await);
        assert!(s.received.try_recv().is_err(), "nothing planted");
    }
}

#[tokio::test]
async fn each_message_of_a_long_session_has_its_own_transcript() {
    let mut s = server(ServerSettings::default()).await;
    let mut c = greeted(s.addr).await;
    for i in 0..45 {
        c.send(
            format!("MAIL FROM:<m{i}@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
                .as_bytes(),
        )
        .await;
        for expected in ["250", "250", "354"] {
            assert_eq!(c.code().await, expected);
        }
        c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
        assert_eq!(c.code().await, "250");
    }
    let mut last = None;
    for _ in 0..45 {
        last = s.received.recv().await;
    }
    let m = last.unwrap();
    let t = &m.transcript;
    assert!(t[0].starts_with("S: 220 "), "{t:?}");
    assert_eq!(t[1], "C: EHLO client.example");
    assert!(
        t.iter().any(|l| l == "C: MAIL FROM:<m44@example.com>"),
        "{t:?}"
    );
    assert!(
        !t.iter().any(|l| l == "C: MAIL FROM:<m43@example.com>"),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|l| l == "S: 354 End data with <CR><LF>.<CR><LF>")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_waits_for_starttls_unless_allowed() {
    let mut s = server(tls_and_auth("bob:pw", false)).await;
    let mut c = greeted(s.addr).await;
    c.send(b"EHLO again\r\n").await;
    let ehlo = c.reply().await;
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    c.send(b"AUTH PLAIN AGJvYgBwdw==\r\n").await;
    assert_eq!(c.code().await, "538");
    let login = [
        "--auth",
        "LOGIN",
        "--auth-user",
        "bob",
        "--auth-password",
        "pw",
    ];
    let (ok, log) = swaks(s.addr, &login).await;
    assert!(!ok, "no AUTH offered in the clear: {log}");
    let (ok, log) = swaks(s.addr, &[&["--tls"][..], &login].concat()).await;
    assert!(ok, "{log}");
    let m = s.received.recv().await.unwrap();
    assert_eq!(
        (m.envelope.tls, m.envelope.auth.as_deref()),
        (true, Some("bob"))
    );

    let mut settings = tls_and_auth("bob:pw", false);
    settings.session.auth_before_tls = true;
    let mut s = server(settings).await;
    let (ok, log) = swaks(s.addr, &login).await;
    assert!(ok, "{log}");
    let m = s.received.recv().await.unwrap();
    assert_eq!(
        (m.envelope.tls, m.envelope.auth.as_deref()),
        (false, Some("bob"))
    );
}
