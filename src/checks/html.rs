//! The HTML check: which HTML and CSS features a message's HTML uses and how many email
//! clients support them, answered as Mailpit's `HTMLCheckResponse` (its counting and
//! weighting, so a suite reading Mailpit's totals sees the same numbers). `<style>` rules
//! are inlined first so that styles set in a block are found on the elements they reach;
//! linked stylesheets are never fetched.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;
use scraper::{Html, Selector};
use serde::Serialize;

use super::caniemail::{Caniemail, Warning};
use super::rules;

/// The whole answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    /// Features used, worst-supported (weighted by use) first.
    pub warnings: Vec<Warning>,
    pub platforms: BTreeMap<String, Vec<String>>,
    pub total: Total,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Total {
    pub tests: usize,
    pub nodes: usize,
    pub supported: f32,
    pub partial: f32,
    pub unsupported: f32,
}

/// The data and the compiled tests, built once and used for many messages.
pub struct HtmlChecker {
    data: Caniemail,
    html: Vec<(&'static str, Selector)>,
    attributes: Vec<(&'static str, Selector)>,
    images: Vec<(&'static str, Regex)>,
    inline: Vec<(&'static str, Regex)>,
    blocks: Vec<(&'static str, Regex)>,
    units: Vec<(&'static str, Regex)>,
    body_end: Regex,
    select: Selectors,
}

struct Selectors {
    script: Selector,
    img: Selector,
    styled: Selector,
    style: Selector,
    body_nodes: Selector,
    all_nodes: Selector,
}

impl std::fmt::Debug for HtmlChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HtmlChecker(caniemail data of {})",
            self.data.last_update_date
        )
    }
}

impl Default for HtmlChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl HtmlChecker {
    pub fn new() -> Self {
        Self {
            data: Caniemail::embedded(),
            html: selectors(
                rules::HTML_TESTS
                    .iter()
                    .filter(|(slug, _)| *slug != "html-body"),
            ),
            attributes: selectors(rules::STYLE_ATTRIBUTES.iter()),
            images: patterns(rules::IMAGE_TESTS),
            inline: patterns(rules::INLINE_STYLE_TESTS),
            blocks: patterns(rules::STYLE_BLOCK_TESTS),
            units: patterns(rules::UNIT_TESTS),
            body_end: Regex::new("(?i)</body>").expect("valid pattern"),
            select: Selectors {
                script: selector(
                    r#"script:not([type="application/ld+json"]):not([type="application/json"])"#,
                ),
                img: selector("img[src]"),
                styled: selector("[style]"),
                style: selector("style"),
                body_nodes: selector("body *, script"),
                all_nodes: selector("*:not(html):not(head):not(meta), script"),
            },
        }
    }

    /// When the vendored data was last updated by caniemail.com.
    pub fn data_date(&self) -> &str {
        &self.data.last_update_date
    }

    /// Checks `html`.
    pub fn check(&self, html: &str) -> Report {
        let whole = self.body_end.is_match(html);
        let doc = Html::parse_document(html);
        let nodes_selector = if whole {
            &self.select.all_nodes
        } else {
            &self.select.body_nodes
        };
        let nodes = doc.select(nodes_selector).count();
        let mut found = Vec::new();
        let mut tests = self.html_tests(&doc, whole, &mut found);
        tests += self.css_tests(html, &doc, &mut found);
        let mut warnings: Vec<Warning> = found;
        let weight = |w: &Warning| {
            (w.score.unsupported + w.score.partial) * w.score.found as f32 / nodes.max(1) as f32
        };
        warnings.sort_by(|a, b| weight(b).total_cmp(&weight(a)).then(a.slug.cmp(&b.slug)));
        Report {
            total: total(&warnings, tests, nodes),
            warnings,
            platforms: self.data.platforms(),
        }
    }

    /// Elements, attributes and image formats; returns how many tests were run, counted as
    /// Mailpit counts them (a found element counts twice there, and so here).
    fn html_tests(&self, doc: &Html, whole: bool, out: &mut Vec<Warning>) -> usize {
        let mut tests = 0;
        let scripts = doc.select(&self.select.script).count();
        if scripts > 0 {
            out.push(script_warning(scripts));
            tests += 1;
        }
        tests += 1;
        if whole {
            out.extend(self.data.warning("html-body", 1));
        }
        for (slug, selector) in &self.html {
            tests += 1;
            let n = doc.select(selector).count();
            if n > 0 {
                tests += 1;
                out.extend(self.data.warning(slug, n));
            }
        }
        tests += self.images.len();
        let mut images: HashMap<&str, usize> = HashMap::new();
        for img in doc.select(&self.select.img) {
            let src = img.value().attr("src").unwrap_or_default();
            for (slug, pattern) in &self.images {
                if pattern.is_match(src) {
                    *images.entry(slug).or_default() += 1;
                }
            }
        }
        self.push_counts(images, out);
        tests
    }

    /// Inline styles (after inlining `<style>` rules), presentational attributes, units and
    /// the `<style>` blocks' at-rules and pseudo-classes.
    fn css_tests(&self, html: &str, doc: &Html, out: &mut Vec<Warning>) -> usize {
        let merged = merge_styles(html).map(|m| Html::parse_document(&m));
        let merged = merged.as_ref().unwrap_or(doc);
        let styles: Vec<&str> = merged
            .select(&self.select.styled)
            .filter_map(|e| e.value().attr("style"))
            .collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (slug, pattern) in &self.inline {
            let n = styles.iter().filter(|s| pattern.is_match(s)).count();
            if n > 0 {
                counts.insert(slug, n);
            }
        }
        let written = attributes_premailer_writes(doc, merged);
        for (slug, selector) in &self.attributes {
            if merged.select(selector).next().is_some() || written.contains(slug) {
                *counts.entry(slug).or_default() += 1;
            }
        }
        self.push_counts(counts, out);
        let blocks: String = doc
            .select(&self.select.style)
            .flat_map(|s| s.text())
            .collect();
        let mut counts = HashMap::new();
        for (slug, pattern) in &self.units {
            let n: usize = styles.iter().map(|s| pattern.find_iter(s).count()).sum();
            counts.insert(*slug, n);
        }
        for (slug, pattern) in &self.blocks {
            counts.insert(*slug, pattern.find_iter(&blocks).count());
        }
        counts.retain(|_, n| *n > 0);
        self.push_counts(counts, out);
        self.inline.len() + self.attributes.len() + self.units.len() + self.blocks.len()
    }

    fn push_counts(&self, counts: HashMap<&str, usize>, out: &mut Vec<Warning>) {
        out.extend(
            counts
                .into_iter()
                .filter_map(|(slug, n)| self.data.warning(slug, n)),
        );
    }
}

/// Mailpit's total: 100 less the worst partial and the worst unsupported share, each
/// weighted by how often its feature is used among the document's elements.
fn total(warnings: &[Warning], tests: usize, nodes: usize) -> Total {
    let (mut partial, mut unsupported) = (0.0_f32, 0.0_f32);
    for w in warnings.iter().filter(|w| w.score.found > 0) {
        // No elements (a lone `<style>`): Mailpit divides by zero and answers 400; a share
        // of one element gives a total instead.
        let share = w.score.found as f32 / nodes.max(1) as f32;
        partial = partial.max(w.score.partial * share);
        unsupported = unsupported.max(w.score.unsupported * share);
    }
    Total {
        tests,
        nodes,
        supported: 100.0 - partial - unsupported,
        partial,
        unsupported,
    }
}

/// JavaScript, which no client runs (not in caniemail's data; Mailpit's own warning).
fn script_warning(found: usize) -> Warning {
    Warning {
        slug: "html-script".to_owned(),
        title: "<script> element".to_owned(),
        description: "JavaScript is not supported in any email client.".to_owned(),
        url: String::new(),
        category: "html".to_owned(),
        tags: Vec::new(),
        keywords: String::new(),
        results: Vec::new(),
        notes_by_number: BTreeMap::new(),
        score: super::caniemail::Score {
            found,
            supported: 0.0,
            partial: 0.0,
            unsupported: 100.0,
        },
    }
}

/// The attribute tests that Mailpit's inliner (go-premailer, `CssToAttributes` on) makes
/// fire: on an element a `<style>` rule reached, `background-color`, `width` and `height`
/// are also written as `bgcolor`, `width` and `height` attributes. An element a rule
/// reached is one whose style the inlining changed; the two documents' elements (but
/// `<style>`, which inlining may drop) are paired in order.
fn attributes_premailer_writes(doc: &Html, merged: &Html) -> Vec<&'static str> {
    let elements = |d: &'_ Html| -> Vec<Option<String>> {
        d.tree
            .nodes()
            .filter_map(|n| n.value().as_element())
            .filter(|e| e.name() != "style")
            .map(|e| e.attr("style").map(str::to_owned))
            .collect()
    };
    let (before, after) = (elements(doc), elements(merged));
    if before.len() != after.len() {
        return Vec::new();
    }
    let mut fired = Vec::new();
    for (was, now) in before.iter().zip(&after) {
        let Some(now) = now.as_deref().filter(|n| Some(*n) != was.as_deref()) else {
            continue;
        };
        for declaration in now.split(';') {
            let property = declaration.split(':').next().unwrap_or_default().trim();
            let slug = match property.to_ascii_lowercase().as_str() {
                "background-color" => "css-background-color",
                "width" => "css-width",
                "height" => "css-height",
                _ => continue,
            };
            if !fired.contains(&slug) {
                fired.push(slug);
            }
        }
    }
    fired
}

/// The HTML with its `<style>` rules moved onto the elements, `!important` kept.
fn merge_styles(html: &str) -> Option<String> {
    css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .keep_at_rules(true)
        .build()
        .inline(html)
        .ok()
}

fn selector(text: &str) -> Selector {
    // The selectors are ours (rules.rs), checked by a test.
    Selector::parse(text).expect("valid selector")
}

fn selectors<'a>(
    tests: impl Iterator<Item = &'a (&'static str, &'static str)>,
) -> Vec<(&'static str, Selector)> {
    tests.map(|(slug, s)| (*slug, selector(s))).collect()
}

