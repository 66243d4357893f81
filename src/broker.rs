//! The embedded Kafka broker: librdkafka's mock cluster, a real Kafka-protocol server on
//! loopback, with the catalog's topics created up front.
//!
//! The mock cluster is not `Send`, so it lives on a thread of its own for as long as the
//! returned handle does; dropping the handle shuts it down.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;

use crate::kafka::KafkaError;

/// What to start.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    pub brokers: u16,
    pub partitions: u16,
    pub topics: Vec<String>,
}

/// A running embedded cluster.
#[derive(Debug)]
pub struct Broker {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Broker {
    /// Starts the cluster and creates the topics; returns once clients can connect.
    pub fn start(settings: &BrokerSettings) -> Result<Self, KafkaError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let count = settings.brokers;
        let settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name("mailtest-broker".into())
            .spawn(move || {
                let cluster = match create(&settings) {
                    Ok(cluster) => cluster,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Returns when the handle sends or is dropped; then the cluster drops.
                let _ = stop_rx.recv();
            })
            .map_err(|e| KafkaError::Config(format!("cannot start broker thread: {e}")))?;
        let bootstrap = ready_rx.recv().map_err(|_| {
            KafkaError::Config("the broker thread ended before it was ready".into())
        })??;
        tracing::info!(%bootstrap, brokers = count, "embedded broker ready");
        Ok(Self {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The `bootstrap.servers` string clients connect with.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn create(
    settings: &BrokerSettings,
) -> Result<MockCluster<'static, rdkafka::producer::DefaultProducerContext>, KafkaError> {
    let cluster = MockCluster::new(i32::from(settings.brokers.max(1)))
        .map_err(|e| KafkaError::client("cannot start the mock cluster", e))?;
    // The mock cluster has no CreateTopics API, so topics are made through its own call.
    let replication = i32::from(settings.brokers.clamp(1, 3));
    for topic in &settings.topics {
        cluster
            .create_topic(topic, i32::from(settings.partitions.max(1)), replication)
            .map_err(|e| KafkaError::client(format!("cannot create topic `{topic}`"), e))?;
    }
    Ok(cluster)
}
