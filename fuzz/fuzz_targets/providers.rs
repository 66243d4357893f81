//! Fuzz target: any bytes as the body of a send to a provider's API (SendGrid, SES v2 and
//! v1, Postmark and its batch, Resend and its batch, Mailgun's form and MIME routes), with
//! the provider's credentials, must be answered without a panic and never with a server
//! error: a bad request is the sender's (4xx), whatever it holds.
#![no_main]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use mailtest::api::{ApiSettings, router};
use mailtest::smtp::faults::FaultSet;
use mailtest::store::Store;
use tower::ServiceExt;

/// Each route with the headers its provider's SDK sends.
const ROUTES: &[(&str, &[(&str, &str)])] = &[
    ("/v3/mail/send", &[("authorization", "Bearer SG.k"), ("content-type", "application/json")]),
    ("/v2/email/outbound-emails", &[("authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20261207/eu-west-1/ses/aws4_request, SignedHeaders=host, Signature=0")]),
    ("/", &[("authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20261207/eu-west-1/ses/aws4_request, SignedHeaders=host, Signature=0"), ("content-type", "application/x-www-form-urlencoded")]),
    ("/email", &[("x-postmark-server-token", "pm")]),
    ("/email/batch", &[("x-postmark-server-token", "pm")]),
    ("/emails", &[("authorization", "Bearer re_k")]),
    ("/emails/batch", &[("authorization", "Bearer re_k")]),
    ("/v3/mg.example.com/messages", &[("authorization", "Basic YXBpOmtleQ=="), ("content-type", "application/x-www-form-urlencoded")]),
    ("/v3/mg.example.com/messages", &[("authorization", "Basic YXBpOmtleQ=="), ("content-type", "multipart/form-data; boundary=XX")]),
    ("/v3/mg.example.com/messages.mime", &[("authorization", "Basic YXBpOmtleQ=="), ("content-type", "multipart/form-data; boundary=XX")]),
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (path, headers) = ROUTES[usize::from(pick) % ROUTES.len()];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let app = router(Arc::new(Store::memory()), Arc::new(FaultSet::default()), ApiSettings::default());
    let mut request = Request::post(path).header("host", "127.0.0.1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::from(body.to_vec())).expect("a request");
    let response = runtime.block_on(app.oneshot(request)).expect("infallible");
    assert!(
        !response.status().is_server_error(),
        "{path}: {} for a request the sender got wrong",
        response.status()
    );
});
