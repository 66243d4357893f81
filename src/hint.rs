//! Hints printed under an error, for the mistakes users make most.

use crate::kafka::KafkaError;

/// A hint for `err`, if one helps.
pub fn for_error(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(KafkaError::Unreachable { brokers, .. }) = cause.downcast_ref::<KafkaError>() {
            return Some(format!(
                "is a broker running at `{brokers}`? start one with `mailtest broker`, or pass `--brokers`"
            ));
        }
        if let Some(KafkaError::Config(_)) = cause.downcast_ref::<KafkaError>() {
            return Some("librdkafka's properties are listed in its CONFIGURATION.md".into());
        }
    }
    None
}
