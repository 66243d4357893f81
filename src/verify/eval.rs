//! Evaluating expectations against the messages seen so far: which messages each one
//! selects, whether the count and the assertions hold, what it extracts, and for a failure
//! the closest candidates and what differed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::check::{Check, Vars};
use super::fields::failures;
use super::message::{Message, Seen};
use super::spec::{Expectation, ExtractFrom, Fields, Golden};

/// Checks `matches_render` (the golden comparison) for one message.
pub type GoldenCheck<'a> = &'a dyn Fn(&Message, &Golden) -> Result<(), String>;

/// The verdict on one expectation.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub name: String,
    pub passed: bool,
    /// The count wanted, as text (`1`, `at least 1`, `0`).
    pub expected: String,
    pub matched: Vec<Seen>,
    /// How many were found, when what is counted is no message (Celery task results).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<usize>,
    /// Why it failed (empty when it passed).
    pub reasons: Vec<String>,
    /// For a count that was not reached: the messages that came closest, and what differed.
    pub closest: Vec<String>,
    pub extracted: BTreeMap<String, String>,
    /// More mail could still change this verdict (a count not yet reached or an open window).
    #[serde(skip)]
    pub open: bool,
}

/// What an evaluation needs besides the messages.
pub struct Context<'a> {
    pub mailbox: Option<&'a str>,
    pub golden: GoldenCheck<'a>,
    /// The HTML, link and spam checks run so far.
    pub checks: &'a super::checks::Checks,
    /// Whether `within` windows (or the whole run) are still open.
    pub window_open: &'a dyn Fn(&Expectation) -> bool,
}

/// Evaluates every expectation in order; each one's extractions are visible to the next.
pub fn evaluate_all(
    expectations: &[Expectation],
    messages: &[Message],
    vars: &mut Vars,
    ctx: &Context,
) -> Vec<Verdict> {
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    let by_recipient = recipients(messages);
    let mut out = Vec::new();
    for e in expectations {
        let verdict = evaluate(e, messages, &by_recipient, vars, ctx, &last_seq);
        for (k, v) in &verdict.extracted {
            vars.values.insert(k.clone(), v.clone());
        }
        if let Some(last) = verdict.matched.iter().map(|s| s.seq).max() {
            last_seq.insert(e.name.clone(), last);
        }
        out.push(verdict);
    }
    out
}

/// Messages by lower-cased recipient, so `match: {to: x}` looks at x's mail only instead
/// of every message (100 expectations over 100,000 messages).
type ByRecipient = std::collections::HashMap<String, Vec<usize>>;

fn recipients(messages: &[Message]) -> ByRecipient {
    let mut index = ByRecipient::new();
    for (i, m) in messages.iter().enumerate() {
        for to in &m.to {
            let list = index.entry(to.to_lowercase()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    index
}

/// Selects with yes-or-no checks; each candidate with how many conditions it failed, or
/// why selection cannot be done yet (a placeholder without a value).
fn scan<'m>(
    e: &Expectation,
    messages: impl Iterator<Item = &'m Message>,
    vars: &Vars,
    ctx: &Context,
    last_seq: &BTreeMap<String, u64>,
) -> Result<Vec<(&'m Message, usize)>, String> {
    vars.explain.set(false);
    let in_mailbox = |m: &&Message| {
        ctx.mailbox
            .is_none_or(|mb| m.mailbox.as_deref() == Some(mb))
    };
    let found = messages
        .filter(in_mailbox)
        .map(|m| failures(&e.select, m, vars, ctx, last_seq).map(|f| (m, f.len())))
        .collect();
    vars.explain.set(true);
    found
}

impl Verdict {
    /// Not passed (yet), nothing matched.
    fn new(e: &Expectation) -> Self {
        Self {
            name: e.name.clone(),
            passed: false,
            expected: e.count.to_string(),
            matched: Vec::new(),
            found: None,
            reasons: Vec::new(),
            closest: Vec::new(),
            extracted: BTreeMap::new(),
            open: false,
        }
    }
}

/// What one evaluation looks at besides the expectation.
struct Among<'a> {
    messages: &'a [Message],
    vars: &'a Vars,
    ctx: &'a Context<'a>,
    last_seq: &'a BTreeMap<String, u64>,
}

impl Among<'_> {
    fn scan<'m>(
        &self,
        e: &Expectation,
        messages: impl Iterator<Item = &'m Message>,
    ) -> Result<Vec<(&'m Message, usize)>, String> {
        scan(e, messages, self.vars, self.ctx, self.last_seq)
    }

    fn failures(&self, fields: &Fields, m: &Message) -> Result<Vec<String>, String> {
        failures(fields, m, self.vars, self.ctx, self.last_seq)
    }
}

