//! The command line itself: help, completions, and how bad input is met (message and exit code).

use clap::CommandFactory;
use mailtest::cli::Cli;

use crate::util::{mailtest, root, snapshot_filters};

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn help_lists_every_subcommand() {
    let out = mailtest().args(["--help"]).ok();
    insta::assert_snapshot!(out);
}

#[test]
fn completions_match_the_committed_files() {
    for (shell, file) in [
        ("bash", "mailtest.bash"),
        ("zsh", "_mailtest"),
        ("fish", "mailtest.fish"),
        ("powershell", "_mailtest.ps1"),
        ("elvish", "mailtest.elv"),
    ] {
        let generated = mailtest().args(["completions", shell]).ok();
        let committed =
            std::fs::read_to_string(root().join("completions").join(file)).unwrap_or_default();
        assert!(
            generated == committed,
            "completions/{file} is out of date: run scripts/completions.sh"
        );
    }
}

#[test]
fn man_pages_match_the_committed_files() {
    let dir = tempfile::tempdir().unwrap();
    mailtest().args(["-q", "man"]).arg(dir.path()).ok();
    let names = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .map(|r| r.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let generated = names(dir.path());
    assert!(generated.len() > 15, "a page per subcommand: {generated:?}");
    assert_eq!(
        generated,
        names(&root().join("man")),
        "run scripts/completions.sh"
    );
    for name in generated {
        let page = std::fs::read(dir.path().join(&name)).unwrap();
        let committed = std::fs::read(root().join("man").join(&name)).unwrap();
        assert!(
            page == committed,
            "man/{name:?} is out of date: run scripts/completions.sh"
        );
    }
    let smoke = std::fs::read_to_string(dir.path().join("mailtest-smoke.1")).unwrap();
    assert!(smoke.contains("no\\-dispatch"), "{smoke}");
}

#[test]
fn config_show_names_each_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("fixtures/config/mailtest.yaml"),
        dir.path().join("mailtest.yaml"),
    )
    .unwrap();
    let out = mailtest()
        .dir(dir.path())
        .env("MAILTEST_TIMEOUT", "45s")
        .args(["--profile", "staging", "config", "show"])
        .ok();
    insta::assert_snapshot!(out);
    mailtest()
        .dir(dir.path())
        .args(["--profile", "prod", "config", "show"])
        .run()
        .fails_with(
            2,
            "no profile `prod` in `mailtest.yaml` (it has: staging, ci)",
        );
}

#[test]
fn commands_take_their_addresses_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mailtest.yaml"),
        "sink: {http: 127.0.0.1:9}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("spec.yaml"),
        "expect:\n  - name: a\n    match: {to: a@example.com}\n",
    )
    .unwrap();
    mailtest()
        .dir(dir.path())
        .args(["verify", "spec.yaml", "--timeout", "1s"])
        .run()
        .fails_with(3, "127.0.0.1:9");
}

/// One bad-input case: files to write, arguments, expected exit code.
struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    code: i32,
}

const VALID: &str = r#"{"event_id": "0b7f4f0e-2f7d-4a53-9a53-1f1e4c1d2e3f", "event_type": "welcome",
 "occurred_at": "2026-11-20T09:00:00Z", "schema_version": 1,
 "recipient": {"email": "a@example.com", "name": "A"}, "locale": "en",
 "data": {"username": "a", "dashboard_link": "https://app.example.com/"}}"#;

const CASES: &[Case] = &[
    Case {
        name: "malformed_json",
        files: &[(
            "bad.json",
            "{\n  \"event_type\": \"welcome\",\n  \"data\": {,}\n}\n",
        )],
        args: &["produce", "bad.json"],
        code: 2,
    },
    Case {
        name: "malformed_yaml",
        files: &[(
            "bad.yaml",
            "event_type: welcome\ndata:\n  username: [unclosed\n",
        )],
        args: &["produce", "bad.yaml"],
        code: 2,
    },
    Case {
        name: "unknown_event_type",
        files: &[(
            "e.jsonl",
            "{\"event_id\": \"0b7f4f0e-2f7d-4a53-9a53-1f1e4c1d2e3f\", \"event_type\": \"nope\", \"occurred_at\": \"2026-11-20T09:00:00Z\", \"schema_version\": 1, \"recipient\": {\"email\": \"a@example.com\", \"name\": \"A\"}, \"locale\": \"en\", \"data\": {}}\n",
        )],
        args: &["produce", "e.jsonl"],
        code: 2,
    },
    Case {
        name: "missing_and_wrong_fields",
        files: &[(
            "events.yaml",
            "- event_id: 0b7f4f0e-2f7d-4a53-9a53-1f1e4c1d2e3f\n  event_type: email_verification\n  occurred_at: 2026-11-20T09:00:00Z\n  schema_version: 1\n  recipient: {email: a@example.com, name: A}\n  locale: en\n  data:\n    username: a\n    expires_at: tomorrow\n- event_id: not-a-uuid\n  event_type: welcome\n  occurred_at: 2026-11-20T09:00:00Z\n  schema_version: 1\n  recipient: {email: nobody, name: B}\n  locale: en\n  data: {username: b, dashboard_link: 'https://x.example'}\n",
        )],
        args: &["produce", "events.yaml"],
        code: 2,
    },
    Case {
        name: "unreachable_broker",
        files: &[("ok.json", VALID)],
        args: &["produce", "ok.json", "-b", "127.0.0.1:1", "--timeout", "1s"],
        code: 3,
    },
    Case {
        name: "unknown_kafka_property",
        files: &[("ok.json", VALID)],
        args: &["produce", "ok.json", "-X", "no.such.property=1"],
        code: 2,
    },
    Case {
        name: "bad_from",
        files: &[],
        args: &["consume", "--from", "yesterday"],
        code: 2,
    },
    Case {
        name: "bad_timeout",
        files: &[],
        args: &["consume", "--timeout", "soon"],
        code: 2,
    },
    Case {
        name: "unknown_type_flag",
        files: &[],
        args: &["produce", "--dry-run", "--type", "newsletter"],
        code: 2,
    },
    Case {
        name: "config_unknown_key",
        files: &[("mailtest.yaml", "brokers: 127.0.0.1:9092\nbrokres: typo\n")],
        args: &["produce", "--dry-run"],
        code: 2,
    },
    Case {
        name: "smoke_scenario_typo",
        files: &[(
            "s.yaml",
            "expect:\n  - name: a\n    match: {to: a@b}\n    asert: {}\n",
        )],
        args: &["smoke", "--scenario", "s.yaml"],
        code: 2,
    },
    Case {
        name: "smoke_broker_unreachable",
        files: &[],
        args: &["smoke", "--brokers", "127.0.0.1:1", "--timeout", "1s"],
        code: 3,
    },
    Case {
        name: "usage_error",
        files: &[],
        args: &["produce", "--rate"],
        code: 2,
    },
];

#[test]
fn bad_input_gets_a_clear_message_and_its_exit_code() {
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in case.files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let done = mailtest().dir(dir.path()).args(case.args).run();
        assert_eq!(done.code, case.code, "{}: {}", case.name, done.stderr);
        assert!(
            !done.stderr.contains("panicked"),
            "{}: {}",
            case.name,
            done.stderr
        );
        snapshot_filters().bind(|| {
            insta::assert_snapshot!(format!("bad_input_{}", case.name), done.stderr);
        });
    }
}
