//! The HTML, link and spam checks as verify conditions (`html_check`, `link_check`,
//! `spam_check`). Each runs at most once per message and options: the HTML check when a
//! condition asks for it, the link and spam checks (network calls) between evaluations, all
//! that one evaluation asked for at once, and only for messages that meet every other
//! condition. The run loop settles them before any verdict is final.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::StreamExt;

use super::check::{Target, Vars};
use super::message::Message;
use super::spec::{Fields, HtmlCheckFields, LinkCheckFields, SpamCheckFields};
use crate::checks::{HtmlChecker, html, links, spam};

/// A network check and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Links { follow: bool, internal: bool },
    Spam,
}

#[derive(Debug)]
pub enum Done {
    Links(links::Report),
    Spam(spam::Report),
    /// The message could not be read to check it.
    Failed(String),
}

/// Checks run so far, by message (arrival order) and kind, and the ones wanted next.
#[derive(Default)]
pub struct Checks {
    spamd: Option<String>,
    celery_results: Option<String>,
    /// Only these tasks' states count (a smoke run's own, on a shared backend).
    celery_tasks: Option<std::collections::HashSet<String>>,
    html_checker: std::sync::OnceLock<HtmlChecker>,
    html: Mutex<HashMap<u64, Arc<html::Report>>>,
    done: Mutex<HashMap<(u64, Kind), Arc<Done>>>,
    wanted: Mutex<Vec<(u64, Kind)>>,
}

/// A lock that a panic elsewhere does not poison for good (the maps stay consistent: each
/// change is one insert or drain).
trait LockNow<T> {
    fn lock_now(&self) -> MutexGuard<'_, T>;
}

impl<T> LockNow<T> for Mutex<T> {
    fn lock_now(&self) -> MutexGuard<'_, T> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long one read of the task states may take.
const CELERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How many network checks run at once.
const AT_ONCE: usize = 8;

impl Checks {
    /// Checks scoring spam with the spamd at `spamd`, if any.
    pub fn new(spamd: Option<String>) -> Self {
        Self {
            spamd,
            ..Self::default()
        }
    }

    pub fn has_spamd(&self) -> bool {
        self.spamd.is_some()
    }

    /// Reads task states from Celery's result backend at `url` too (`celery:`).
    #[must_use]
    pub fn with_celery_results(mut self, url: Option<String>) -> Self {
        self.celery_results = url;
        self
    }

    /// Counts the states of these tasks alone, not every task in the backend.
    #[must_use]
    pub fn with_celery_tasks(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.celery_tasks = Some(ids.into_iter().collect());
        self
    }

    pub fn has_celery_results(&self) -> bool {
        self.celery_results.is_some()
    }

    /// The `celery:` verdict on the task states stored now and `messages`.
    pub async fn celery(
        &self,
        spec: &super::celery::CelerySpec,
        messages: &[Message],
        window_open: bool,
    ) -> Result<super::eval::Verdict, crate::celery::results::ResultsError> {
        let url = self.celery_results.as_deref().unwrap_or_default();
        let mut states = crate::celery::results::all_states(url, CELERY_TIMEOUT).await?;
        if let Some(ids) = &self.celery_tasks {
            states.retain(|id, _| ids.contains(id));
        }
        Ok(super::celery::verdict(spec, &states, messages, window_open))
    }

    /// The HTML check of `m`, run now if not yet.
    pub fn html(&self, m: &Message, html: &str) -> Arc<html::Report> {
        if let Some(done) = self.html.lock_now().get(&m.seq) {
            return done.clone();
        }
        let report = Arc::new(self.html_checker.get_or_init(HtmlChecker::new).check(html));
        self.html.lock_now().insert(m.seq, report.clone());
        report
    }

    /// The result of a network check of `m`, or `None` after asking for it to be run.
    pub fn network(&self, m: &Message, kind: Kind) -> Option<Arc<Done>> {
        let key = (m.seq, kind);
        if let Some(done) = self.done.lock_now().get(&key) {
            return Some(done.clone());
        }
        let mut wanted = self.wanted.lock_now();
        if !wanted.contains(&key) {
            wanted.push(key);
        }
        None
    }

    /// Whether an evaluation is waiting for network checks.
    pub fn pending(&self) -> bool {
        !self.wanted.lock_now().is_empty()
    }

    /// Runs the wanted checks on `messages`, a few at a time.
    pub async fn run_pending(&self, messages: &[Message]) {
        let wanted: Vec<(u64, Kind)> = self.wanted.lock_now().drain(..).collect();
        let jobs = wanted.into_iter().map(|(seq, kind)| {
            let raw = match messages.iter().find(|m| m.seq == seq).map(Message::content) {
                Some(Ok(c)) => Ok(c.raw.clone()),
                Some(Err(e)) => Err(format!("cannot read the message: {e}")),
                None => Err("the message is gone".to_owned()),
            };
            async move {
                let done = match raw {
                    Ok(raw) => self.run_one(kind, &raw).await,
                    Err(e) => Done::Failed(e),
                };
                ((seq, kind), done)
            }
        });
        let results: Vec<_> = futures_util::stream::iter(jobs)
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        self.done
            .lock_now()
            .extend(results.into_iter().map(|(k, d)| (k, Arc::new(d))));
    }

