//! Finding where things are in event source text: the start of each array element or YAML
//! document, and the line of a field path, so that messages can name a line.
//!
//! This is a light scan over text that already parsed, not a second parser: it only has to
//! find keys and element boundaries, and falls back to the event's first line.

use std::ops::Range;

use super::source::line_of;

/// Byte spans of the elements of a top-level JSON array.
pub fn array_element_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start: Option<usize> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 1 && b == b',' || depth == 0 && b == b']' {
            if let Some(s) = start.take() {
                spans.push(s..i);
            }
            continue;
        }
        let opens_element = (depth == 1 && !b.is_ascii_whitespace() && b != b'[')
            || (depth == 2 && (b == b'{' || b == b'['));
        if start.is_none() && opens_element {
            start = Some(i);
        }
    }
    spans
}

/// Byte spans of the documents of a YAML stream (split at `---` lines).
pub fn yaml_document_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    let mut has_content = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") {
            if has_content {
                spans.push(start..offset);
            }
            start = offset + line.len();
            has_content = false;
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            if !has_content {
                start = offset;
            }
            has_content = true;
        }
        offset += line.len();
    }
    if has_content {
        spans.push(start..offset);
    }
    spans
}

/// Byte spans of the items of a top-level YAML sequence (lines starting with `-`).
pub fn yaml_item_spans(text: &str) -> Vec<Range<usize>> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("- ") || line.trim_end() == "-" {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut spans: Vec<Range<usize>> = starts.windows(2).map(|w| w[0]..w[1]).collect();
    if let Some(&last) = starts.last() {
        spans.push(last..text.len());
    }
    spans
}

/// The line of the deepest key of `path` (such as `data.items[0].sku`) found in `text`, an
/// event that starts on `first_line`; a missing field is reported at its parent's line.
pub fn field_line(text: &str, first_line: usize, path: &str) -> usize {
    let mut cursor = 0;
    let mut found = None;
    for key in path.split('.').map(|k| k.split('[').next().unwrap_or(k)) {
        if key.is_empty() {
            continue;
        }
        match find_key(&text[cursor..], key) {
            Some(at) => {
                cursor += at;
                found = Some(cursor);
            }
            None => break,
        }
    }
    found.map_or(first_line, |at| first_line + line_of(text, at) - 1)
}

/// The offset of `key` used as a JSON (`"key":`) or YAML (`key:`) mapping key.
fn find_key(text: &str, key: &str) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    while let Some(at) = text[from..].find(&quoted).map(|i| i + from) {
        let after = text[at + quoted.len()..].trim_start();
        if after.starts_with(':') {
            return Some(at);
        }
        from = at + quoted.len();
    }
    let plain = format!("{key}:");
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start().trim_start_matches("- ").trim_start();
        if body.starts_with(&plain) {
            return Some(offset + (line.len() - body.len()));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_spans_follow_elements() {
        let text = "[\n  {\"a\": [1, 2]},\n  {\"b\": \"x,]\"}\n]";
        let spans = array_element_spans(text);
        assert_eq!(spans.len(), 2);
        assert!(text[spans[0].clone()].starts_with("{\"a\""));
        assert!(text[spans[1].clone()].starts_with("{\"b\""));
    }

    #[test]
    fn field_line_finds_nested_keys() {
        let text = "{\n \"data\": {\n  \"items\": [\n   {\"sku\": 1}\n  ]\n }\n}";
        assert_eq!(field_line(text, 10, "data.items[0].sku"), 13);
        assert_eq!(field_line(text, 10, "data.missing"), 11);
        assert_eq!(field_line(text, 10, ""), 10);
    }

    #[test]
    fn yaml_documents_and_items() {
        let docs = "a: 1\n---\nb: 2\n";
        assert_eq!(yaml_document_spans(docs).len(), 2);
        let items = "- a: 1\n  b: 2\n- a: 3\n";
        assert_eq!(yaml_item_spans(items), vec![0..14, 14..21]);
        assert_eq!(field_line(&items[14..], 3, "a"), 3);
    }
}
