//! The event catalog as data: schemas load, fixtures pass, generation is valid and repeatable,
//! and a new type needs files alone.

use mailtest::catalog::Catalog;
use mailtest::catalog::generate::Generator;
use mailtest::event::{self, source};
use serde_json::Value;

use crate::util::{json_lines, mailtest};

const TYPES: &[&str] = &[
    "account_locked",
    "account_unlocked",
    "email_verification",
    "order_confirmation",
    "password_reset",
    "professional_status_upgrade",
    "role_upgrade",
    "welcome",
];

#[test]
fn builtin_catalog_has_every_type_with_valid_fixtures() {
    let catalog = Catalog::builtin().unwrap();
    assert_eq!(catalog.names(), TYPES);
    for ty in catalog.types() {
        assert!(
            ty.fixtures.len() >= 2,
            "{} has fewer than two fixtures",
            ty.name()
        );
        for fixture in &ty.fixtures {
            let events = source::parse(&fixture.path, &fixture.text, "json").unwrap();
            for e in events {
                assert_eq!(event::check(&e.value, &catalog), vec![], "{}", fixture.path);
                let parsed = event::Event::from_value(e.value).unwrap();
                assert_eq!(parsed.event_type, ty.name());
            }
        }
    }
}

#[test]
fn generated_events_are_valid_varied_and_repeatable() {
    let catalog = Catalog::builtin().unwrap();
    let now = chrono::Utc::now();
    let mut a = Generator::at(Some(7), now);
    let mut b = Generator::at(Some(7), now);
    let mut recipients = std::collections::HashSet::new();
    for ty in catalog.types() {
        for _ in 0..50 {
            let (x, y) = (a.event(ty), b.event(ty));
            assert_eq!(event::check(&x, &catalog), vec![], "{x}");
            assert_eq!(x, y);
            assert!(
                recipients.insert(x["recipient"]["email"].clone()),
                "recipient repeated"
            );
        }
    }
    let mut c = Generator::new(Some(8));
    let order = catalog.get("order_confirmation").unwrap();
    assert_ne!(
        c.event(order)["event_id"],
        Generator::new(Some(7)).event(order)["event_id"]
    );
}

#[test]
fn order_totals_add_up() {
    let catalog = Catalog::builtin().unwrap();
    let order = catalog.get("order_confirmation").unwrap();
    let mut generator = Generator::new(Some(1));
    for _ in 0..20 {
        let event = generator.event(order);
        let total: f64 = event["data"]["order_total"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let sum: f64 = event["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["quantity"].as_f64().unwrap()
                    * i["unit_price"].as_str().unwrap().parse::<f64>().unwrap()
            })
            .sum();
        assert!((total - sum).abs() < 0.005, "{total} != {sum}");
    }
}

