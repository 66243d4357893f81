//! `mailtest broker`: run the embedded Kafka cluster until interrupted.

use anyhow::Result;

use crate::broker::Broker;
use crate::cli::BrokerArgs;
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::settings::{self, ConfigFile};

pub async fn run(args: BrokerArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let settings = settings::broker(&args, config)?;
    let stop = super::StopSignal::listen()?;
    let broker = Broker::start(&settings.cluster)?;
    printer.data(broker.bootstrap())?;
    if let Some(path) = &settings.ready_file {
        super::write_ready_file(path, broker.bootstrap())?;
    }
    printer.status(&format!(
        "broker ready at {} with {} topics; `export MAILTEST_BROKERS={}` to use it; Ctrl-C stops",
        broker.bootstrap(),
        settings.cluster.topics.len(),
        broker.bootstrap()
    ));
    stop.recv().await;
    drop(broker);
    Ok(Outcome::Success)
}
