//! Renders per second for `bench/render.sh`: one fixture's HTML body template with a fixed
//! context (the work Jinja2 is timed on), and the whole email (subject, preheader, HTML with
//! CSS inlined, text). Writes the context and the HTML it rendered, so the peer can render
//! the same template with the same data and the outputs can be compared.
//! Run: `cargo run --release --example render_rate -- FIXTURE SECONDS OUT_DIR`

use std::time::{Duration, Instant};

use mailtest::catalog::Catalog;
use mailtest::event::Event;
use mailtest::render::{Renderer, Templates};

// The allocator the `mailtest` binary uses, so the figures are the binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [fixture, seconds, out] = args.as_slice() else {
        anyhow::bail!("usage: render_rate FIXTURE SECONDS OUT_DIR");
    };
    let seconds: f64 = seconds.parse()?;
    let catalog = Catalog::builtin()?;
    let kind = catalog
        .get(fixture.split('/').next().unwrap_or_default())
        .ok_or_else(|| anyhow::anyhow!("no type for `{fixture}`"))?;
    let text = &kind
        .fixtures
        .iter()
        .find(|f| f.name == *fixture)
        .ok_or_else(|| anyhow::anyhow!("no fixture `{fixture}`"))?
        .text;
    let event: Event = serde_json::from_str(text)?;
    let renderer = Renderer::new(Templates::builtin()?);
    let prepared = renderer.prepare(&event)?;
    let out = std::path::Path::new(out);
    std::fs::write(
        out.join("context.json"),
        serde_json::to_string(&prepared.context)?,
    )?;
    std::fs::write(out.join("template.txt"), &prepared.html_template)?;
    let html = renderer.render_template(&prepared.html_template, &prepared.context)?;
    std::fs::write(out.join("mailtest.html"), html)?;
    let template = rate(seconds, || {
        renderer
            .render_template(&prepared.html_template, &prepared.context)
            .map(|_| ())
    })?;
    let full = rate(seconds, || renderer.render(&event).map(|_| ()))?;
    println!("{{\"template\": {template:.0}, \"full\": {full:.0}}}");
    Ok(())
}

/// Calls `f` for about `seconds` after a short warm-up; calls per second.
fn rate<E: std::error::Error + Send + Sync + 'static>(
    seconds: f64,
    mut f: impl FnMut() -> Result<(), E>,
) -> anyhow::Result<f64> {
    for _ in 0..100 {
        f()?;
    }
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f()?;
        }
        n += 100;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
