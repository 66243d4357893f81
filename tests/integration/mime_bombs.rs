//! Captured mail built to exhaust the API: one image named a thousand times, unterminated
//! attributes, thousands of closing tags. Each answer stays within a small multiple of the
//! message's own size, and the scans are linear (a quadratic one would not finish here).

use mailtest::mail::parsed;

fn with_image(html: &str) -> Vec<u8> {
    let image = "A".repeat(100_000);
    format!(
        "Subject: bomb\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/html\r\n\r\n{html}\r\n\
         --b\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\nContent-Transfer-Encoding: base64\r\n\r\n{image}\r\n--b--\r\n"
    )
    .into_bytes()
}

#[test]
fn an_image_named_a_thousand_times_is_inlined_within_the_messages_size() {
    let raw = with_image(&"<img src=\"cid:img1\">".repeat(1000));
    let html = parsed::html_for_view(&raw).unwrap();
    assert!(
        html.contains("data:image/png;base64,"),
        "the first reference is shown"
    );
    assert!(
        html.len() < 6 * raw.len(),
        "{} bytes of HTML for a {}-byte message",
        html.len(),
        raw.len()
    );
    // An ordinary use, a few references, is inlined in full.
    let raw = with_image("<img src=\"cid:img1\"><p>x</p><img src=\"cid:img1\">");
    let html = parsed::html_for_view(&raw).unwrap();
    assert!(!html.contains("cid:img1"), "both shown");
}

#[test]
fn hostile_html_is_scanned_in_linear_time() {
    let shapes = [
        "<a x=\"".repeat(40_000),
        "<a b c d e ".repeat(40_000),
        "<style></style>".repeat(20_000),
        "</i>".repeat(50_000),
        "<b>".repeat(50_000),
        format!(
            "{}{}",
            "<a href=\"https://x.example/\">".repeat(20_000),
            "</a>".repeat(20_000)
        ),
    ];
    for html in shapes {
        let raw = format!("Subject: s\r\nContent-Type: text/html\r\n\r\n{html}\r\n");
        let parsed = parsed::parse(raw.as_bytes());
        assert!(
            parsed.lints.len() <= 210,
            "lints are capped: {}",
            parsed.lints.len()
        );
        assert!(parsed.links.len() <= 1000);
    }
}
