//! The session's message transfer: DATA with dot-unstuffing, BDAT chunks, and handing the
//! message on (or a fault in its place).

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use crate::smtp::faults::{Effect, Event};
use crate::smtp::lines::{self, Line};
use crate::smtp::{Envelope, Incoming};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(super) async fn data(&mut self) -> io::Result<bool> {
        if self.state.chunks.is_some() {
            self.error("503 5.5.1 DATA after BDAT");
            return Ok(true);
        }
        if self.state.rcpt.is_empty() {
            self.error("503 5.5.1 Need RCPT before DATA");
            return Ok(true);
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>");
        self.flush().await?;
        let mut body = Vec::new();
        let mut too_big = false;
        let mut received: u64 = 0;
        let started = tokio::time::Instant::now();
        loop {
            // A body line is not limited to 1000 octets here: capture what clients send.
            let limit = usize::try_from(self.config.max_size)
                .unwrap_or(usize::MAX)
                .max(1024)
                + 2;
            let Some(left) = lines::time_left(started, received, self.config.timeout) else {
                self.reply("421 4.4.2 Data too slow, closing connection");
                self.flush().await?;
                return Ok(false);
            };
            let read = lines::read_line(&mut self.io, limit, left).await;
            if let Ok(Line::Text(line)) = &read {
                received += line.len() as u64;
            }
            match read {
                Ok(Line::Text(line)) => {
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2): a leading dot was doubled by the client.
                    let line = line.strip_prefix(b".").unwrap_or(&line);
                    too_big |= body.len() + line.len()
                        > usize::try_from(self.config.max_size).unwrap_or(usize::MAX);
                    if !too_big {
                        body.extend_from_slice(line);
                    }
                }
                Ok(Line::TooLong) => too_big = true,
                Ok(Line::Closed) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                    self.reply("421 4.4.2 Data too slow, closing connection");
                    self.flush().await?;
                    return Ok(false);
                }
                Err(err) => return Err(err),
            }
        }
        self.finish(body, too_big).await
    }

    pub(super) async fn bdat(&mut self, size: u64, last: bool) -> io::Result<bool> {
        let ready = self.state.from.is_some() && !self.state.rcpt.is_empty();
        // The chunk follows the command whatever the reply, so it is always read.
        let room = self
            .config
            .max_size
            .saturating_sub(self.state.chunks.as_ref().map_or(0, |c| c.len() as u64));
        let keep = ready && !self.state.chunks_too_big && size <= room;
        let mut chunk = Vec::new();
        let target = if keep { Some(&mut chunk) } else { None };
        match lines::read_chunk(&mut self.io, size, target, self.config.timeout).await {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                self.reply("421 4.4.2 Data too slow, closing connection");
                self.flush().await?;
                return Ok(false);
            }
            Err(err) => return Err(err),
        }
        if !ready {
            self.error("503 5.5.1 Need MAIL and RCPT before BDAT");
            return Ok(true);
        }
        if !keep {
            self.state.chunks_too_big = true;
        }
        self.state
            .chunks
            .get_or_insert_with(Vec::new)
            .extend_from_slice(&chunk);
        if last {
            let body = self.state.chunks.take().unwrap_or_default();
            let too_big = self.state.chunks_too_big;
            return self.finish(body, too_big).await;
        }
        self.reply(&format!("250 2.0.0 {size} octets received"));
        Ok(true)
    }

    /// Ends a transaction: hand the message on, or refuse it, and reset. `false` ends the
    /// session (a fault dropped or closed it).
    async fn finish(&mut self, raw: Vec<u8>, too_big: bool) -> io::Result<bool> {
        if too_big {
            self.state.reset();
            self.error("552 5.3.4 Message size exceeds fixed maximum message size");
            return Ok(true);
        }
        let event = Event {
            on: "DATA",
            address: None,
            size: Some(raw.len() as u64),
        };
        if let Some(effect) = self.config.faults.check(&event) {
            self.state.reset();
            if !self.apply(&effect).await? {
                return Ok(false);
            }
            if effect.reply.is_some() {
                return Ok(!effect.close);
            }
        }
        let incoming = Incoming {
            envelope: Envelope {
                mail_from: self.state.from.clone().unwrap_or_default(),
                rcpt_to: std::mem::take(&mut self.state.rcpt),
                helo: self.state.helo.clone().unwrap_or_default(),
                esmtp: self.state.esmtp,
                smtputf8: self.state.smtputf8,
                body_8bit: self.state.body_8bit,
                tls: self.state.tls,
                auth: self.state.user.clone(),
                client: self.peer,
            },
            raw,
            received_at: chrono::Utc::now(),
            transcript: self.state.transcript.clone(),
        };
        self.state.reset();
        match self.deliver.deliver(incoming).await {
            Ok(id) => self.reply(&format!("250 2.0.0 Ok: queued as {id}")),
            Err(why) => self.reply(&format!("451 4.3.0 {why}")),
        }
        Ok(true)
    }

    /// Applies a fault: wait, then reply in the command's place or drop the connection.
    /// `false` means the connection is to be dropped now, with no reply.
    pub(super) async fn apply(&mut self, effect: &Effect) -> io::Result<bool> {
        if let Some(delay) = effect.delay {
            self.flush().await?;
            tokio::time::sleep(delay).await;
        }
        if effect.drop {
            self.state.log("S: (fault: connection dropped)".into());
            self.out.clear();
            return Ok(false);
        }
        if let Some(reply) = &effect.reply {
            self.reply(reply);
            if effect.close {
                self.flush().await?;
            }
        }
        Ok(true)
    }
}
