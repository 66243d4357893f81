//! Filters a mail author needs, aware of the recipient's locale (read from the template's
//! `locale` variable): `date`, `money`, `times`, `track`, `truncate`, `plural`.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Locale};
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, State, Value};

/// Registers every filter; `tracking` holds the parameters `track` adds.
pub fn register(env: &mut Environment<'_>, tracking: BTreeMap<String, String>) {
    env.add_filter("date", date);
    env.add_filter("money", money);
    env.add_filter("times", times);
    env.add_filter("truncate", truncate);
    env.add_filter("plural", plural);
    env.add_filter("track", move |url: &str, campaign: Option<&str>| {
        track(url, campaign, &tracking)
    });
}

fn locale_of(state: &State) -> String {
    state
        .lookup("locale")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "en".to_owned())
}

fn language(locale: &str) -> &str {
    locale.split(['-', '_']).next().unwrap_or(locale)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `{{ data.expires_at | date }}` gives "20 November 2026"-style dates in the recipient's
/// language; `date("datetime")` adds the time and zone, `date("time")` is the time alone.
fn date(state: &State, value: &str, style: Option<&str>) -> Result<String, Error> {
    let at: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(value)
        .map_err(|e| invalid(format!("`{value}` is not an RFC 3339 date-time: {e}")))?;
    let locale = locale_of(state);
    let lang = language(&locale);
    let chrono_locale = chrono_locale(&locale);
    let day = match lang {
        "en" => "%B %-d, %Y",
        "de" | "da" | "nb" | "fi" | "cs" | "pl" => "%-d. %B %Y",
        _ => "%-d %B %Y",
    };
    let time = match lang {
        "en" => "%-I:%M %p",
        _ => "%H:%M",
    };
    let zone = if at.offset().local_minus_utc() == 0 {
        "UTC".to_owned()
    } else {
        at.format("UTC%:z").to_string()
    };
    let local = |pattern: &str| at.format_localized(pattern, chrono_locale).to_string();
    match style.unwrap_or("date") {
        "date" => Ok(local(day)),
        "time" => Ok(format!("{} {zone}", local(time))),
        "datetime" => Ok(format!("{}, {} {zone}", local(day), local(time))),
        other => Err(invalid(format!(
            "unknown date style `{other}`: date, time or datetime"
        ))),
    }
}

fn chrono_locale(locale: &str) -> Locale {
    let posix = locale.replace('-', "_");
    let candidates = [
        posix.clone(),
        format!("{}_{}", language(locale), language(locale).to_uppercase()),
    ];
    candidates
        .iter()
        .find_map(|c| Locale::try_from(c.as_str()).ok())
        .unwrap_or(Locale::en_US)
}

/// A decimal amount as an integer count of hundredths (or thousandths...), exactly.
fn decimal(value: &Value) -> Result<(i128, u32), Error> {
    let text = value.to_string();
    let text = text.trim();
    let (negative, digits) = text.strip_prefix('-').map_or((false, text), |d| (true, d));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 18 {
        return Err(invalid(format!("`{text}` is not a decimal amount")));
    }
    let scaled: i128 = format!("{whole}{frac}")
        .parse()
        .map_err(|_| invalid(format!("`{text}` is too large")))?;
    Ok((if negative { -scaled } else { scaled }, frac.len() as u32))
}

/// `{{ item.unit_price | times(item.quantity) }}`: exact decimal multiplication.
fn times(value: &Value, factor: i64) -> Result<String, Error> {
    let (scaled, places) = decimal(value)?;
    let product = scaled * i128::from(factor);
    let divisor = 10i128.pow(places);
    let sign = if product < 0 { "-" } else { "" };
    let (whole, frac) = (product.abs() / divisor, product.abs() % divisor);
    Ok(if places == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac:0width$}", width = places as usize)
    })
}

/// `{{ data.order_total | money(data.currency) }}`: "$1,234.50" in English,
/// "1.234,50 €" in German; amounts are decimal strings, never floats.
fn money(state: &State, value: &Value, currency: &str) -> Result<String, Error> {
    let (scaled, places) = decimal(value)?;
    let digits = match currency {
        "JPY" | "KRW" => 0,
        _ => 2,
    };
    // Round half away from zero to the currency's minor unit.
    let rounded = if places > digits {
        let div = 10i128.pow(places - digits);
        (scaled + scaled.signum() * div / 2) / div
    } else {
        scaled * 10i128.pow(digits - places)
    };
    let unit = 10i128.pow(digits);
    let (whole, frac) = (rounded.abs() / unit, rounded.abs() % unit);
    let locale = locale_of(state);
    let (group, point) = match language(&locale) {
        "en" | "ja" | "zh" | "ko" => (',', '.'),
        "fr" | "nb" | "sv" | "fi" | "cs" | "pl" => ('\u{202f}', ','),
        "de" if locale.ends_with("CH") => ('\u{2019}', '.'),
        _ => ('.', ','),
    };
    let mut number = group_digits(&whole.to_string(), group);
    if digits > 0 {
        number = format!("{number}{point}{frac:0width$}", width = digits as usize);
    }
    let sign = if rounded < 0 { "-" } else { "" };
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        other => other,
    };
    Ok(match language(&locale) {
        "en" | "ja" | "zh" | "ko" if symbol.chars().count() == 1 => {
            format!("{sign}{symbol}{number}")
        }
        "en" | "ja" | "zh" | "ko" => format!("{sign}{symbol}\u{a0}{number}"),
        _ => format!("{sign}{number}\u{a0}{symbol}"),
    })
}

