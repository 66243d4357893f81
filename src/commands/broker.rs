//! `mailtest broker`: run the embedded Kafka cluster until interrupted.

use anyhow::Result;

use crate::broker::{Broker, BrokerSettings};
use crate::cli::BrokerArgs;
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::settings::{self, ConfigFile, SettingsError};

pub async fn run(args: BrokerArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let catalog = settings::load_catalog(args.catalog.as_deref().or(config.catalog.as_deref()))?;
    let listen = match &args.listen {
        Some(text) => Some(text.parse().map_err(|e| {
            SettingsError::invalid(
                "--listen",
                format!("`{text}`: {e} (expected IP:PORT such as 127.0.0.1:9092)"),
            )
        })?),
        None => None,
    };
    let mut topics = catalog.topics();
    topics.push(format!("{}.dlq", crate::catalog::DEFAULT_TOPIC));
    let stop = super::StopSignal::listen()?;
    let broker = Broker::start(&BrokerSettings {
        brokers: args.broker_count,
        partitions: args.partitions,
        topics,
        listen,
        group_join_delay: args.group_join_delay.0,
    })?;
    printer.data(broker.bootstrap())?;
    if let Some(path) = &args.ready_file {
        super::write_ready_file(path, broker.bootstrap())?;
    }
    printer.status(&format!(
        "broker ready at {} with {} topics; `export MAILTEST_BROKERS={}` to use it; Ctrl-C stops",
        broker.bootstrap(),
        catalog.topics().len() + 1,
        broker.bootstrap()
    ));
    stop.recv().await;
    drop(broker);
    Ok(Outcome::Success)
}
