//! `mailtest sink`: the capture SMTP server over a store, and `sink list|show` to read one.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::api::Flavour;
use crate::capture::{Reader, ReaderStatus, Replica};
use crate::cli::{
    MessageFilterArgs, OutputFormat, SinkAction, SinkArgs, SinkExportArgs, SinkListArgs,
    SinkShowArgs,
};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::settings::{self, ConfigFile, SettingsError};
use crate::sink::Sink;
use crate::store::{Query, Store};

pub async fn run(args: SinkArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let dir = |store| settings::store_dir(store, config);
    match &args.action {
        Some(SinkAction::List(list)) => self::list(list, &open(&dir(&list.store))?, printer),
        Some(SinkAction::Show(show)) => self::show(show, &open(&dir(&show.store))?),
        Some(SinkAction::Export(export)) => {
            self::export(export, &open(&dir(&export.store))?, printer)
        }
        None => serve(settings::sink(&args, config)?, printer).await,
    }
}

async fn bind(flag: &str, addr: SocketAddr, printer: &Printer) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SettingsError::invalid(flag, format!("cannot listen on `{addr}`: {e}")))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        printer.warn(&format!("{flag} `{bound}` is reachable from other hosts"));
    }
    Ok(listener)
}

async fn serve(mut settings: settings::Sink, printer: &Printer) -> Result<Outcome> {
    super::raise_open_file_limit();
    let (store, log) = Log::attach(settings.capture.take(), open_store(&settings)?, printer)?;
    let store = Arc::new(store);
    store.enforce_retention()?;
    let (smtp, http) = (
        bind("--smtp", settings.smtp, printer).await?,
        bind("--http", settings.http, printer).await?,
    );
    let mut compat = Vec::new();
    for (flavour, flag, addr) in [
        (Flavour::Mailpit, "--mailpit", settings.mailpit),
        (Flavour::MailHog, "--mailhog", settings.mailhog),
    ] {
        if let Some(addr) = addr {
            compat.push((flavour, bind(flag, addr, printer).await?));
        }
    }
    let stop = super::StopSignal::listen()?;
    let api = settings.api.clone();
    let mut sink = Sink::start(smtp, http, store.clone(), settings.server, settings.api)?;
    let mut lines = first_lines(&sink, printer);
    for (flavour, listener) in compat {
        let at = sink.serve_compat(flavour, listener, api.clone())?;
        let (key, name) = match flavour {
            Flavour::Mailpit => ("MAILTEST_MAILPIT", "Mailpit"),
            Flavour::MailHog => ("MAILTEST_MAILHOG", "MailHog"),
        };
        lines.push(format!("{key}=http://{at}"));
        printer.status(&format!("sink: {name}'s API on http://{at}/"));
    }
    if let Some(path) = &settings.ready_file {
        super::write_ready_file(path, &lines.join("\n"))?;
    }
    let kept = match &settings.store {
        None => "in memory".to_owned(),
        Some(dir) => format!("in `{}`", dir.display()),
    };
    printer.status(&format!(
        "sink: SMTP on {}, inbox and API on {}/, {} messages kept {kept}; Ctrl-C stops",
        sink.smtp,
        sink.url(),
        store.len()
    ));
    let log = log.start_reading(&store, settings.store.as_deref(), printer)?;
    let status = status_line(store.clone(), printer);
    // SIGTERM (a service manager, CI, `docker stop`) drains like Ctrl-C.
    stop.recv().await;
    status.abort();
    sink.stop().await;
    log.stop();
    printer.status(&format!("sink: stopped with {} messages kept", store.len()));
    Ok(Outcome::Success)
}

/// The capture log's parts of a sink: the replica writer, and the reader once started.
#[derive(Default)]
struct Log {
    replica: Option<Replica>,
    reader: Option<(settings::Capture, Arc<ReaderStatus>)>,
    running: Option<Reader>,
}

impl Log {
    /// Puts the capture log in front of the store (a replica) and its reader's status
    /// behind it (a reader).
    fn attach(
        capture: Option<settings::Capture>,
        store: Store,
        printer: &Printer,
    ) -> Result<(Store, Self)> {
        let Some(capture) = capture else {
            return Ok((store, Self::default()));
        };
        let replica = Replica::start(capture.log.clone())?;
        if let Some(why) = replica.unreachable() {
            printer.warn(&format!(
                "the capture log at {} does not answer yet ({why}); mail gets 451 until it does",
                capture.log.connection.brokers
            ));
        }
        printer.status(&format!(
            "sink: capturing into `{}` at {} as replica `{}`",
            capture.log.topic, capture.log.connection.brokers, capture.log.replica
        ));
        let mut store = store.with_upstream(replica.upstream());
        let mut log = Self {
            replica: Some(replica),
            ..Self::default()
        };
        if capture.read {
            let status = Arc::new(ReaderStatus::new(&capture.log.topic));
            store = store.with_probe(status.clone());
            log.reader = Some((capture, status));
        }
        Ok((store, log))
    }

