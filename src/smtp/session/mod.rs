//! One SMTP session: the state machine from greeting to QUIT, writing replies in batches so
//! pipelined commands get pipelined answers, and handing each accepted message on.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::watch;

mod message;
mod pace;
mod secure;
mod transcript;

use std::sync::Arc;

use super::auth::AuthPolicy;
use super::command::{self, Command, Param};
use super::conn::Conn;
use super::faults::{FaultSet, Moment};
use super::lines::{self, Line};
use crate::mail::Deliver;
use transcript::Transcript;

/// Limits and names of a server's sessions.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The name the server greets with.
    pub hostname: String,
    /// Largest message accepted (SIZE); larger ones get 552 and the session goes on.
    pub max_size: u64,
    /// How long a client may stay silent.
    pub timeout: Duration,
    pub max_recipients: usize,
    /// Errors tolerated before the session is closed with 421.
    pub max_errors: u32,
    /// STARTTLS is offered when set.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// AUTH is offered when set.
    pub auth: Option<AuthPolicy>,
    /// Scripted faults, consulted at each connection and command.
    pub faults: Arc<FaultSet>,
    /// What a line ending in a bare LF gets.
    pub bare_lf: BareLf,
    /// Offer AUTH before STARTTLS when TLS is on (by default only after, as Mailpit does).
    pub auth_before_tls: bool,
}

/// What a session does with a line that ends in a bare LF instead of CR LF (RFC 5321
/// 2.3.8 forbids it; a client that sends one has a bug worth seeing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BareLf {
    /// Keep the message byte for byte and flag it (`bare_lf` in its envelope).
    #[default]
    Keep,
    /// Answer `550 5.5.2` and close the session, as postfix's
    /// `smtpd_forbid_bare_newline = yes` does.
    Reject,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            hostname: "mailtest.localhost".into(),
            max_size: 25 * 1024 * 1024,
            timeout: Duration::from_secs(300),
            max_recipients: 1000,
            max_errors: 20,
            tls: None,
            auth: Some(AuthPolicy::default()),
            faults: Arc::default(),
            bare_lf: BareLf::Keep,
            auth_before_tls: false,
        }
    }
}

/// RFC 5321 allows 512 octets; real clients send longer AUTH lines, so allow more.
const MAX_COMMAND_LINE: usize = 4096;

/// The transaction and session state.
#[derive(Default)]
struct State {
    helo: Option<String>,
    esmtp: bool,
    from: Option<String>,
    rcpt: Vec<String>,
    smtputf8: bool,
    body_8bit: bool,
    /// The message data had a line ending in a bare LF.
    bare_lf: bool,
    /// BDAT chunks so far, `None` outside a BDAT transfer; oversize chunks are dropped.
    chunks: Option<Vec<u8>>,
    chunks_too_big: bool,
    errors: u32,
    transcript: Transcript,
    tls: bool,
    /// The authenticated user.
    user: Option<String>,
    /// A slow link's pace, from a `link_speed` fault.
    pace: Option<pace::Pace>,
}

impl State {
    fn reset(&mut self) {
        self.from = None;
        self.rcpt.clear();
        self.smtputf8 = false;
        self.body_8bit = false;
        self.bare_lf = false;
        self.chunks = None;
        self.chunks_too_big = false;
    }

    /// Logs a transcript line, formatting it only when it will be kept.
    fn log(&mut self, line: impl FnOnce() -> String) {
        if self.transcript.wants() {
            self.transcript.log(line());
        } else {
            self.transcript.skip();
        }
    }
}

