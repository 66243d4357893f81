//! Criterion micro-benchmarks of the hot paths, so regressions show up in `cargo bench`:
//! SMTP command parsing, store inserts (memory and disk), a message parsed for the API,
//! expectation matching, and template rendering.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mailtest::catalog::Catalog;
use mailtest::event::Event;
use mailtest::mail::{Envelope, Incoming};
use mailtest::render::{Renderer, Templates};
use mailtest::store::Store;
use mailtest::verify::check::Vars;
use mailtest::verify::eval::{Context, evaluate_all};
use mailtest::verify::message::Message;
use mailtest::verify::spec::Spec;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A 4 KB order email (text and HTML parts) to `user{i % 1000}`.
fn order_email(i: u64) -> Vec<u8> {
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(25);
    format!(
        "From: Shop <orders@example.com>\r\nTo: user{}@example.com\r\nSubject: Order {i} confirmed\r\n\
         Message-ID: <{i}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThanks for order {i}.\r\n\
         Track it: https://shop.example.com/orders/{i}\r\n{filler}\r\n--b\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<p>Thanks for order {i}.</p>\
         <a href=\"https://shop.example.com/orders/{i}\">Track it</a><p>{filler}</p>\r\n--b--\r\n",
        i % 1000
    )
    .into_bytes()
}

fn incoming(raw: Vec<u8>) -> Incoming {
    Incoming {
        envelope: Envelope {
            mail_from: "orders@example.com".into(),
            rcpt_to: vec!["user1@example.com".into()],
            helo: "bench".into(),
            esmtp: true,
            smtputf8: false,
            body_8bit: false,
            bare_lf: false,
            tls: false,
            auth: None,
            client: "127.0.0.1:9".parse().unwrap(),
            api: None,
        },
        raw,
        received_at: chrono::Utc::now(),
        transcript: vec!["C: EHLO bench".into()],
    }
}

fn smtp(c: &mut Criterion) {
    let lines: [&[u8]; 4] = [
        b"MAIL FROM:<orders@example.com> SIZE=4096 BODY=8BITMIME\r\n",
        b"RCPT TO:<user1@example.com>\r\n",
        b"EHLO client.example.com\r\n",
        b"DATA\r\n",
    ];
    let mut group = c.benchmark_group("smtp");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("parse 4 commands", |b| {
        b.iter(|| {
            for line in lines {
                black_box(mailtest::smtp::command::parse(black_box(line)));
            }
        });
    });
    group.finish();
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    let memory = Store::memory();
    group.bench_function("insert 4 KB, memory", |b| {
        b.iter_batched(
            || incoming(order_email(7)),
            |m| memory.insert(m).unwrap(),
            BatchSize::SmallInput,
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let disk = Store::open(dir.path(), false).unwrap();
    group.bench_function("insert 4 KB, disk log", |b| {
        b.iter_batched(
            || incoming(order_email(7)),
            |m| disk.insert(m).unwrap(),
            BatchSize::SmallInput,
        );
    });
    let raw = order_email(7);
    group.bench_function("parse for the API", |b| {
        b.iter(|| black_box(mailtest::mail::parsed::parse(black_box(&raw))));
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let messages: Vec<Message> = (0..1000)
        .map(|i| Message::from_raw(i.to_string(), i, order_email(i)))
        .collect();
    let mut yaml = String::from("expect:\n");
    for k in 0..10 {
        let i = k * 97;
        yaml.push_str(&format!(
            "  - name: order {i}\n    match: {{to: user{i}@example.com, subject: {{contains: 'Order {i} '}}}}\n    \
             assert:\n      text: {{contains: 'order {i}.'}}\n      links: {{all_match: '^https://shop\\.example\\.com/orders/{i}$'}}\n"
        ));
    }
    let spec = Spec::parse("bench.yaml", &yaml).unwrap();
    let golden = |_: &Message, _: &mailtest::verify::spec::Golden| Ok(());
    let closed = |_: &mailtest::verify::spec::Expectation| false;
    let checks = mailtest::verify::checks::Checks::default();
    let ctx = Context {
        mailbox: None,
        golden: &golden,
        checks: &checks,
        window_open: &closed,
    };
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(spec.expect.len() as u64));
    group.bench_function("10 expectations x 1,000 messages", |b| {
        b.iter(|| {
            let mut vars = Vars::new(std::collections::BTreeMap::new());
            let verdicts = evaluate_all(&spec.expect, &messages, &mut vars, &ctx);
            assert!(verdicts.iter().all(|v| v.passed));
        });
    });
    group.finish();
}

fn render(c: &mut Criterion) {
    let catalog = Catalog::builtin().unwrap();
    let fixture = &catalog.get("order_confirmation").unwrap().fixtures[0];
    let event: Event = serde_json::from_str(&fixture.text).unwrap();
    let renderer = Renderer::new(Templates::builtin().unwrap());
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(1));
    group.bench_function("order_confirmation, whole email", |b| {
        b.iter(|| black_box(renderer.render(black_box(&event)).unwrap()));
    });
    group.finish();
}

/// The HTML check (Mailpit's `html-check`) of a rendered email: what one inbox tab, one
/// Mailpit call or one `html_check` condition costs.
fn checks(c: &mut Criterion) {
    let catalog = Catalog::builtin().unwrap();
    let fixture = &catalog.get("order_confirmation").unwrap().fixtures[0];
    let event: Event = serde_json::from_str(&fixture.text).unwrap();
    let renderer = Renderer::new(Templates::builtin().unwrap());
    let html = renderer.render(&event).unwrap().html;
    let checker = mailtest::checks::HtmlChecker::new();
    let mut group = c.benchmark_group("checks");
    group.throughput(Throughput::Elements(1));
    group.bench_function("html check, order_confirmation", |b| {
        b.iter(|| black_box(checker.check(black_box(&html))));
    });
    group.finish();
}

criterion_group!(benches, smtp, store, verify, render, checks);
criterion_main!(benches);
