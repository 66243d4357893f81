//! Mailpit's chaos (`GET/PUT /api/v1/chaos`, on with `--enable-chaos`) mapped onto the
//! sink's scripted faults: each trigger (`Sender`, `Recipient`, `Authentication`, with an
//! `ErrorCode` and a `Probability` in percent) becomes a fault rule on `MAIL`, `RCPT` or
//! `AUTH` that answers that code, drawn from the faults' seeded generator so a run can be
//! replayed. The rules show in the native `/api/v1/faults` as any others do.

use axum::body::Bytes;
use axum::extract::State as With;
use axum::response::Response;
use serde_json::{Value, json};

use super::{State, bad_request, field, json};
use crate::smtp::faults::{Action, FaultRules, Rule, When};

/// Mailpit's triggers: name, SMTP command, default code.
const TRIGGERS: [(&str, &str, u64); 3] = [
    ("Sender", "MAIL", 451),
    ("Recipient", "RCPT", 451),
    ("Authentication", "AUTH", 535),
];

/// Marks the replies of rules made from chaos triggers.
const MARK: &str = "Chaos triggered";

pub async fn get(With(state): With<State>) -> Response {
    if !state.settings.chaos {
        return bad_request("Chaos is not enabled");
    }
    json(&current(&state.faults.rules()))
}

pub async fn put(With(state): With<State>, body: Bytes) -> Response {
    if !state.settings.chaos {
        return bad_request("Chaos is not enabled");
    }
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return bad_request(e.to_string()),
        }
    };
    let mut rules = state.faults.rules();
    // The chaos rules come first (Mailpit's chaos acts before anything else), replaced.
    rules.rules.retain(|r| !is_chaos(r));
    let mut chaos = Vec::new();
    for (name, verb, default) in TRIGGERS {
        let trigger = field(&body, name);
        let number = |key: &str| trigger.and_then(|t| field(t, key)).and_then(Value::as_f64);
        let code = number("ErrorCode")
            .filter(|c| *c != 0.0)
            .unwrap_or(default as f64);
        let probability = number("Probability").unwrap_or(0.0);
        if !(400.0..=599.0).contains(&code) {
            return bad_request("error code must be between 400 and 599");
        }
        if !(0.0..=100.0).contains(&probability) {
            return bad_request("probability must be between 0 and 100");
        }
        if probability > 0.0 {
            chaos.push(rule(verb, code as u64, probability / 100.0));
        }
    }
    chaos.append(&mut rules.rules);
    let rules = FaultRules {
        seed: rules.seed,
        rules: chaos,
    };
    if let Err(e) = state.faults.set(rules) {
        return bad_request(e);
    }
    json(&current(&state.faults.rules()))
}

fn rule(verb: &str, code: u64, probability: f64) -> Rule {
    Rule {
        when: When {
            on: Some(verb.to_owned()),
            probability: Some(probability),
            ..When::default()
        },
        action: Action {
            reply: Some(format!("{code} {MARK}")),
            ..Action::default()
        },
    }
}

fn is_chaos(rule: &Rule) -> bool {
    rule.action
        .reply
        .as_deref()
        .is_some_and(|r| r.ends_with(MARK))
}

/// The triggers the rules in force make, as Mailpit shows them.
fn current(rules: &FaultRules) -> Value {
    let mut out = serde_json::Map::new();
    for (name, verb, default) in TRIGGERS {
        let found = rules
            .rules
            .iter()
            .find(|r| is_chaos(r) && r.when.on.as_deref() == Some(verb));
        let (code, probability) = found.map_or((default, 0.0), |r| {
            let code = r
                .action
                .reply
                .as_deref()
                .and_then(|t| t.get(..3)?.parse().ok());
            (
                code.unwrap_or(default),
                r.when.probability.unwrap_or(0.0) * 100.0,
            )
        });
        out.insert(
            name.to_owned(),
            json!({"ErrorCode": code, "Probability": probability.round() as u64}),
        );
    }
    Value::Object(out)
}
