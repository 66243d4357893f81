//! The session's message transfer: DATA with dot-unstuffing, BDAT chunks, and handing the
//! message on (or a fault in its place).

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use super::BareLf;
use super::Session;
use crate::mail::{Envelope, Incoming};
use crate::smtp::faults::{Effect, Moment};
use crate::smtp::lines;

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
        match self.read_data().await? {
            Some((body, too_big)) => self.finish(body, too_big).await,
            None => Ok(false),
        }
    }

    /// Reads message data up to `<CR><LF>.<CR><LF>`, the only end of data (RFC 5321
    /// 4.1.1.4): a dot line after a bare LF is message content, so no client can smuggle a
    /// second message past a server that ends data on `<LF>.<LF>`. Dot-unstuffing (4.5.2)
    /// applies only at the start of a CR LF line. `None` ends the session (too slow, or a
    /// bare LF where they are refused).
    async fn read_data(&mut self) -> io::Result<Option<(Vec<u8>, bool)>> {
        let max = usize::try_from(self.config.max_size).unwrap_or(usize::MAX);
        let mut body = Vec::new();
        let mut too_big = false;
        // The DATA command's own CR LF ends the line before the first line of data.
        let mut at_line_start = true;
        let mut received: u64 = 0;
        let mut started = tokio::time::Instant::now();
        loop {
            let Some(left) = lines::time_left(started, received, self.config.timeout) else {
                return self.too_slow().await;
            };
            let begin = body.len();
            // Room for one more line; once over the limit, only for the end-of-data line.
            let room = if too_big { 3 } else { max - begin + 3 };
            let line = match lines::read_data_line(&mut self.io, &mut body, room, left).await {
                Ok(Some(line)) => line,
                Ok(None) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(err) if err.kind() == io::ErrorKind::TimedOut => return self.too_slow().await,
                Err(err) => return Err(err),
            };
            received += line.len as u64;
            // Time the slow link (a fault) takes is ours, not the client's: it does not
            // count against the client's minimum rate.
            started += self.paced(line.len).await;
            if line.kept && at_line_start && body.get(begin) == Some(&b'.') {
                if line.crlf && line.len == 3 {
                    body.truncate(begin);
                    return Ok(Some((body, too_big)));
                }
                body.remove(begin);
            }
            if !line.crlf {
                self.state.bare_lf = true;
                if self.config.bare_lf == BareLf::Reject {
                    return self.refuse_bare_lf().await.map(|()| None);
                }
            }
            at_line_start = line.crlf;
            if too_big || !line.kept || body.len() > max {
                too_big = true;
                body.clear();
            }
        }
    }

    async fn too_slow<T>(&mut self) -> io::Result<Option<T>> {
        self.reply("421 4.4.2 Data too slow, closing connection");
        self.flush().await?;
        Ok(None)
    }

    pub(super) async fn bdat(&mut self, size: u64, last: bool) -> io::Result<bool> {
        let ready = self.state.from.is_some() && !self.state.rcpt.is_empty();
        // The chunk follows the command whatever the reply, so it is always read.
        let room = self
            .config
            .max_size
            .saturating_sub(self.state.chunks.as_ref().map_or(0, |c| c.len() as u64));
        let keep = ready && !self.state.chunks_too_big && size <= room;
        // The chunk goes straight onto the message built so far.
        let target = keep.then(|| self.state.chunks.get_or_insert_with(Vec::new));
        match lines::read_chunk(&mut self.io, size, target, self.config.timeout).await {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                return self.too_slow::<()>().await.map(|_| false);
            }
            Err(err) => return Err(err),
        }
        self.paced(usize::try_from(size).unwrap_or(usize::MAX))
            .await;
        if !ready {
            self.error("503 5.5.1 Need MAIL and RCPT before BDAT");
            return Ok(true);
        }
        if !keep {
            self.state.chunks_too_big = true;
            self.state.chunks.get_or_insert_with(Vec::new).clear();
        }
        if last {
            let body = self.state.chunks.take().unwrap_or_default();
            let too_big = self.state.chunks_too_big;
            // Chunks have no line framing to break, but a bare LF is still worth flagging.
            self.state.bare_lf = crate::mail::has_bare_lf(&body);
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
        let event = Moment {
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
                bare_lf: self.state.bare_lf,
                tls: self.state.tls,
                auth: self.state.user.clone(),
                client: self.peer,
                api: None,
            },
            raw,
            received_at: chrono::Utc::now(),
            transcript: self.state.transcript.take_message(),
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
            self.state.log(|| "S: (fault: connection dropped)".into());
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
