//! `broker`'s settings, resolved: the embedded cluster's shape and the catalog whose topics
//! it creates (with the dead-letter topic).

use std::path::PathBuf;

use super::{ConfigFile, SettingsError, configured_layout, load_catalog};
use crate::broker::BrokerSettings;
use crate::catalog::expand_topics;
use crate::cli::BrokerArgs;

/// Everything `mailtest broker` runs with.
pub struct EmbeddedBroker {
    pub cluster: BrokerSettings,
    pub ready_file: Option<PathBuf>,
}

pub fn broker(args: &BrokerArgs, file: &ConfigFile) -> Result<EmbeddedBroker, SettingsError> {
    let catalog = load_catalog(args.catalog.as_deref().or(file.catalog.as_deref()))?;
    let listen = match &args.listen {
        Some(text) => Some(text.parse().map_err(|e| {
            SettingsError::invalid(
                "--listen",
                format!("`{text}`: {e} (expected IP:PORT such as 127.0.0.1:9092)"),
            )
        })?),
        None => None,
    };
    // Both built-in layouts, the config file's and the flags' topics, and the dead letters.
    let mut topics = catalog.topics();
    if let Some(layout) = configured_layout(file) {
        topics.extend(layout.topics(&catalog));
    }
    topics.extend(expand_topics(&args.topics, &catalog));
    topics.push(format!("{}.dlq", crate::catalog::DEFAULT_TOPIC));
    let mut seen = std::collections::HashSet::new();
    topics.retain(|t| seen.insert(t.clone()));
    Ok(EmbeddedBroker {
        cluster: BrokerSettings {
            brokers: args.broker_count,
            partitions: args.partitions,
            topics,
            listen,
            group_join_delay: args.group_join_delay.0,
        },
        ready_file: args.ready_file.clone(),
    })
}