fn patterns(tests: &[(&'static str, &'static str)]) -> Vec<(&'static str, Regex)> {
    tests
        .iter()
        .map(|(slug, p)| (*slug, Regex::new(p).expect("valid pattern")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = r##"<html><head><style>
.row { display: flex; color: red !important; }
@media (max-width: 600px) { .row { width: 100%; } }
a:hover { color: blue }
</style></head><body>
<div class="row" bgcolor="#fff"><img src="https://x.test/logo.webp"><img src="data:image/png;base64,AA=="></div>
<p style="margin: 1rem 2rem">Hi</p><script>alert(1)</script>
</body></html>"##;

    fn slugs(r: &Report) -> Vec<&str> {
        r.warnings.iter().map(|w| w.slug.as_str()).collect()
    }

    #[test]
    fn features_in_blocks_attributes_and_sources_are_found() {
        let r = HtmlChecker::new().check(EMAIL);
        let found = slugs(&r);
        for slug in [
            "html-script",
            "html-style",
            "html-body",
            "css-display-flex",
            "css-important",
            "css-background-color",
            "css-at-media",
            "css-pseudo-class-hover",
            "image-webp",
            "image-base64",
            "css-unit-rem",
        ] {
            assert!(found.contains(&slug), "{slug} not in {found:?}");
        }
        let find = |s: &str| r.warnings.iter().find(|w| w.slug == s).unwrap();
        assert_eq!(find("css-unit-rem").score.found, 2);
        assert!((find("html-script").score.unsupported - 100.0).abs() < f32::EPSILON);
        assert!(!found.contains(&"html-form"));
        // Every element but html, head and meta: style, body, div, 2 img, p, script.
        assert_eq!(r.total.nodes, 7);
        // Mailpit's count: 186 tests always, and one more for each element test that found
        // something (`<script>`, `<style>`).
        assert_eq!(r.total.tests, 188);
        // The worst weighted share: `<script>`, unsupported everywhere, on 1 of 7 elements.
        assert!(
            (r.total.unsupported - 100.0 / 7.0).abs() < 0.01,
            "{:?}",
            r.total
        );
    }

    #[test]
    fn style_rules_make_the_attributes_mailpits_inliner_writes() {
        let checker = HtmlChecker::new();
        let found = |html: &str| -> Vec<(String, usize)> {
            let r = checker.check(html);
            ["css-width", "css-height", "css-background-color"]
                .iter()
                .filter_map(|s| r.warnings.iter().find(|w| w.slug == *s))
                .map(|w| (w.slug.clone(), w.score.found))
                .collect()
        };
        // A rule's width reaches the div: the style test and the attribute test both count.
        let ruled = "<style>.w { width: 600px }</style><div class=\"w\">x</div>";
        assert_eq!(found(ruled), [("css-width".to_owned(), 2)]);
        // An inline style alone is not touched by the inliner: no attribute.
        assert_eq!(
            found("<div style=\"width: 600px\">x</div>"),
            [("css-width".to_owned(), 1)]
        );
    }

    #[test]
    fn warnings_come_worst_first_and_plain_html_scores_full() {
        let r = HtmlChecker::new().check(EMAIL);
        let weight = |w: &Warning| (w.score.unsupported + w.score.partial) * w.score.found as f32;
        assert!(
            r.warnings
                .windows(2)
                .all(|p| weight(&p[0]) >= weight(&p[1]))
        );
        let plain = HtmlChecker::new().check("<p>Hello <b>there</b></p>");
        assert!(plain.warnings.is_empty(), "{:?}", slugs(&plain));
        assert!((plain.total.supported - 100.0).abs() < f32::EPSILON);
        assert_eq!((plain.total.tests, plain.total.nodes), (186, 2));
    }
}
