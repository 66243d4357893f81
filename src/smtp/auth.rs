//! SMTP AUTH (RFC 4954) with the PLAIN and LOGIN mechanisms: decoding what clients send and
//! deciding whom to let in. A test sink usually lets anyone in and records who it was.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Who may authenticate, and whether they must.
#[derive(Debug, Clone, Default)]
pub struct AuthPolicy {
    /// `None`: any user name and password; otherwise only these pairs.
    pub users: Option<HashMap<String, String>>,
    /// MAIL is refused with 530 until the client authenticates.
    pub required: bool,
}

impl AuthPolicy {
    pub fn allows(&self, user: &str, password: &str) -> bool {
        self.users
            .as_ref()
            .is_none_or(|users| users.get(user).is_some_and(|p| p == password))
    }

    /// Parses `user:password,user2:password2`.
    pub fn parse_users(text: &str) -> Result<HashMap<String, String>, String> {
        text.split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| match pair.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    Ok((user.to_owned(), password.to_owned()))
                }
                _ => Err(format!("expected user:password, got `{pair}`")),
            })
            .collect()
    }
}

/// Decodes one base64 line of a client's answer.
pub fn decode(line: &str) -> Result<String, &'static str> {
    let bytes = BASE64.decode(line.trim()).map_err(|_| "invalid base64")?;
    String::from_utf8(bytes).map_err(|_| "credentials are not UTF-8")
}

/// Splits a PLAIN response, `authzid NUL authcid NUL password`, into user and password.
pub fn plain(response: &str) -> Result<(String, String), &'static str> {
    let decoded = decode(response)?;
    let mut parts = decoded.split('\0');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_authzid), Some(user), Some(password), None) if !user.is_empty() => {
            Ok((user.to_owned(), password.to_owned()))
        }
        _ => Err("malformed PLAIN response"),
    }
}

/// Base64 of a server challenge (`Username:`, `Password:` for LOGIN).
pub fn challenge(text: &str) -> String {
    BASE64.encode(text)
}
