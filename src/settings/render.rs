//! `render`'s settings, resolved: where templates and the catalog come from, and which of
//! its four jobs to do (one email, the gallery to a folder, the live server, the lints).

use std::path::PathBuf;

use super::{ConfigFile, SettingsError};
use crate::cli::{RenderArgs, RenderFormat};

/// Everything `mailtest render` runs with.
pub struct Render {
    /// The team's templates folder; `None`: the built-in ones.
    pub templates: Option<PathBuf>,
    /// A catalog folder adding or replacing event types; `None`: the built-in catalog.
    pub catalog: Option<PathBuf>,
    pub mode: RenderMode,
}

/// What `render` does.
pub enum RenderMode {
    /// One email: `event` (a file, `-` for stdin) or `event_type`'s `fixture`.
    One {
        event_type: Option<String>,
        event: Option<PathBuf>,
        fixture: Option<String>,
        format: RenderFormat,
    },
    /// Every template with every fixture, as a static gallery in `out`.
    All { out: PathBuf },
    /// The gallery served live on `addr`, rebuilt when a file changes.
    Serve {
        addr: String,
        ready_file: Option<PathBuf>,
    },
    /// The lints over every type, failing on errors (and warnings when `strict`).
    Check { strict: bool, json: bool },
}

pub fn render(args: &RenderArgs, file: &ConfigFile) -> Result<Render, SettingsError> {
    let mode = if let Some(addr) = &args.serve {
        RenderMode::Serve {
            addr: addr.clone(),
            ready_file: args.ready_file.clone(),
        }
    } else if args.check {
        RenderMode::Check {
            strict: args.strict,
            json: args.format == RenderFormat::Json,
        }
    } else if args.all {
        let out = args.out.clone();
        RenderMode::All {
            out: out.ok_or_else(|| SettingsError::invalid("--all", "needs --out DIR"))?,
        }
    } else {
        RenderMode::One {
            event_type: args.event_type.clone(),
            event: args.event.clone(),
            fixture: args.fixture.clone(),
            format: args.format,
        }
    };
    Ok(Render {
        templates: args.templates.clone().or_else(|| file.templates.clone()),
        catalog: args.catalog.clone().or_else(|| file.catalog.clone()),
        mode,
    })
}
