//! Captured mail as the API, the inbox and `verify` see it: a stored message parsed into
//! headers, bodies, attachments, links and lints, with one rule for what an attachment is.

pub mod parsed;
