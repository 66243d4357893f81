//! Fills a store directory with N realistic messages (about 4 KB: headers, a text and an
//! HTML part) to many recipients, for `bench/verify.sh`. Message `i` goes to
//! `user{i % 1000}@example.com` with subject `Order {i} confirmed`.
//! Run: `cargo run --release --example fill_store -- DIR COUNT`

use mailtest::mail::{Envelope, Incoming};
use mailtest::store::Store;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, count] = args.as_slice() else {
        anyhow::bail!("usage: fill_store DIR COUNT");
    };
    let count: u64 = count.parse()?;
    let store = Store::open(std::path::Path::new(dir), false)?;
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(25);
    for i in 0..count {
        let to = format!("user{}@example.com", i % 1000);
        let raw = format!(
            "From: Shop <orders@example.com>\r\nTo: {to}\r\nSubject: Order {i} confirmed\r\n\
             Message-ID: <{i}@example.com>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nThanks for order {i}.\r\n\
             Track it: https://shop.example.com/orders/{i}\r\n{filler}\r\n--b\r\n\
             Content-Type: text/html; charset=utf-8\r\n\r\n<p>Thanks for order {i}.</p>\
             <a href=\"https://shop.example.com/orders/{i}\">Track it</a><p>{filler}</p>\r\n--b--\r\n"
        );
        store.insert(Incoming {
            envelope: Envelope {
                mail_from: "orders@example.com".into(),
                rcpt_to: vec![to, "audit@example.com".into()],
                helo: "bench".into(),
                esmtp: true,
                smtputf8: false,
                body_8bit: false,
                bare_lf: false,
                tls: false,
                auth: None,
                client: "127.0.0.1:9".parse()?,
                api: None,
            },
            raw: raw.into_bytes(),
            received_at: chrono::Utc::now(),
            transcript: Vec::new(),
        })?;
    }
    println!("{count}");
    Ok(())
}
