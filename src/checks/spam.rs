//! The spam check: a message scored by a SpamAssassin daemon (`spamd`) the user runs,
//! through spamd's own protocol (`REPORT SPAMC/1.5`, as `spamc` speaks it), answered as
//! Mailpit's `SpamAssassinResponse`. A daemon that cannot be reached is reported in
//! `Error` with a zero score, as Mailpit does; so is one that answers an error code (where
//! Mailpit shows a clean zero score), never as a clean result. Scores are rounded down to
//! one decimal of their exact value (Mailpit rounds a 32-bit float, showing 0.7 as 0.6).

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Mailpit's threshold: a score at or above this is spam.
pub const SPAM_SCORE: f64 = 5.0;
/// How long one check may take (Mailpit's default).
const TIMEOUT: Duration = Duration::from_secs(8);
/// A report larger than this is not a spamd answer.
const MAX_REPLY: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub is_spam: bool,
    pub error: String,
    pub score: f64,
    /// `null` when the check failed, as Mailpit sends it.
    pub rules: Option<Vec<Rule>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    pub score: f64,
    pub name: String,
    pub description: String,
}

/// Scores `raw` with the spamd at `address` (`host:port`, or `unix:/path`).
pub async fn check(address: &str, raw: &[u8]) -> Report {
    let asked = tokio::time::timeout(TIMEOUT, ask(address, raw)).await;
    match asked {
        Ok(Ok(reply)) => parse_reply(&reply),
        Ok(Err(e)) => failed(format!("spamd at {address}: {e}")),
        Err(_) => failed(format!(
            "spamd at {address}: no answer in {}s",
            TIMEOUT.as_secs()
        )),
    }
}

fn failed(error: String) -> Report {
    Report {
        error,
        ..Report::default()
    }
}

async fn ask(address: &str, raw: &[u8]) -> std::io::Result<String> {
    if let Some(path) = address.strip_prefix("unix:") {
        #[cfg(unix)]
        return exchange(tokio::net::UnixStream::connect(path).await?, raw).await;
        #[cfg(not(unix))]
        return Err(std::io::Error::other(format!(
            "no unix sockets here: {path}"
        )));
    }
    exchange(tokio::net::TcpStream::connect(address).await?, raw).await
}

/// One request: the message with its length, our side closed, then spamd's whole reply.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: S,
    raw: &[u8],
) -> std::io::Result<String> {
    let head = format!("REPORT SPAMC/1.5\r\nContent-length: {}\r\n\r\n", raw.len());
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(raw).await?;
    conn.shutdown().await?;
    let mut reply = Vec::new();
    conn.take(MAX_REPLY).read_to_end(&mut reply).await?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// spamd's reply: `SPAMD/1.1 0 EX_OK`, headers with `Spam: True ; 7.1 / 5.0`, then the
/// report, whose rule table follows `Content analysis details`.
pub fn parse_reply(reply: &str) -> Report {
    // A rule's description wraps onto lines indented to its column.
    let joined = reply
        .replace("\r\n", "\n")
        .replace("\n                            ", " ");
    let mut lines = joined.lines();
    let status = lines.next().unwrap_or_default();
    let mut words = status.splitn(3, ' ');
    let (proto, code, message) = (words.next(), words.next(), words.next());
    if !proto.is_some_and(|p| p.starts_with("SPAMD/")) {
        return failed(format!("not a spamd reply: {status:?}"));
    }
    if code != Some("0") {
        return failed(format!("spamd: {}", message.unwrap_or(status)));
    }
    let mut score = None;
    let mut rules = Vec::new();
    let mut in_rules = false;
    for line in lines {
        if let Some(rest) = line.strip_prefix("Spam: ") {
            score = rest
                .split(';')
                .nth(1)
                .and_then(|s| s.split('/').next())
                .and_then(|s| s.trim().parse::<f64>().ok());
        } else if line.starts_with("Content analysis details") {
            in_rules = true;
        } else if in_rules {
            rules.extend(rule(line));
        }
    }
    let Some(score) = score else {
        return failed("spamd's reply has no `Spam:` score".to_owned());
    };
    Report {
        is_spam: score >= SPAM_SCORE,
        error: String::new(),
        score: tenths(score),
        rules: Some(rules),
    }
}

/// A table row: ` 1.2 RULE_NAME   Description`.
fn rule(line: &str) -> Option<Rule> {
    let line = line.strip_prefix(' ').unwrap_or(line);
    let (points, rest) = line.split_once(' ')?;
    let points: f64 = points.parse().ok()?;
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    // What separates name and description belongs to neither (Mailpit's `(\W*)`).
    let description = rest[end..].trim_start_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
    Some(Rule {
        score: tenths(points),
        name: rest[..end].to_owned(),
        description: description.trim_end().to_owned(),
    })
}

/// Rounded down to one decimal, as Mailpit shows scores.
fn tenths(n: f64) -> f64 {
    (n * 10.0 + 1e-9).floor() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = "SPAMD/1.1 0 EX_OK\r\nContent-length: 500\r\nSpam: True ; 7.3 / 5.0\r\n\r\n\
Spam detection software, running on the system \"x\", has\nidentified this incoming email as possible spam.\n\n\
Content analysis details:   (7.3 points, 5.0 required)\n\n pts rule name              description\n\
---- ---------------------- --------------------------------------------------\n\
 2.5 MISSING_DATE           Missing Date: header\n\
-0.1 DKIM_VALID             Message has at least one valid DKIM or DK signature,\n                            and more text\n\
 4.9 SUBJ_ALL_CAPS          Subject is all capitals\n";

    #[test]
    fn a_report_gives_score_verdict_and_rules() {
        let r = parse_reply(REPLY);
        assert_eq!(r.error, "");
        assert!(r.is_spam);
        assert!((r.score - 7.3).abs() < 1e-9);
        let rules = r.rules.unwrap();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["MISSING_DATE", "DKIM_VALID", "SUBJ_ALL_CAPS"]);
        assert!((rules[1].score + 0.1).abs() < 1e-9);
        assert_eq!(
            rules[1].description,
            "Message has at least one valid DKIM or DK signature, and more text"
        );
    }

    #[test]
    fn errors_are_reported_not_scored_clean() {
        let r = parse_reply("SPAMD/1.0 76 Bad header line: x\r\n");
        assert_eq!(r.error, "spamd: Bad header line: x");
        assert!(r.rules.is_none());
        assert!(
            parse_reply("HTTP/1.1 200 OK\r\n")
                .error
                .starts_with("not a spamd reply")
        );
        assert!(
            parse_reply("SPAMD/1.1 0 EX_OK\r\n\r\n")
                .error
                .contains("no `Spam:`")
        );
    }
}
