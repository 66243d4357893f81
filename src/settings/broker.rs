//! `broker`'s settings, resolved: the embedded cluster's shape and the catalog whose topics
//! it creates (with the dead-letter topic).

use std::path::PathBuf;

use super::{ConfigFile, SettingsError, configured_layout, load_catalog};
use crate::broker::BrokerSettings;
use crate::catalog::{expand_topics, unique_topics};
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
    let topics = unique_topics(
        catalog
            .topics()
            .into_iter()
            .chain(configured_layout(file).map_or_else(Vec::new, |l| l.topics(&catalog)))
            .chain(expand_topics(&args.topics, &catalog))
            .chain([format!("{}.dlq", crate::catalog::DEFAULT_TOPIC)]),
    );
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
