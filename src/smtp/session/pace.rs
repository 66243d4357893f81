//! A slow link (the `link_speed` fault, as MailHog's Jim makes one): the session's bytes,
//! both ways, are let through no faster than a rate, as a slow network would carry them.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Pace {
    /// Bytes a second.
    rate: u64,
    start: Instant,
    bytes: u64,
}

impl Pace {
    pub fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1),
            start: Instant::now(),
            bytes: 0,
        }
    }

    /// Waits until `n` more bytes would have crossed the link.
    pub async fn carry(&mut self, n: usize) {
        self.bytes += n as u64;
        let due = self.start + Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bytes_take_the_time_the_rate_gives_them() {
        let mut pace = Pace::new(1000);
        let start = Instant::now();
        pace.carry(500).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        pace.carry(1500).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