fn evaluate(
    e: &Expectation,
    messages: &[Message],
    by_recipient: &ByRecipient,
    vars: &Vars,
    ctx: &Context,
    last_seq: &BTreeMap<String, u64>,
) -> Verdict {
    let among = Among {
        messages,
        vars,
        ctx,
        last_seq,
    };
    let mut verdict = Verdict::new(e);
    // A literal recipient selects from that recipient's mail alone.
    let indexed = e.select.to.as_ref().and_then(Check::literal).map(|to| {
        let hits = by_recipient
            .get(&to.to_lowercase())
            .map_or(&[][..], Vec::as_slice);
        hits.iter().map(|&i| &messages[i]).collect::<Vec<_>>()
    });
    let selected = match &indexed {
        Some(hits) => among.scan(e, hits.iter().copied()),
        None => among.scan(e, messages.iter()),
    };
    let candidates = match selected {
        Ok(c) => c,
        Err(blocked) => {
            verdict.reasons.push(blocked);
            verdict.open = (ctx.window_open)(e);
            return verdict;
        }
    };
    let matched: Vec<&Message> = candidates
        .iter()
        .filter(|(_, failed)| *failed == 0)
        .map(|(m, _)| *m)
        .collect();
    verdict.matched = matched.iter().map(|m| Seen::from(*m)).collect();
    if e.count.holds(matched.len()) {
        assert_matched(&among, e, &matched, &mut verdict);
    } else {
        let everyone = indexed.is_some();
        miscounted(&among, e, matched.len(), candidates, everyone, &mut verdict);
    }
    verdict
}

/// The count was not met: why, and for too few, the closest candidates. Too few may still
/// arrive; too many is final.
fn miscounted(
    among: &Among,
    e: &Expectation,
    n: usize,
    candidates: Vec<(&Message, usize)>,
    indexed: bool,
    verdict: &mut Verdict,
) {
    verdict.reasons.push(format!(
        "expected {} matching message(s), found {n}",
        e.count
    ));
    if n < e.count.min() {
        // The index only holds the recipient's mail; the closest may be anyone's.
        let everyone = if indexed {
            among.scan(e, among.messages.iter()).unwrap_or_default()
        } else {
            candidates
        };
        verdict.closest = closest(everyone, |m| among.failures(&e.select, m));
    }
    verdict.open = n < e.count.min() && (among.ctx.window_open)(e);
}

/// The count was met: the assertions on every matched message, and the extractions.
fn assert_matched(among: &Among, e: &Expectation, matched: &[&Message], verdict: &mut Verdict) {
    for m in matched {
        match among.failures(&e.assert, m) {
            Ok(f) => verdict
                .reasons
                .extend(f.into_iter().map(|r| format!("{}: {r}", m.describe()))),
            Err(blocked) => verdict.reasons.push(blocked),
        }
    }
    if let Some(first) = matched.first() {
        extract(e, first, verdict);
    }
    verdict.passed = verdict.reasons.is_empty();
    // An upper bound (`count: 0`, `max`) is watched for as long as `within` says; without
    // `within` the count is final when met.
    verdict.open = verdict.passed
        && e.count.max().is_some()
        && e.within.is_some()
        && (among.ctx.window_open)(e);
}

/// The three candidates that failed the fewest selection conditions, with why.
fn closest(
    mut candidates: Vec<(&Message, usize)>,
    explain: impl Fn(&Message) -> Result<Vec<String>, String>,
) -> Vec<String> {
    candidates.retain(|(_, failed)| *failed > 0);
    candidates.sort_by_key(|(m, failed)| (*failed, std::cmp::Reverse(m.seq)));
    candidates
        .iter()
        .take(3)
        .map(|(m, _)| {
            let why = explain(m).map_or_else(|blocked| blocked, |f| f.join("; "));
            format!("{}: {why}", m.describe())
        })
        .collect()
}

fn extract(e: &Expectation, m: &Message, verdict: &mut Verdict) {
    for (name, x) in &e.extract {
        let found = match x.from {
            ExtractFrom::Subject => m.subject.as_deref().and_then(|s| capture(&x.regex, s)),
            ExtractFrom::Text | ExtractFrom::Html | ExtractFrom::Links => match m.content() {
                Err(e) => {
                    verdict
                        .reasons
                        .push(format!("cannot read {}: {e}", m.describe()));
                    continue;
                }
                Ok(c) => match x.from {
                    ExtractFrom::Text => {
                        c.parsed.text.as_deref().and_then(|t| capture(&x.regex, t))
                    }
                    ExtractFrom::Html => {
                        c.parsed.html.as_deref().and_then(|t| capture(&x.regex, t))
                    }
                    _ => c.links.iter().find_map(|l| capture(&x.regex, l)),
                },
            },
        };
        match found {
            Some(value) => {
                verdict.extracted.insert(name.clone(), value);
            }
            None => verdict.reasons.push(format!(
                "{}: nothing to extract as `{name}`: /{}/ does not match",
                m.describe(),
                x.regex.as_str()
            )),
        }
    }
}

fn capture(re: &regex::Regex, text: &str) -> Option<String> {
    let caps = re.captures(text)?;
    caps.get(1)
        .or_else(|| caps.get(0))
        .map(|m| m.as_str().to_owned())
}
