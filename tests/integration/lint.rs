//! `mailtest render --check`: each lint fails on a template that breaks it and passes the
//! built-in templates; findings name rule, template, fixture and line.

use crate::render::templates_with;
use crate::util::mailtest;

#[test]
fn lints_find_what_breaks_in_inboxes_and_pass_clean_templates() {
    let clean = mailtest().args(["render", "--check"]).run();
    assert_eq!(
        (clean.code, clean.stdout.as_str()),
        (0, ""),
        "{}",
        clean.stderr
    );
    assert!(
        clean
            .stderr
            .contains("checked 16 emails (8 types): 0 error(s), 0 warning(s)")
    );
    let body = "{% extends \"_layout/base.html\" %}\n{% block content %}\n<img src=\"https://cdn.example.com/logo.png\">\n<a href=\"#\">here</a> <a href=\"http://app.example.com\">app</a>\n<table><tr><td>cell</tr></table>\n{% endblock %}\n";
    let long = "A subject line that goes on and on well past what any inbox list shows in one row";
    let dir = templates_with(&[("welcome/body.html", body), ("welcome/subject.txt", long)]);
    std::fs::remove_file(dir.path().join("welcome/body.txt")).unwrap();
    let done = mailtest()
        .args(["render", "--check", "--format", "json", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(done.code, 1, "{}", done.stderr);
    let found: Vec<(String, String, u64)> = crate::util::json_lines(&done.stdout)
        .iter()
        .filter(|f| f["fixture"] == "welcome/default")
        .map(|f| {
            let file = f["file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            (
                f["rule"].as_str().unwrap().to_owned(),
                file,
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("text-part", "body.html", 0),
        ("subject-length", "subject.txt", 0),
        ("img-alt", "body.html", 3),
        ("img-width", "body.html", 3),
        ("link-placeholder", "body.html", 4),
        ("link-https", "body.html", 4),
        ("unbalanced-tag", "body.html", 5),
    ];
    let expected: Vec<(String, String, u64)> = expected
        .iter()
        .map(|(r, f, l)| ((*r).to_owned(), (*f).to_owned(), *l))
        .collect();
    assert_eq!(found, expected);
    // Warnings alone pass, unless --strict.
    let preheader = "A preheader that keeps going and going, far beyond the ninety characters an inbox preview shows";
    let dir = templates_with(&[
        ("welcome/subject.txt", long),
        ("account_unlocked/preheader.txt", preheader),
    ]);
    let lenient = mailtest()
        .args(["render", "--check", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(lenient.code, 0, "{}", lenient.stdout);
    for rule in ["warning[subject-length]", "warning[preheader-length]"] {
        assert!(lenient.stdout.contains(rule), "{rule}: {}", lenient.stdout);
    }
    let strict = mailtest()
        .args(["render", "--check", "--strict", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(strict.code, 1);
}

#[test]
fn html_past_gmails_clipping_limit_is_an_error() {
    let padding = format!(
        "{{% extends \"_layout/base.html\" %}}{{% block content %}}<p>{}</p>{{% endblock %}}",
        "x".repeat(110 * 1024)
    );
    let dir = templates_with(&[("account_unlocked/body.html", &padding)]);
    let done = mailtest()
        .args(["render", "--check", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(done.code, 1);
    assert!(
        done.stdout.contains("error[html-size]") && done.stdout.contains("Gmail clips past 104448"),
        "{}",
        done.stdout
    );
}

#[test]
fn an_empty_subject_is_an_error() {
    let dir = templates_with(&[("account_unlocked/subject.de.txt", "{# forgot #}\n")]);
    let done = mailtest()
        .args(["render", "--check", "--templates"])
        .arg(dir.path())
        .run();
    assert_eq!(done.code, 1);
    let wanted = format!(
        "error[subject]: {} (fixture account_unlocked/de): empty subject",
        dir.path().join("account_unlocked/subject.de.txt").display()
    );
    assert_eq!(done.stdout.trim(), wanted);
}

/// A type of the team's own catalog with no fixtures is still checked (on a generated event
/// in each locale), a template that uses a field the events do not carry is reported with
/// that field's name, filters or not, and `render TYPE` previews a generated event.
#[test]
fn types_without_fixtures_are_checked_and_undefined_fields_named() {
    let catalog = tempfile::tempdir().unwrap();
    let folder = catalog.path().join("newsletter_confirmation");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("schema.yaml"),
        "event_type: newsletter_confirmation\ndata:\n  list: {type: string, one_of: [weekly, monthly]}\n",
    )
    .unwrap();
    let body = "<p>{{ data.list }}</p>\n<p>{{ data.list_name | upper }}</p>\n";
    let templates = templates_with(&[
        (
            "newsletter_confirmation/subject.txt",
            "Confirm {{ data.list }}",
        ),
        ("newsletter_confirmation/preheader.txt", "One click left"),
        ("newsletter_confirmation/body.html", body),
    ]);
    let check = |templates: &std::path::Path| {
        mailtest()
            .args(["render", "--check", "--format", "json", "--catalog"])
            .arg(catalog.path())
            .arg("--templates")
            .arg(templates)
            .run()
    };
    let done = check(templates.path());
    assert_eq!(done.code, 1, "{}", done.stderr);
    let found = crate::util::json_lines(&done.stdout);
    let render: Vec<_> = found.iter().filter(|f| f["rule"] == "render").collect();
    assert_eq!(render.len(), 2, "one per locale: {found:?}");
    for f in &render {
        assert_eq!(f["message"], "undefined variable `data.list_name`", "{f}");
        assert_eq!(f["line"], 2);
        assert!(
            f["fixture"]
                .as_str()
                .unwrap()
                .starts_with("newsletter_confirmation/generated.")
        );
    }
    assert!(
        done.stderr.contains("checked 18 emails (9 types)"),
        "{}",
        done.stderr
    );

    let fixed = "<p>{{ data.list }}</p>\n";
    std::fs::write(
        templates.path().join("newsletter_confirmation/body.html"),
        fixed,
    )
    .unwrap();
    let shown = mailtest()
        .args([
            "render",
            "newsletter_confirmation",
            "--format",
            "subject",
            "--catalog",
        ])
        .arg(catalog.path())
        .arg("--templates")
        .arg(templates.path())
        .ok();
    assert!(
        ["Confirm weekly", "Confirm monthly"].contains(&shown.trim()),
        "{shown}"
    );
}
