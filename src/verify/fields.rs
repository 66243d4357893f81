//! The conditions of one `match` or `assert` block on one message: what the summary and
//! envelope tell, then (only when asked) the headers, bodies, links and attachments.

use std::collections::BTreeMap;

use super::check::{Check, Target, Vars};
use super::eval::Context;
use super::message::Message;
use super::spec::Fields;

/// The conditions of `fields` that `m` fails (empty when all hold), or why they cannot
/// be checked yet (a placeholder whose value is not extracted yet).
pub fn failures(
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
    let failing = !out.is_empty();
    out.extend(super::checks::failures(
        fields, m, vars, ctx.checks, failing,
    ));
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
    if let Some(p) = &f.provider {
        out.extend(provider_failures(p, m, vars));
    }
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

/// Conditions on the provider a message was sent through and its request's metadata.
fn provider_failures(p: &super::spec::ProviderFields, m: &Message, vars: &Vars) -> Vec<String> {
    let Some(envelope) = &m.envelope else {
        return vec!["this source has no SMTP envelope (use --sink or --store)".to_owned()];
    };
    let api = envelope.api.as_ref();
    let name = api.map_or("smtp", |a| a.provider.as_str());
    let mut out: Vec<String> = eval(p.name.as_ref(), "provider", Target::Text(Some(name)), vars)
        .into_iter()
        .collect();
    for (path, check) in &p.metadata {
        let value = api.and_then(|a| {
            let mut parts = path.split('.');
            let first = a.metadata.get(parts.next()?)?;
            parts.try_fold(first, |v, part| v.get(part))
        });
        let what = format!("provider metadata `{path}`");
        let list: Vec<String>;
        let text: Option<String>;
        let target = match value {
            Some(serde_json::Value::Array(items)) => {
                list = items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect();
                Target::List(&list, false)
            }
            Some(serde_json::Value::String(s)) => Target::Text(Some(s)),
            other => {
                text = other
                    .filter(|v| !v.is_null())
                    .map(serde_json::Value::to_string);
                Target::Text(text.as_deref())
            }
        };
        out.extend(eval(Some(check), &what, target, vars));
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
    let parsed = &c.parsed;
    let bodies = [
        (
            f.text.as_ref(),
            "text",
            Target::Text(parsed.text.as_deref()),
        ),
        (
            f.html.as_ref(),
            "html",
            Target::Text(parsed.html.as_deref()),
        ),
        (f.links.as_ref(), "links", Target::List(&c.links, false)),
    ];
    for (check, what, target) in bodies {
        out.extend(eval(check, what, target, vars));
    }
    if let Some(a) = &f.attachments {
        out.extend(attachment_failures(a, &parsed.attachments, vars));
    }
    out
}

/// Conditions on the attachments: the files, not the images shown inline by `cid:` (the
/// inbox's list counts them the same way).
fn attachment_failures(
    a: &super::spec::AttachmentFields,
    parts: &[crate::mail::parsed::Attachment],
    vars: &Vars,
) -> Vec<String> {
    let files: Vec<_> = parts.iter().filter(|p| !p.inline).collect();
    let names: Vec<String> = files.iter().filter_map(|x| x.filename.clone()).collect();
    let types: Vec<String> = files.iter().map(|x| x.content_type.clone()).collect();
    let sizes: Vec<String> = files.iter().map(|x| x.size.to_string()).collect();
    let checks = [
        (
            &a.count,
            "attachment count",
            Target::Number(files.len() as u64),
        ),
        (&a.names, "attachment names", Target::List(&names, false)),
        (&a.types, "attachment types", Target::List(&types, true)),
        (&a.sizes, "attachment sizes", Target::List(&sizes, false)),
    ];
    checks
        .into_iter()
        .filter_map(|(check, what, target)| eval(check.as_ref(), what, target, vars))
        .collect()
}

fn needs_content(f: &Fields) -> bool {
    !f.headers.is_empty()
        || f.text.is_some()
        || f.html.is_some()
        || f.links.is_some()
        || f.attachments.is_some()
}
