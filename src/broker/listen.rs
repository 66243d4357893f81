//! `--listen`: serve the mock brokers on fixed addresses. librdkafka's mock cluster binds
//! random ports, so each broker gets a forwarder on the fixed port and the cluster is told
//! to advertise that port, which every client then uses after bootstrapping.

use std::ffi::CString;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::client::Client;
use rdkafka::producer::DefaultProducerContext;

/// The forwarders of a cluster; dropping them stops accepting.
pub struct Forwarders {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
}

impl Forwarders {
    /// Binds `first`, `first + 1`, ... for the brokers at `targets` (in broker id order) and
    /// makes the cluster of `client` advertise them.
    pub fn start(
        client: &Client<DefaultProducerContext>,
        first: SocketAddr,
        targets: &[SocketAddr],
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut addrs = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            let port = first.port().checked_add(i as u16).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "port range overflows")
            })?;
            let listener = TcpListener::bind(SocketAddr::new(first.ip(), port))?;
            let addr = listener.local_addr()?;
            addrs.push(addr);
            advertise(client, i as i32 + 1, addr);
            let (target, stop) = (*target, stop.clone());
            std::thread::Builder::new()
                .name(format!("mailtest-listen-{port}"))
                .spawn(move || accept_loop(&listener, target, &stop))?;
        }
        Ok(Self { addrs, stop })
    }

    /// The bootstrap string for the fixed addresses.
    pub fn bootstrap(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        addrs.join(",")
    }
}

impl Drop for Forwarders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake each blocked accept so its thread sees the flag and ends.
        for addr in &self.addrs {
            let _ = TcpStream::connect(addr);
        }
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, stop: &AtomicBool) {
    for client in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(client) = client else { continue };
        if let Err(err) = forward(client, target) {
            tracing::warn!(cause = %err, %target, "cannot forward a connection to the mock broker");
        }
    }
}

/// Copies bytes both ways between a client and the mock broker, on two threads.
fn forward(client: TcpStream, target: SocketAddr) -> io::Result<()> {
    let broker = TcpStream::connect(target)?;
    client.set_nodelay(true)?;
    broker.set_nodelay(true)?;
    let (mut client_read, mut broker_write) = (client.try_clone()?, broker.try_clone()?);
    let (mut broker_read, mut client_write) = (broker, client);
    std::thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut broker_write);
        let _ = broker_write.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = io::copy(&mut broker_read, &mut client_write);
        let _ = client_write.shutdown(std::net::Shutdown::Write);
    });
    Ok(())
}

/// Makes broker `id` advertise `addr` in metadata.
#[allow(unsafe_code)]
fn advertise(client: &Client<DefaultProducerContext>, id: i32, addr: SocketAddr) {
    let host = CString::new(addr.ip().to_string()).expect("an IP address has no NUL byte");
    // SAFETY: `client` owns a mock cluster (it was created with `test.mock.num.brokers`) that
    // lives as long as `client`, which outlives this call; the function copies `host` and
    // only takes the cluster's own lock.
    unsafe {
        let cluster = rdkafka_sys::rd_kafka_handle_mock_cluster(client.native_ptr());
        if !cluster.is_null() {
            rdkafka_sys::rd_kafka_mock_broker_set_host_port(
                cluster,
                id,
                host.as_ptr(),
                i32::from(addr.port()),
            );
        }
    }
}