#[test]
fn a_new_event_type_needs_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ty = dir.path().join("newsletter_confirmation");
    std::fs::create_dir(&ty).unwrap();
    std::fs::write(
        ty.join("schema.yaml"),
        "event_type: newsletter_confirmation\ndescription: Double opt-in\ndata:\n  list: {type: string, one_of: [weekly, monthly]}\n  confirm_link: {type: url}\n",
    )
    .unwrap();
    let catalog = dir.path().to_str().unwrap();
    let out = mailtest()
        .args([
            "produce",
            "--dry-run",
            "--catalog",
            catalog,
            "--type",
            "newsletter_confirmation",
            "-n",
            "3",
        ])
        .ok();
    let events = json_lines(&out);
    assert_eq!(events.len(), 3);
    for e in &events {
        assert_eq!(e["event_type"], "newsletter_confirmation");
        assert!(["weekly", "monthly"].contains(&e["data"]["list"].as_str().unwrap()));
        assert!(
            e["data"]["confirm_link"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
    }
    let listing = mailtest().args(["catalog", "--catalog", catalog]).ok();
    assert!(listing.contains("newsletter_confirmation (v1): Double opt-in"));
}

#[test]
fn problems_name_file_line_and_field() {
    let catalog = Catalog::builtin().unwrap();
    let text = "[\n  {\n    \"event_id\": \"0b7f4f0e-2f7d-4a53-9a53-1f1e4c1d2e3f\",\n    \"event_type\": \"order_confirmation\",\n    \"occurred_at\": \"2026-11-20T09:00:00Z\",\n    \"schema_version\": 1,\n    \"recipient\": {\"email\": \"a@example.com\", \"name\": \"A\"},\n    \"locale\": \"en\",\n    \"data\": {\n      \"order_id\": \"O-1\",\n      \"tenant_id\": \"t\",\n      \"order_total\": \"12.x\",\n      \"currency\": \"EUR\",\n      \"items\": [{\"sku\": \"S\", \"name\": \"N\", \"quantity\": \"two\", \"unit_price\": \"1.00\"}],\n      \"order_link\": \"https://shop.example.com/o/1\"\n    }\n  }\n]\n";
    let events = source::parse("orders.json", text, "json").unwrap();
    let problems: Vec<String> = event::check(&events[0].value, &catalog)
        .iter()
        .map(|v| events[0].problem(v).to_string())
        .collect();
    assert_eq!(
        problems,
        vec![
            "orders.json:12: field `data.order_total`: expected decimal, found string \"12.x\"",
            "orders.json:14: field `data.items[0].quantity`: expected integer, found string \"two\"",
        ]
    );
}

#[test]
fn every_input_format_reads_the_same_events() {
    let catalog = Catalog::builtin().unwrap();
    let fixture = &catalog.get("welcome").unwrap().fixtures[0];
    let value: Value = serde_json::from_str(&fixture.text).unwrap();
    let line = serde_json::to_string(&value).unwrap();
    let yaml = serde_norway::to_string(&value).unwrap();
    let inputs = [
        ("json", format!("[{line},\n{line}]")),
        ("jsonl", format!("{line}\n\n{line}\n")),
        ("yaml", format!("{yaml}---\n{yaml}")),
        (
            "yaml",
            format!(
                "- {}\n- {}",
                yaml.replace('\n', "\n  "),
                yaml.replace('\n', "\n  ")
            ),
        ),
        ("", format!("{line}\n{line}\n")),
    ];
    for (ext, text) in inputs {
        let events = source::parse("in", &text, ext).unwrap();
        assert_eq!(events.len(), 2, "{ext}: {text}");
        assert!(events.iter().all(|e| e.value == value), "{ext}");
    }
}

/// Fragments that break JSON and YAML in interesting places.
const TOKENS: &[&[u8]] = &[
    b"{", b"}", b"[", b"]", b"\"", b":", b",", b"\n", b"---\n", b"- ", b"\\u", b"\xff", b"\0",
    b"null", b"1e999",
];

/// Arbitrary bytes must never panic the event reader or checker: mutate the fixtures with a
/// seeded generator (repeatable) and feed raw noise too.
#[test]
fn mutated_input_never_panics() {
    use rand::{Rng, SeedableRng};
    let catalog = Catalog::builtin().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6d61_696c);
    let seeds: Vec<Vec<u8>> = catalog
        .types()
        .flat_map(|t| t.fixtures.iter().map(|f| f.text.as_bytes().to_vec()))
        .collect();
    for round in 0..3000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..=bytes.len());
            match rng.random_range(0..3) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 => {
                    let token = TOKENS[rng.random_range(0..TOKENS.len())];
                    bytes.splice(at..at, token.iter().copied());
                }
                _ => bytes.insert(at, rng.random()),
            }
        }
        if round % 10 == 0 {
            bytes = (0..rng.random_range(0..200))
                .map(|_| rng.random())
                .collect();
        }
        let text = String::from_utf8_lossy(&bytes);
        for ext in ["json", "jsonl", "yaml", ""] {
            if let Ok(events) = source::parse("fuzz", &text, ext) {
                for e in events {
                    for v in event::check(&e.value, &catalog) {
                        let _ = e.problem(&v).to_string();
                    }
                }
            }
        }
    }
}
