//! Fuzz target: DATA framing against a reference encoder. Any message bytes, dot-stuffed
//! as RFC 5321 4.5.2 says (a dot added at the start of every CR LF line) and ended with
//! `<CR><LF>.<CR><LF>`, must arrive as exactly one message, byte for byte, whatever bare
//! LFs, dots or lone `.` lines they hold (the SMTP smuggling shapes among them); then the
//! same bytes sent as one BDAT LAST chunk must arrive the same.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use mailtest::smtp::session::{Session, SessionConfig};
use mailtest::mail::{Deliver, DeliverFuture, Incoming};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

#[derive(Default)]
struct Keep(Mutex<Vec<Incoming>>);

impl Deliver for Keep {
    fn deliver(&self, message: Incoming) -> DeliverFuture<'_> {
        Box::pin(async move {
            self.0.lock().unwrap().push(message);
            Ok("1".to_owned())
        })
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// What a correct client sends after `DATA` for `body` (which ends in CR LF).
fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    let mut at_line_start = true;
    for (i, &b) in body.iter().enumerate() {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n' && i > 0 && body[i - 1] == b'\r';
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn converse(input: Vec<u8>) -> Vec<Incoming> {
    let config = SessionConfig {
        timeout: Duration::from_secs(1),
        max_size: 1 << 20,
        ..SessionConfig::default()
    };
    let keep = Keep::default();
    runtime().block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (_stop, shutdown) = watch::channel(false);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (mut read, mut write) = tokio::io::split(client);
        let replies = async move {
            let mut sink = Vec::new();
            let _ = read.read_to_end(&mut sink).await;
        };
        let send = async move {
            let _ = write.write_all(&input).await;
            let _ = write.shutdown().await;
        };
        let session = Session::new(server, peer, &config, &keep, shutdown).run();
        let _ = tokio::join!(session, replies, send);
    });
    keep.0.into_inner().unwrap()
}

const HEAD: &[u8] = b"EHLO f\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut body = data.to_vec();
    if !body.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    let input = [HEAD, b"DATA\r\n", &stuffed(&body), b"QUIT\r\n"].concat();
    let got = converse(input);
    assert_eq!(got.len(), 1, "one DATA, one message");
    assert!(got[0].raw == body, "DATA changed the message");
    assert_eq!(got[0].envelope.bare_lf, mailtest::mail::has_bare_lf(&body));

    let bdat = format!("BDAT {} LAST\r\n", data.len());
    let input = [HEAD, bdat.as_bytes(), data, b"QUIT\r\n"].concat();
    let got = converse(input);
    assert_eq!(got.len(), 1, "one BDAT LAST, one message");
    assert!(got[0].raw == data, "BDAT changed the message");
});
