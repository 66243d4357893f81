//! Templates to email: renders an event's subject, preheader, HTML and text with minijinja
//! (strict undefined, HTML autoescape), inlines the CSS, derives a text part when the type
//! has no text template, and builds the MIME message. Shared by `render` and `dispatch`.

pub mod check;
mod filters;
pub mod gallery;
pub mod html;
mod jinja2;
pub mod layout;
pub mod lint;
pub mod live;
pub mod message;
mod prepare;
pub mod source;
mod undefined;

use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::event::Event;
use crate::exit_code::ErrorKind;
pub use prepare::Prepared;
pub use source::{SiteConfig, Templates, TemplatesError};

/// What went wrong rendering an event.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{file}:{line}: {message}")]
    Template {
        file: String,
        line: usize,
        message: String,
    },
    #[error("no template for event type `{event_type}`: expected `{expected}`")]
    Missing {
        event_type: String,
        expected: String,
    },
    #[error(transparent)]
    Source(#[from] TemplatesError),
    #[error("cannot inline the CSS of `{file}`: {message}")]
    Inline { file: String, message: String },
    #[error("cannot build the message: {0}")]
    Message(String),
}

impl RenderError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadInput
    }
}

/// One event rendered: every part a recipient sees.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub event_type: String,
    pub locale: String,
    pub subject: String,
    pub preheader: String,
    /// The HTML as sent: CSS inlined.
    pub html: String,
    /// The HTML as the template wrote it, before inlining (what lints read, line by line).
    #[serde(skip)]
    pub html_source: String,
    pub text: String,
    /// True when the type has no text template and `text` was derived from the HTML.
    pub text_derived: bool,
    /// The template files used, as shown in messages.
    pub files: Files,
}

#[derive(Debug, Clone, Serialize)]
pub struct Files {
    pub subject: String,
    pub preheader: String,
    pub html: String,
    /// The HTML template's name inside the templates set (`welcome/body.de.html`).
    #[serde(skip)]
    pub html_name: String,
    pub text: Option<String>,
}

/// Renders events with one set of templates.
pub struct Renderer {
    templates: Arc<Templates>,
    env: Environment<'static>,
}

