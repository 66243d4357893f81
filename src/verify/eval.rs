//! Evaluating expectations against the messages seen so far: which messages each one
//! selects, whether the count and the assertions hold, what it extracts, and for a failure
//! the closest candidates and what differed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::check::{Check, Target, Vars};
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

fn evaluate(
    e: &Expectation,
    messages: &[Message],
    by_recipient: &ByRecipient,
    vars: &Vars,
    ctx: &Context,
    last_seq: &BTreeMap<String, u64>,
) -> Verdict {
    let mut verdict = Verdict {
        name: e.name.clone(),
        passed: false,
        expected: e.count.to_string(),
        matched: Vec::new(),
        reasons: Vec::new(),
        closest: Vec::new(),
        extracted: BTreeMap::new(),
        open: false,
    };
    let indexed = e.select.to.as_ref().and_then(Check::literal).map(|to| {
        let hits = by_recipient
            .get(&to.to_lowercase())
            .map_or(&[][..], Vec::as_slice);
        hits.iter().map(|&i| &messages[i]).collect::<Vec<_>>()
    });
    let selected = match &indexed {
        Some(hits) => scan(e, hits.iter().copied(), vars, ctx, last_seq),
        None => scan(e, messages.iter(), vars, ctx, last_seq),
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
    let n = matched.len();
    if !e.count.holds(n) {
        verdict.reasons.push(format!(
            "expected {} matching message(s), found {n}",
            e.count
        ));
        if n < e.count.min() {
            // The index only holds the recipient's mail; the closest may be anyone's.
            let everyone = if indexed.is_some() {
                scan(e, messages.iter(), vars, ctx, last_seq).unwrap_or_default()
            } else {
                candidates
            };
            verdict.closest = closest(everyone, |m| failures(&e.select, m, vars, ctx, last_seq));
        }
        // Too few may still arrive; too many is final.
        verdict.open = n < e.count.min() && (ctx.window_open)(e);
        return verdict;
    }
    for m in &matched {
        match failures(&e.assert, m, vars, ctx, last_seq) {
            Ok(f) => verdict
                .reasons
                .extend(f.into_iter().map(|r| format!("{}: {r}", m.describe()))),
            Err(blocked) => verdict.reasons.push(blocked),
        }
    }
    if let Some(first) = matched.first() {
        extract(e, first, &mut verdict);
    }
    verdict.passed = verdict.reasons.is_empty();
    // An upper bound (`count: 0`, `max`) is watched for as long as `within` says; without
    // `within` the count is final when met.
    verdict.open =
        verdict.passed && e.count.max().is_some() && e.within.is_some() && (ctx.window_open)(e);
    verdict
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

/// The conditions of `fields` that `m` fails (empty when all hold), or why they cannot
/// be checked yet (a placeholder whose value is not extracted yet).
fn failures(
    fields: &Fields,
    m: &Message,
    vars: &Vars,
    ctx: &Context,
    last_seq: &BTreeMap<String, u64>,
) -> Result<Vec<String>, String> {
    let mut out = header_failures(fields, m, vars);
    if needs_content(fields) {
        out.extend(content_failures(fields, m, vars));
    }
    // A placeholder with no value yet is not a mismatch: the expectation waits for it.
    if let Some(blocked) = out.iter().find(|r| r.contains(super::check::UNSET)) {
        return Err(blocked.clone());
    }
    if let Some(after) = &fields.arrives_after {
        match last_seq.get(after) {
            Some(&seq) if m.seq > seq => {}
            Some(_) => out.push(format!("arrived before the mail of `{after}`")),
            None => out.push(format!("`{after}` matched no mail to come after")),
        }
    }
    if let Some(Err(diff)) = fields.matches_render.as_ref().map(|g| (ctx.golden)(m, g)) {
        out.push(diff);
    }
    Ok(out)
}

fn eval(c: Option<&Check>, what: &str, target: Target, vars: &Vars) -> Option<String> {
    c?.eval(what, target, vars).err()
}

/// Conditions on what the header facts and the envelope tell, without reading the body.
fn header_failures(f: &Fields, m: &Message, vars: &Vars) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    out.extend(eval(
        f.subject.as_ref(),
        "subject",
        Target::Text(m.subject.as_deref()),
        vars,
    ));
    out.extend(eval(
        f.from.as_ref(),
        "from",
        Target::List(&m.from, true),
        vars,
    ));
    out.extend(eval(f.to.as_ref(), "to", Target::List(&m.to, true), vars));
    out.extend(eval(f.cc.as_ref(), "cc", Target::List(&m.cc, true), vars));
    out.extend(eval(
        f.mailbox.as_ref(),
        "mailbox",
        Target::Text(m.mailbox.as_deref()),
        vars,
    ));
    out.extend(eval(f.size.as_ref(), "size", Target::Number(m.size), vars));
    if let Some(env) = &f.envelope {
        match &m.envelope {
            Some(e) => {
                let from = [e.mail_from.clone()];
                out.extend(eval(
                    env.mail_from.as_ref(),
                    "envelope sender",
                    Target::List(&from, true),
                    vars,
                ));
                let rcpt = Target::List(&e.rcpt_to, true);
                out.extend(eval(
                    env.rcpt_to.as_ref(),
                    "envelope recipients",
                    rcpt,
                    vars,
                ));
            }
            None => out.push("this source has no SMTP envelope (use --sink or --store)".to_owned()),
        }
    }
    out
}

/// Conditions on the body: headers, text, HTML, links, attachments.
fn content_failures(f: &Fields, m: &Message, vars: &Vars) -> Vec<String> {
    let c = match m.content() {
        Ok(c) => c,
        Err(e) => return vec![format!("cannot read the message: {e}")],
    };
    let mut out: Vec<String> = Vec::new();
    for (name, check) in &f.headers {
        let value = c
            .parsed
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name));
        let target = Target::Text(value.map(|(_, v)| v.as_str()));
        out.extend(eval(Some(check), &format!("header {name}"), target, vars));
    }
    out.extend(eval(
        f.text.as_ref(),
        "text",
        Target::Text(c.parsed.text.as_deref()),
        vars,
    ));
    out.extend(eval(
        f.html.as_ref(),
        "html",
        Target::Text(c.parsed.html.as_deref()),
        vars,
    ));
    out.extend(eval(
        f.links.as_ref(),
        "links",
        Target::List(&c.links, false),
        vars,
    ));
    if let Some(a) = &f.attachments {
        let list = &c.parsed.attachments;
        let names: Vec<String> = list.iter().filter_map(|x| x.filename.clone()).collect();
        let types: Vec<String> = list.iter().map(|x| x.content_type.clone()).collect();
        let sizes: Vec<String> = list.iter().map(|x| x.size.to_string()).collect();
        out.extend(eval(
            a.count.as_ref(),
            "attachment count",
            Target::Number(list.len() as u64),
            vars,
        ));
        out.extend(eval(
            a.names.as_ref(),
            "attachment names",
            Target::List(&names, false),
            vars,
        ));
        out.extend(eval(
            a.types.as_ref(),
            "attachment types",
            Target::List(&types, true),
            vars,
        ));
        out.extend(eval(
            a.sizes.as_ref(),
            "attachment sizes",
            Target::List(&sizes, false),
            vars,
        ));
    }
    out
}

fn needs_content(f: &Fields) -> bool {
    !f.headers.is_empty()
        || f.text.is_some()
        || f.html.is_some()
        || f.links.is_some()
        || f.attachments.is_some()
}
