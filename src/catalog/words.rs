//! Word lists for generated events: names from many places, reserved domains, products.

/// First names with an ASCII spelling for e-mail addresses.
#[rustfmt::skip]
pub const FIRST_NAMES: &[(&str, &str)] = &[
    ("Alice", "alice"), ("Ben", "ben"), ("Chloé", "chloe"), ("Dmitri", "dmitri"),
    ("Émile", "emile"), ("Fatima", "fatima"), ("Giulia", "giulia"), ("Hiroshi", "hiroshi"),
    ("Ingrid", "ingrid"), ("José", "jose"), ("Kwame", "kwame"), ("Lena", "lena"),
    ("Mateo", "mateo"), ("Nguyễn", "nguyen"), ("Olusegun", "olusegun"), ("Priya", "priya"),
    ("Quentin", "quentin"), ("Ravi", "ravi"), ("Søren", "soren"), ("Tomás", "tomas"),
    ("Umaima", "umaima"), ("Valentina", "valentina"), ("Wei", "wei"), ("Xiomara", "xiomara"),
    ("Yusuf", "yusuf"), ("Zoë", "zoe"), ("Jürgen", "juergen"), ("Anne-Marie", "annemarie"),
];

/// Last names with an ASCII spelling; a few are long, to exercise layouts.
#[rustfmt::skip]
pub const LAST_NAMES: &[(&str, &str)] = &[
    ("Nguyen", "nguyen"), ("Müller", "mueller"), ("Okafor", "okafor"), ("García", "garcia"),
    ("Kowalski", "kowalski"), ("Tanaka", "tanaka"), ("O'Brien", "obrien"), ("Schmidt", "schmidt"),
    ("Haddad", "haddad"), ("Johansson", "johansson"), ("Rossi", "rossi"), ("Singh", "singh"),
    ("Dubois", "dubois"), ("Ivanova", "ivanova"), ("Mensah", "mensah"), ("Fernández", "fernandez"),
    ("Wolfeschlegelsteinhausen-Bergerdorff", "wolfeschlegelsteinhausen"), ("Lee", "lee"),
];

/// Domains reserved for documentation and tests (RFC 2606), so nothing can ever be delivered.
#[rustfmt::skip]
pub const DOMAINS: &[&str] = &["example.com", "example.org", "example.net", "mail.example"];

#[rustfmt::skip]
pub const WORDS: &[&str] = &[
    "amber", "birch", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
    "kestrel", "lumen", "meadow", "nimbus", "onyx", "pebble", "quartz", "russet", "sable", "tundra",
];

#[rustfmt::skip]
pub const PRODUCTS: &[&str] = &[
    "Ceramic pour-over set", "Merino wool beanie", "Noise-cancelling headphones",
    "Cast iron skillet 28 cm", "Organic green tea (100 g)", "USB-C charging cable, 2 m",
    "Hardcover notebook, dotted", "Stainless steel water bottle", "Trail running socks (3 pairs)",
    "Desk lamp with dimmer",
];

#[rustfmt::skip]
pub const COMPANIES: &[&str] = &["Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Logistics"];

#[rustfmt::skip]
pub const CITIES: &[&str] = &["Berlin", "Lagos", "São Paulo", "Osaka", "Toronto", "Wrocław", "Chennai"];

#[rustfmt::skip]
pub const ROLES: &[&str] = &["editor", "admin", "billing_manager", "moderator", "owner"];
