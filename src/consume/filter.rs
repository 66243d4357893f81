//! Which messages a read shows: by event type, recipient and header values.

use serde_json::Value;

use crate::record::Received;

/// Which messages to keep: by event type, recipient and header values.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub types: Vec<String>,
    /// Celery task names (a message that is no task never matches).
    pub tasks: Vec<String>,
    pub to: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Filter {
    /// Whether deciding needs the payload parsed (headers and key alone do not).
    pub fn needs_payload(&self) -> bool {
        !self.types.is_empty() || self.to.is_some() || !self.tasks.is_empty()
    }

    /// Whether a Celery task named `task` (`None`: not a task) passes the task names.
    pub fn task_matches(&self, task: Option<&str>) -> bool {
        self.tasks.is_empty() || task.is_some_and(|t| self.tasks.iter().any(|w| w == t))
    }

    pub fn matches(&self, msg: &Received, payload: Option<&Value>) -> bool {
        let field = |path: &str| {
            payload
                .and_then(|p| p.pointer(path))
                .and_then(Value::as_str)
        };
        if !self.types.is_empty() {
            let header = msg.header("event_type").map(String::from_utf8_lossy);
            let ty = header.as_deref().or_else(|| field("/event_type"));
            if !ty.is_some_and(|t| self.types.iter().any(|w| w == t)) {
                return false;
            }
        }
        if let Some(to) = &self.to {
            let email = field("/recipient/email").map(str::to_owned).or_else(|| {
                msg.key
                    .as_deref()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
            });
            if !email.is_some_and(|e| e.eq_ignore_ascii_case(to)) {
                return false;
            }
        }
        self.headers
            .iter()
            .all(|(k, v)| msg.header(k).is_some_and(|h| h == v.as_bytes()))
    }
}