/// A session over `stream` from `peer`, until QUIT, close, timeout or shutdown.
pub struct Session<'a, S> {
    io: BufReader<Conn<S>>,
    out: Vec<u8>,
    peer: SocketAddr,
    config: &'a SessionConfig,
    deliver: &'a dyn Deliver,
    shutdown: watch::Receiver<bool>,
    state: State,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    pub fn new(
        stream: S,
        peer: SocketAddr,
        config: &'a SessionConfig,
        deliver: &'a dyn Deliver,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            io: BufReader::new(Conn::Plain(stream)),
            out: Vec::with_capacity(512),
            peer,
            config,
            deliver,
            shutdown,
            state: State {
                transcript: Transcript::new(),
                ..State::default()
            },
        }
    }

    /// Runs the session to its end. Timeouts and resets end it quietly with `Ok`.
    pub async fn run(mut self) -> io::Result<()> {
        if !self.connect_faults().await? {
            return self.close().await;
        }
        let greeting = format!("220 {} mailtest ESMTP ready", self.config.hostname);
        self.reply(&greeting);
        loop {
            self.flush_if_idle().await?;
            let mut shutdown = self.shutdown.clone();
            let line = tokio::select! {
                line = lines::read_line(&mut self.io, MAX_COMMAND_LINE, self.config.timeout) => Some(line),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let Some(line) = line else {
                self.reply("421 4.3.2 Server shutting down");
                return self.close().await;
            };
            let line = match line {
                Ok(Line::Text(line)) => {
                    self.paced(line.len()).await;
                    line
                }
                Ok(Line::TooLong) => {
                    self.error("500 5.5.2 Line too long");
                    continue;
                }
                Ok(Line::Closed) => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                    self.reply("421 4.4.2 Timeout, closing connection");
                    return self.close().await;
                }
                Err(err) => return Err(err),
            };
            if !line.ends_with(b"\r\n") && self.config.bare_lf == BareLf::Reject {
                self.refuse_bare_lf().await?;
                return self.close().await;
            }
            let command = command::parse(&line);
            if command.is_http() {
                // A browser's request to this port (cross-protocol): its lines must not run
                // as SMTP commands, as postfix's `smtpd_forbidden_commands` ensures.
                self.state.log(|| "C: (an HTTP request line)".into());
                self.reply("221 2.7.0 Error: this is an SMTP server, not HTTP; goodbye");
                return self.close().await;
            }
            self.state.transcript.scope(command.is_session());
            self.state
                .log(|| format!("C: {}", redact(String::from_utf8_lossy(&line).trim_end())));
            if !self.command(command).await? {
                return self.close().await;
            }
            if self.state.errors >= self.config.max_errors {
                self.reply("421 4.7.0 Too many errors, closing connection");
                return self.close().await;
            }
        }
    }

    /// Handles one command; `false` ends the session.
    async fn command(&mut self, command: Command) -> io::Result<bool> {
        if let Some(go_on) = self.command_fault(&command).await? {
            return Ok(go_on);
        }
        match command {
            Command::Ehlo(name) => self.ehlo(name),
            Command::Helo(name) => {
                self.state.reset();
                self.state.helo = Some(name);
                self.state.esmtp = false;
                let reply = format!("250 {} greets {}", self.config.hostname, self.peer.ip());
                self.reply(&reply);
            }
            Command::Mail { from, params } => self.mail(from, &params),
            Command::Rcpt { to, params: _ } => self.rcpt(to),
            Command::Data => return self.data().await,
            Command::Bdat { size, last } => return self.bdat(size, last).await,
            Command::Rset => {
                self.state.reset();
                self.reply("250 2.0.0 Ok");
            }
            Command::Noop => self.reply("250 2.0.0 Ok"),
            Command::Vrfy(_) => self.reply("252 2.5.0 Cannot VRFY user, but will accept message"),
            Command::Help => self.reply(
                "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT",
            ),
            Command::Quit => {
                self.reply("221 2.0.0 Bye");
                return Ok(false);
            }
            Command::StartTls => return self.starttls().await,
            Command::Auth { mechanism, initial } => self.auth(&mechanism, initial).await?,
            Command::Invalid(why) => self.error(&format!("501 5.5.4 Syntax error: {why}")),
            Command::Unframed(why) => {
                self.error(&format!(
                    "501 5.5.4 Syntax error: {why}; closing connection"
                ));
                return Ok(false);
            }
            Command::Unknown(_) => self.error("500 5.5.2 Command unrecognized"),
        }
        Ok(true)
    }

    /// A scripted fault on a command (DATA and BDAT meet theirs with the message): whether
    /// the session goes on, when a fault answered in the command's place.
    async fn command_fault(&mut self, command: &Command) -> io::Result<Option<bool>> {
        if matches!(
            command,
            Command::Data | Command::Bdat { .. } | Command::Unframed(_)
        ) {
            return Ok(None);
        }
        let address = match command {
            Command::Mail { from, .. } => Some(from.as_str()),
            Command::Rcpt { to, .. } => Some(to.as_str()),
            _ => None,
        };
        let event = Moment {
            on: command.verb(),
            address,
            size: None,
        };
        let Some(effect) = self.config.faults.check(&event) else {
            return Ok(None);
        };
        if !self.apply(&effect).await? {
            return Ok(Some(false));
        }
        Ok(effect.reply.is_some().then_some(!effect.close))
    }

    fn ehlo(&mut self, name: String) {
        self.state.reset();
        self.state.helo = Some(name);
        self.state.esmtp = true;
        let lines = [
            format!("{} greets {}", self.config.hostname, self.peer.ip()),
            "PIPELINING".into(),
            format!("SIZE {}", self.config.max_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "CHUNKING".into(),
            "HELP".into(),
        ];
        let mut lines = lines.to_vec();
        if self.config.tls.is_some() && !self.state.tls {
            lines.insert(1, "STARTTLS".into());
        }
        if self.config.auth.is_some() && self.auth_allowed_now() {
            lines.insert(1, "AUTH PLAIN LOGIN".into());
        }
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            self.reply(&format!("250{sep}{line}"));
        }
    }

    fn mail(&mut self, from: String, params: &[Param]) {
        if self.state.helo.is_none() {
            return self.error("503 5.5.1 Send EHLO or HELO first");
        }
        if self.state.from.is_some() {
            return self.error("503 5.5.1 Nested MAIL command");
        }
        if self.config.auth.as_ref().is_some_and(|a| a.required) && self.state.user.is_none() {
            return self.error("530 5.7.0 Authentication required");
        }
        if let Some(size) = Param::find(params, "SIZE") {
            match size.value.as_deref().and_then(|v| v.parse::<u64>().ok()) {
                Some(n) if n > self.config.max_size => {
                    return self.error("552 5.3.4 Message size exceeds fixed maximum message size");
                }
                Some(_) => {}
                None => return self.error("501 5.5.4 SIZE needs a number"),
            }
        }
        if let Some(body) = Param::find(params, "BODY") {
            match body
                .value
                .as_deref()
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                Some("8BITMIME") => self.state.body_8bit = true,
                Some("7BIT") => {}
                _ => return self.error("555 5.5.4 Unsupported BODY type"),
            }
        }
        self.state.smtputf8 = Param::find(params, "SMTPUTF8").is_some();
        self.state.from = Some(from);
        self.reply("250 2.1.0 Ok");
    }

    fn rcpt(&mut self, to: String) {
        if self.state.from.is_none() {
            return self.error("503 5.5.1 Need MAIL before RCPT");
        }
        if self.state.rcpt.len() >= self.config.max_recipients {
            return self.error("452 4.5.3 Too many recipients");
        }
        self.state.rcpt.push(to);
        self.reply("250 2.1.5 Ok");
    }

    fn reply(&mut self, line: &str) {
        self.state.log(|| format!("S: {line}"));
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// AUTH waits for STARTTLS where TLS is offered, so credentials never cross in the
    /// clear unless the operator allowed it.
    fn auth_allowed_now(&self) -> bool {
        self.config.tls.is_none() || self.state.tls || self.config.auth_before_tls
    }

    /// Refuses a line that ended in a bare LF (where `BareLf::Reject` is set); the session
    /// is then closed, since what the client meant by its lines cannot be known.
    async fn refuse_bare_lf(&mut self) -> io::Result<()> {
        self.reply("550 5.5.2 Error: bare <LF> received");
        self.flush().await
    }

    fn error(&mut self, line: &str) {
        self.state.errors += 1;
        self.reply(line);
    }

    /// Writes replies only when no pipelined command is waiting, so a batch of commands
    /// gets one batch of replies (RFC 2920).
    async fn flush_if_idle(&mut self) -> io::Result<()> {
        if self.io.buffer().is_empty() {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.paced(self.out.len()).await;
            self.io.get_mut().write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// The `connect` fault rules: a slow link from now on, or a reply in the greeting's
    /// place (421 and 554 are the usual ones); `false` when the session ends here.
    async fn connect_faults(&mut self) -> io::Result<bool> {
        let Some(effect) = self.config.faults.on_connect() else {
            return Ok(true);
        };
        if let Some(rate) = effect.link_speed {
            self.state
                .log(|| format!("S: (fault: link speed {rate} bytes/s)"));
            self.state.pace = Some(pace::Pace::new(rate));
        }
        Ok(self.apply(&effect).await? && effect.reply.is_none())
    }

    /// Holds `n` bytes back as long as a slow link would (no wait without one); how long.
    async fn paced(&mut self, n: usize) -> Duration {
        match &mut self.state.pace {
            Some(pace) => pace.carry(n).await,
            None => Duration::ZERO,
        }
    }

    async fn close(mut self) -> io::Result<()> {
        self.flush().await?;
        self.io.get_mut().shutdown().await
    }
}

/// AUTH lines carry credentials; the transcript keeps only the verb and mechanism.
fn redact(line: &str) -> String {
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("AUTH ") {
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or_default();
        let mechanism = words.next().unwrap_or_default();
        return format!("{verb} {mechanism} ***");
    }
    line.to_owned()
}
