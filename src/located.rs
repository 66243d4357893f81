//! A place in a file with what is wrong there, `file:line:column: message`: the one shape of
//! every bad-input error that has a position (event files, schemas, templates' config,
//! mailtest.yaml, expectations).

/// What is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct Located {
    pub file: String,
    /// From 1.
    pub line: usize,
    /// From 1.
    pub column: usize,
    pub message: String,
}

impl Located {
    /// A YAML error in `file`, `what` (such as `invalid schema`) before serde's text: at its
    /// position, or 1:1 when it has none, without the position serde repeats in its text.
    pub fn yaml(file: &str, what: Option<&str>, err: &serde_norway::Error) -> Self {
        let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
        Self::at(file, line, column, what, &err.to_string())
    }

    /// A JSON error in `file`, whose lines start `line_offset` lines into the file.
    pub fn json(file: &str, line_offset: usize, err: &serde_json::Error) -> Self {
        let text = err.to_string();
        Self::at(
            file,
            err.line() + line_offset,
            err.column(),
            Some("invalid JSON"),
            &text,
        )
    }

    fn at(file: &str, line: usize, column: usize, what: Option<&str>, text: &str) -> Self {
        let text = text.find(" at line ").map_or(text, |i| &text[..i]);
        Self {
            file: file.to_owned(),
            line,
            column,
            message: what.map_or_else(|| text.to_owned(), |w| format!("{w}: {text}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Located;

    #[test]
    fn positions_are_said_once_where_the_file_is_named() {
        let err = serde_norway::from_str::<Vec<u8>>("a: [1,\n  b: 2\n").unwrap_err();
        let at = Located::yaml("events.yaml", Some("invalid YAML"), &err);
        let line = err.location().unwrap().line();
        assert_eq!((at.file.as_str(), at.line), ("events.yaml", line));
        let shown = at.to_string();
        assert!(
            shown.starts_with(&format!("events.yaml:{line}:")) && !shown.contains(" at line "),
            "{shown}"
        );
        assert!(at.message.starts_with("invalid YAML: "), "{shown}");
        let err = serde_json::from_str::<serde_json::Value>("{\n \"a\": }").unwrap_err();
        let at = Located::json("events.jsonl", 9, &err);
        assert_eq!((at.line, at.column), (11, 7));
        assert!(
            at.to_string()
                .starts_with("events.jsonl:11:7: invalid JSON: ")
        );
    }
}
