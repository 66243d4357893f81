//! Robustness cases: deliberately malformed Celery task messages, each labelled, made from
//! one good task of the catalog (kombu's envelope, as the plan makes it), so a team can see
//! what its workers do with them. Which shapes kill a Celery 5.7 worker and which it
//! survives was found by running one; the cases are those shapes. A canary task (Celery's
//! built-in `celery.accumulate`, registered in every app, with no side effects) follows
//! each case: its result says whether the worker is still taking tasks.

use base64::Engine;
use serde_json::{Value, json};

use super::message::TaskMessage;

/// One malformed shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    UnknownTask,
    WrongArity,
    Expired,
    FarFutureEta,
    NoTaskHeader,
    BadJson,
    IntegerId,
    TwoElementBody,
    NoContentType,
    NoId,
    NoDeliveryTag,
}

impl Case {
    /// Every case, those a Celery 5.7 worker survives first: a case that stops the worker
    /// leaves the ones after it unsent.
    pub const ALL: [Self; 11] = [
        Self::UnknownTask,
        Self::WrongArity,
        Self::Expired,
        Self::FarFutureEta,
        Self::NoTaskHeader,
        Self::BadJson,
        Self::IntegerId,
        Self::TwoElementBody,
        Self::NoContentType,
        Self::NoId,
        Self::NoDeliveryTag,
    ];

    /// Its label, as `--poison` takes it and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadJson => "bad-json",
            Self::NoContentType => "no-content-type",
            Self::TwoElementBody => "two-element-body",
            Self::NoId => "no-id",
            Self::IntegerId => "integer-id",
            Self::NoTaskHeader => "no-task-header",
            Self::UnknownTask => "unknown-task",
            Self::WrongArity => "wrong-arity",
            Self::Expired => "expired",
            Self::FarFutureEta => "far-future-eta",
            Self::NoDeliveryTag => "no-delivery-tag",
        }
    }

    /// What is wrong with the message.
    pub fn what(self) -> &'static str {
        match self {
            Self::BadJson => "the body is not JSON, though its content type says it is",
            Self::NoContentType => "no content type",
            Self::TwoElementBody => "the body is [args, kwargs], without the third element",
            Self::NoId => "no `id` header",
            Self::IntegerId => "the `id` header is a number, not a string",
            Self::NoTaskHeader => "no `task` header",
            Self::UnknownTask => "a task name no worker registered",
            Self::WrongArity => "one positional argument more than the task takes",
            Self::Expired => "`expires` an hour ago",
            Self::FarFutureEta => "`eta` a year from now",
            Self::NoDeliveryTag => "no `delivery_tag` in kombu's Kafka envelope",
        }
    }

    /// The case of label `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether the case exists only on Kafka: over AMQP the broker sets delivery tags.
    pub fn kafka_only(self) -> bool {
        self == Self::NoDeliveryTag
    }

    /// The malformed envelope made from `good` (a task's envelope) and the id the task
    /// carries, if it carries one a result can be stored under.
    pub fn apply(self, good: &Value) -> (Value, Option<String>) {
        let mut v = good.clone();
        let id = uuid::Uuid::new_v4().to_string();
        set_id(&mut v, &id);
        let now = chrono::Utc::now();
        match self {
            Self::BadJson => set_body(&mut v, b"[[\"unterminated\", {}, {}"),
            Self::NoContentType => drop(remove(&mut v, "content-type")),
            Self::TwoElementBody => {
                let body = body(&v);
                set_body(&mut v, json!([body[0], body[1]]).to_string().as_bytes());
            }
            Self::NoId => {
                drop(remove(&mut v["headers"], "id"));
                return (v, None);
            }
            Self::IntegerId => {
                let n = u64::from(uuid::Uuid::new_v4().as_fields().0);
                v["headers"]["id"] = json!(n);
                v["headers"]["root_id"] = json!(n);
                return (v, Some(n.to_string()));
            }
            Self::NoTaskHeader => drop(remove(&mut v["headers"], "task")),
            Self::UnknownTask => v["headers"]["task"] = json!("mailtest.robustness.no_such_task"),
            Self::WrongArity => {
                let mut body = body(&v);
                if let Some(args) = body[0].as_array_mut() {
                    args.push(json!("mailtest: one argument too many"));
                }
                set_body(&mut v, body.to_string().as_bytes());
            }
            Self::Expired => {
                let at = now - chrono::Duration::hours(1);
                v["headers"]["expires"] = json!(at.to_rfc3339());
            }
            Self::FarFutureEta => {
                let at = now + chrono::Duration::days(365);
                v["headers"]["eta"] = json!(at.to_rfc3339());
            }
            Self::NoDeliveryTag => drop(remove(&mut v["properties"], "delivery_tag")),
        }
        (v, Some(id))
    }
}

