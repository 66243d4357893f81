//! Mail leaving mailtest for an SMTP server: the sender with retries and a fallback server
//! (dispatch's path), releasing a captured message to an operator's target, and `produce
//! --fallback-smtp`'s path straight from events to SMTP when Kafka is down. The sink itself
//! never sends: only these do, each on an explicit setting.

pub mod fallback;
pub mod release;
pub mod sender;
