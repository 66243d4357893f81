//! Which templates an event renders with and what they see: mailtest's layout (a folder per
//! type, strings per locale) or the team's own (`templates.yaml`: the service's files, the
//! subject in a block or a side file, the payload's fields as variables).

use minijinja::context;

use super::layout::{self, Part, TypeTemplates};
use super::source::locale_chain;
use super::{RenderError, Renderer, one_line};
use crate::event::Event;

/// An event ready for its bodies to be rendered.
pub struct Prepared {
    pub html_template: String,
    /// The HTML body, when rendering the subject's block rendered it already.
    pub html: Option<String>,
    pub text_template: Option<String>,
    /// Where the subject and preheader came from, as shown in messages.
    pub subject_file: String,
    pub preheader_file: String,
    pub locale: String,
    pub subject: String,
    pub preheader: String,
    /// What the body templates see.
    pub context: minijinja::Value,
}

impl Renderer {
    /// Everything up to the bodies: which templates, the locale, subject and preheader,
    /// and the context the bodies are rendered with.
    pub fn prepare(&self, event: &Event) -> Result<Prepared, RenderError> {
        let layout = self.templates().layout.as_ref();
        match layout.and_then(|l| l.types.get(&event.event_type)) {
            Some(own) => self.prepare_own(event, own),
            None => self.prepare_builtin(event),
        }
    }

    fn missing(&self, event_type: &str, expected: &str) -> RenderError {
        RenderError::Missing {
            event_type: event_type.to_owned(),
            expected: self.templates().display(expected),
        }
    }

    /// mailtest's layout: `<type>/subject.txt`, `preheader.txt`, `body.html`, `body.txt`.
    fn prepare_builtin(&self, event: &Event) -> Result<Prepared, RenderError> {
        let t = self.templates();
        let kind = &event.event_type;
        let find = |part: &str, ext: &str| {
            t.resolve(kind, part, ext, &event.locale)
                .ok_or_else(|| self.missing(kind, &format!("{kind}/{part}.{ext}")))
        };
        let (subject_template, preheader_template) =
            (find("subject", "txt")?, find("preheader", "txt")?);
        let html_template = find("body", "html")?;
        let (strings_locale, strings) = t.strings(&event.locale)?;
        // Formatting follows the event's own locale when its language has strings, so
        // `de-CH` keeps Swiss number grouping; otherwise the locale the words are in.
        let locale = if event.locale.starts_with(&strings_locale) {
            event.locale.clone()
        } else {
            strings_locale
        };
        let base = |subject: &str, preheader: &str| {
            context! {
                event_id => event.event_id.to_string(),
                event_type => kind,
                occurred_at => event.occurred_at.to_rfc3339(),
                recipient => &event.recipient,
                locale => &locale,
                data => &event.data,
                t => &strings,
                sender => &t.config.sender,
                brand => &t.config.brand,
                subject => subject,
                preheader => preheader,
            }
        };
        // Subject and preheader see an empty `subject`/`preheader`; the bodies get one
        // flat context with both (faster lookups than a merged one).
        let early = base("", "");
        let subject = one_line(&self.render_template(&subject_template, &early)?);
        let preheader = one_line(&self.render_template(&preheader_template, &early)?);
        Ok(Prepared {
            context: base(&subject, &preheader),
            text_template: t.resolve(kind, "body", "txt", &event.locale),
            subject_file: t.display(&subject_template),
            preheader_file: t.display(&preheader_template),
            html_template,
            html: None,
            locale,
            subject,
            preheader,
        })
    }

    /// The team's layout: the files `templates.yaml` names, with the event's data fields as
    /// top-level variables, as the service renders them.
    fn prepare_own(&self, event: &Event, own: &TypeTemplates) -> Result<Prepared, RenderError> {
        let t = self.templates();
        let layout = t.layout.as_ref().expect("a type of the layout");
        let chain = locale_chain(&event.locale);
        let find = |pattern: &str| {
            t.first(&layout::candidates(pattern, &chain, &layout.default_locale))
                .ok_or_else(|| self.missing(&event.event_type, pattern))
        };
        let html_template = find(&own.html)?;
        let text_template = own.text.as_deref().map(find).transpose()?;
        let envelope = serde_json::to_value(event).unwrap_or_default();
        let context = minijinja::Value::from_serialize(own.context(&layout.globals, &envelope));
        let mut html = None;
        let mut part = |part: Option<&Part>| -> Result<(String, String), RenderError> {
            Ok(match part {
                None => (String::new(), String::new()),
                Some(Part::Block(block)) => {
                    let (text, whole) = self.render_block(&html_template, block, &context)?;
                    html = Some(whole);
                    let file = format!("{} (block `{block}`)", t.display(&html_template));
                    (text, file)
                }
                Some(Part::File(pattern)) => {
                    let file = find(pattern)?;
                    (self.render_template(&file, &context)?, t.display(&file))
                }
                Some(Part::Text(source)) => (
                    self.render_str(source, &context)?,
                    t.dir.as_deref().map_or_else(String::new, |d| {
                        format!("{} ({})", d.display(), layout::FILE)
                    }),
                ),
            })
        };
        let (subject, subject_file) = part(Some(&own.subject))?;
        let (preheader, preheader_file) = part(own.preheader.as_ref())?;
        let locale = chain
            .first()
            .cloned()
            .unwrap_or(layout.default_locale.clone());
        Ok(Prepared {
            html_template,
            html,
            text_template,
            subject_file,
            preheader_file,
            locale,
            subject: one_line(&subject),
            preheader: one_line(&preheader),
            context,
        })
    }
}
