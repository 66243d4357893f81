//! The typed values settings are made of (a byte size, a duration, a server's host and
//! port), each parsed once by the same code whether it comes from a flag, a `MAILTEST_*`
//! variable or the config file. A leaf: both `cli` (clap parses through `FromStr`) and
//! `settings` (serde) use it. Listen addresses are `std::net::SocketAddr`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A size in bytes, written `25MiB`, `10MB`, `512KB` or `1000`; never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let unit_size: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1000,
            "kib" | "k" => 1024,
            "mb" => 1_000_000,
            "mib" | "m" => 1024 * 1024,
            "gb" => 1_000_000_000,
            "gib" | "g" => 1024 * 1024 * 1024,
            _ => return Err("unknown unit (try `25MiB` or `10MB`)".to_owned()),
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_size))
            .filter(|n| *n > 0)
            .map(Self)
            .ok_or_else(|| "expected a positive size such as `25MiB`".to_owned())
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        match self.0 {
            n if n % MIB == 0 => write!(f, "{}MiB", n / MIB),
            n if n % 1024 == 0 => write!(f, "{}KiB", n / 1024),
            n => write!(f, "{n}"),
        }
    }
}

/// A duration, written `10s`, `500ms`, `2m` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map(Self)
            .map_err(|e| format!("{e} (try `10s` or `500ms`)"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

/// A server to connect to, written `host:port` (`[::1]:25` for an IPv6 address); the host
/// may be a name, looked up when connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || "expected HOST:PORT, such as `127.0.0.1:1025`".to_owned();
        let (host, port) = text.trim().rsplit_once(':').ok_or_else(bad)?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']').ok_or_else(bad)?,
            // An IPv6 address without brackets would split at its last colon.
            None if host.contains(':') => return Err(bad()),
            None => host,
        };
        let port = port.parse::<u16>().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<std::net::SocketAddr> for HostPort {
    fn from(addr: std::net::SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

/// A config-file value: a string parsed as on the command line, or for a size a bare number
/// of bytes. A visitor rather than a buffered enum, so serde places an error at the value.
struct TextOrNumber<T>(std::marker::PhantomData<T>);

impl<T: FromStr<Err = String>> serde::de::Visitor<'_> for TextOrNumber<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string such as `25MiB` or `10s`, or a number")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        text.parse()
            .map_err(|e| E::custom(format!("`{text}`: {e}")))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<T, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<T, E> {
        self.visit_str(&n.to_string())
    }
}

fn from_text_or_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    deserializer.deserialize_any(TextOrNumber(std::marker::PhantomData))
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text_or_number(deserializer)
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text_or_number(deserializer)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text_or_number(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        size: ByteSize,
        bytes: ByteSize,
        wait: Span,
    }

    #[test]
    fn sizes_and_spans_parse_and_print_alike_from_flags_and_files() {
        assert_eq!("25MiB".parse(), Ok(ByteSize(25 * 1024 * 1024)));
        assert_eq!(" 10MB ".parse(), Ok(ByteSize(10_000_000)));
        assert_eq!(ByteSize(25 * 1024 * 1024).to_string(), "25MiB");
        assert!("0".parse::<ByteSize>().unwrap_err().contains("positive"));
        assert!("-1".parse::<ByteSize>().is_err());
        assert!(
            "5 parsecs"
                .parse::<ByteSize>()
                .unwrap_err()
                .contains("unit")
        );
        assert!("99999999999999999999".parse::<ByteSize>().is_err());
        assert_eq!("500ms".parse(), Ok(Span(Duration::from_millis(500))));
        assert_eq!(Span(Duration::from_secs(90)).to_string(), "1m 30s");
        assert!("soon".parse::<Span>().unwrap_err().contains("try `10s`"));

        let file: File = serde_norway::from_str("size: 1KiB\nbytes: 512\nwait: 2m\n").unwrap();
        assert_eq!((file.size, file.bytes), (ByteSize(1024), ByteSize(512)));
        assert_eq!(file.wait, Span(Duration::from_secs(120)));
        let err = serde_norway::from_str::<File>("size: 1KiB\nbytes: 1\nwait: soon\n")
            .err()
            .unwrap();
        assert_eq!(err.location().map(|l| l.line()), Some(3));
    }

    #[test]
    fn host_ports_parse_names_and_both_ip_families() {
        let parse = |text: &str| text.parse::<HostPort>();
        let hp = |host: &str, port| HostPort {
            host: host.to_owned(),
            port,
        };
        assert_eq!(parse("127.0.0.1:1025"), Ok(hp("127.0.0.1", 1025)));
        assert_eq!(
            parse("smtp.example.com:587"),
            Ok(hp("smtp.example.com", 587))
        );
        assert_eq!(parse("[::1]:25"), Ok(hp("::1", 25)));
        assert_eq!(hp("::1", 25).to_string(), "[::1]:25");
        assert_eq!(hp("localhost", 2525).to_string(), "localhost:2525");
        for bad in [
            "localhost",
            ":25",
            "host:0",
            "host:99999",
            "::1:25",
            "[::1:25",
            "h:x",
        ] {
            assert!(parse(bad).unwrap_err().contains("HOST:PORT"), "{bad}");
        }
    }
}