impl Renderer {
    pub fn new(templates: Templates) -> Self {
        let templates = Arc::new(templates);
        let mut env = Environment::new();
        // mailtest's own templates are strict; a team's behave as its service's Jinja2
        // environment is set up, and get Python's methods (`.items()`, `.upper()`).
        let (undefined, escape) = match &templates.layout {
            Some(layout) => (layout.undefined.behavior(), layout.autoescape),
            None => (UndefinedBehavior::Strict, layout::Autoescape::Html),
        };
        env.set_undefined_behavior(undefined);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        // Subjects and text parts are not HTML: only HTML templates escape.
        env.set_auto_escape_callback(move |name| {
            if escape.escapes(name) {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.set_keep_trailing_newline(false);
        filters::register(&mut env, templates.config.tracking.clone());
        if templates.layout.is_some() {
            jinja2::register(&mut env);
        }
        let files = templates.clone();
        env.set_loader(move |name| Ok(files.get(name).map(str::to_owned)));
        Self { templates, env }
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The email for `event`, complete and dated now, as dispatch and `produce
    /// --fallback-smtp` send it and `render --format eml` shows it.
    pub fn compose(&self, event: &Event) -> Result<lettre::Message, RenderError> {
        let rendered = self.render(event)?;
        let sender = &self.templates.config.sender;
        message::build(&rendered, event, sender, std::time::SystemTime::now())
    }

    /// Renders every part of `event`'s email.
    pub fn render(&self, event: &Event) -> Result<Rendered, RenderError> {
        let t = &self.templates;
        let prepared = self.prepare(event)?;
        let html_name = prepared.html_template;
        let ctx = prepared.context;
        let html_source = match prepared.html {
            Some(html) => html,
            None => self.render_template(&html_name, &ctx)?,
        };
        let inlines = t.layout.as_ref().is_none_or(|l| l.inline_css);
        let html = if inlines {
            inline_css(&html_source).map_err(|message| RenderError::Inline {
                file: t.display(&html_name),
                message,
            })?
        } else {
            html_source.clone()
        };
        let text_file = prepared.text_template;
        let (text, text_derived) = match &text_file {
            // A team's text part is sent as its service renders it; mailtest's own is tidied.
            Some(file) if t.layout.is_some() => (self.render_template(file, &ctx)?, false),
            Some(file) => (tidy_text(&self.render_template(file, &ctx)?), false),
            None => (derive_text(&html), true),
        };
        Ok(Rendered {
            event_type: event.event_type.clone(),
            locale: prepared.locale,
            subject: prepared.subject,
            preheader: prepared.preheader,
            html,
            html_source,
            text,
            text_derived,
            files: Files {
                subject: prepared.subject_file,
                preheader: prepared.preheader_file,
                html: t.display(&html_name),
                html_name,
                text: text_file.map(|f| t.display(&f)),
            },
        })
    }

    /// Renders one template with a context (from [`Renderer::prepare`]).
    pub fn render_template(
        &self,
        name: &str,
        ctx: &minijinja::Value,
    ) -> Result<String, RenderError> {
        self.template(name)?
            .render(ctx)
            .map_err(|e| self.template_error(&e, Some(ctx)))
    }

    /// Renders a template whole and one block of it (a subject kept in `{% block subject
    /// %}`): the block, and the whole output (the body, so it is not rendered again).
    pub fn render_block(
        &self,
        name: &str,
        block: &str,
        ctx: &minijinja::Value,
    ) -> Result<(String, String), RenderError> {
        let mut captured = self
            .template(name)?
            .render_captured(ctx)
            .map_err(|e| self.template_error(&e, Some(ctx)))?;
        let text = captured
            .with_state_mut(|state| state.render_block(block))
            .map_err(|e| self.template_error(&e, Some(ctx)))?;
        Ok((text, captured.into_output()))
    }

    fn template(&self, name: &str) -> Result<minijinja::Template<'_, '_>, RenderError> {
        self.env
            .get_template(name)
            .map_err(|e| self.template_error(&e, None))
    }

    /// Renders a template written inline (a subject in `templates.yaml`).
    pub fn render_str(&self, source: &str, ctx: &minijinja::Value) -> Result<String, RenderError> {
        self.env
            .render_str(source, ctx)
            .map_err(|e| self.template_error(&e, Some(ctx)))
    }

    /// Names the file and line where minijinja stopped, and for an undefined value the
    /// name that was undefined (`data.user_name`), which minijinja's text leaves out: looked
    /// up in `ctx` (see `undefined.rs`), else the expression minijinja points at.
    fn template_error(
        &self,
        error: &minijinja::Error,
        ctx: Option<&minijinja::Value>,
    ) -> RenderError {
        let mut innermost = error;
        while let Some(next) =
            std::error::Error::source(innermost).and_then(|s| s.downcast_ref::<minijinja::Error>())
        {
            innermost = next;
        }
        let name = innermost.name().or(error.name()).unwrap_or("?");
        let source = self.templates.get(name).unwrap_or_default();
        let expression = innermost.range().and_then(|r| source.get(r)).map(str::trim);
        let line = innermost.line().unwrap_or(0);
        let missing = ctx.and_then(|ctx| {
            let undefined_kinds = [
                minijinja::ErrorKind::UndefinedError,
                minijinja::ErrorKind::InvalidOperation,
            ];
            undefined_kinds
                .contains(&innermost.kind())
                .then(|| undefined::missing_name(source, innermost.range(), line, ctx))
                .flatten()
        });
        let message = match (innermost.kind(), missing, expression) {
            (_, Some(name), _) => format!("undefined variable `{name}`"),
            (minijinja::ErrorKind::UndefinedError, None, Some(expr)) => {
                format!("undefined variable `{expr}`")
            }
            _ => innermost
                .detail()
                .map_or_else(|| innermost.kind().to_string(), str::to_owned),
        };
        RenderError::Template {
            file: self.templates.display(name),
            line,
            message,
        }
    }
}

/// Subjects and preheaders are one line however the template is laid out; no-break
/// spaces (between an amount and its currency) stay.
fn one_line(text: &str) -> String {
    text.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// Template tags leave blank lines where they stood; a text part reads best with at most
/// one blank line between paragraphs and none at the start.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() && blank > 0 {
            out.push('\n');
        }
        blank = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Moves `<style>` rules onto the elements (clients such as Gmail drop `<style>` in some
/// views); `@media` rules stay in a `<style>` block, as they cannot be inlined. Remote
/// stylesheets are never fetched.
fn inline_css(html: &str) -> Result<String, String> {
    let inliner = css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .keep_at_rules(true)
        .build();
    inliner.inline(html).map_err(|e| e.to_string())
}

/// The text part written from the HTML when there is no text template: never empty.
pub fn derive_text(html: &str) -> String {
    let text = html2text::config::plain()
        .link_footnotes(true)
        .string_from_read(html.as_bytes(), 78)
        .unwrap_or_default();
    if text.trim().is_empty() {
        "(This email has no text content.)".to_owned()
    } else {
        text
    }
}
