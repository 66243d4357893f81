//! A session's transcript, cut per message: each message gets the session's own lines
//! (greeting, EHLO or HELO, STARTTLS, AUTH) followed by the lines of its own transaction,
//! each part bounded, and no line is formatted once it would not be kept.

/// Session lines kept (greeting, EHLO, STARTTLS, AUTH and their replies).
const MAX_SESSION_LINES: usize = 64;
/// Lines kept per message, from the first command after the previous message.
const MAX_MESSAGE_LINES: usize = 200;

#[derive(Debug, Default)]
pub struct Transcript {
    session: Vec<String>,
    session_dropped: usize,
    message: Vec<String>,
    message_dropped: usize,
    /// How many session lines came before the current message's first line.
    session_before: Option<usize>,
    /// The lines being logged belong to the session part.
    session_scope: bool,
    /// Nothing is logged until the next command (the reply to a finished message's data
    /// belongs to neither that message, which was handed on before it, nor the next).
    paused: bool,
}

impl Transcript {
    /// A transcript whose first lines (the greeting) are the session's.
    pub fn new() -> Self {
        Self {
            session_scope: true,
            ..Self::default()
        }
    }

    /// Called at each command: EHLO, HELO, STARTTLS and AUTH lines are the session's.
    pub fn scope(&mut self, session: bool) {
        self.session_scope = session;
        self.paused = false;
    }

    /// Whether a line logged now would be kept anywhere; callers format only then.
    pub fn wants(&self) -> bool {
        if self.paused {
            return false;
        }
        let message_room = self.message.len() < MAX_MESSAGE_LINES;
        if self.session_scope {
            self.session.len() < MAX_SESSION_LINES || (!self.message.is_empty() && message_room)
        } else {
            message_room
        }
    }

    /// Logs one line (already checked with [`Transcript::wants`], or cheap to drop).
    pub fn log(&mut self, line: String) {
        if self.paused {
            return;
        }
        if self.session_scope {
            if self.session.len() < MAX_SESSION_LINES {
                self.session.push(line.clone());
            } else {
                self.session_dropped += 1;
            }
            // A second EHLO or AUTH inside a transaction shows there too, in its place.
            if !self.message.is_empty() {
                self.push_message(line);
            }
        } else {
            self.session_before.get_or_insert(self.session.len());
            self.push_message(line);
        }
    }

    /// Counts a line that was not formatted because [`Transcript::wants`] said no.
    pub fn skip(&mut self) {
        if self.paused {
            return;
        }
        if self.session_scope && self.message.is_empty() {
            self.session_dropped += 1;
        } else {
            self.message_dropped += 1;
        }
    }

    fn push_message(&mut self, line: String) {
        if self.message.len() < MAX_MESSAGE_LINES {
            self.message.push(line);
        } else {
            self.message_dropped += 1;
        }
    }

    /// The transcript of the message whose data just arrived; the next message starts
    /// with the next command.
    pub fn take_message(&mut self) -> Vec<String> {
        let before = self.session_before.take().unwrap_or(self.session.len());
        let mut out = Vec::with_capacity(before + self.message.len() + 2);
        out.extend_from_slice(&self.session[..before]);
        if self.session_dropped > 0 && before == self.session.len() {
            out.push(format!(
                "({} more session lines not kept)",
                self.session_dropped
            ));
        }
        out.append(&mut self.message);
        if self.message_dropped > 0 {
            out.push(format!("({} more lines not kept)", self.message_dropped));
        }
        self.message_dropped = 0;
        self.paused = true;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[(bool, &str)], t: &mut Transcript) {
        for (session, line) in lines {
            t.scope(*session);
            t.log((*line).to_owned());
        }
    }

    #[test]
    fn each_message_gets_the_session_lines_and_its_own() {
        let mut t = Transcript::new();
        t.log("S: 220 hi".into());
        run(&[(true, "C: EHLO a"), (false, "C: MAIL FROM:<x>")], &mut t);
        assert_eq!(
            t.take_message(),
            ["S: 220 hi", "C: EHLO a", "C: MAIL FROM:<x>"]
        );
        t.log("S: 250 queued".into());
        run(&[(false, "C: MAIL FROM:<y>"), (true, "C: EHLO b")], &mut t);
        assert_eq!(
            t.take_message(),
            ["S: 220 hi", "C: EHLO a", "C: MAIL FROM:<y>", "C: EHLO b"]
        );
    }

    #[test]
    fn a_long_transaction_is_bounded_and_says_so() {
        let mut t = Transcript::new();
        for i in 0..MAX_MESSAGE_LINES + 50 {
            t.scope(false);
            if t.wants() {
                t.log(format!("C: RCPT {i}"));
            } else {
                t.skip();
            }
        }
        let got = t.take_message();
        assert_eq!(got.len(), MAX_MESSAGE_LINES + 1);
        assert_eq!(got.last().unwrap(), "(50 more lines not kept)");
        t.scope(false);
        t.log("C: MAIL".into());
        assert_eq!(t.take_message(), ["C: MAIL"]);
    }
}
