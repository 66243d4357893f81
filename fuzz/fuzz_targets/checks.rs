//! Fuzz target: any bytes as a captured message's HTML part must go through the HTML check,
//! as an image attachment through the thumbnailer, and as a spamd reply through its parser,
//! without a panic (all three meet bytes a sender or a daemon chose).
#![no_main]

use std::sync::OnceLock;

use mailtest::checks::HtmlChecker;

static CHECKER: OnceLock<HtmlChecker> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let report = CHECKER.get_or_init(HtmlChecker::new).check(&text);
    let total = report.total.supported + report.total.partial + report.total.unsupported;
    assert!((total - 100.0).abs() < 0.01, "totals add up to 100: {total}");
    let thumb = mailtest::mail::thumb::thumbnail(data, "image/png");
    assert!(thumb.starts_with(&[0xff, 0xd8]), "always a JPEG");
    let _ = mailtest::checks::spam::parse_reply(&text);
});