    async fn run_one(&self, kind: Kind, raw: &[u8]) -> Done {
        match kind {
            Kind::Links { follow, internal } => {
                Done::Links(links::check(raw, follow, internal).await)
            }
            Kind::Spam => Done::Spam(match &self.spamd {
                Some(addr) => spam::check(addr, raw).await,
                None => spam::Report {
                    error: "no SpamAssassin daemon: give verify --spamassassin HOST:PORT"
                        .to_owned(),
                    ..spam::Report::default()
                },
            }),
        }
    }
}

/// The check conditions of `f` that `m` fails. `failing`: the message already fails
/// another condition, so no network check is asked for. A check still to run is a failure
/// for now ("waiting"), which the run loop replaces with its finding before any verdict.
pub fn failures(
    f: &Fields,
    m: &Message,
    vars: &Vars,
    checks: &Checks,
    failing: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = &f.html_check {
        out.extend(html_failures(h, m, vars, checks));
    }
    if failing || !out.is_empty() {
        return out;
    }
    if let Some(l) = &f.link_check {
        let kind = Kind::Links {
            follow: l.follow,
            internal: l.internal,
        };
        match checks.network(m, kind).as_deref() {
            Some(Done::Links(report)) => out.extend(link_failures(l, report, vars)),
            Some(Done::Failed(e)) => out.push(format!("link check: {e}")),
            _ => out.push("waiting for the link check".to_owned()),
        }
    }
    if let Some(s) = &f.spam_check {
        match checks.network(m, Kind::Spam).as_deref() {
            Some(Done::Spam(report)) => out.extend(spam_failures(s, report, vars)),
            Some(Done::Failed(e)) => out.push(format!("spam check: {e}")),
            _ => out.push("waiting for the spam check".to_owned()),
        }
    }
    out
}

fn html_failures(h: &HtmlCheckFields, m: &Message, vars: &Vars, checks: &Checks) -> Vec<String> {
    let html = match m.content() {
        Ok(c) => c.parsed.html.clone(),
        Err(e) => return vec![format!("cannot read the message: {e}")],
    };
    let Some(html) = html.filter(|h| !h.trim().is_empty()) else {
        return vec!["html check: the message has no HTML part".to_owned()];
    };
    let report = checks.html(m, &html);
    let t = report.total;
    let features: Vec<String> = report.warnings.iter().map(|w| w.slug.clone()).collect();
    let conditions = [
        (
            &h.supported,
            "html check supported %",
            Target::Decimal(f64::from(t.supported)),
        ),
        (
            &h.partial,
            "html check partial %",
            Target::Decimal(f64::from(t.partial)),
        ),
        (
            &h.unsupported,
            "html check unsupported %",
            Target::Decimal(f64::from(t.unsupported)),
        ),
        (
            &h.features,
            "html check features",
            Target::List(&features, false),
        ),
    ];
    conditions
        .into_iter()
        .filter_map(|(c, what, target)| c.as_ref()?.eval(what, target, vars).err())
        .collect()
}

fn link_failures(l: &LinkCheckFields, report: &links::Report, vars: &Vars) -> Vec<String> {
    let broken: Vec<String> = report
        .links
        .iter()
        .filter(|x| x.status_code == 0 || x.status_code >= 400)
        .map(|x| x.url.clone())
        .collect();
    let Some(Err(why)) = l
        .broken
        .as_ref()
        .map(|c| c.eval("broken links", Target::List(&broken, false), vars))
    else {
        return Vec::new();
    };
    // Say what each broken link answered, so the report needs no second run.
    let answers: Vec<String> = report
        .links
        .iter()
        .filter(|x| broken.contains(&x.url))
        .map(|x| format!("{} ({} {})", x.url, x.status_code, x.status))
        .collect();
    vec![format!("{why}: {}", answers.join(", "))]
}

fn spam_failures(s: &SpamCheckFields, report: &spam::Report, vars: &Vars) -> Vec<String> {
    if !report.error.is_empty() {
        return vec![format!("spam check: {}", report.error)];
    }
    let rules: Vec<String> = report
        .rules
        .iter()
        .flatten()
        .map(|r| r.name.clone())
        .collect();
    let mut out: Vec<String> = [
        (&s.score, "spam score", Target::Decimal(report.score)),
        (&s.rules, "spam rules", Target::List(&rules, false)),
    ]
    .into_iter()
    .filter_map(|(c, what, target)| c.as_ref()?.eval(what, target, vars).err())
    .collect();
    if s.is_spam.is_some_and(|want| want != report.is_spam) {
        let is = if report.is_spam { "is" } else { "is not" };
        out.push(format!(
            "{is} spam (score {:.1}; rules {})",
            report.score,
            rules.join(", ")
        ));
    }
    out
}
