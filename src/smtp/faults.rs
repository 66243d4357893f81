//! Scripted faults: deterministic rules that make the sink misbehave on purpose (421 every
//! third connection, 451 for some recipients, a slow or dropped DATA), so the retry and
//! fallback paths of a notification service can be tested. Random rules draw from a seeded
//! generator, so a run can be replayed. Rules can be replaced at runtime (through the API).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A rules file, as YAML or JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRules {
    /// Seed for rules with a `probability`.
    #[serde(default)]
    pub seed: u64,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub when: When,
    pub action: Action,
}

/// When a rule fires; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// `connect` (a new connection), a command verb (`EHLO`, `MAIL`, `RCPT`, `DATA` at the
    /// end of the message, ...), or `any` command. Default: `any`. For sends through the
    /// providers' HTTP APIs: a provider (`sendgrid`, `ses`, `postmark`, `resend`,
    /// `mailgun`), or `api` for all of them; `any` is SMTP's alone.
    pub on: Option<String>,
    /// A regex on the MAIL or RCPT address.
    pub address: Option<String>,
    /// Only messages larger than this many bytes (DATA).
    pub size_over: Option<u64>,
    /// Every Nth match (1 = every one).
    pub every: Option<u64>,
    /// Only the first N matches, then the rule is spent ("fail twice, then succeed").
    pub times: Option<u64>,
    /// Fire with this probability (0 to 1), from the seeded generator.
    pub probability: Option<f64>,
}

/// What a firing rule does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Answer this instead, such as `451 4.3.0 Try again later` (4xx or 5xx).
    pub reply: Option<String>,
    /// Close the connection after the reply.
    #[serde(default)]
    pub close: bool,
    /// Close the connection without any reply (mid-DATA: the client never hears back).
    #[serde(default)]
    pub drop: bool,
    /// Wait this long first, such as `2s` (a slow or tarpitting server).
    pub delay: Option<String>,
    /// `on: connect` only: the whole session's bytes, both ways, crawl at this many bytes a
    /// second (`2KiB`), or at a rate drawn from a range for each connection (`1KiB-10KiB`):
    /// a slow link, as MailHog's Jim makes one.
    pub link_speed: Option<String>,
    /// For a provider's API: `throttle` (its rate-limit answer: SendGrid's 429 with its
    /// headers, SES's `TooManyRequestsException` or `Throttling`, ...) or `error` (its
    /// server error, 500). Nothing is stored.
    pub api: Option<String>,
}

/// The providers whose HTTP APIs the sink takes sends on, as rules' `on` names them.
pub const PROVIDERS: &[&str] = &["sendgrid", "ses", "postmark", "resend", "mailgun"];

/// What a paused sink answers.
fn paused_effect() -> Effect {
    Effect {
        reply: Some("421 4.3.2 Intake paused, try again later".into()),
        close: true,
        ..Effect::default()
    }
}

/// A rule made ready: its regex compiled, its counters.
struct Armed {
    rule: Rule,
    address: Option<regex::Regex>,
    delay: Option<Duration>,
    /// Bytes a second, lowest and highest.
    link_speed: Option<(u64, u64)>,
    matched: AtomicU64,
}

/// The live rule set a server consults; empty means no faults.
#[derive(Default)]
pub struct FaultSet {
    armed: RwLock<Vec<Armed>>,
    rules: RwLock<FaultRules>,
    rng: Mutex<Option<ChaCha8Rng>>,
    connections: AtomicU64,
    /// Intake paused: new connections and new transactions get 421.
    paused: std::sync::atomic::AtomicBool,
}

/// What happened at one point of a session, for the rules to look at.
pub struct Moment<'a> {
    pub on: &'a str,
    pub address: Option<&'a str>,
    pub size: Option<u64>,
}

/// A fired rule's effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    pub delay: Option<Duration>,
    pub reply: Option<String>,
    pub close: bool,
    pub drop: bool,
    /// Bytes a second the session is held to from now on.
    pub link_speed: Option<u64>,
    /// A provider API's answer instead of storing: `throttle` or `error`.
    pub api: Option<String>,
}

