//! Fuzz target: any bytes as an expectations file must parse or be refused with an error,
//! never panic; what parses is evaluated against a message without a panic either.
#![no_main]

use std::collections::BTreeMap;

use mailtest::verify::check::Vars;
use mailtest::verify::eval::{Context, evaluate_all};
use mailtest::verify::message::Message;
use mailtest::verify::spec::Spec;

const MESSAGE: &[u8] = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\nContent-Type: text/html\r\n\r\n<a href=\"https://x.example/?t=1\">x</a>\r\n";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = Spec::parse("fuzz.yaml", text) else {
        return;
    };
    let messages = [Message::from_raw("1".into(), 0, MESSAGE.to_vec())];
    let mut vars = Vars::new(BTreeMap::new());
    let golden = |_: &Message, _: &mailtest::verify::spec::Golden| Ok(());
    let closed = |_: &mailtest::verify::spec::Expectation| false;
    // Link and spam checks are only asked for here, never run: no network in a fuzz run.
    let checks = mailtest::verify::checks::Checks::default();
    let ctx = Context {
        mailbox: spec.mailbox.as_deref(),
        golden: &golden,
        checks: &checks,
        window_open: &closed,
    };
    let _ = evaluate_all(&spec.expect, &messages, &mut vars, &ctx);
});
