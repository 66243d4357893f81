//! Task states from Celery's Redis result backend: the worker writes
//! `celery-task-meta-<id>` (`status`, `result`, `traceback`, `date_done`) and publishes the
//! same JSON on a channel of that name. A watch subscribes before any task is sent, so no
//! result can land unseen between sending and reading; keys are read once more at the end
//! for results the subscription missed. A task with no result by then is `PENDING`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exit_code::ErrorKind;

const KEY_PREFIX: &str = "celery-task-meta-";

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot reach the Celery result backend at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("`{url}` is not a Redis URL: {reason}")]
    BadUrl { url: String, reason: String },
}

impl ResultsError {
    fn unreachable(url: &str, reason: String) -> Self {
        Self::Unreachable {
            url: url.to_owned(),
            reason,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::Unavailable,
            Self::BadUrl { .. } => ErrorKind::BadInput,
        }
    }
}

/// What the worker stored for a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub status: String,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub traceback: Option<String>,
    #[serde(default)]
    pub date_done: Option<String>,
}

impl TaskState {
    /// Whether the task is done for good (it will not run again).
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "SUCCESS" | "FAILURE" | "REVOKED")
    }
}

/// A client for the backend at `url` (it connects when used).
fn client(url: &str) -> Result<redis::Client, ResultsError> {
    redis::Client::open(url).map_err(|e| ResultsError::BadUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// States seen so far, by task id, with when each arrived.
type Seen = Arc<Mutex<HashMap<String, (TaskState, Instant)>>>;

/// A subscription to every task's results at one backend.
pub struct Watch {
    client: redis::Client,
    url: String,
    seen: Seen,
    /// Told of each state that arrives.
    arrived: Arc<tokio::sync::Notify>,
    reader: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// Subscribes at `url` (`redis://host:port/db`), waiting at most `timeout` to connect.
    pub async fn start(url: &str, timeout: Duration) -> Result<Self, ResultsError> {
        let client = client(url)?;
        let unreachable = |reason: String| ResultsError::unreachable(url, reason);
        let connect = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(format!("{KEY_PREFIX}*")).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| unreachable(format!("no answer in {}s", timeout.as_secs())))?
            .map_err(|e| unreachable(e.to_string()))?;
        let seen: Seen = Arc::default();
        let arrived = Arc::new(tokio::sync::Notify::new());
        let (into, tell) = (seen.clone(), arrived.clone());
        let reader = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                let id = msg
                    .get_channel_name()
                    .trim_start_matches(KEY_PREFIX)
                    .to_owned();
                if let Ok(state) = serde_json::from_slice::<TaskState>(msg.get_payload_bytes()) {
                    let mut seen = into
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    seen.insert(id, (state, Instant::now()));
                    tell.notify_one();
                }
            }
        });
        Ok(Self {
            client,
            url: url.to_owned(),
            seen,
            arrived,
            reader,
        })
    }

    /// Waits until every task in `ids` has a final state, or until `deadline`; whether
    /// they all did.
    pub async fn until_final(&self, ids: &[&str], deadline: Instant) -> bool {
        let done = || {
            let seen = self.seen();
            ids.iter()
                .all(|id| seen.get(*id).is_some_and(|(s, _)| s.is_final()))
        };
        let until = tokio::time::Instant::from_std(deadline);
        while !done() {
            if tokio::time::timeout_at(until, self.arrived.notified())
                .await
                .is_err()
            {
                return done();
            }
        }
        true
    }

    /// The last state of task `id`: seen, else stored; `None` when it has none.
    pub async fn state_of(&self, id: &str) -> Result<Option<TaskState>, ResultsError> {
        if let Some((state, _)) = self.seen().get(id) {
            return Ok(Some(state.clone()));
        }
        let stored = self.read_keys(&[id]).await?;
        Ok(stored.into_iter().next().map(|(_, s)| s))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, (TaskState, Instant)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until every task in `sent` (id and when it was sent) has a final state, or
    /// until `deadline`; then reads the stored state of those without one.
    pub async fn wait(
        self,
        sent: &[(String, Instant)],
        deadline: Instant,
    ) -> Result<Outcomes, ResultsError> {
        let ids: Vec<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
        self.until_final(&ids, deadline).await;
        self.reader.abort();
        let mut seen = std::mem::take(&mut *self.seen());
        let missing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !seen.get(*id).is_some_and(|(s, _)| s.is_final()))
            .collect();
        for (id, state) in self.read_keys(&missing).await? {
            seen.insert(id, (state, Instant::now()));
        }
        Ok(Outcomes::new(sent, &seen))
    }

    /// The stored states of `ids` (absent keys are left out).
    async fn read_keys(&self, ids: &[&str]) -> Result<Vec<(String, TaskState)>, ResultsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let unreachable =
            |e: redis::RedisError| ResultsError::unreachable(&self.url, e.to_string());
        let mut con = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(unreachable)?;
        let keys: Vec<String> = ids.iter().map(|id| format!("{KEY_PREFIX}{id}")).collect();
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut con)
            .await
            .map_err(unreachable)?;
        Ok(ids
            .iter()
            .zip(values)
            .filter_map(|(id, v)| Some(((*id).to_owned(), serde_json::from_slice(&v?).ok()?)))
            .collect())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// How the tasks ended: counts by state and result latencies.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcomes {
    /// Tasks by last state seen (`PENDING`: none).
    pub states: BTreeMap<String, u64>,
    /// Final states only, from sending to the result.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Tasks that did not succeed: id, state, and the error the worker stored.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub id: String,
    pub state: String,
    pub error: String,
}