fn group_digits(digits: &str, separator: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// `{{ link | track("welcome") }}` adds the configured tracking parameters and the
/// campaign, keeping the link's own query and fragment.
fn track(
    url: &str,
    campaign: Option<&str>,
    tracking: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let mut parsed =
        url::Url::parse(url).map_err(|e| invalid(format!("cannot track `{url}`: {e}")))?;
    {
        let existing: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let mut pairs = parsed.query_pairs_mut();
        for (key, value) in tracking {
            if !existing.contains(key) {
                pairs.append_pair(key, value);
            }
        }
        if let Some(campaign) = campaign.filter(|_| !existing.iter().any(|k| k == "utm_campaign")) {
            pairs.append_pair("utm_campaign", campaign);
        }
    }
    Ok(parsed.to_string())
}

/// `{{ name | truncate(30) }}`: at most that many characters, cut at a word where one is
/// near, with "…" (or `end="..."`) when cut.
#[allow(clippy::needless_pass_by_value)] // minijinja hands keyword arguments over by value
fn truncate(value: &str, length: usize, kwargs: Kwargs) -> Result<String, Error> {
    let end: Option<&str> = kwargs.get("end")?;
    kwargs.assert_all_used()?;
    let end = end.unwrap_or("…");
    if value.chars().count() <= length {
        return Ok(value.to_owned());
    }
    let keep = length.saturating_sub(end.chars().count());
    let cut: String = value.chars().take(keep).collect();
    let at_word = cut
        .rfind(char::is_whitespace)
        .filter(|&i| i * 4 >= cut.len() * 3)
        .map_or(cut.as_str(), |i| &cut[..i]);
    Ok(format!("{}{end}", at_word.trim_end()))
}

/// `{{ n | plural("{n} item", "{n} items") }}`.
fn plural(n: i64, one: &str, many: &str) -> String {
    let form = if n == 1 { one } else { many };
    form.replace("{n}", &n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, locale: &str) -> String {
        let mut env = Environment::new();
        let tracking = BTreeMap::from([("utm_source".to_owned(), "mailtest".to_owned())]);
        register(&mut env, tracking);
        env.render_str(source, minijinja::context! { locale })
            .unwrap()
    }

    #[test]
    fn money_is_exact_and_local() {
        assert_eq!(render("{{ '1234.5' | money('USD') }}", "en"), "$1,234.50");
        assert_eq!(
            render("{{ '1234.5' | money('EUR') }}", "de"),
            "1.234,50\u{a0}€"
        );
        assert_eq!(
            render("{{ '0.005' | money('CHF') }}", "en"),
            "CHF\u{a0}0.01"
        );
        assert_eq!(render("{{ '1999' | money('JPY') }}", "en"), "¥1,999");
        assert_eq!(
            render("{{ '14.50' | times(3) | money('GBP') }}", "en"),
            "£43.50"
        );
        assert_eq!(render("{{ '0.10' | times(3) }}", "en"), "0.30");
    }

    #[test]
    fn dates_follow_the_recipient_language() {
        let at = "'2026-11-20T09:15:00Z'";
        assert_eq!(
            render(&format!("{{{{ {at} | date }}}}"), "en"),
            "November 20, 2026"
        );
        assert_eq!(
            render(&format!("{{{{ {at} | date }}}}"), "de-AT"),
            "20. November 2026"
        );
        assert_eq!(
            render(&format!("{{{{ {at} | date('datetime') }}}}"), "de"),
            "20. November 2026, 09:15 UTC"
        );
        assert_eq!(
            render("{{ '2026-03-01T18:05:00+01:00' | date('datetime') }}", "en"),
            "March 1, 2026, 6:05 PM UTC+01:00"
        );
        assert_eq!(
            render("{{ '2026-03-01T00:00:00Z' | date }}", "fr"),
            "1 mars 2026"
        );
    }

    #[test]
    fn links_are_tracked_without_losing_their_query() {
        assert_eq!(
            render(
                "{{ 'https://a.example/x?token=1#top' | track('welcome') }}",
                "en"
            ),
            "https://a.example/x?token=1&amp;utm_source=mailtest&amp;utm_campaign=welcome#top"
                .replace("&amp;", "&")
        );
    }

    #[test]
    fn truncation_and_plurals() {
        let long = "{{ 'Anne-Marie Wolfeschlegelsteinhausen Bergerdorff' | truncate(30) }}";
        assert_eq!(render(long, "en"), "Anne-Marie Wolfeschlegelstein…");
        assert_eq!(render("{{ 'short' | truncate(30) }}", "en"), "short");
        assert_eq!(
            render("{{ 'abcdefghij' | truncate(5, end='...') }}", "en"),
            "ab..."
        );
        assert_eq!(
            render("{{ 1 | plural('{n} item', '{n} items') }}", "en"),
            "1 item"
        );
        assert_eq!(
            render("{{ 3 | plural('{n} item', '{n} items') }}", "en"),
            "3 items"
        );
    }
}
