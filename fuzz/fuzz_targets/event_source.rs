//! Fuzz target: any text as an event file (each format) must read and check without a panic.
#![no_main]

use std::sync::OnceLock;

use mailtest::catalog::Catalog;

static CATALOG: OnceLock<Catalog> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let catalog = CATALOG.get_or_init(|| Catalog::builtin().expect("built-in catalog"));
    let text = String::from_utf8_lossy(data);
    for ext in ["json", "jsonl", "yaml", ""] {
        if let Ok(events) = mailtest::event::source::parse("fuzz", &text, ext) {
            for event in events {
                for violation in mailtest::event::check(&event.value, catalog) {
                    let _ = event.problem(&violation).to_string();
                }
            }
        }
    }
});
