//! Per-account rate limits for actions that make flowhook send requests on a
//! caller's word (the check button): a token bucket per account, refilled
//! steadily, so one account cannot turn the server into a request cannon.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowhook_core::ids::AccountId;

/// A token bucket per account: `burst` actions at once, then one every `every`.
pub struct RateLimit {
    burst: f64,
    every: Duration,
    buckets: Mutex<HashMap<AccountId, (f64, Instant)>>,
}

impl RateLimit {
    pub fn new(burst: u32, every: Duration) -> RateLimit {
        RateLimit {
            burst: f64::from(burst),
            every,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `account`; or the seconds until one is free.
    pub fn take(&self, account: AccountId) -> Result<(), u64> {
        self.take_at(account, Instant::now())
    }

    fn take_at(&self, account: AccountId, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Full buckets are the same as none: forget them.
            let burst = self.burst;
            buckets.retain(|_, (tokens, _)| *tokens < burst);
        }
        let (tokens, at) = buckets.entry(account).or_insert((self.burst, now));
        let refilled = now.saturating_duration_since(*at).as_secs_f64() / self.every.as_secs_f64();
        *tokens = (*tokens + refilled).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) * self.every.as_secs_f64();
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_period_per_account() {
        let limit = RateLimit::new(3, Duration::from_secs(10));
        let (a, b) = (AccountId::generate(), AccountId::generate());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limit.take_at(a, t0), Ok(()));
        }
        assert_eq!(limit.take_at(a, t0), Err(10));
        assert_eq!(limit.take_at(b, t0), Ok(()), "accounts are apart");
        assert_eq!(limit.take_at(a, t0 + Duration::from_secs(4)), Err(6));
        assert_eq!(limit.take_at(a, t0 + Duration::from_secs(10)), Ok(()));
    }
}