impl FaultSet {
    /// Checks and installs `rules` (replacing the ones in force), resetting counters.
    pub fn set(&self, rules: FaultRules) -> Result<(), String> {
        let armed = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| arm(r).map_err(|m| format!("rule {}: {m}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        *self.rng.lock().expect("rng lock") = Some(ChaCha8Rng::seed_from_u64(rules.seed));
        *self.armed.write().expect("faults lock") = armed;
        *self.rules.write().expect("faults lock") = rules;
        self.connections.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Pauses or resumes intake.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub fn rules(&self) -> FaultRules {
        self.rules.read().expect("faults lock").clone()
    }

    /// Parses a rules file (YAML, which includes JSON).
    pub fn parse(text: &str) -> Result<FaultRules, String> {
        serde_norway::from_str(text).map_err(|e| e.to_string())
    }

    /// The effect of the first rule that fires for `event`, if any. While intake is paused,
    /// MAIL is refused with 421.
    pub fn check(&self, event: &Moment<'_>) -> Option<Effect> {
        if event.on == "MAIL" && self.paused() {
            return Some(paused_effect());
        }
        let armed = self.armed.read().expect("faults lock");
        if armed.is_empty() {
            return None;
        }
        let armed = armed.iter().find(|a| self.fires(a, event))?;
        Some(Effect {
            delay: armed.delay,
            reply: armed.rule.action.reply.clone(),
            close: armed.rule.action.close,
            drop: armed.rule.action.drop,
            link_speed: armed.link_speed.map(|range| self.draw(range)),
            api: armed.rule.action.api.clone(),
        })
    }

    /// A rate from `low..=high`, from the seeded generator.
    fn draw(&self, (low, high): (u64, u64)) -> u64 {
        let mut rng = self.rng.lock().expect("rng lock");
        match rng.as_mut() {
            Some(rng) if high > low => rng.random_range(low..=high),
            _ => low,
        }
    }

    /// Counts a new connection and checks the `connect` rules.
    pub fn on_connect(&self) -> Option<Effect> {
        if self.paused() {
            return Some(paused_effect());
        }
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.check(&Moment {
            on: "connect",
            address: None,
            size: None,
        })
    }

    fn fires(&self, armed: &Armed, event: &Moment<'_>) -> bool {
        let when = &armed.rule.when;
        let on = when.on.as_deref().unwrap_or("any");
        let api = PROVIDERS.contains(&event.on);
        let on_matches = on.eq_ignore_ascii_case(event.on)
            || (on == "any" && event.on != "connect" && !api)
            || (on == "api" && api);
        let address_matches = armed
            .address
            .as_ref()
            .is_none_or(|re| event.address.is_some_and(|a| re.is_match(a)));
        let size_matches = when
            .size_over
            .is_none_or(|limit| event.size.is_some_and(|s| s > limit));
        if !(on_matches && address_matches && size_matches) {
            return false;
        }
        let n = armed.matched.fetch_add(1, Ordering::Relaxed) + 1;
        if when.times.is_some_and(|t| n > t)
            || when.every.is_some_and(|e| !n.is_multiple_of(e.max(1)))
        {
            return false;
        }
        match when.probability {
            Some(p) => self
                .rng
                .lock()
                .expect("rng lock")
                .as_mut()
                .is_some_and(|rng| rng.random_bool(p.clamp(0.0, 1.0))),
            None => true,
        }
    }
}

/// What a rule must be beyond its types: a reply an SMTP client can read, a probability,
/// an `api` answer on a provider's sends, an action that does something.
fn check(rule: &Rule) -> Result<(), String> {
    if let Some(reply) = &rule.action.reply {
        let code = reply.get(..3).and_then(|c| c.parse::<u16>().ok());
        if !code.is_some_and(|c| (400..600).contains(&c)) || reply.contains(['\r', '\n']) {
            return Err(format!(
                "reply `{reply}` must be one line starting with a 4xx or 5xx code"
            ));
        }
    }
    if rule
        .when
        .probability
        .is_some_and(|p| !(0.0..=1.0).contains(&p))
    {
        return Err("probability must be between 0 and 1".into());
    }
    let action = &rule.action;
    let does = [
        action.reply.is_some(),
        action.drop,
        action.delay.is_some(),
        action.close,
    ];
    if !does.contains(&true) && action.link_speed.is_none() && action.api.is_none() {
        return Err(
            "the action does nothing: give reply, delay, close, drop, link_speed or api".into(),
        );
    }
    let Some(api) = &rule.action.api else {
        return Ok(());
    };
    if api != "throttle" && api != "error" {
        return Err(format!("api `{api}`: expected `throttle` or `error`"));
    }
    let on = rule.when.on.as_deref().unwrap_or("any");
    if on != "api" && !PROVIDERS.contains(&on) {
        return Err(format!(
            "api is an answer to a provider's send: give `on: api` or one of {}",
            PROVIDERS.join(", ")
        ));
    }
    Ok(())
}

fn arm(rule: &Rule) -> Result<Armed, String> {
    let address = rule
        .when
        .address
        .as_deref()
        .map(|re| regex::Regex::new(re).map_err(|e| format!("address regex: {e}")))
        .transpose()?;
    let delay = rule
        .action
        .delay
        .as_deref()
        .map(|d| humantime::parse_duration(d).map_err(|e| format!("delay `{d}`: {e}")))
        .transpose()?;
    check(rule)?;
    let link_speed = rule
        .action
        .link_speed
        .as_deref()
        .map(speed_range)
        .transpose()?;
    if link_speed.is_some()
        && !rule
            .when
            .on
            .as_deref()
            .is_some_and(|on| on.eq_ignore_ascii_case("connect"))
    {
        return Err("link_speed is a connection's: give it with `on: connect`".into());
    }
    Ok(Armed {
        rule: rule.clone(),
        address,
        delay,
        link_speed,
        matched: AtomicU64::new(0),
    })
}

/// `2KiB` or `1KiB-10KiB`: bytes a second, never zero.
fn speed_range(text: &str) -> Result<(u64, u64), String> {
    let rate = |t: &str| {
        t.parse::<crate::value::ByteSize>()
            .map(|b| b.0)
            .map_err(|e| format!("link_speed `{text}`: {e}"))
    };
    let (low, high) = match text.split_once('-') {
        Some((low, high)) => (rate(low)?, rate(high)?),
        None => (rate(text)?, rate(text)?),
    };
    if low > high {
        return Err(format!("link_speed `{text}`: the lower rate comes first"));
    }
    Ok((low, high))
}

impl std::fmt::Debug for FaultSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultSet")
            .field("rules", &self.rules())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod link_speed_tests {
    use super::*;

    #[test]
    fn a_link_speed_is_a_connections_and_drawn_from_its_range() {
        let rules = |yaml: &str| FaultSet::default().set(FaultSet::parse(yaml).unwrap());
        let err = rules("rules:\n- when: {on: MAIL}\n  action: {link_speed: 2KiB}\n").unwrap_err();
        assert!(err.contains("on: connect"), "{err}");
        let err = rules("rules:\n- when: {on: connect}\n  action: {link_speed: 9KiB-1KiB}\n")
            .unwrap_err();
        assert!(err.contains("lower rate comes first"), "{err}");
        assert!(rules("rules:\n- when: {on: connect}\n  action: {link_speed: fast}\n").is_err());
        let set = FaultSet::default();
        set.set(
            FaultSet::parse(
                "seed: 7\nrules:\n- when: {on: connect}\n  action: {link_speed: 1000-2000}\n",
            )
            .unwrap(),
        )
        .unwrap();
        let rates: Vec<u64> = (0..50)
            .map(|_| set.on_connect().unwrap().link_speed.unwrap())
            .collect();
        assert!(rates.iter().all(|r| (1000..=2000).contains(r)));
        assert!(
            rates.iter().any(|r| *r != rates[0]),
            "a rate per connection"
        );
    }
}
