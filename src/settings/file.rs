//! The config file, `mailtest.yaml`: shared settings, and named profiles (`--profile
//! staging`) that override them, in the kafkactl and kaf style. Unknown keys are errors, so
//! typos do not pass silently; relative paths are relative to the file.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use super::{CONFIG_FILE, SettingsError};
use crate::value::{ByteSize, Span};

/// The settings of the file, with the chosen profile laid over them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Bootstrap servers.
    pub brokers: Option<String>,
    /// librdkafka properties for every Kafka client (the `-X` flags win over these).
    #[serde(default)]
    pub kafka: IndexMap<String, serde_norway::Value>,
    /// How long to wait for a service, such as `10s`.
    pub timeout: Option<Span>,
    /// A catalog directory adding or replacing event types.
    pub catalog: Option<PathBuf>,
    /// A templates directory replacing the built-in templates.
    pub templates: Option<PathBuf>,
    /// Topic for produced events (single-topic layout).
    pub topic: Option<String>,
    /// One topic per event type.
    pub topic_per_type: Option<bool>,
    #[serde(default)]
    pub sink: SinkConfig,
    #[serde(default)]
    pub dispatch: DispatchConfig,
    /// Named sets of the keys above; `--profile NAME` lays one over the rest.
    #[serde(default)]
    pub profiles: IndexMap<String, ConfigFile>,
    /// The file these came from, if any.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// The profile laid over the file's settings, if any.
    #[serde(skip)]
    pub profile: Option<String>,
}

/// `sink:` keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub smtp: Option<String>,
    pub http: Option<String>,
    /// Where Mailpit's API is served, if anywhere.
    pub mailpit: Option<String>,
    /// Where MailHog's API is served, if anywhere.
    pub mailhog: Option<String>,
    pub store: Option<PathBuf>,
    pub faults: Option<PathBuf>,
    pub max_size: Option<ByteSize>,
    /// Release targets by name: `{name: smtp://host:port}`.
    #[serde(default)]
    pub release_to: std::collections::BTreeMap<String, String>,
    pub release_allow: Option<String>,
}

/// `dispatch:` keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchConfig {
    /// Where to send; default: the sink's `smtp`.
    pub smtp: Option<String>,
    pub group: Option<String>,
}

impl ConfigFile {
    /// The file named by `--config`, else `./mailtest.yaml` when present, else defaults;
    /// with `profile` laid over it.
    pub fn load(explicit: Option<&Path>, profile: Option<&str>) -> Result<Self, SettingsError> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None if Path::new(CONFIG_FILE).is_file() => PathBuf::from(CONFIG_FILE),
            None => {
                return match profile {
                    Some(name) => Err(SettingsError::invalid(
                        "--profile",
                        format!("`{name}`: there is no config file (`{CONFIG_FILE}` or --config)"),
                    )),
                    None => Ok(Self::default()),
                };
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&path, &text)?.with_profile(profile)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, SettingsError> {
        if text.trim().is_empty() {
            return Ok(Self {
                path: Some(path.to_owned()),
                ..Self::default()
            });
        }
        let mut file: Self = serde_norway::from_str(text).map_err(|err| {
            let shown = path.display().to_string();
            SettingsError::Config(crate::located::Located::yaml(&shown, None, &err))
        })?;
        if let Some((name, _)) = file.profiles.iter().find(|(_, p)| !p.profiles.is_empty()) {
            return Err(SettingsError::invalid(
                format!("config `{}`", path.display()),
                format!("profile `{name}` has profiles of its own; profiles do not nest"),
            ));
        }
        let base = path.parent().unwrap_or(Path::new(""));
        file.anchor(base);
        for profile in file.profiles.values_mut() {
            profile.anchor(base);
        }
        file.path = Some(path.to_owned());
        Ok(file)
    }

    /// These settings with the named profile's laid over them.
    pub fn with_profile(mut self, name: Option<&str>) -> Result<Self, SettingsError> {
        let Some(name) = name else {
            return Ok(self);
        };
        let Some(p) = self.profiles.get(name).cloned() else {
            let known: Vec<_> = self.profiles.keys().map(String::as_str).collect();
            return Err(SettingsError::invalid(
                "--profile",
                format!(
                    "no profile `{name}` in `{}` (it has: {})",
                    self.path
                        .as_deref()
                        .unwrap_or(Path::new(CONFIG_FILE))
                        .display(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        self.brokers = p.brokers.or(self.brokers);
        self.kafka.extend(p.kafka);
        self.timeout = p.timeout.or(self.timeout);
        self.catalog = p.catalog.or(self.catalog);
        self.templates = p.templates.or(self.templates);
        if p.topic.is_some() || p.topic_per_type.is_some() {
            (self.topic, self.topic_per_type) = (p.topic, p.topic_per_type);
        }
        let (s, ps) = (&mut self.sink, p.sink);
        s.smtp = ps.smtp.or(s.smtp.take());
        s.http = ps.http.or(s.http.take());
        s.store = ps.store.or(s.store.take());
        s.faults = ps.faults.or(s.faults.take());
        s.max_size = ps.max_size.or(s.max_size.take());
        let (d, pd) = (&mut self.dispatch, p.dispatch);
        d.smtp = pd.smtp.or(d.smtp.take());
        d.group = pd.group.or(d.group.take());
        self.profile = Some(name.to_owned());
        Ok(self)
    }

    /// Makes relative paths relative to the file's directory.
    fn anchor(&mut self, base: &Path) {
        for path in [
            &mut self.catalog,
            &mut self.templates,
            &mut self.sink.store,
            &mut self.sink.faults,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() && !base.as_os_str().is_empty() {
                *path = base.join(&*path);
            }
        }
    }

    /// Where dispatch sends: its own `smtp`, else the sink's.
    pub fn dispatch_smtp(&self) -> Option<&str> {
        self.dispatch.smtp.as_deref().or(self.sink.smtp.as_deref())
    }
}
