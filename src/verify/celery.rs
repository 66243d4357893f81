//! The Celery part of an expectations file (`celery:`): the task states in Celery's Redis
//! result backend next to the mail. Every task ended in SUCCESS, and each task that
//! succeeded sent exactly one email, found by the task id header its worker adds.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::eval::Verdict;
use super::message::Message;
use super::spec::Count;
use crate::celery::results::TaskState;

/// What the task states must show.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CelerySpec {
    /// How many task results there must be (default: at least one).
    #[serde(default)]
    pub count: Count,
    /// Every task ended in SUCCESS (default true).
    #[serde(default = "yes")]
    pub all_succeeded: bool,
    /// Each task that succeeded sent exactly one email (default false).
    #[serde(default)]
    pub one_mail_each: bool,
    /// The header holding the task id in each email.
    #[serde(default = "task_header")]
    pub header: String,
}

fn yes() -> bool {
    true
}

fn task_header() -> String {
    "X-Celery-Task-Id".to_owned()
}

/// The verdict's name in reports.
pub const NAME: &str = "celery tasks";

/// The verdict on the tasks' `states` (by id) and the `messages` so far. It stays open
/// while a task is not done, or an expected email may still come, and `window_open`.
pub fn verdict(
    spec: &CelerySpec,
    states: &BTreeMap<String, TaskState>,
    messages: &[Message],
    window_open: bool,
) -> Verdict {
    let mut reasons = Vec::new();
    let mut waiting = false;
    let n = states.len();
    if n < spec.count.min() {
        reasons.push(format!("{n} task results, expected {}", spec.count));
        waiting = true;
    }
    if spec.count.max().is_some_and(|max| n > max) {
        reasons.push(format!("{n} task results, expected {}", spec.count));
    }
    let mails = if spec.one_mail_each {
        mails_by_task(&spec.header, messages)
    } else {
        HashMap::new()
    };
    for (id, state) in states {
        if spec.all_succeeded && state.status != "SUCCESS" {
            waiting |= !state.is_final();
            reasons.push(format!("task {id} {}{}", state.status, error(state)));
        }
        if spec.one_mail_each && state.status == "SUCCESS" {
            let sent = mails.get(id.as_str()).copied().unwrap_or(0);
            if sent != 1 {
                waiting |= sent == 0;
                reasons.push(format!(
                    "task {id} sent {sent} emails, not 1 (`{}`)",
                    spec.header
                ));
            }
        }
    }
    Verdict {
        name: NAME.to_owned(),
        passed: reasons.is_empty(),
        expected: spec.count.to_string(),
        matched: Vec::new(),
        found: Some(n),
        reasons,
        closest: Vec::new(),
        extracted: BTreeMap::new(),
        open: waiting && window_open,
    }
}

/// How many emails name each task id in `header`.
fn mails_by_task<'m>(header: &str, messages: &'m [Message]) -> HashMap<&'m str, usize> {
    let mut out = HashMap::new();
    for m in messages {
        let Ok(content) = m.content() else { continue };
        let found = content
            .parsed
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(header));
        if let Some((_, id)) = found {
            *out.entry(id.trim()).or_default() += 1;
        }
    }
    out
}

/// `: ValueError: ...` for a stored exception.
fn error(state: &TaskState) -> String {
    let text = crate::celery::results::error_text(&state.result);
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}
