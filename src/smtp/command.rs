//! SMTP command lines (RFC 5321, with RFC 3030 BDAT and RFC 6531 UTF-8 addresses) parsed
//! into commands. Parsing never fails: what cannot be understood is `Unknown` or `Invalid`,
//! which the session answers with 500 or 501.

/// One parsed command line (without its CRLF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `MAIL FROM:<path> params`; the null reverse path `<>` is an empty string.
    Mail {
        from: String,
        params: Vec<Param>,
    },
    Rcpt {
        to: String,
        params: Vec<Param>,
    },
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Vrfy(String),
    Help,
    Quit,
    StartTls,
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    /// A known verb with arguments that do not parse; the text says what is wrong.
    Invalid(&'static str),
    /// A BDAT line that does not parse: the length of the chunk after it is unknown, so the
    /// stream cannot be resynchronised and the session must end.
    Unframed(&'static str),
    /// A verb mailtest does not know.
    Unknown(String),
}

impl Command {
    /// The verb, as fault rules name it.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Ehlo(_) => "EHLO",
            Self::Helo(_) => "HELO",
            Self::Mail { .. } => "MAIL",
            Self::Rcpt { .. } => "RCPT",
            Self::Data => "DATA",
            Self::Bdat { .. } | Self::Unframed(_) => "BDAT",
            Self::Rset => "RSET",
            Self::Noop => "NOOP",
            Self::Vrfy(_) => "VRFY",
            Self::Help => "HELP",
            Self::Quit => "QUIT",
            Self::StartTls => "STARTTLS",
            Self::Auth { .. } => "AUTH",
            Self::Invalid(_) | Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// The commands whose lines belong to the whole session's transcript, not one message's.
    pub fn is_session(&self) -> bool {
        matches!(
            self,
            Self::Ehlo(_) | Self::Helo(_) | Self::StartTls | Self::Auth { .. }
        )
    }

    /// A line of an HTTP request (its request line, or a header line): what a browser sends
    /// when a page posts to the SMTP port. No SMTP verb has a colon in it.
    pub fn is_http(&self) -> bool {
        let Self::Unknown(verb) = self else {
            return false;
        };
        HTTP_METHODS.contains(&verb.as_str()) || verb.contains(':')
    }
}

/// Request methods that start an HTTP request line (case matters in HTTP).
const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// An ESMTP parameter such as `SIZE=1000` or `SMTPUTF8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: Option<String>,
}

impl Param {
    /// The parameters named `key` (case-insensitive) in `params`.
    pub fn find<'a>(params: &'a [Param], key: &str) -> Option<&'a Param> {
        params.iter().find(|p| p.key.eq_ignore_ascii_case(key))
    }
}

/// Parses one command line; `line` may still end in CR LF or LF.
pub fn parse(line: &[u8]) -> Command {
    let line = trim_line_end(line);
    let Ok(text) = std::str::from_utf8(line) else {
        return Command::Invalid("command line is not UTF-8");
    };
    let (verb, rest) = match text.split_once(' ') {
        Some((verb, rest)) => (verb, rest.trim()),
        None => (text, ""),
    };
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" => domain(rest).map_or(Command::Invalid("EHLO needs a domain"), Command::Ehlo),
        "HELO" => domain(rest).map_or(Command::Invalid("HELO needs a domain"), Command::Helo),
        "MAIL" => mail(rest),
        "RCPT" => rcpt(rest),
        "DATA" if rest.is_empty() => Command::Data,
        "DATA" => Command::Invalid("DATA takes no arguments"),
        "BDAT" => bdat(rest),
        "RSET" if rest.is_empty() => Command::Rset,
        "RSET" => Command::Invalid("RSET takes no arguments"),
        "NOOP" => Command::Noop,
        "VRFY" if rest.is_empty() => Command::Invalid("VRFY needs a string"),
        "VRFY" => Command::Vrfy(rest.to_owned()),
        "HELP" => Command::Help,
        "QUIT" if rest.is_empty() => Command::Quit,
        "QUIT" => Command::Invalid("QUIT takes no arguments"),
        "STARTTLS" if rest.is_empty() => Command::StartTls,
        "STARTTLS" => Command::Invalid("STARTTLS takes no arguments"),
        "AUTH" => auth(rest),
        _ => Command::Unknown(verb.chars().take(32).collect()),
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn domain(rest: &str) -> Option<String> {
    let name = rest.split_whitespace().next()?;
    Some(name.to_owned())
}

fn mail(rest: &str) -> Command {
    match path_after(rest, "FROM:") {
        Some((from, params)) => Command::Mail { from, params },
        None => Command::Invalid("expected MAIL FROM:<address>"),
    }
}

fn rcpt(rest: &str) -> Command {
    match path_after(rest, "TO:") {
        Some((to, params)) if !to.is_empty() => Command::Rcpt { to, params },
        Some(_) => Command::Invalid("RCPT TO needs an address"),
        None => Command::Invalid("expected RCPT TO:<address>"),
    }
}

/// `FROM:<path> params` (a space after the colon and a missing bracket pair are tolerated,
/// as real clients send both).
fn path_after(rest: &str, keyword: &str) -> Option<(String, Vec<Param>)> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let (path, params) = if let Some(inner) = rest.strip_prefix('<') {
        let end = closing_bracket(inner)?;
        (&inner[..end], &inner[end + 1..])
    } else {
        // Without brackets, only a plain address is believable: `FROM: user@host`.
        let (path, params) = rest.split_once(' ').unwrap_or((rest, ""));
        if !path.contains('@') {
            return None;
        }
        (path, params)
    };
    if path
        .chars()
        .any(|c| c.is_control() || c == ' ' && !path.contains('"'))
    {
        return None;
    }
    // A source route (`@a,@b:user@c`) is obsolete; the mailbox is what follows the colon.
    let path = match path.strip_prefix('@') {
        Some(route) => route.split_once(':').map_or(path, |(_, mailbox)| mailbox),
        None => path,
    };
    Some((path.to_owned(), params_of(params)?))
}

/// The index of the `>` that closes a path, skipping quoted local parts.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (false, _, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn params_of(text: &str) -> Option<Vec<Param>> {
    text.split_whitespace()
        .map(|word| {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (word, None),
            };
            let valid =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            valid.then(|| Param {
                key: key.to_ascii_uppercase(),
                value,
            })
        })
        .collect()
}

fn bdat(rest: &str) -> Command {
    let mut words = rest.split_whitespace();
    let Some(size) = words.next().and_then(|s| s.parse::<u64>().ok()) else {
        return Command::Unframed("BDAT needs a chunk size");
    };
    match (words.next(), words.next()) {
        (None, _) => Command::Bdat { size, last: false },
        (Some(word), None) if word.eq_ignore_ascii_case("LAST") => {
            Command::Bdat { size, last: true }
        }
        _ => Command::Unframed("expected BDAT <size> [LAST]"),
    }
}

fn auth(rest: &str) -> Command {
    let mut words = rest.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(mechanism), initial, None) => Command::Auth {
            mechanism: mechanism.to_ascii_uppercase(),
            initial: initial.map(str::to_owned),
        },
        _ => Command::Invalid("expected AUTH <mechanism> [initial-response]"),
    }
}
