//! Fuzz target: any bytes as a whole SMTP conversation must end the session cleanly, and
//! every message it accepts must go through the store's summary, search and the API's MIME
//! parse without a panic. A hang shows up as libFuzzer's timeout.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use mailtest::smtp::session::{Session, SessionConfig};
use mailtest::mail::{Deliver, DeliverFuture, Incoming};
use mailtest::store::{Query, Summary};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Looks at each message the way the sink's API would, then forgets it.
struct Inspect;

impl Deliver for Inspect {
    fn deliver(&self, message: Incoming) -> DeliverFuture<'_> {
        Box::pin(async move {
            let summary = Summary::new(1, &message);
            let query = Query {
                header: Some("Content-Type: text".into()),
                text: Some("ü".into()),
                ..Query::default()
            };
            let _ = query.matches(&summary) && query.matches_content(&message.raw);
            let _ = mailtest::mail::parsed::parse(&message.raw);
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

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let config = SessionConfig {
        timeout: Duration::from_secs(1),
        max_size: 64 * 1024,
        ..SessionConfig::default()
    };
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
            let _ = write.write_all(data).await;
            let _ = write.shutdown().await;
        };
        let session = Session::new(server, peer, &config, &Inspect, shutdown).run();
        let _ = tokio::join!(session, replies, send);
    });
});
