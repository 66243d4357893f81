//! A small HTML tag scanner for the lints: start and end tags with their attributes and
//! line numbers, as written. A browser's parser would repair unbalanced tags silently,
//! which is exactly what the lints must see, so this does not build a tree. It reads
//! captured mail too, so it is linear on any input: what runs off the end (an unclosed
//! quote, comment or tag) ends the scan, as it ends a browser's.

/// One tag as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Lower-cased tag name.
    pub name: String,
    pub closing: bool,
    pub self_closing: bool,
    pub attrs: Vec<(String, Option<String>)>,
    /// 1-based line of the `<`.
    pub line: usize,
}

impl Tag {
    pub fn attr(&self, name: &str) -> Option<Option<&str>> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref())
    }
}

/// Elements that never have an end tag.
pub const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Every tag in `html`, skipping comments, doctypes and the contents of `style`/`script`.
pub fn tags(html: &str) -> Vec<Tag> {
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    let mut line = 1;
    while let Some(offset) = memchr::memchr(b'<', &bytes[at..]) {
        line += bytecount(&bytes[at..at + offset]);
        at += offset;
        let rest = &html[at..];
        let skip_to = |end: &str| rest.find(end).map_or(rest.len(), |i| i + end.len());
        let consumed = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            skip_to(">")
        } else {
            match parse_tag(rest, line) {
                Scan::Tag(tag, len) => {
                    let raw_text = !tag.closing && (tag.name == "style" || tag.name == "script");
                    let end = raw_text.then(|| end_tag(&rest[len..], &tag.name));
                    out.push(tag);
                    // Content up to the end tag is text, not markup.
                    end.map_or(len, |end| end.map_or(rest.len(), |i| len + i))
                }
                Scan::Text => 1,
                Scan::End => rest.len(),
            }
        };
        line += bytecount(&bytes[at..at + consumed]);
        at += consumed;
    }
    out
}

/// Where `</name` (any case) starts in `text`, without copying it.
fn end_tag(text: &str, name: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, b"</").find(|&i| {
        bytes
            .get(i + 2..i + 2 + name.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// What the text at a `<` is.
enum Scan {
    Tag(Tag, usize),
    /// Not a tag: the `<` is text.
    Text,
    /// A tag (or quoted value) the text ends inside of.
    End,
}

fn bytecount(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Parses the tag at the start of `text` (which begins with `<`), with its length in bytes.
fn parse_tag(text: &str, line: usize) -> Scan {
    let closing = text[1..].starts_with('/');
    let start = if closing { 2 } else { 1 };
    let name_len = text[start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
        .unwrap_or(text.len() - start);
    if name_len == 0 || !text[start..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Scan::Text;
    }
    let name = text[start..start + name_len].to_ascii_lowercase();
    let mut tag = Tag {
        name,
        closing,
        self_closing: false,
        attrs: Vec::new(),
        line,
    };
    let mut rest = &text[start + name_len..];
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/>") {
            tag.self_closing = true;
            return Scan::Tag(tag, text.len() - after.len());
        }
        if let Some(after) = rest.strip_prefix('>') {
            return Scan::Tag(tag, text.len() - after.len());
        }
        let Some(attr_len) = rest.find(|c: char| c.is_whitespace() || "=>/".contains(c)) else {
            return Scan::End;
        };
        let attr = rest[..attr_len].to_ascii_lowercase();
        rest = rest[attr_len..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let Some((value, after)) = attr_value(after.trim_start()) else {
                return Scan::End;
            };
            rest = after;
            Some(value)
        } else {
            if attr_len == 0 {
                rest = &rest[1..];
                continue;
            }
            None
        };
        if attr_len > 0 {
            tag.attrs.push((attr, value));
        }
    }
}

fn attr_value(text: &str) -> Option<(String, &str)> {
    let first = text.chars().next()?;
    if first == '"' || first == '\'' {
        let end = text[1..].find(first)? + 1;
        return Some((unescape(&text[1..end]), &text[end + 1..]));
    }
    let end = text
        .find(|c: char| c.is_whitespace() || c == '>')
        .unwrap_or(text.len());
    Some((unescape(&text[..end]), &text[end..]))
}

fn unescape(value: &str) -> String {
    value
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_tags_attributes_and_lines() {
        let html = "<!doctype html>\n<p class=\"a\">x</p>\n<!-- <b> -->\n<style>a > b {}</style>\n<img src=x.png alt='A &amp; B'/>";
        let tags = tags(html);
        let names: Vec<(&str, bool, usize)> = tags
            .iter()
            .map(|t| (t.name.as_str(), t.closing, t.line))
            .collect();
        assert_eq!(
            names,
            [
                ("p", false, 2),
                ("p", true, 2),
                ("style", false, 4),
                ("style", true, 4),
                ("img", false, 5)
            ]
        );
        assert_eq!(tags[0].attr("class"), Some(Some("a")));
        assert_eq!(tags[4].attr("alt"), Some(Some("A & B")));
        assert!(tags[4].self_closing);
    }

    #[test]
    fn what_runs_off_the_end_ends_the_scan() {
        let found = tags("<p>a</p><a href=\"never closed <b>x</b>");
        assert_eq!(
            found.len(),
            2,
            "the open quote swallows the rest: {found:?}"
        );
        assert_eq!(tags("<p><img src=x alt").len(), 1);
        assert_eq!(tags("<STYLE>p{}</Style><i>").len(), 3);
    }

    #[test]
    fn stray_angle_brackets_are_text() {
        assert!(tags("1 < 2 and <3").is_empty());
        assert_eq!(
            tags("<a href=\"x\" disabled>").first().unwrap().attrs.len(),
            2
        );
    }
}
