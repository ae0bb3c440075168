//! When the next attempt of a delivery happens: the retry delays
//! (`FLOWHOOK_RETRY_SCHEDULE`) with ±20% jitter, and a
//! receiver's `Retry-After`, honoured but capped at the next-but-one delay so a
//! receiver cannot park a message for longer than the retry delays would.

use std::time::Duration;

/// The delays between a delivery's attempts (`FLOWHOOK_RETRY_SCHEDULE`). Not to
/// be confused with the outbound *schedule* (`crate::outbound`), which says when
/// an execution starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy(Vec<Duration>);

impl RetryPolicy {
    pub fn new(seconds: &[u64]) -> RetryPolicy {
        RetryPolicy(seconds.iter().map(|s| Duration::from_secs(*s)).collect())
    }

    /// Attempts in one round: the first plus one per delay.
    pub fn max_attempts(&self) -> i64 {
        self.0.len() as i64 + 1
    }

    /// The delay after failed attempt number `failed` of this round (1-based), or
    /// `None` when the round is over. `jitter` is in `[-1, 1]` and scales ±20%.
    pub fn delay(
        &self,
        failed: i64,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let index = usize::try_from(failed - 1).ok()?;
        let base = *self.0.get(index)?;
        if let Some(asked) = retry_after {
            let cap = self
                .0
                .get(index + 1)
                .or(self.0.last())
                .copied()
                .unwrap_or(base);
            return Some(asked.min(cap));
        }
        let factor = 1.0 + 0.2 * jitter.clamp(-1.0, 1.0);
        Some(base.mul_f64(factor))
    }
}

/// Reads `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now)
        .to_std()
        .ok()
        .or(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RetryPolicy {
        RetryPolicy::new(&[5, 300, 1800, 7200, 18000, 36000, 36000])
    }

    #[test]
    fn the_default_delays_give_eight_attempts() {
        let s = spec();
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(s.delay(1, None, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(s.delay(2, None, 0.0), Some(Duration::from_secs(300)));
        assert_eq!(s.delay(7, None, 0.0), Some(Duration::from_secs(36000)));
        assert_eq!(s.delay(8, None, 0.0), None, "the round is over");
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = spec();
        assert_eq!(s.delay(2, None, 1.0), Some(Duration::from_secs(360)));
        assert_eq!(s.delay(2, None, -1.0), Some(Duration::from_secs(240)));
        assert_eq!(
            s.delay(2, None, 7.0),
            Some(Duration::from_secs(360)),
            "clamped"
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_next_but_one_delay() {
        let s = spec();
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(60)), 0.9),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(100_000)), 0.0),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            s.delay(7, Some(Duration::from_secs(100_000)), 0.0),
            Some(Duration::from_secs(36000))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .expect("t")
            .to_utc();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
