//! Slots shared by every account, with a cap per account, so that no single
//! account can hold all of them: an account first waits for one of its own
//! slots, then for one of all. Used for response mapping (slots = cores) and
//! for requests sent without waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flowhook_core::ids::AccountId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pool of slots with a per-account cap.
pub struct Slots {
    all: Arc<Semaphore>,
    per_account: usize,
    accounts: Mutex<HashMap<AccountId, Arc<Semaphore>>>,
}

/// One slot held for an account; dropping it frees it.
pub struct Slot {
    _account: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

impl Slots {
    /// `total` slots, at most `per_account` (at least 1) for one account.
    pub fn new(total: usize, per_account: usize) -> Slots {
        Slots {
            all: Arc::new(Semaphore::new(total)),
            per_account: per_account.clamp(1, total.max(1)),
            accounts: Mutex::default(),
        }
    }

    /// Waits for a slot for `account`.
    pub async fn acquire(&self, account: AccountId) -> Slot {
        let mine = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(account)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_account)))
            .clone();
        // Neither semaphore is ever closed.
        let account_permit = mine.acquire_owned().await.ok();
        let all_permit = self.all.clone().acquire_owned().await.ok();
        match (account_permit, all_permit) {
            (Some(a), Some(b)) => Slot {
                _account: a,
                _all: b,
            },
            _ => unreachable!("slot semaphores are never closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_account_cannot_take_every_slot() {
        let slots = Slots::new(2, 1);
        let (busy, other) = (AccountId::generate(), AccountId::generate());
        let _held = slots.acquire(busy).await;
        // The busy account's second slot waits for its first...
        assert!(
            tokio::time::timeout(Duration::from_millis(50), slots.acquire(busy))
                .await
                .is_err()
        );
        // ... while another account still gets the free one.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), slots.acquire(other))
                .await
                .is_ok()
        );
    }
}
