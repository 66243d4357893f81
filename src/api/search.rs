//! The search box's query language (`q=`), read into the store's `Query`: `from:`, `to:`,
//! `subject:`, `mailbox:`, `header:` and `text:` terms, values in double quotes when they hold
//! spaces, and free words, which are searched for as one phrase in the subject and bodies.
//! A word whose prefix is not one of these keys (`https://…`) is a free word too.

use crate::store::Query;

/// Reads `q` into a query, or says which term is wrong.
pub fn parse(q: &str) -> Result<Query, String> {
    let mut query = Query::default();
    let mut free: Vec<String> = Vec::new();
    for term in terms(q)? {
        let (key, value) = match term.split_once(':') {
            Some((key, value)) if slot(&mut query, key).is_some() => (key, value),
            _ => {
                free.push(unquote(&term));
                continue;
            }
        };
        let value = unquote(value);
        if value.is_empty() {
            return Err(format!("`{key}:` needs a value"));
        }
        let field = slot(&mut query, key).expect("checked above");
        if field.is_some() {
            return Err(format!("`{key}:` is given twice"));
        }
        *field = Some(value);
    }
    if !free.is_empty() {
        if query.text.is_some() {
            return Err("free words and `text:` together: use one".to_owned());
        }
        query.text = Some(free.join(" "));
    }
    Ok(query)
}

/// Adds the conditions of `more` to `query`; a condition set in both is an error.
pub fn merge(query: &mut Query, more: Query) -> Result<(), String> {
    let Query {
        since,
        mailbox,
        to,
        from,
        subject,
        header,
        text,
    } = more;
    query.since = query.since.or(since);
    for (key, value) in [
        ("mailbox", mailbox),
        ("to", to),
        ("from", from),
        ("subject", subject),
        ("header", header),
        ("text", text),
    ] {
        let field = slot(query, key).expect("a known key");
        if value.is_some() && field.is_some() {
            return Err(format!("`{key}` is given both as a parameter and in `q`"));
        }
        if value.is_some() {
            *field = value;
        }
    }
    Ok(())
}

fn slot<'q>(query: &'q mut Query, key: &str) -> Option<&'q mut Option<String>> {
    match key.to_ascii_lowercase().as_str() {
        "from" => Some(&mut query.from),
        "to" => Some(&mut query.to),
        "subject" => Some(&mut query.subject),
        "mailbox" => Some(&mut query.mailbox),
        "header" => Some(&mut query.header),
        "text" => Some(&mut query.text),
        _ => None,
    }
}

/// Splits on whitespace outside double quotes; quotes stay in the terms.
fn terms(q: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err("a double quote is not closed".to_owned());
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn unquote(text: &str) -> String {
    text.replace('"', "")
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::store::Query;

    #[test]
    fn keys_quotes_and_free_words() {
        let q = parse(r#"to:bob@example.com subject:"Reset your" header:"X-Run: 7" hello  world"#)
            .unwrap();
        assert_eq!(
            q,
            Query {
                to: Some("bob@example.com".into()),
                subject: Some("Reset your".into()),
                header: Some("X-Run: 7".into()),
                text: Some("hello world".into()),
                ..Query::default()
            }
        );
        let url = parse("https://example.com/reset FROM:shop").unwrap();
        assert_eq!(url.text.as_deref(), Some("https://example.com/reset"));
        assert_eq!(url.from.as_deref(), Some("shop"));
        assert_eq!(parse("  ").unwrap(), Query::default());
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(parse("to:a to:b").unwrap_err(), "`to:` is given twice");
        assert_eq!(parse("subject:").unwrap_err(), "`subject:` needs a value");
        assert_eq!(
            parse(r#"subject:"open"#).unwrap_err(),
            "a double quote is not closed"
        );
        assert!(parse("text:a b").is_err());
    }
}
