//! The session's STARTTLS upgrade and AUTH dialogue.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};

use super::{MAX_COMMAND_LINE, Session, State};
use crate::smtp::auth;
use crate::smtp::conn::Conn;
use crate::smtp::lines::{self, Line};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// STARTTLS (RFC 3207): answer 220, then a TLS handshake on the same socket; the client
    /// starts over with EHLO. `false` ends the session.
    pub(super) async fn starttls(&mut self) -> io::Result<bool> {
        let Some(tls) = self.config.tls.clone() else {
            self.error("502 5.5.1 STARTTLS not offered");
            return Ok(true);
        };
        if self.state.tls {
            self.error("503 5.5.1 TLS already active");
            return Ok(true);
        }
        self.reply("220 2.0.0 Ready to start TLS");
        self.flush().await?;
        // Anything the client pipelined after STARTTLS came in the clear; it is dropped
        // (RFC 3207 section 4.2), which is what defeats command injection.
        let Conn::Plain(stream) = std::mem::replace(self.io.get_mut(), Conn::Upgrading) else {
            return Ok(false);
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let handshake = tokio::time::timeout(self.config.timeout, acceptor.accept(stream)).await;
        let Ok(Ok(stream)) = handshake else {
            tracing::debug!("TLS handshake failed or timed out");
            return Ok(false);
        };
        self.io = BufReader::new(Conn::Tls(Box::new(stream)));
        // The session starts over (RFC 3207), but over the same slow link.
        let transcript = std::mem::take(&mut self.state.transcript);
        let pace = self.state.pace.take();
        self.state = State {
            tls: true,
            transcript,
            pace,
            ..State::default()
        };
        self.state.log(|| "S: (TLS established)".into());
        Ok(true)
    }

    /// AUTH PLAIN or LOGIN, reading the client's answers to 334 challenges.
    pub(super) async fn auth(
        &mut self,
        mechanism: &str,
        initial: Option<String>,
    ) -> io::Result<()> {
        let Some(policy) = self.config.auth.clone() else {
            self.error("502 5.5.1 AUTH not offered");
            return Ok(());
        };
        if !self.auth_allowed_now() {
            self.error("538 5.7.11 Encryption required for requested authentication mechanism");
            return Ok(());
        }
        if self.state.user.is_some() || self.state.from.is_some() {
            self.error("503 5.5.1 AUTH not allowed now");
            return Ok(());
        }
        let credentials = match mechanism {
            "PLAIN" => match initial.filter(|i| i != "=") {
                Some(response) => Some(auth::plain(&response)),
                None => self.answer("").await?.map(|r| auth::plain(&r)),
            },
            "LOGIN" => {
                let user = match initial {
                    Some(user) => Some(user),
                    None => self.answer(&auth::challenge("Username:")).await?,
                };
                match user {
                    Some(user) => {
                        let password = self.answer(&auth::challenge("Password:")).await?;
                        password.map(|p| Ok((auth::decode(&user)?, auth::decode(&p)?)))
                    }
                    None => None,
                }
            }
            _ => {
                self.error("504 5.5.4 Unrecognized authentication type");
                return Ok(());
            }
        };
        match credentials {
            None => self.error("501 5.7.0 Authentication cancelled"),
            Some(Err(why)) => self.error(&format!("501 5.5.2 {why}")),
            Some(Ok((user, password))) if policy.allows(&user, &password) => {
                self.state.user = Some(user);
                self.reply("235 2.7.0 Authentication successful");
            }
            Some(Ok(_)) => self.error("535 5.7.8 Authentication credentials invalid"),
        }
        Ok(())
    }

    /// Sends a 334 challenge and reads the answer; `None` when the client cancels with `*`.
    async fn answer(&mut self, challenge: &str) -> io::Result<Option<String>> {
        self.reply(&format!("334 {challenge}"));
        self.flush().await?;
        match lines::read_line(&mut self.io, MAX_COMMAND_LINE, self.config.timeout).await? {
            Line::Text(line) => {
                self.paced(line.len()).await;
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                self.state.log(|| "C: ***".into());
                Ok((text != "*").then_some(text))
            }
            Line::TooLong => Ok(None),
            Line::Closed => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}
