//! `verify`: declarative expectations checked against captured mail. The run loop evaluates
//! every expectation on the mail seen so far and, against a live sink, waits on the sink's
//! server-side wait for more until all are settled or the time is up.

pub mod celery;
pub mod check;
pub mod checks;
pub mod eval;
mod fields;
pub mod golden;
pub mod kafka;
pub mod message;
pub mod report;
pub mod source;
pub mod spec;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

pub use eval::Verdict;
pub use source::{Source, SourceError};
pub use spec::{Spec, SpecError};

use check::Vars;
use eval::{Context, GoldenCheck};

/// How often task states are read again while a task is still running.
const TASK_POLL: Duration = Duration::from_millis(100);

/// How long verify waits when the file does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub passed: bool,
    pub verdicts: Vec<Verdict>,
    /// Every value extracted, for the calling script.
    pub extracted: BTreeMap<String, String>,
    pub elapsed_ms: u64,
    /// How many messages were looked at.
    pub messages: usize,
}

/// Runs `spec` against `source`; `vars` overrides the file's vars (`--var`).
pub async fn run(
    spec: &Spec,
    source: &mut Source,
    vars: &BTreeMap<String, String>,
    golden: GoldenCheck<'_>,
    checks: &checks::Checks,
) -> Result<Report, SourceError> {
    let started = Instant::now();
    let deadline = started + spec.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let live = source.live();
    loop {
        let now = Instant::now();
        let window_open =
            |e: &spec::Expectation| live && e.within.map_or(now < deadline, |w| now < started + w);
        let mut values: BTreeMap<String, String> = spec
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        values.extend(vars.clone());
        let mut filled = Vars::new(values);
        let ctx = Context {
            mailbox: spec.mailbox.as_deref(),
            golden,
            checks,
            window_open: &window_open,
        };
        let mut verdicts = eval::evaluate_all(&spec.expect, source.messages(), &mut filled, &ctx);
        // Conditions waiting on link or spam checks are settled before anything is final.
        if checks.pending() {
            checks.run_pending(source.messages()).await;
            continue;
        }
        // Task states live in Redis, not in the mail source: while they may still change,
        // they are read again shortly.
        let mut polling = false;
        if let Some(c) = &spec.celery {
            let tasks = checks
                .celery(c, source.messages(), live && now < deadline)
                .await?;
            polling = tasks.open;
            verdicts.push(tasks);
        }
        let open = verdicts.iter().any(|v| v.open);
        if !open || now >= deadline {
            return Ok(finish(verdicts, started, source.messages().len()));
        }
        let until = wake_at(spec, started, now, deadline, polling);
        source.wait(until).await?;
    }
}

/// The report of a finished run.
fn finish(verdicts: Vec<Verdict>, started: Instant, messages: usize) -> Report {
    let extracted = verdicts.iter().flat_map(|v| v.extracted.clone()).collect();
    Report {
        passed: verdicts.iter().all(|v| v.passed),
        verdicts,
        extracted,
        elapsed_ms: started.elapsed().as_millis() as u64,
        messages,
    }
}

/// When to look again: on new mail, when the next `within` window closes, at the deadline,
/// or soon while task states are `polling`.
fn wake_at(
    spec: &Spec,
    started: Instant,
    now: Instant,
    deadline: Instant,
    polling: bool,
) -> Instant {
    let next_window = spec
        .expect
        .iter()
        .filter_map(|e| e.within.map(|w| started + w))
        .filter(|&end| end > now)
        .min();
    let until = next_window.map_or(deadline, |w| w.min(deadline));
    if polling {
        until.min(now + TASK_POLL)
    } else {
        until
    }
}
