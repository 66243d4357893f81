//! caniemail.com's support data (vendored under `data/caniemail/`, refreshed by
//! `scripts/refresh-caniemail.sh`) and the warning each feature makes, scored as Mailpit
//! scores it: the share of tested client versions that support it, partly or not at all.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

const DATA: &str = include_str!("../../data/caniemail/caniemail.json");

/// The whole data set, parsed once per holder.
#[derive(Debug, Deserialize)]
pub struct Caniemail {
    pub last_update_date: String,
    nicenames: Nicenames,
    data: Vec<Feature>,
}

#[derive(Debug, Deserialize)]
struct Nicenames {
    family: BTreeMap<String, String>,
    platform: BTreeMap<String, String>,
}

/// One feature: its results by family, platform and version (`y`, `n`, `a #1`, ...).
#[derive(Debug, Deserialize)]
struct Feature {
    slug: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    url: String,
    category: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    stats: IndexMap<String, IndexMap<String, IndexMap<String, String>>>,
    #[serde(default)]
    notes_by_num: Option<BTreeMap<String, String>>,
}

/// A feature the HTML uses, as Mailpit's `HTMLCheckWarning`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Warning {
    pub slug: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "URL")]
    pub url: String,
    pub category: String,
    pub tags: Vec<String>,
    pub keywords: String,
    pub results: Vec<Outcome>,
    pub notes_by_number: BTreeMap<String, String>,
    pub score: Score,
}

/// One client version's support (`HTMLCheckResult`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Outcome {
    pub name: String,
    pub platform: String,
    pub family: String,
    pub version: String,
    pub support: String,
    pub note_number: String,
}

/// How many times the feature is used and how well it is supported, in percent.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Score {
    pub found: usize,
    pub supported: f32,
    pub partial: f32,
    pub unsupported: f32,
}

impl Caniemail {
    /// The vendored data.
    pub fn embedded() -> Self {
        // The file is ours and checked by a test: it cannot fail to parse at run time.
        serde_json::from_str(DATA).expect("vendored caniemail data parses")
    }

    /// The warning for `slug` used `found` times, or `None` for a slug the data lacks.
    pub fn warning(&self, slug: &str, found: usize) -> Option<Warning> {
        let feature = self.data.iter().find(|f| f.slug == slug)?;
        let mut results = Vec::new();
        let (mut yes, mut no, mut partial) = (0.0_f32, 0.0_f32, 0.0_f32);
        for (family, platforms) in &feature.stats {
            for (platform, versions) in platforms {
                for (version, support) in versions {
                    let (word, note, count) = match support.as_str() {
                        "y" => ("yes", String::new(), &mut yes),
                        "n" => ("no", String::new(), &mut no),
                        // Anything else (`a #1`, `y #2`, `u`) is partial, as Mailpit counts.
                        other => ("partial", note_number(other), &mut partial),
                    };
                    *count += 1.0;
                    results.push(self.outcome(family, platform, version, word, note));
                }
            }
        }
        let total = yes + no + partial;
        Some(Warning {
            slug: feature.slug.clone(),
            title: feature.title.clone(),
            description: markdown(feature.description.as_deref().unwrap_or_default()),
            url: feature.url.clone(),
            category: feature.category.clone(),
            tags: feature.tags.clone(),
            keywords: String::new(),
            results,
            notes_by_number: (feature.notes_by_num.iter().flatten())
                .map(|(n, note)| (n.clone(), markdown(note)))
                .collect(),
            score: Score {
                found,
                supported: yes / total * 100.0,
                partial: partial / total * 100.0,
                unsupported: no / total * 100.0,
            },
        })
    }

    fn outcome(
        &self,
        family: &str,
        platform: &str,
        version: &str,
        support: &str,
        note: String,
    ) -> Outcome {
        let nice = |names: &BTreeMap<String, String>, key: &str| {
            names.get(key).cloned().unwrap_or_default()
        };
        Outcome {
            name: format!(
                "{} {} ({version})",
                nice(&self.nicenames.family, family),
                nice(&self.nicenames.platform, platform)
            ),
            platform: platform.to_owned(),
            family: family.to_owned(),
            version: version.to_owned(),
            support: support.to_owned(),
            note_number: note,
        }
    }

    /// Each platform with the client families tested on it, sorted (Mailpit's `Platforms`).
    pub fn platforms(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for feature in &self.data {
            for (family, platforms) in &feature.stats {
                let nice = self
                    .nicenames
                    .family
                    .get(family)
                    .cloned()
                    .unwrap_or_default();
                for platform in platforms.keys() {
                    let clients = out.entry(platform.clone()).or_default();
                    if !clients.contains(&nice) {
                        clients.push(nice.clone());
                    }
                }
            }
        }
        for clients in out.values_mut() {
            clients.sort();
        }
        out
    }
}

/// The note a partial result points at: `a #2` is note 2. Mailpit's pattern (` #(\d)+$`)
/// keeps the last digit of the number, which is the same for the data's one-digit notes.
fn note_number(support: &str) -> String {
    support
        .rsplit_once(" #")
        .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .map(|(_, n)| n[n.len() - 1..].to_owned())
        .unwrap_or_default()
}

/// caniemail's Markdown as HTML, without the paragraph around a one-line text, links
/// opening in a new tab (as Mailpit shows them).
fn markdown(text: &str) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(text));
    let html = html.replace("<a href=", "<a target=\"_blank\" href=");
    let trimmed = html.trim();
    let inner = trimmed.strip_prefix("<p>").unwrap_or(trimmed);
    inner.strip_suffix("</p>").unwrap_or(inner).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_data_scores_a_feature_from_its_results() {
        let data = Caniemail::embedded();
        let w = data.warning("css-display-flex", 2).unwrap();
        assert_eq!(w.score.found, 2);
        let sum = w.score.supported + w.score.partial + w.score.unsupported;
        assert!((sum - 100.0).abs() < 0.01, "{sum}");
        let yes = w.results.iter().filter(|r| r.support == "yes").count() as f32;
        assert!((yes / w.results.len() as f32 * 100.0 - w.score.supported).abs() < 0.01);
        assert!(
            w.results
                .iter()
                .any(|r| r.name.starts_with("Outlook Windows"))
        );
        assert!(data.warning("no-such-feature", 1).is_none());
        assert!(data.platforms()["ios"].contains(&"Apple Mail".to_owned()));
    }

    #[test]
    fn notes_and_descriptions_read_as_mailpit_shows_them() {
        assert_eq!(note_number("a #3"), "3");
        assert_eq!(note_number("y"), "");
        assert_eq!(
            markdown("Use `<b>` [here](https://x.test)."),
            "Use <code>&lt;b&gt;</code> <a target=\"_blank\" href=\"https://x.test\">here</a>."
        );
    }
}
