//! A team's own Jinja2 templates render in mailtest as in Python's Jinja2: the shipped
//! `FastAPI` catalog's emails byte for byte, and a matrix of Jinja2 features, each either
//! the same in both or one of the documented differences (README, "Your own templates").

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{mailtest, root};

/// The features that render differently, as the README lists them ("Your own templates").
const DIFFERS: &[&str] = &[
    // `varargs` and `kwargs` inside a macro: minijinja has neither.
    "macro_varargs",
    // Python's `"%s" % value` on strings: write `"%s"|format(value)`.
    "percent_operator",
];

/// Runs `tests/interop/jinja2_render.py` with `stdin`, returning its JSON.
fn python(args: &[&str], stdin: &str) -> Value {
    let mut child = Command::new("python3")
        .arg(root().join("tests/interop/jinja2_render.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "jinja2_render.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_fastapi_catalogs_emails_render_as_jinja2_renders_them() {
    let catalog = root().join("examples/catalogs/fastapi");
    let catalog = catalog.to_str().unwrap();
    for kind in ["email_verification", "password_reset", "welcome"] {
        let fixture = std::fs::read_to_string(format!("{catalog}/{kind}/default.json")).unwrap();
        let expected = python(&["email", catalog, kind], &fixture);
        let ours: Value = serde_json::from_str(
            &mailtest()
                .args(["render", "--catalog", catalog, kind, "--format", "json"])
                .ok(),
        )
        .unwrap();
        for part in ["subject", "html", "text"] {
            if expected[part].is_null() {
                // No text template: mailtest derives the text, the service sends none.
                continue;
            }
            assert_eq!(ours[part], expected[part], "{kind} {part}");
        }
    }
}

#[test]
fn jinja2_features_render_the_same_but_for_the_documented_differences() {
    let dir = root().join("tests/data/jinja2");
    let context: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    let expected = python(&["features", dir.to_str().unwrap()], &context.to_string());
    let templates = mailtest::render::Templates::load(None, Some(&dir)).unwrap();
    let renderer = mailtest::render::Renderer::new(templates);
    let mut layout_context = context.as_object().unwrap().clone();
    layout_context.insert("app_name".to_owned(), "Acme".into());
    let ctx = minijinja::Value::from_serialize(&layout_context);
    let mut differs = Vec::new();
    for (name, theirs) in expected.as_object().unwrap() {
        let ours = renderer
            .render_template(name, &ctx)
            .unwrap_or_else(|e| format!("error: {e}"));
        if theirs.as_str() != Some(ours.as_str()) {
            eprintln!("{name}\n  jinja2:     {theirs}\n  minijinja:  {ours:?}");
            differs.push(
                name.trim_start_matches("features/")
                    .trim_end_matches(".html"),
            );
        }
    }
    assert!(expected.as_object().unwrap().len() >= 20);
    assert_eq!(differs, DIFFERS);
}

/// `render --check` on a team's layout checks the types it names, and a variable the event
/// lacks is named with its file and line (the team's variables are top-level names).
#[test]
fn check_names_an_undefined_top_level_variable_in_a_teams_template() {
    let dir = tempfile::tempdir().unwrap();
    crate::util::copy_dir(&root().join("examples/catalogs/fastapi"), dir.path());
    std::fs::write(
        dir.path()
            .join("templates/emails/password_reset_subject.txt"),
        "Reset {{ account_name|upper }}\n",
    )
    .unwrap();
    let done = mailtest()
        .args(["render", "--check", "--catalog"])
        .arg(dir.path())
        .run();
    done.fails_with(1, "checked 3 emails (3 types): 1 error(s)");
    assert!(
        done.stdout.contains(
            "password_reset_subject.txt:1 (fixture password_reset/default): undefined \
             variable `account_name`"
        ),
        "{}",
        done.stdout
    );
}
