//! Releasing a captured message to a real SMTP server, only ever on an explicit request:
//! the sink itself never delivers anything onward.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::outbound::sender::TlsMode;

use crate::exit_code::ErrorKind;

/// Release failures.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("invalid release target `{0}`: {1}")]
    Target(String, String),
    #[error("invalid address: {0}")]
    Address(String),
    /// What the target said or did, summarised: its reply code, or how it failed. Remote
    /// text is not passed on, so a release is no probe of what answers where.
    #[error("the release target {0}")]
    Send(String),
}

impl ReleaseError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Target(..) | Self::Address(_) => ErrorKind::BadInput,
            Self::Send(_) => ErrorKind::Failed,
        }
    }
}

/// An SMTP server the operator named for releases.
#[derive(Clone, Default)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Accept any certificate (a test server's self-signed one).
    pub insecure: bool,
    /// AUTH user and password.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("insecure", &self.insecure)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

impl Target {
    /// `smtp://[user:password@]host[:port][?tls=none|opportunistic|required&insecure=true]`.
    pub fn parse(text: &str) -> Result<Self, ReleaseError> {
        let bad = |why: &str| ReleaseError::Target(redacted(text), why.to_owned());
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "smtp" {
            return Err(bad("expected smtp://host:port"));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let mut target = Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: url.port().unwrap_or(25),
            credentials: (!url.username().is_empty()).then(|| {
                let password = url.password().map(decode).unwrap_or_default();
                (decode(url.username()), password)
            }),
            ..Self::default()
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") => target.tls = TlsMode::None,
                ("tls", "opportunistic") => target.tls = TlsMode::Opportunistic,
                ("tls", "required") => target.tls = TlsMode::Required,
                ("insecure", "true" | "1") => target.insecure = true,
                ("insecure", "false" | "0") => target.insecure = false,
                _ => return Err(bad(&format!("unknown option `{key}={value}`"))),
            }
        }
        Ok(target)
    }
}

/// The text of a target with its password hidden, for messages.
fn redacted(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

/// The release targets a sink was started with, and who may be released to.
#[derive(Debug)]
pub struct Targets {
    pub named: std::collections::BTreeMap<String, Target>,
    /// Recipients other than a message's own must match this; without it, a message is
    /// released to its own envelope recipients only.
    pub allow: Option<regex::Regex>,
    /// How long one release may take, from connecting to the last reply.
    pub timeout: Duration,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            named: std::collections::BTreeMap::new(),
            allow: None,
            timeout: RELEASE_TIMEOUT,
        }
    }
}

impl Targets {
    /// Reads `NAME=URL` (or a bare URL, named `default`) specs.
    pub fn parse(specs: &[String], allow: Option<&str>) -> Result<Self, ReleaseError> {
        let mut named = std::collections::BTreeMap::new();
        for spec in specs {
            let (name, url) = match spec.split_once('=') {
                Some((name, url)) if !name.contains(':') => (name.to_owned(), url),
                _ => ("default".to_owned(), spec.as_str()),
            };
            named.insert(name, Target::parse(url)?);
        }
        let allow = allow
            .map(|re| {
                regex::Regex::new(&format!("^(?:{re})$"))
                    .map_err(|e| ReleaseError::Target(re.to_owned(), e.to_string()))
            })
            .transpose()?;
        Ok(Self {
            named,
            allow,
            timeout: RELEASE_TIMEOUT,
        })
    }
}

/// How long one release may take by default.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `raw` unchanged to `target` from `from` to `to`; returns the server's reply code.
pub async fn release(
    raw: &[u8],
    from: &str,
    to: &[String],
    target: &Target,
    timeout: Duration,
) -> Result<String, ReleaseError> {
    let host = target.host.as_str();
    let from = if from.is_empty() {
        None
    } else {
        Some(
            from.parse()
                .map_err(|e| ReleaseError::Address(format!("`{from}`: {e}")))?,
        )
    };
    let to = to
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| ReleaseError::Address(format!("`{a}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(from, to).map_err(|e| ReleaseError::Address(e.to_string()))?;
    let params = || {
        TlsParameters::builder(host.to_owned())
            .dangerous_accept_invalid_certs(target.insecure)
            .dangerous_accept_invalid_hostnames(target.insecure)
            .build()
            .map_err(|e| ReleaseError::Target(host.to_owned(), e.to_string()))
    };
    let tls = match target.tls {
        TlsMode::None => Tls::None,
        TlsMode::Opportunistic => Tls::Opportunistic(params()?),
        TlsMode::Required => Tls::Required(params()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(target.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let Some((user, password)) = &target.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let transport = builder.build();
    // lettre ends the data with CRLF "." CRLF whatever the message ends with; a message that
    // already ends in CRLF would arrive with one more, so that one is left to lettre.
    let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    // lettre's timeout is per read; a server that trickles replies is bounded here.
    let sent = tokio::time::timeout(timeout, transport.send_raw(&envelope, body))
        .await
        .map_err(|_| {
            let timeout = humantime::format_duration(timeout);
            ReleaseError::Send(format!("did not finish in {timeout}"))
        })?;
    let response = sent.map_err(|e| ReleaseError::Send(summary(&e)))?;
    Ok(format!("{} accepted", response.code()))
}

/// A lettre error in a few words: the reply code, or the kind of failure.
fn summary(err: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = err.status() {
        return format!("refused the message with {code}");
    }
    if err.is_timeout() {
        "did not answer in time".to_owned()
    } else if err.is_tls() {
        "could not agree on TLS".to_owned()
    } else {
        "could not be reached or broke off the conversation".to_owned()
    }
}
