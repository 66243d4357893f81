//! Celery systems: how a catalog's events become Celery task messages (a catalog folder's
//! `celery.yaml`), the messages themselves (protocol v2, as Celery 5 writes them), and the
//! task states a worker leaves in Celery's Redis result backend.

pub mod message;
pub mod poison;
pub mod results;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// A catalog folder's `celery.yaml`: which task each event type is enqueued as.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeleryFormat {
    /// The queue tasks go to unless their own says otherwise (Celery's default: `celery`).
    #[serde(default = "default_queue")]
    pub queue: String,
    /// The AMQP exchange tasks are published to unless their own says otherwise; none: the
    /// default exchange, which routes by queue name. Kafka has no exchanges: a task goes to
    /// the topic named after its queue either way.
    pub exchange: Option<String>,
    /// By event type.
    pub tasks: IndexMap<String, Task>,
    /// The tasks' `origin` header, found once when the file is read, not per task.
    #[serde(skip, default = "message::origin")]
    pub origin: String,
}

/// One event type's task: its registered name and where its arguments come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// The name the worker registered it under: `app.tasks.send_welcome_email_task`.
    pub task: String,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub kwargs: IndexMap<String, Arg>,
    pub queue: Option<String>,
    /// The AMQP exchange, over the file's.
    pub exchange: Option<String>,
    /// The AMQP routing key (default: the queue's name).
    pub routing_key: Option<String>,
}

/// An argument: a dotted path into the event (`recipient.email`, `data.order_id`), or a
/// fixed value (`{value: 3}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Arg {
    Path(String),
    Fixed { value: Value },
}

fn default_queue() -> String {
    "celery".to_owned()
}

impl CeleryFormat {
    /// The task for events of type `ty`, if the type is enqueued as one.
    pub fn task(&self, ty: &str) -> Option<&Task> {
        self.tasks.get(ty)
    }

    /// The queue of `task`.
    pub fn queue_of<'a>(&'a self, task: &'a Task) -> &'a str {
        task.queue.as_deref().unwrap_or(&self.queue)
    }

    /// Where `task` is published over AMQP: exchange (empty: the default one) and routing
    /// key.
    pub fn route_of(&self, task: &Task) -> (String, String) {
        let exchange = task.exchange.as_ref().or(self.exchange.as_ref());
        let key = task.routing_key.as_deref().unwrap_or(self.queue_of(task));
        (exchange.cloned().unwrap_or_default(), key.to_owned())
    }

    /// Paths that name nothing an event of its type has, as `type: path` (for `load`'s
    /// check against the type's schema fields).
    pub fn unknown_paths(&self, ty: &str, fields: &[String]) -> Vec<String> {
        let Some(task) = self.tasks.get(ty) else {
            return Vec::new();
        };
        let paths = task.args.iter().chain(task.kwargs.values());
        paths
            .filter_map(|a| match a {
                Arg::Path(p) if !known_path(p, fields) => Some(format!("{ty}: `{p}`")),
                _ => None,
            })
            .collect()
    }
}

/// Whether `path` is an envelope field, the recipient's, or under one of the `data` fields.
fn known_path(path: &str, fields: &[String]) -> bool {
    const ENVELOPE: &[&str] = &[
        "event_id",
        "event_type",
        "occurred_at",
        "schema_version",
        "locale",
        "recipient",
        "recipient.email",
        "recipient.name",
        "data",
    ];
    if ENVELOPE.contains(&path) {
        return true;
    }
    let Some(rest) = path.strip_prefix("data.") else {
        return false;
    };
    let top = rest.split('.').next().unwrap_or_default();
    fields.iter().any(|f| f == top)
}

/// A Kafka record's value read as a Celery task, when it is one (kombu's envelope with a
/// `task` header): name, id, queue, the decoded arguments and the scheduling headers.
pub fn decode_task(value: &Value) -> Option<Value> {
    use base64::Engine;
    let headers = value.get("headers")?;
    let task = headers.get("task")?.as_str()?;
    let body = value.get("body")?.as_str()?;
    let props = value.get("properties");
    let base64 = props
        .and_then(|p| p.get("body_encoding"))
        .and_then(Value::as_str)
        == Some("base64");
    let bytes = if base64 {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()?
    } else {
        body.as_bytes().to_vec()
    };
    let decoded: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let queue = props
        .and_then(|p| p.pointer("/delivery_info/routing_key"))
        .cloned();
    Some(serde_json::json!({
        "task": task,
        "id": headers.get("id"),
        "queue": queue,
        "args": decoded.get(0),
        "kwargs": decoded.get(1),
        "eta": headers.get("eta"),
        "expires": headers.get("expires"),
        "retries": headers.get("retries"),
    }))
}

/// Tasks sent: each one's id and when the producer took it.
pub type Sent = std::sync::Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>>;

/// `messages`, with the id of each Celery task among them noted in `sent` as it is taken.
pub fn noting_tasks(
    messages: Box<dyn Iterator<Item = crate::record::Outgoing> + Send>,
    sent: Sent,
) -> Box<dyn Iterator<Item = crate::record::Outgoing> + Send> {
    Box::new(messages.inspect(move |m| {
        let value: Value = serde_json::from_slice(&m.payload).unwrap_or_default();
        if let Some(id) = value["headers"]["id"].as_str() {
            let mut sent = sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sent.push((id.to_owned(), std::time::Instant::now()));
        }
    }))
}

/// The value at a dotted `path` in `event`; `null` where there is none.
pub fn at_path(event: &Value, path: &str) -> Value {
    path.split('.')
        .try_fold(event, |v, part| v.get(part))
        .cloned()
        .unwrap_or(Value::Null)
}
