//! The conditions, each made to pass and to fail, with the reasons they give.

use std::collections::BTreeMap;

use super::*;

fn check(yaml: &str) -> Check {
    serde_norway::from_str(yaml).unwrap()
}

fn vars() -> Vars {
    Vars::new(BTreeMap::from([(
        "user".to_owned(),
        "alice@example.com".to_owned(),
    )]))
}

/// Each kind of condition, with a target it passes and one it fails.
#[test]
fn every_text_condition_passes_and_fails() {
    let text = |s: &'static str| Target::Text(Some(s));
    passes_and_fails(vec![
        ("Welcome", text("Welcome"), text("welcome")),
        (
            "{equals: '{{ user }}'}",
            text("alice@example.com"),
            text("bob@example.com"),
        ),
        ("{contains: Verify}", text("Verify now"), text("verify now")),
        ("{contains: [a, b]}", text("a and b"), text("a only")),
        ("{not_contains: '{{'}", text("clean"), text("Hi {{ name }}")),
        ("{regex: '^Order \\d+$'}", text("Order 42"), text("Order x")),
        ("{not_regex: 'token='}", text("none"), text("?token=1")),
        ("{exists: true}", text(""), Target::Text(None)),
        ("{exists: false}", Target::Text(None), text("x")),
        ("{one_of: [a, b]}", text("b"), text("c")),
        ("{min: 3, max: 5}", text("four"), text("toolong")),
    ]);
}

#[test]
fn every_list_and_number_condition_passes_and_fails() {
    let list = [
        "Alice@Example.com".to_owned(),
        "audit@example.com".to_owned(),
    ];
    let links = [
        "https://a.example/x".to_owned(),
        "http://b.example".to_owned(),
    ];
    passes_and_fails(vec![
        ("alice@example.com", addresses(&list), addresses(&list[1..])),
        ("{contains: audit}", addresses(&list), addresses(&list[..1])),
        (
            "{not_contains: audit}",
            addresses(&list[..1]),
            addresses(&list),
        ),
        (
            "{one_of: [alice@example.com]}",
            addresses(&list[..1]),
            addresses(&list),
        ),
        ("{regex: '^http:'}", urls(&links), urls(&links[..1])),
        ("{all_match: '^https:'}", urls(&links[..1]), urls(&links)),
        ("{all_match: '^https:'}", urls(&links[..1]), urls(&[])),
        ("{min: 2}", urls(&links), urls(&links[..1])),
        (
            "{max: 102KB}",
            Target::Number(4000),
            Target::Number(200_000),
        ),
        ("0", Target::Number(0), Target::Number(1)),
    ]);
}

fn addresses(l: &[String]) -> Target<'_> {
    Target::List(l, true)
}

fn urls(l: &[String]) -> Target<'_> {
    Target::List(l, false)
}

/// Each condition passes on the first target and fails on the second.
fn passes_and_fails(cases: Vec<(&str, Target, Target)>) {
    for (yaml, pass, fail) in cases {
        let c = check(yaml);
        assert_eq!(c.eval("it", pass, &vars()), Ok(()), "{yaml} should pass");
        assert!(c.eval("it", fail, &vars()).is_err(), "{yaml} should fail");
    }
}

#[test]
fn reasons_say_what_differed() {
    let c = check("{contains: Verify}");
    assert_eq!(
        c.eval("subject", Target::Text(Some("Welcome")), &vars())
            .unwrap_err(),
        "subject \"Welcome\" does not contain \"Verify\""
    );
    let c = check("{max: 10}");
    assert_eq!(
        c.eval("size", Target::Number(11), &vars()).unwrap_err(),
        "size is 11, over the maximum 10"
    );
}

#[test]
fn placeholders_wait_for_their_value() {
    let c = check("{contains: '{{ token }}'}");
    let reason = c
        .eval("text", Target::Text(Some("x")), &vars())
        .unwrap_err();
    assert!(
        reason.contains(UNSET) && reason.contains("`token`"),
        "{reason}"
    );
}

#[test]
fn bad_conditions_are_refused_where_they_are() {
    let err = serde_norway::from_str::<Check>("{contians: x}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `contians`"), "{err}");
    let err = serde_norway::from_str::<Check>("{regex: '(unclosed'}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid regex"), "{err}");
    let err = serde_norway::from_str::<Check>("{max: lots}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid amount `lots`"), "{err}");
}
