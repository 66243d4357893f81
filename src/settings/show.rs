//! `mailtest config show`: every setting as the environment, the config file (and profile)
//! and the defaults resolve it, and where each value came from. Flags, which win over all of
//! these, belong to single runs and are not shown.

use std::path::Path;

use serde::Serialize;

use super::{
    ConfigFile, DEFAULT_BROKERS, DEFAULT_GROUP, DEFAULT_HTTP, DEFAULT_MAX_SIZE, DEFAULT_SMTP,
    DEFAULT_STORE, DEFAULT_TIMEOUT,
};

/// One resolved setting.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// `env MAILTEST_X`, `mailtest.yaml`, `mailtest.yaml, profile staging`, or `default`.
    pub source: String,
}

type Get = fn(&ConfigFile) -> Option<String>;

fn path(p: Option<&Path>) -> Option<String> {
    p.map(|p| p.display().to_string())
}

/// A setting taken from env, file or default.
struct Row {
    key: &'static str,
    var: Option<&'static str>,
    get: Get,
    default: String,
}

fn row(key: &'static str, var: Option<&'static str>, get: Get, default: &str) -> Row {
    Row {
        key,
        var,
        get,
        default: default.to_owned(),
    }
}

/// The settings that env, file and defaults resolve, in the order shown.
fn rows(timeout: &str) -> Vec<Row> {
    use crate::catalog::DEFAULT_TOPIC;
    let brokers: Get = |f| f.brokers.clone();
    let time: Get = |f| f.timeout.map(|t| t.to_string());
    let catalog: Get = |f| path(f.catalog.as_deref());
    let templates: Get = |f| path(f.templates.as_deref());
    let smtp: Get = |f| f.sink.smtp.clone();
    let http: Get = |f| f.sink.http.clone();
    let store: Get = |f| path(f.sink.store.as_deref());
    let faults: Get = |f| path(f.sink.faults.as_deref());
    let max_size: Get = |f| f.sink.max_size.map(|s| s.to_string());
    let dispatch_smtp: Get = |f| f.dispatch_smtp().map(str::to_owned);
    let group: Get = |f| f.dispatch.group.clone();
    vec![
        row(
            "brokers",
            Some("MAILTEST_BROKERS"),
            brokers,
            DEFAULT_BROKERS,
        ),
        row("timeout", Some("MAILTEST_TIMEOUT"), time, timeout),
        row("catalog", Some("MAILTEST_CATALOG"), catalog, "built in"),
        row(
            "templates",
            Some("MAILTEST_TEMPLATES"),
            templates,
            "built in",
        ),
        row("topic", None, topic, DEFAULT_TOPIC),
        row("sink.smtp", Some("MAILTEST_SMTP"), smtp, DEFAULT_SMTP),
        row("sink.http", Some("MAILTEST_HTTP"), http, DEFAULT_HTTP),
        row("sink.store", Some("MAILTEST_STORE"), store, DEFAULT_STORE),
        row("sink.faults", None, faults, "none"),
        row(
            "sink.max_size",
            None,
            max_size,
            &DEFAULT_MAX_SIZE.to_string(),
        ),
        // The sink's SMTP address is where dispatch sends: one variable for both.
        row(
            "dispatch.smtp",
            Some("MAILTEST_SMTP"),
            dispatch_smtp,
            DEFAULT_SMTP,
        ),
        row("dispatch.group", None, group, DEFAULT_GROUP),
    ]
}

/// The settings, in a fixed order; `env` reads an environment variable.
pub fn entries(file: &ConfigFile, env: &dyn Fn(&str) -> Option<String>) -> Vec<Entry> {
    let mut out = vec![Entry {
        key: "config".into(),
        value: path(file.path.as_deref()).unwrap_or_else(|| "none".into()),
        source: if file.path.is_some() {
            "file"
        } else {
            "default"
        }
        .into(),
    }];
    let timeout = humantime::format_duration(DEFAULT_TIMEOUT).to_string();
    for Row {
        key,
        var,
        get,
        default,
    } in rows(&timeout)
    {
        let from_env = var.and_then(|v| env(v).filter(|s| !s.is_empty()).map(|s| (s, v)));
        let (value, source) = if let Some((value, var)) = from_env {
            (value, format!("env {var}"))
        } else if let Some(value) = get(file) {
            (value, file_source(file, get))
        } else {
            (default, "default".to_owned())
        };
        out.push(Entry {
            key: key.to_owned(),
            value,
            source,
        });
    }
    out.push(profile(file, env));
    for (key, value) in &file.kafka {
        let text = super::yaml_scalar(key, value).unwrap_or_else(|e| e.to_string());
        out.push(Entry {
            source: file_source(file, |f| f.kafka.get(key).map(|_| String::new())),
            key: format!("kafka.{key}"),
            value: text,
        });
    }
    out
}