impl Outcomes {
    fn new(sent: &[(String, Instant)], seen: &HashMap<String, (TaskState, Instant)>) -> Self {
        let mut out = Self::default();
        let mut latencies = Vec::new();
        for (id, at) in sent {
            let state = seen.get(id);
            let status = state.map_or("PENDING", |(s, _)| s.status.as_str());
            *out.states.entry(status.to_owned()).or_default() += 1;
            if let Some((s, when)) = state.filter(|(s, _)| s.is_final()) {
                latencies.push(when.saturating_duration_since(*at).as_secs_f64() * 1000.0);
                if s.status == "SUCCESS" {
                    continue;
                }
            }
            out.problems.push(Problem {
                id: id.clone(),
                state: status.to_owned(),
                error: state
                    .map(|(s, _)| error_text(&s.result))
                    .unwrap_or_default(),
            });
        }
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        out.latency_p50_ms = at(0.5).unwrap_or_default();
        out.latency_p99_ms = at(0.99).unwrap_or_default();
        out
    }

    /// Every task succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Every task state stored at `url`, by task id (`SCAN` then `MGET`, a batch at a time).
pub async fn all_states(
    url: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, TaskState>, ResultsError> {
    let client = client(url)?;
    let unreachable = |reason: String| ResultsError::unreachable(url, reason);
    let read = async {
        let mut con = client.get_multiplexed_async_connection().await?;
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{KEY_PREFIX}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut states = BTreeMap::new();
        for chunk in keys.chunks(500) {
            let values: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(chunk).query_async(&mut con).await?;
            for (key, value) in chunk.iter().zip(values) {
                if let Some(state) =
                    value.and_then(|v| serde_json::from_slice::<TaskState>(&v).ok())
                {
                    states.insert(key.trim_start_matches(KEY_PREFIX).to_owned(), state);
                }
            }
        }
        Ok::<_, redis::RedisError>(states)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| unreachable(format!("no answer in {}s", timeout.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))
}

/// A stored exception (`{"exc_type", "exc_message"}`) as `TypeError: ...`.
pub fn error_text(result: &Value) -> String {
    let Some(kind) = result.get("exc_type").and_then(Value::as_str) else {
        return String::new();
    };
    let message = match result.get("exc_message") {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    format!("{kind}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_states_and_name_what_failed() {
        let now = Instant::now();
        let sent: Vec<(String, Instant)> = ["a", "b", "c"]
            .iter()
            .map(|i| ((*i).to_owned(), now))
            .collect();
        let state = |status: &str, result: Value| TaskState {
            status: status.to_owned(),
            result,
            traceback: None,
            date_done: None,
        };
        let mut seen = HashMap::new();
        seen.insert(
            "a".to_owned(),
            (
                state("SUCCESS", Value::Null),
                now + Duration::from_millis(40),
            ),
        );
        let failure = serde_json::json!({"exc_type": "TypeError", "exc_message": ["missing 'y'"]});
        seen.insert(
            "b".to_owned(),
            (state("FAILURE", failure), now + Duration::from_millis(80)),
        );
        let o = Outcomes::new(&sent, &seen);
        assert_eq!(
            o.states["SUCCESS"] + o.states["FAILURE"] + o.states["PENDING"],
            3
        );
        assert!(!o.all_succeeded());
        let errors: Vec<(&str, &str)> = o
            .problems
            .iter()
            .map(|p| (p.state.as_str(), p.error.as_str()))
            .collect();
        assert_eq!(
            errors,
            [("FAILURE", "TypeError: missing 'y'"), ("PENDING", "")]
        );
        assert!((o.latency_p50_ms - 40.0).abs() < 1.0 || (o.latency_p50_ms - 80.0).abs() < 1.0);
    }
}