    /// Starts the reader, if this sink is one; its offsets are kept beside a store on disk.
    fn start_reading(
        mut self,
        store: &Arc<Store>,
        dir: Option<&Path>,
        printer: &Printer,
    ) -> Result<Self> {
        if let Some((capture, status)) = self.reader.take() {
            let offsets = dir.map(|d| d.join("capture-offsets.json"));
            let conn = &capture.log.connection;
            let topic = &capture.log.topic;
            let reader = Reader::start(conn, topic, store.clone(), status, offsets)?;
            printer.status(&format!(
                "sink: reading every replica's mail from `{topic}`"
            ));
            self.running = Some(reader);
        }
        Ok(self)
    }

    fn stop(self) {
        if let Some(reader) = self.running {
            reader.stop();
        }
        if let Some(replica) = self.replica {
            replica.stop();
        }
    }
}

/// The store the settings name, with its `.eml` mirror and retention.
fn open_store(settings: &settings::Sink) -> Result<Store> {
    let store = match &settings.store {
        None => Store::memory(),
        Some(dir) => Store::open(dir, settings.fsync)?,
    };
    let store = match &settings.eml_dir {
        Some(dir) => store.with_eml_dir(dir)?,
        None => store,
    };
    Ok(store.with_retention(settings.retention))
}

/// The ready file's lines for SMTP, the API and the providers' send APIs, which share the
/// HTTP port under their own paths (an SDK needs only its endpoint set to that URL).
fn first_lines(sink: &Sink, printer: &Printer) -> Vec<String> {
    printer.status(&format!(
        "sink: SendGrid, Amazon SES (v1 and v2), Postmark, Resend and Mailgun send APIs on {}/ (set an SDK's endpoint to it)",
        sink.url()
    ));
    vec![
        format!("MAILTEST_SMTP={}", sink.smtp),
        format!("MAILTEST_HTTP={}", sink.url()),
        format!("MAILTEST_PROVIDERS={}", sink.url()),
    ]
}

/// A live one-line status on a terminal: messages stored and the recent rate.
fn status_line(store: Arc<Store>, printer: &Printer) -> tokio::task::JoinHandle<()> {
    let bar = printer.progress(None, "waiting for mail");
    tokio::spawn(async move {
        let (mut last, mut at) = (store.len(), Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = store.len();
            let rate = now.saturating_sub(last) as f64 / at.elapsed().as_secs_f64();
            bar.set_message(format!("{now} messages stored, {rate:.0}/s"));
            bar.tick();
            (last, at) = (now, Instant::now());
        }
    })
}

fn open(dir: &Path) -> Result<Store> {
    if !dir.join("messages.log").exists() {
        return Err(SettingsError::invalid(
            "--store",
            format!("`{}` holds no mailtest store", dir.display()),
        )
        .into());
    }
    Ok(Store::open_read_only(dir)?)
}

fn query(filter: &MessageFilterArgs) -> Query {
    Query {
        to: filter.to.clone(),
        mailbox: filter.mailbox.clone(),
        subject: filter.subject.clone(),
        header: filter.header.clone(),
        text: filter.text.clone(),
        ..Query::default()
    }
}

fn list(args: &SinkListArgs, store: &Store, printer: &Printer) -> Result<Outcome> {
    let found = store.list(&query(&args.filter));
    if args.output == OutputFormat::Json {
        for summary in &found {
            printer.data(&serde_json::to_string(&**summary)?)?;
        }
        return Ok(Outcome::Success);
    }
    let mut table = printer.table(&["id", "received", "from", "to (envelope)", "subject", "size"]);
    for s in &found {
        table.add_row(vec![
            s.id.to_string(),
            s.received_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            s.envelope.mail_from.clone(),
            s.envelope.rcpt_to.join(", "),
            s.subject.clone().unwrap_or_default(),
            s.size.to_string(),
        ]);
    }
    printer.data(&table.to_string())?;
    printer.status(&format!("{} of {} messages", found.len(), store.len()));
    Ok(Outcome::Success)
}

fn show(args: &SinkShowArgs, store: &Store) -> Result<Outcome> {
    let raw = store.raw(args.id).map_err(|_| {
        SettingsError::invalid("id", format!("no message {} in the store", args.id))
    })?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &raw)?;
    Ok(Outcome::Success)
}

fn export(args: &SinkExportArgs, store: &Store, printer: &Printer) -> Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let found = store.list(&query(&args.filter));
    for summary in &found {
        let raw = store.raw(summary.id)?;
        let name = format!("{}.eml", summary.id);
        // Whole files only, never written through a link planted in the folder.
        crate::store::write_file(&args.out, &name, &raw)
            .with_context(|| format!("cannot write `{}`", args.out.join(&name).display()))?;
    }
    printer.status(&format!(
        "{} messages written to `{}`",
        found.len(),
        args.out.display()
    ));
    Ok(Outcome::Success)
}