fn profile(file: &ConfigFile, env: &dyn Fn(&str) -> Option<String>) -> Entry {
    let from_env = env("MAILTEST_PROFILE").is_some_and(|p| Some(&p) == file.profile.as_ref());
    Entry {
        key: "profile".into(),
        value: file.profile.clone().unwrap_or_else(|| "none".into()),
        source: match &file.profile {
            Some(_) if from_env => "env MAILTEST_PROFILE",
            Some(_) => "--profile",
            None => "default",
        }
        .into(),
    }
}

fn topic(f: &ConfigFile) -> Option<String> {
    match (&f.topic, f.topic_per_type) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(true)) => Some(crate::catalog::DEFAULT_PER_TYPE.to_owned()),
        _ => None,
    }
}

/// The file, and the profile when it is the profile that set the value.
fn file_source(file: &ConfigFile, get: impl Fn(&ConfigFile) -> Option<String>) -> String {
    let name = path(file.path.as_deref()).unwrap_or_default();
    match &file.profile {
        Some(p) if file.profiles.get(p).is_some_and(|pf| get(pf).is_some()) => {
            format!("{name}, profile {p}")
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{ConfigFile, entries};

    const FILE: &str = "brokers: base:9092\nsink: {http: 127.0.0.1:9025}\nkafka: {client.id: a}\n\
                        profiles:\n  staging:\n    brokers: staging:9093\n    kafka: {acks: 1}\n";

    fn source(config: &ConfigFile, env: &[(&str, &str)], key: &str) -> (String, String) {
        let env = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let e = entries(config, &env)
            .into_iter()
            .find(|e| e.key == key)
            .unwrap();
        (e.value, e.source)
    }

    #[test]
    fn each_value_names_where_it_came_from() {
        let base = ConfigFile::parse(Path::new("m.yaml"), FILE).unwrap();
        let staging = base.clone().with_profile(Some("staging")).unwrap();
        let cases = [
            (&base, vec![], "brokers", "base:9092", "m.yaml"),
            (
                &staging,
                vec![],
                "brokers",
                "staging:9093",
                "m.yaml, profile staging",
            ),
            (
                &staging,
                vec![("MAILTEST_BROKERS", "env:1")],
                "brokers",
                "env:1",
                "env MAILTEST_BROKERS",
            ),
            (&staging, vec![], "sink.http", "127.0.0.1:9025", "m.yaml"),
            (&base, vec![], "sink.smtp", "127.0.0.1:1025", "default"),
            (&staging, vec![], "kafka.client.id", "a", "m.yaml"),
            (
                &staging,
                vec![],
                "kafka.acks",
                "1",
                "m.yaml, profile staging",
            ),
            (&staging, vec![], "profile", "staging", "--profile"),
            (
                &staging,
                vec![("MAILTEST_PROFILE", "staging")],
                "profile",
                "staging",
                "env MAILTEST_PROFILE",
            ),
            (&ConfigFile::default(), vec![], "config", "none", "default"),
        ];
        for (config, env, key, value, from) in cases {
            assert_eq!(
                source(config, &env, key),
                (value.to_owned(), from.to_owned()),
                "{key}"
            );
        }
    }

    #[test]
    fn profiles_must_exist_and_do_not_nest() {
        let base = ConfigFile::parse(Path::new("m.yaml"), FILE).unwrap();
        let err = base.with_profile(Some("prod")).unwrap_err().to_string();
        assert!(
            err.contains("no profile `prod` in `m.yaml` (it has: staging)"),
            "{err}"
        );
        let nested = "profiles:\n  a:\n    profiles: {b: {}}\n";
        let err = ConfigFile::parse(Path::new("m.yaml"), nested)
            .unwrap_err()
            .to_string();
        assert!(err.contains("profiles do not nest"), "{err}");
    }
}
