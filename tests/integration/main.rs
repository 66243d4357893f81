//! The one integration-test binary: the CLI as users run it, the library's pieces composed
//! in process, and interop with Kafka software we did not write.

mod api;
mod api_guard;
mod api_inbox;
mod browser;
mod catalog;
mod checks;
mod cli;
mod crash;
mod dispatch;
mod gallery;
mod inbox;
mod inbox_xss;
mod interop;
mod jinja2;
mod kafka;
mod kafka_faults;
mod lint;
mod load;
mod mailhog;
mod mailpit;
mod malformed;
mod mime_bombs;
mod release;
mod render;
mod sink;
mod smoke;
mod smtp;
mod smtp_framing;
mod store;
mod store_faults;
mod store_flags;
mod structure;
mod util;
mod verify;
mod wire;