/// The canary sent after each case to `queue`: its id and envelope.
pub fn canary(queue: &str, origin: &str) -> (String, Vec<u8>) {
    let task = TaskMessage {
        id: uuid::Uuid::new_v4().to_string(),
        task: "celery.accumulate".to_owned(),
        queue: queue.to_owned(),
        // The default exchange reaches any queue by its name, whatever the team's routing.
        exchange: String::new(),
        routing_key: queue.to_owned(),
        args: vec![json!("mailtest canary")],
        kwargs: serde_json::Map::new(),
        origin: origin.to_owned(),
    };
    (task.id.clone(), task.kafka_value())
}

fn set_id(v: &mut Value, id: &str) {
    v["headers"]["id"] = json!(id);
    v["headers"]["root_id"] = json!(id);
    v["properties"]["correlation_id"] = json!(id);
}

fn remove(v: &mut Value, key: &str) -> Option<Value> {
    v.as_object_mut().and_then(|o| o.shift_remove(key))
}

/// The decoded body (`[args, kwargs, embed]`) of an envelope the plan made.
fn body(v: &Value) -> Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["body"].as_str().unwrap_or_default())
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_else(|_| json!([[], {}, {}]))
}

fn set_body(v: &mut Value, bytes: &[u8]) {
    v["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        let task = TaskMessage {
            id: "t-1".into(),
            task: "app.tasks.send_welcome_email_task".into(),
            queue: "celery".into(),
            exchange: String::new(),
            routing_key: "celery".into(),
            args: vec![json!("ann@example.com"), json!("ann")],
            kwargs: serde_json::Map::new(),
            origin: "gen1@host".into(),
        };
        serde_json::from_slice(&task.kafka_value()).unwrap()
    }

    #[test]
    fn each_case_breaks_one_thing_and_gets_a_fresh_id() {
        let good = good();
        for case in Case::ALL {
            assert_eq!(Case::parse(case.name()), Some(case));
            let (v, id) = case.apply(&good);
            assert_ne!(v, good, "{}", case.name());
            if let Some(id) = &id {
                assert_ne!(id, "t-1");
            }
        }
        let (v, _) = Case::TwoElementBody.apply(&good);
        assert_eq!(body(&v), json!([["ann@example.com", "ann"], {}]));
        let (v, _) = Case::WrongArity.apply(&good);
        assert_eq!(body(&v)[0].as_array().unwrap().len(), 3);
        let (v, id) = Case::NoId.apply(&good);
        assert!(v["headers"].get("id").is_none() && id.is_none());
        let (v, id) = Case::IntegerId.apply(&good);
        assert_eq!(v["headers"]["id"].to_string(), id.unwrap());
        let (v, _) = Case::NoContentType.apply(&good);
        assert!(v.get("content-type").is_none());
        let (v, _) = Case::BadJson.apply(&good);
        assert!(serde_json::from_value::<Value>(body(&v)).is_ok_and(|b| b == json!([[], {}, {}])));
    }
}
