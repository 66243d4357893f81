//! `produce --poison`: the robustness cases, one at a time, each followed by a canary task,
//! and what the worker did with each: the state it stored for the malformed task (or none)
//! and whether it still answered the canary. Cases run in turn so a worker that dies is
//! pinned on the case that killed it; the cases after that are not sent, since a dead
//! worker can say nothing about them.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::celery::poison::{Case, canary};
use crate::celery::results::{ResultsError, Watch, error_text};
use crate::record::Outgoing;

/// How long a malformed task's result may trail its canary's (a worker with several
/// processes can finish the canary first).
const GRACE: Duration = Duration::from_secs(1);

/// Every case sent shares one key, so on Kafka they and their canaries share a partition
/// and reach the worker in the order sent.
const KEY: &[u8] = b"mailtest-robustness";

/// What the worker did with one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub case: &'static str,
    pub what: &'static str,
    /// The malformed task's id, when it has one a result can be stored under.
    pub id: Option<String>,
    /// The state the worker stored for it; `None`: no result.
    pub state: Option<String>,
    /// The error it stored with a failure.
    pub error: String,
    pub worker: Fate,
}

/// Whether the worker took tasks after the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// It ran the canary sent after the case.
    Answered,
    /// No result for the canary within the timeout: dead, hung, or stuck on the case.
    StoppedAnswering,
    /// Not sent: the worker had stopped answering at an earlier case.
    NotReached,
}

/// One case on its way: the malformed task and the canary after it.
pub struct Step {
    report: CaseReport,
    poison: Value,
    canary: (String, Vec<u8>),
    queue: String,
}

impl Step {
    /// `case` made from `good` (a task's envelope, as the plan makes it, for `queue`).
    pub fn new(case: Case, good: &Value, queue: &str) -> Self {
        let (poison, id) = case.apply(good);
        let origin = good["headers"]["origin"].as_str().unwrap_or_default();
        Self {
            report: CaseReport {
                case: case.name(),
                what: case.what(),
                id,
                state: None,
                error: String::new(),
                worker: Fate::NotReached,
            },
            poison,
            canary: canary(queue, origin),
            queue: queue.to_owned(),
        }
    }

    /// The two messages to send, in order.
    pub fn messages(&self) -> Vec<Outgoing> {
        let poison = serde_json::to_vec(&self.poison).unwrap_or_default();
        [poison, self.canary.1.clone()]
            .into_iter()
            .map(|payload| Outgoing {
                topic: self.queue.clone(),
                key: Some(KEY.to_vec()),
                headers: Vec::new(),
                payload,
            })
            .collect()
    }

    /// Once sent: waits up to `timeout` for the canary's result at `watch`, then reads the
    /// malformed task's.
    pub async fn observe(
        mut self,
        watch: &Watch,
        timeout: Duration,
    ) -> Result<CaseReport, ResultsError> {
        let answered = watch
            .until_final(&[&self.canary.0], Instant::now() + timeout)
            .await;
        self.report.worker = if answered {
            Fate::Answered
        } else {
            Fate::StoppedAnswering
        };
        if let Some(id) = &self.report.id {
            watch.until_final(&[id], Instant::now() + GRACE).await;
            if let Some(state) = watch.state_of(id).await? {
                self.report.error = error_text(&state.result);
                self.report.state = Some(state.status);
            }
        }
        Ok(self.report)
    }

    /// Not sent: an earlier case stopped the worker.
    pub fn not_reached(self) -> CaseReport {
        self.report
    }
}
