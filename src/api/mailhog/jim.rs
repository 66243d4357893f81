//! MailHog's Jim, the chaos monkey (`/api/v2/jim`), mapped onto the sink's scripted
//! faults: refused connections (`AcceptChance`), dropped sessions (`DisconnectChance`),
//! slow links (`LinkSpeedAffect` of the connections crawl at a rate between
//! `LinkSpeedMin` and `LinkSpeedMax`, times 8 bytes a second as MailHog's code runs them) and rejected senders, recipients and
//! logins answered as MailHog answers them (`550 Invalid sender`, `550 Invalid recipient`,
//! `500 Unrecognised command`), drawn from the faults' seeded generator. Off until `POST`
//! (as MailHog without `-invite-jim`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Shared;
use crate::smtp::faults::{Action, FaultSet, Rule, When};

/// Jim's settings, MailHog's names and order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Jim {
    pub disconnect_chance: f64,
    pub accept_chance: f64,
    pub link_speed_affect: f64,
    pub link_speed_min: f64,
    pub link_speed_max: f64,
    pub reject_sender_chance: f64,
    pub reject_recipient_chance: f64,
    pub reject_auth_chance: f64,
}

impl Default for Jim {
    /// MailHog's `-jim-*` defaults.
    fn default() -> Self {
        Self {
            disconnect_chance: 0.005,
            accept_chance: 0.99,
            link_speed_affect: 0.1,
            link_speed_min: 1024.0,
            link_speed_max: 10240.0,
            reject_sender_chance: 0.05,
            reject_recipient_chance: 0.05,
            reject_auth_chance: 0.05,
        }
    }
}

/// Jim while invited, and the fault rules he put in.
#[derive(Default)]
pub struct Monkey {
    jim: Option<Jim>,
    rules: Vec<Rule>,
}

fn rule(on: &str, probability: f64, reply: Option<&str>) -> Option<Rule> {
    (probability > 0.0).then(|| Rule {
        when: When {
            on: Some(on.to_owned()),
            probability: Some(probability.min(1.0)),
            ..When::default()
        },
        action: Action {
            reply: reply.map(str::to_owned),
            drop: reply.is_none(),
            ..Action::default()
        },
    })
}

/// The slow-link rule: `affect` of the connections get a rate in `min..=max`. MailHog's
/// session multiplies Jim's rate (already bytes, as linkio's bits) by its bytes unit again,
/// so its links run at 8 times the settings' bytes a second; a drop-in runs as fast.
fn link_speed(affect: f64, min: f64, max: f64) -> Option<Rule> {
    let (min, max) = (min.max(1.0) as u64 * 8, max.max(1.0) as u64 * 8);
    let mut slow = rule("connect", affect, None)?;
    slow.action = Action {
        link_speed: Some(format!("{}-{}", min.min(max), max.max(min))),
        ..Action::default()
    };
    Some(slow)
}

impl Jim {
    fn rules(&self) -> Vec<Rule> {
        [
            rule("connect", 1.0 - self.accept_chance, None),
            link_speed(
                self.link_speed_affect,
                self.link_speed_min,
                self.link_speed_max,
            ),
            rule(
                "MAIL",
                self.reject_sender_chance,
                Some("550 Invalid sender"),
            ),
            rule(
                "RCPT",
                self.reject_recipient_chance,
                Some("550 Invalid recipient"),
            ),
            rule(
                "AUTH",
                self.reject_auth_chance,
                Some("500 Unrecognised command"),
            ),
            rule("any", self.disconnect_chance, None),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Puts `jim` in charge (or none), replacing the rules he put in before.
fn install(faults: &FaultSet, monkey: &mut Monkey, jim: Option<Jim>) -> Result<(), String> {
    let mut rules = faults.rules();
    rules.rules.retain(|r| !monkey.rules.contains(r));
    let new = jim.as_ref().map(Jim::rules).unwrap_or_default();
    let mut all = new.clone();
    all.append(&mut rules.rules);
    rules.rules = all;
    faults.set(rules)?;
    monkey.rules = new;
    monkey.jim = jim;
    Ok(())
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Monkey> {
    shared
        .monkey
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub async fn get(State(shared): State<Shared>) -> Response {
    match &lock(&shared).jim {
        Some(jim) => {
            let body = serde_json::to_vec(jim).unwrap_or_default();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Invites Jim: MailHog's defaults, or the settings in the body (left-out ones are 0).
pub async fn post(State(shared): State<Shared>, body: Bytes) -> Response {
    let mut monkey = lock(&shared);
    if monkey.jim.is_some() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let jim = serde_json::from_slice::<Zeroed>(&body).map_or_else(|_| Jim::default(), |z| z.0);
    match install(&shared.faults, &mut monkey, Some(jim)) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Replaces Jim's settings whole (left-out ones are 0, as in MailHog).
pub async fn put(State(shared): State<Shared>, body: Bytes) -> Response {
    let mut monkey = lock(&shared);
    if monkey.jim.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(Zeroed(jim)) = serde_json::from_slice::<Zeroed>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match install(&shared.faults, &mut monkey, Some(jim)) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

pub async fn delete(State(shared): State<Shared>) -> Response {
    let mut monkey = lock(&shared);
    if monkey.jim.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    match install(&shared.faults, &mut monkey, None) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Jim as a body sets him: every field, 0 when left out; names in any case.
struct Zeroed(Jim);

impl<'de> Deserialize<'de> for Zeroed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let object = value
            .as_object()
            .ok_or_else(|| serde::de::Error::custom("not an object"))?;
        let get = |name: &str| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_f64())
                .unwrap_or(0.0)
        };
        Ok(Self(Jim {
            disconnect_chance: get("DisconnectChance"),
            accept_chance: get("AcceptChance"),
            link_speed_affect: get("LinkSpeedAffect"),
            link_speed_min: get("LinkSpeedMin"),
            link_speed_max: get("LinkSpeedMax"),
            reject_sender_chance: get("RejectSenderChance"),
            reject_recipient_chance: get("RejectRecipientChance"),
            reject_auth_chance: get("RejectAuthChance"),
        }))
    }
}
