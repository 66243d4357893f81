//! The embedded Kafka broker: librdkafka's mock cluster, a real Kafka-protocol server on
//! loopback, with the catalog's topics created up front.
//!
//! The mock cluster is not `Send`, so it lives on a thread of its own for as long as the
//! returned handle does; dropping the handle shuts it down.

mod listen;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use crate::kafka::KafkaError;

/// What to start.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    pub brokers: u16,
    pub partitions: u16,
    pub topics: Vec<String>,
    /// Serve the first broker here and the next ones on the following ports; `None` lets
    /// librdkafka pick.
    pub listen: Option<SocketAddr>,
    /// How long a new consumer group waits for more members before its first assignment
    /// (Kafka's `group.initial.rebalance.delay.ms`, 3 s by default there). Zero here, as
    /// development setups configure it, so a single consumer starts at once.
    pub group_join_delay: Duration,
}

/// A running embedded cluster.
impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            brokers: 1,
            partitions: 3,
            topics: Vec::new(),
            listen: None,
            group_join_delay: Duration::ZERO,
        }
    }
}

#[derive(Debug)]
pub struct Broker {
    bootstrap: String,
    /// Faults for the cluster's thread to apply; dropping it stops the cluster.
    control: Option<mpsc::Sender<Control>>,
    thread: Option<JoinHandle<()>>,
}

/// A fault the mock cluster can play, for reliability tests of clients.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Broker `id` (from 1) drops its connections and refuses new ones.
    Down(i32),
    /// Broker `id` takes connections again.
    Up(i32),
    /// The next requests of this kind are answered with these errors, one each, in order.
    RequestErrors {
        api: rdkafka::types::RDKafkaApiKey,
        errors: Vec<rdkafka::types::RDKafkaRespErr>,
    },
}

type Control = (Fault, mpsc::Sender<Result<(), KafkaError>>);

impl Broker {
    /// Starts the cluster and creates the topics; returns once clients can connect.
    pub fn start(settings: &BrokerSettings) -> Result<Self, KafkaError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (control_tx, control_rx) = mpsc::channel::<Control>();
        let count = settings.brokers;
        let settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name("mailtest-broker".into())
            .spawn(move || {
                // The client owns the cluster; both live until this thread ends.
                let served = create(&settings).and_then(|client| {
                    let served = serve(&client, &settings)?;
                    Ok((client, served))
                });
                let (client, served) = match served {
                    Ok(both) => both,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(served.bootstrap.clone()));
                // Ends when the handle is dropped; then everything drops.
                while let Ok((fault, done)) = control_rx.recv() {
                    let _ = done.send(apply(&client, fault));
                }
                drop(served);
                drop(client);
            })
            .map_err(|e| KafkaError::Internal(format!("cannot start broker thread: {e}")))?;
        let bootstrap = ready_rx.recv().map_err(|_| {
            KafkaError::Internal("the broker thread ended before it was ready".into())
        })??;
        tracing::info!(%bootstrap, brokers = count, "embedded broker ready");
        Ok(Self {
            bootstrap,
            control: Some(control_tx),
            thread: Some(thread),
        })
    }

    /// Plays `fault` on the cluster; returns once it is in force.
    pub fn inject(&self, fault: Fault) -> Result<(), KafkaError> {
        let (done_tx, done_rx) = mpsc::channel();
        let gone = || KafkaError::Internal("the broker thread has ended".into());
        self.control
            .as_ref()
            .ok_or_else(gone)?
            .send((fault, done_tx))
            .map_err(|_| gone())?;
        done_rx.recv().map_err(|_| gone())?
    }

    /// The `bootstrap.servers` string clients connect with.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        drop(self.control.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn apply(client: &BaseProducer, fault: Fault) -> Result<(), KafkaError> {
    let cluster = client
        .client()
        .mock_cluster()
        .ok_or_else(|| KafkaError::Internal("librdkafka made no mock cluster".into()))?;
    let failed = |e| KafkaError::client("the mock cluster refused the fault", e);
    match fault {
        Fault::Down(id) => cluster.broker_down(id).map_err(failed),
        Fault::Up(id) => cluster.broker_up(id).map_err(failed),
        Fault::RequestErrors { api, errors } => {
            cluster.request_errors(api, &errors);
            Ok(())
        }
    }
}

/// A client that owns a new mock cluster with the topics made.
fn create(settings: &BrokerSettings) -> Result<BaseProducer, KafkaError> {
    let client: BaseProducer = ClientConfig::new()
        .set("test.mock.num.brokers", settings.brokers.max(1).to_string())
        .create()
        .map_err(|e| KafkaError::client("cannot start the mock cluster", e))?;
    set_group_join_delay(&client, settings.group_join_delay);
    {
        let cluster = client
            .client()
            .mock_cluster()
            .ok_or_else(|| KafkaError::Internal("librdkafka made no mock cluster".into()))?;
        // The mock cluster has no CreateTopics API, so topics are made through its own call.
        let replication = i32::from(settings.brokers.clamp(1, 3));
        for topic in &settings.topics {
            cluster
                .create_topic(topic, i32::from(settings.partitions.max(1)), replication)
                .map_err(|e| KafkaError::client(format!("cannot create topic `{topic}`"), e))?;
        }
    }
    Ok(client)
}

/// The one mock-cluster setting rdkafka does not wrap.
#[allow(unsafe_code)]
fn set_group_join_delay(client: &BaseProducer, delay: Duration) {
    let delay_ms = i32::try_from(delay.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `client` was created with `test.mock.num.brokers`, so it owns a mock cluster
    // that lives as long as `client`; the setter only takes the cluster's own lock.
    unsafe {
        let cluster = rdkafka_sys::rd_kafka_handle_mock_cluster(client.client().native_ptr());
        if !cluster.is_null() {
            rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, delay_ms);
        }
    }
}

struct Served {
    bootstrap: String,
    _fixed: Option<listen::Forwarders>,
}

/// The address clients bootstrap from: the cluster's own, or fixed ones with `listen`.
fn serve(client: &BaseProducer, settings: &BrokerSettings) -> Result<Served, KafkaError> {
    let cluster = client
        .client()
        .mock_cluster()
        .ok_or_else(|| KafkaError::Internal("librdkafka made no mock cluster".into()))?;
    let own = cluster.bootstrap_servers();
    let Some(listen) = settings.listen else {
        return Ok(Served {
            bootstrap: own,
            _fixed: None,
        });
    };
    let targets: Vec<SocketAddr> = own.split(',').filter_map(|a| a.parse().ok()).collect();
    let forwarders = listen::Forwarders::start(client.client(), listen, &targets)
        .map_err(|e| KafkaError::Config(format!("cannot listen on `{listen}`: {e}")))?;
    Ok(Served {
        bootstrap: forwarders.bootstrap(),
        _fixed: Some(forwarders),
    })
}
