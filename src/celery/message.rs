//! Celery task messages, protocol v2, as Celery 5's `app.amqp.as_task_v2` writes them:
//! the headers a worker reads (`task`, `id`, `root_id`, `timelimit` as `[hard, soft]`, ...),
//! the body `[args, kwargs, embed]`, and for Kafka, kombu's virtual-transport envelope
//! around them (the body in base64, `delivery_tag` set: a worker dies without one), as
//! kombu's `confluentkafka://` transport writes it to the topic named after the queue.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{Arg, CeleryFormat, Task, at_path};

/// One task to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    /// The task id (a string, or the worker stores no result): the event's id.
    pub id: String,
    pub task: String,
    pub queue: String,
    /// The AMQP exchange (empty: the default one, which routes by queue name) and routing
    /// key, kept in kombu's `delivery_info`.
    pub exchange: String,
    pub routing_key: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    /// Who sent it, as Celery names senders (`gen<pid>@<host>`).
    pub origin: String,
}

impl TaskMessage {
    /// The task `format` enqueues for `event` (mailtest's envelope), if its type has one.
    pub fn for_event(format: &CeleryFormat, event: &Value) -> Option<Self> {
        let ty = event.get("event_type")?.as_str()?;
        let task: &Task = format.task(ty)?;
        let value = |arg: &Arg| match arg {
            Arg::Path(path) => at_path(event, path),
            Arg::Fixed { value } => value.clone(),
        };
        let id = event
            .get("event_id")
            .and_then(Value::as_str)
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let (exchange, routing_key) = format.route_of(task);
        Some(Self {
            id,
            task: task.task.clone(),
            queue: format.queue_of(task).to_owned(),
            exchange,
            routing_key,
            args: task.args.iter().map(value).collect(),
            kwargs: task
                .kwargs
                .iter()
                .map(|(k, a)| (k.clone(), value(a)))
                .collect(),
            origin: format.origin.clone(),
        })
    }

    /// The headers, in Celery's order, with its defaults.
    pub fn headers(&self) -> Value {
        json!({
            "lang": "py",
            "task": self.task,
            "id": self.id,
            "shadow": null,
            "eta": null,
            "expires": null,
            "group": null,
            "group_index": null,
            "retries": 0,
            "timelimit": [null, null],
            "root_id": self.id,
            "parent_id": null,
            "argsrepr": repr_tuple(&self.args),
            "kwargsrepr": repr(&Value::Object(self.kwargs.clone())),
            "origin": self.origin,
            "ignore_result": false,
            "replaced_task_nesting": 0,
            "stamped_headers": null,
            "stamps": {},
        })
    }

    /// The body: `[args, kwargs, embed]`, JSON as kombu's serializer writes it.
    pub fn body(&self) -> Vec<u8> {
        let embed = json!({"callbacks": null, "errbacks": null, "chain": null, "chord": null});
        let body = json!([self.args, self.kwargs, embed]);
        serde_json::to_vec(&body).expect("JSON values serialize")
    }

    /// The Kafka record's value: kombu's envelope, as its `confluentkafka` transport writes
    /// it (no key, no Kafka headers), for the topic named after the queue.
    pub fn kafka_value(&self) -> Vec<u8> {
        let body = base64::engine::general_purpose::STANDARD.encode(self.body());
        let envelope = json!({
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": self.headers(),
            "properties": {
                "correlation_id": self.id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": self.exchange, "routing_key": self.routing_key},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": uuid::Uuid::new_v4().to_string(),
            },
        });
        serde_json::to_vec(&envelope).expect("JSON values serialize")
    }
}

/// Where tasks come from, as Celery names its senders (`gen<pid>@<host>`).
pub(super) fn origin() -> String {
    let host = hostname();
    format!("gen{}@{host}", std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The arguments as Python shows a tuple: `('a', 1)`, `('a',)`.
fn repr_tuple(args: &[Value]) -> String {
    let items: Vec<String> = args.iter().map(repr).collect();
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}

/// A JSON value as Python's `repr` writes the value it decodes to (Celery's `argsrepr`).
fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => repr_str(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", repr_str(k), repr(v)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
    }
}

/// Python's string repr: single quotes unless the text has one and no double quote.
fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> CeleryFormat {
        serde_norway::from_str(
            "tasks:\n  welcome:\n    task: app.tasks.send_welcome_email_task\n    \
             args: [recipient.email, data.username]\n    kwargs: {link: data.dashboard_link, tries: {value: 3}}\n",
        )
        .unwrap()
    }

    #[test]
    fn an_event_becomes_its_types_task_with_arguments_from_paths() {
        let event = json!({"event_id": "e-1", "event_type": "welcome",
            "recipient": {"email": "ann@example.com", "name": "Ann"},
            "data": {"username": "ann", "dashboard_link": "https://app.example/d"}});
        let t = TaskMessage::for_event(&format(), &event).unwrap();
        assert_eq!((t.id.as_str(), t.queue.as_str()), ("e-1", "celery"));
        assert_eq!(t.args, [json!("ann@example.com"), json!("ann")]);
        assert_eq!(t.kwargs["tries"], 3);
        let headers = t.headers();
        assert_eq!(headers["task"], "app.tasks.send_welcome_email_task");
        assert_eq!(
            (headers["id"].as_str(), headers["root_id"].as_str()),
            (Some("e-1"), Some("e-1"))
        );
        assert_eq!(headers["argsrepr"], "('ann@example.com', 'ann')");
        assert_eq!(
            headers["kwargsrepr"],
            "{'link': 'https://app.example/d', 'tries': 3}"
        );
        let body: Value = serde_json::from_slice(&t.body()).unwrap();
        assert_eq!(body.as_array().unwrap().len(), 3, "[args, kwargs, embed]");
        let other = json!({"event_type": "password_reset"});
        assert!(TaskMessage::for_event(&format(), &other).is_none());
    }

    #[test]
    fn the_kafka_value_is_kombus_envelope_with_a_base64_body() {
        let event =
            json!({"event_id": "e-2", "event_type": "welcome", "recipient": {}, "data": {}});
        let t = TaskMessage::for_event(&format(), &event).unwrap();
        let v: Value = serde_json::from_slice(&t.kafka_value()).unwrap();
        let props = &v["properties"];
        assert_eq!(props["body_encoding"], "base64");
        assert!(
            props["delivery_tag"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert_eq!(props["delivery_info"]["routing_key"], "celery");
        let body = base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().unwrap())
            .unwrap();
        assert_eq!(body, t.body());
        assert_eq!(v["headers"]["argsrepr"], "(None, None)");
    }

    #[test]
    fn reprs_read_as_python_writes_them() {
        assert_eq!(repr_tuple(&[json!("x")]), "('x',)");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a'b\"c\n"), "'a\\'b\"c\\n'");
        assert_eq!(
            repr(&json!([true, null, 1.5, {"k": []}])),
            "[True, None, 1.5, {'k': []}]"
        );
    }
}
