//! The web inbox against hostile mail: every payload would call back to a local listener (or
//! retitle the page) if it ran. The listener must hear only the one remote image the user
//! allowed, which also proves that it was reachable all along.

use std::sync::{Arc, Mutex};

use mailtest::store::Query;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::api::sink;
use crate::browser::Browser;
use crate::inbox::send_raw;

/// A listener on loopback that records the path of every request it gets.
async fn callback() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut io = BufReader::new(stream);
                let mut line = String::new();
                let _ = io.read_line(&mut line).await;
                let path = line.split(' ').nth(1).unwrap_or("?").to_owned();
                log.lock().unwrap().push(path);
                let reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = io.get_mut().write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, heard)
}

/// The HTML payloads; `CB` becomes the listener's address.
const PAYLOADS: &[(&str, &str)] = &[
    (
        "script",
        "<script>document.title='pwned';parent.document.title='pwned';\
         fetch('http://CB/script')</script><p>script payload</p>",
    ),
    (
        "onerror",
        "<img src=\"x\" alt=\"x\" width=\"1\" onerror=\"parent.document.title='pwned';\
         fetch('http://CB/onerror')\"><p>onerror payload</p>",
    ),
    (
        "javascript-url",
        "<a id=\"click\" href=\"javascript:fetch('http://CB/javascript');\
         parent.document.title='pwned'\">click me</a>",
    ),
    (
        "svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"fetch('http://CB/svg-onload')\">\
         <script>fetch('http://CB/svg-script')</script><circle r=\"4\"/></svg><p>svg payload</p>",
    ),
    (
        "meta-refresh",
        "<meta http-equiv=\"refresh\" content=\"0;url=http://CB/refresh\"><p>refresh payload</p>",
    ),
    (
        "css",
        "<style>@import url('http://CB/import'); p { background: url('http://CB/css-bg') }</style>\
         <div style=\"width: expression(fetch('http://CB/expression'))\"><p>css payload</p></div>",
    ),
    (
        "form-and-frames",
        "<form action=\"http://CB/form\"><button id=\"click\">go</button></form>\
         <iframe src=\"http://CB/iframe\"></iframe><object data=\"http://CB/object\"></object>\
         <base href=\"http://CB/\"><img src=\"relative.png\" alt=\"r\" width=\"1\">",
    ),
    (
        "remote-image",
        "<p>image payload</p><img src=\"http://CB/remote-image\" alt=\"pixel\" width=\"1\">",
    ),
];

/// Markup where the inbox shows text: subject, From, text part, an attachment's name.
const SUBJECT: &str = "<img src=x onerror=\"document.title='pwned'\"> hi";

fn message(name: &str, html: &str, callback: &str) -> String {
    let html = html.replace("CB", callback);
    format!(
        "From: \"<script>document.title='pwned'</script>\" <evil@example.com>\r\n\
         To: victim@example.com\r\nSubject: {SUBJECT} {name}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n\
         --b2\r\nContent-Type: text/plain\r\n\r\n<script>document.title='pwned'</script> \
         javascript:alert(1) http://{callback}/text-link\r\n\
         --b2\r\nContent-Type: text/html\r\n\r\n{html}\r\n--b2--\r\n\
         --b1\r\nContent-Type: text/html; name=\"<img src=x onerror=alert(1)>.html\"\r\n\
         Content-Disposition: attachment; filename=\"<img src=x onerror=alert(1)>.html\"\r\n\r\n\
         <script>fetch('http://{callback}/attachment')</script>\r\n--b1--\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_mail_runs_nothing_and_loads_nothing_unasked() {
    let (cb, heard) = callback().await;
    let sink = sink(None).await;
    for (name, html) in PAYLOADS {
        send_raw(sink.smtp, message(name, html, &cb).as_bytes()).await;
    }
    let browser = Browser::start().await;
    let base = format!("http://{}", sink.http);
    browser.goto(&format!("{base}/")).await;
    browser
        .until(&format!(
            "document.body.dataset.listed === '{}'",
            PAYLOADS.len()
        ))
        .await;
    assert!(
        browser.rows().await.iter().all(|r| r.contains(SUBJECT)),
        "shown as text"
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#rows img, #rows script').length")
            .await,
        Value::from(0)
    );

    for summary in sink.store.list(&Query::default()) {
        browser
            .goto(&format!("{base}/#/messages/{}", summary.id))
            .await;
        browser.enter_html_frame().await;
        if let Ok(link) = browser
            .client
            .find(fantoccini::Locator::Css("#click"))
            .await
        {
            link.click().await.unwrap();
        }
        browser.client.enter_parent_frame().await.unwrap();
        for tab in ["text", "headers", "links", "attachments", "raw", "html"] {
            browser.click(&format!("[data-tab={tab}]")).await;
        }
        let injected = "document.querySelectorAll('#message-view img, #message-view script, \
                        #panel a[href^=javascript]').length";
        assert_eq!(browser.eval(injected).await, Value::from(0));
        assert!(
            browser
                .eval("document.title")
                .await
                .as_str()
                .unwrap()
                .contains(SUBJECT)
        );
    }
    // The HTML part opened on its own, outside the iframe: its own policy still holds.
    let first = sink.store.list(&Query::default())[0].id;
    browser
        .goto(&format!("{base}/api/v1/messages/{first}/html"))
        .await;
    browser.until("document.readyState === 'complete'").await;
    assert_ne!(browser.eval("document.title").await, Value::from("pwned"));
    // Attachments download as bytes; they are never served as a page.
    let (status, headers) = crate::util::http_head(
        &sink.http.to_string(),
        &format!("/api/v1/messages/{first}/attachments/0"),
    );
    assert_eq!(status, 200);
    assert!(
        headers.contains("content-type: application/octet-stream"),
        "{headers}"
    );
    assert!(
        headers.contains("filename=\"_img_src_x_onerror_alert_1__.html\""),
        "{headers}"
    );

    // The control: allowing remote images for one message loads exactly that image.
    let image = sink.store.list(&Query::default()).last().unwrap().id;
    browser.goto(&format!("{base}/#/messages/{image}")).await;
    browser
        .until("document.getElementById('allow-images') !== null")
        .await;
    browser.click("#allow-images").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !heard.lock().unwrap().contains(&"/remote-image".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the allowed image never loaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let heard = heard.lock().unwrap().clone();
    assert!(
        heard.iter().all(|p| p == "/remote-image"),
        "payloads called back: {heard:?}"
    );
}
