//! Fuzz target: any bytes as a captured message must summarize, parse for the API and the
//! inbox (links, lints, the HTML view, attachments), read into Mailpit's and MailHog's
//! shapes, and match searches (the native query and Mailpit's language, whose query text
//! is the message's first bytes here) without a panic.
#![no_main]

use mailtest::api::mailpit;
use mailtest::mail::parsed;
use mailtest::mail::{Envelope, Incoming};
use mailtest::store::{Query, Summary};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let incoming = Incoming {
        envelope: Envelope {
            mail_from: "a@example.com".into(),
            rcpt_to: vec!["b+run@example.com".into()],
            helo: "fuzz".into(),
            esmtp: true,
            smtputf8: false,
            body_8bit: false,
            bare_lf: false,
            tls: false,
            auth: None,
            client: "127.0.0.1:1".parse().unwrap(),
            api: None,
        },
        raw: data.to_vec(),
        received_at: chrono::Utc::now(),
        transcript: Vec::new(),
    };
    let summary = Summary::new(1, &incoming);
    let facts = mailpit::Facts::read(data, &incoming.envelope);
    let _ = mailtest::api::mailhog::Message::new(&summary, data);
    let query_text = String::from_utf8_lossy(&data[..data.len().min(80)]);
    let search = mailpit::Search::parse(&query_text, Some("Europe/Berlin"));
    let _ = search.matches(&summary, Some(&facts));
    let message = parsed::parse(data);
    let _ = parsed::html_for_view(data);
    for n in 0..message.attachments.len().min(4) {
        let _ = parsed::attachment(data, n);
    }
    let query = Query {
        header: Some("Subject: a".into()),
        text: Some("needle".into()),
        ..Query::default()
    };
    let _ = query.matches_content(data);
});
