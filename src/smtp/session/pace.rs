//! A slow link (the `link_speed` fault, as MailHog's Jim makes one): the session's bytes,
//! both ways, are let through no faster than a rate, as a slow network would carry them.
//! Idle time earns no credit: a burst after a pause crawls like the rest.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Pace {
    /// Bytes a second.
    rate: u64,
    /// When the link is free again.
    free_at: Instant,
}

impl Pace {
    pub fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1),
            free_at: Instant::now(),
        }
    }

    /// Waits until `n` more bytes would have crossed the link; how long it waited.
    pub async fn carry(&mut self, n: usize) -> Duration {
        let now = Instant::now();
        self.free_at = self.free_at.max(now) + Duration::from_secs_f64(n as f64 / self.rate as f64);
        tokio::time::sleep_until(self.free_at).await;
        self.free_at - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bytes_take_the_time_the_rate_gives_them() {
        let mut pace = Pace::new(1000);
        let start = Instant::now();
        assert_eq!(pace.carry(500).await, Duration::from_millis(500));
        pace.carry(1500).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // A pause earns no credit: the next bytes still take their time.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(pace.carry(1000).await, Duration::from_secs(1));
    }
}
