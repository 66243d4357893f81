//! The sink as one running piece: SMTP server and HTTP API over a shared store, started on
//! already-bound listeners and stopped with one call. `mailtest sink`, `mailtest smoke` and
//! the tests compose it the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::ApiSettings;
use crate::smtp::faults::FaultSet;
use crate::smtp::{Server, ServerSettings};
use crate::store::Store;

/// A running sink.
pub struct Sink {
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    pub store: Arc<Store>,
    pub faults: Arc<FaultSet>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sink {
    /// Serves SMTP on `smtp` and the API on `http` over `store` until [`Sink::stop`].
    pub fn start(
        smtp: TcpListener,
        http: TcpListener,
        store: Arc<Store>,
        server: ServerSettings,
        api: ApiSettings,
    ) -> std::io::Result<Self> {
        let (smtp_at, http_at) = (smtp.local_addr()?, http.local_addr()?);
        let (stop, shutdown) = watch::channel(false);
        let faults = server.session.faults.clone();
        let mut tasks = vec![tokio::spawn(Server::serve(
            smtp,
            server,
            store.clone(),
            shutdown.clone(),
        ))];
        let router = crate::api::router(store.clone(), faults.clone(), api);
        tasks.push(tokio::spawn(async move {
            if let Err(err) = crate::api::serve(http, router, shutdown).await {
                tracing::error!(cause = %err, "the API server failed");
            }
        }));
        if store.retention().max_age.is_some() {
            tasks.push(tokio::spawn(age_out(store.clone(), stop.subscribe())));
        }
        Ok(Self {
            smtp: smtp_at,
            http: http_at,
            store,
            faults,
            stop,
            tasks,
        })
    }

    /// Also serves Mailpit's or MailHog's API on `listener`, until the sink stops; returns
    /// its address.
    pub fn serve_compat(
        &mut self,
        flavour: crate::api::Flavour,
        listener: TcpListener,
        api: ApiSettings,
    ) -> std::io::Result<SocketAddr> {
        let at = listener.local_addr()?;
        let (store, faults) = (self.store.clone(), self.faults.clone());
        let router = crate::api::compat_router(flavour, store, faults, api);
        let shutdown = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = crate::api::serve(listener, router, shutdown).await {
                tracing::error!(cause = %err, ?flavour, "a compatible API's server failed");
            }
        }));
        Ok(at)
    }

    /// The API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Stops taking connections, lets sessions in flight finish, and waits for both servers.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Age limits need a clock, not just new arrivals.
async fn age_out(store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if let Err(err) = store.enforce_retention() {
            tracing::error!(cause = %err, "retention failed");
        }
    }
}
