//! Reading events from JSON, JSON Lines and YAML files (or stdin), keeping where each one is,
//! so that every problem can be reported as `file:line: field ...`.

use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::locate;
use crate::catalog::Violation;
use crate::exit_code::ErrorKind;
use crate::located::Located;

/// One event read from a file, before it is checked.
#[derive(Debug, Clone)]
pub struct SourceEvent {
    pub file: Arc<str>,
    pub value: Value,
    text: Arc<str>,
    span: Range<usize>,
    /// The event is one line of compact JSON (JSON Lines input), sendable as it is.
    one_line: bool,
}

impl SourceEvent {
    /// The line the event starts on, from 1; counted only when a problem needs it, so
    /// reading a large file stays linear.
    pub fn line(&self) -> usize {
        line_of(&self.text, self.span.start)
    }

    /// The event's own JSON text, when the input was JSON Lines: sending it unchanged keeps
    /// the bytes exactly as written and skips re-serializing.
    pub fn json_line(&self) -> Option<&str> {
        self.one_line.then(|| self.text[self.span.clone()].trim())
    }

    /// Where a violation found in this event is, as a reportable problem.
    pub fn problem(&self, violation: &Violation) -> Problem {
        let text = &self.text[self.span.clone()];
        Problem {
            file: self.file.to_string(),
            line: locate::field_line(text, self.line(), &violation.path),
            field: violation.path.clone(),
            message: violation.message.clone(),
        }
    }
}

/// One thing wrong with one event, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: field `{}`: {}",
                self.file, self.line, self.field, self.message
            )
        }
    }
}

/// Errors met while reading or checking event input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(Located),
    #[error("{}", list_problems(.0))]
    Invalid(Vec<Problem>),
    #[error("{0}")]
    Other(String),
}

impl InputError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadInput
    }
}

fn list_problems(problems: &[Problem]) -> String {
    let mut out = match problems.len() {
        1 => "invalid event:".to_owned(),
        n => format!("{n} problems in events:"),
    };
    for p in problems.iter().take(20) {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    if problems.len() > 20 {
        out.push_str(&format!("\n  ... and {} more", problems.len() - 20));
    }
    out
}

/// The formats event input can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    JsonLines,
    Yaml,
}

/// Reads every event in `path` (`-` for stdin), handing each to `each` as it is parsed.
pub fn for_each_in_path(
    path: &str,
    each: &mut dyn FnMut(SourceEvent) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let read_err = |source| InputError::Read {
        path: path.to_owned(),
        source,
    };
    let (name, text) = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(read_err)?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        (path.to_owned(), text)
    };
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    for_each(&name, &text, ext, each)
}

/// Parses events from `text`, named `file` in messages.
pub fn parse(file: &str, text: &str, ext: &str) -> Result<Vec<SourceEvent>, InputError> {
    let mut out = Vec::new();
    for_each(file, text, ext, &mut |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// Parses events from `text` one at a time; JSON Lines never holds more than one in memory.
pub fn for_each(
    file: &str,
    text: &str,
    ext: &str,
    each: &mut dyn FnMut(SourceEvent) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let format = match ext {
        "json" => Format::Json,
        "jsonl" | "ndjson" => Format::JsonLines,
        "yaml" | "yml" => Format::Yaml,
        _ => sniff(text),
    };
    let file: Arc<str> = Arc::from(file);
    let text: Arc<str> = Arc::from(text);
    let events = match format {
        Format::JsonLines => return parse_lines(&file, &text, each),
        Format::Json => parse_json(&file, &text)?,
        Format::Yaml => parse_yaml(&file, &text)?,
    };
    events.into_iter().try_for_each(each)
}

fn sniff(text: &str) -> Format {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return Format::Yaml;
    }
    // One object per line is JSON Lines; a single (possibly pretty) document is JSON.
    let mut docs = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    match (docs.next(), docs.next()) {
        (Some(Ok(_)), Some(_)) => Format::JsonLines,
        _ => Format::Json,
    }
}

fn event(file: &Arc<str>, text: &Arc<str>, span: Range<usize>, value: Value) -> SourceEvent {
    SourceEvent {
        file: file.clone(),
        value,
        text: text.clone(),
        span,
        one_line: false,
    }
}

/// The line (from 1) of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].lines().count().max(1)
        + usize::from(text[..offset.min(text.len())].ends_with('\n'))
}

fn json_syntax(file: &str, err: &serde_json::Error, line_offset: usize) -> InputError {
    InputError::Syntax(Located::json(file, line_offset, err))
}

/// serde's messages end with " at line L column C", which the error already shows in front.
fn parse_json(file: &Arc<str>, text: &Arc<str>) -> Result<Vec<SourceEvent>, InputError> {
    let value: Value = serde_json::from_str(text).map_err(|e| json_syntax(file, &e, 0))?;
    match value {
        Value::Array(items) => Ok(with_spans(
            file,
            text,
            items,
            &locate::array_element_spans(text),
        )),
        value => {
            let start = text.len() - text.trim_start().len();
            Ok(vec![event(file, text, start..text.len(), value)])
        }
    }
}

fn parse_lines(
    file: &Arc<str>,
    text: &Arc<str>,
    each: &mut dyn FnMut(SourceEvent) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let span = offset..offset + line.len();
        offset += line.len();
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| json_syntax(file, &e, i))?;
        let mut event = event(file, text, span, value);
        event.one_line = true;
        each(event)?;
    }
    Ok(())
}

fn parse_yaml(file: &Arc<str>, text: &Arc<str>) -> Result<Vec<SourceEvent>, InputError> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(doc)
            .map_err(|err| InputError::Syntax(Located::yaml(file, Some("invalid YAML"), &err)))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    // One top-level sequence is a list of events; otherwise each document is one.
    let (values, spans) = match docs.as_mut_slice() {
        [Value::Array(items)] => (std::mem::take(items), locate::yaml_item_spans(text)),
        _ => (docs, locate::yaml_document_spans(text)),
    };
    Ok(with_spans(file, text, values, &spans))
}

/// Pairs values with their spans (the whole text when a span was not found).
fn with_spans(
    file: &Arc<str>,
    text: &Arc<str>,
    values: Vec<Value>,
    spans: &[Range<usize>],
) -> Vec<SourceEvent> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            event(
                file,
                text,
                spans.get(i).cloned().unwrap_or(0..text.len()),
                v,
            )
        })
        .collect()
}
