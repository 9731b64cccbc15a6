//! The numbers of recently seen webhook tokens: a cache that intake (a layer above) reads and that every change
//! of numbers or webhook tokens in this layer clears.

use entity::phone_number;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a channel's numbers, read for a webhook token, serve that token's next deliveries in this process.
pub const WEBHOOK_NUMBERS_TTL: Duration = Duration::from_secs(1);

/// Above this many entries, expired ones are dropped when another is added.
const WEBHOOK_NUMBERS_PRUNE_AT: usize = 1024;

/// The numbers of recently seen webhook tokens (keyed by the token's hash, never the token), so that a channel's
/// stream of deliveries costs one read a second instead of one each. A change of numbers or webhook tokens made
/// through this process (a number added, enabled or disabled, given a new key, deleted or restored; a channel
/// deleted or its URL rotated) calls [`WebhookNumbers::forget`] and takes effect at once; one made through
/// another process takes effect here within [`WEBHOOK_NUMBERS_TTL`]. A token with no numbers (unknown, or a
/// channel without any) is not kept.
#[derive(Default)]
pub struct WebhookNumbers {
    /// Bumped by every `forget`: an entry read before it is not used, even if stored after it.
    generation: AtomicU64,
    entries: Mutex<HashMap<String, CachedNumbers>>,
}

struct CachedNumbers {
    read_at: Instant,
    generation: u64,
    numbers: Arc<[phone_number::Model]>,
}

impl WebhookNumbers {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, token_hash: &str) -> Option<Arc<[phone_number::Model]>> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(token_hash)?;
        (e.generation == self.generation() && e.read_at.elapsed() < WEBHOOK_NUMBERS_TTL).then(|| Arc::clone(&e.numbers))
    }

    /// Keeps what a read begun at `generation` found.
    pub(crate) fn put(&self, token_hash: String, generation: u64, numbers: Arc<[phone_number::Model]>) {
        if numbers.is_empty() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= WEBHOOK_NUMBERS_PRUNE_AT {
            entries.retain(|_, e| e.read_at.elapsed() < WEBHOOK_NUMBERS_TTL);
        }
        entries.insert(token_hash, CachedNumbers { read_at: Instant::now(), generation, numbers });
    }

    /// Numbers or webhook tokens changed: what was read before is not used again.
    pub fn forget(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn numbers() -> Arc<[phone_number::Model]> {
        let now = Utc::now();
        Arc::from(vec![phone_number::Model {
            id: Uuid::now_v7(),
            account_id: Uuid::now_v7(),
            channel_id: Uuid::now_v7(),
            e164: "+14155550100".into(),
            api_key_enc: String::new(),
            api_key_hint: "0100".into(),
            enabled: true,
            verification: entity::Verification::Unverified,
            verification_error: None,
            last_verified_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }])
    }

    #[test]
    fn what_a_read_found_is_kept_until_a_change_or_the_ttl() {
        let cache = WebhookNumbers::default();
        cache.put("hash".into(), cache.generation(), numbers());
        assert!(cache.get("hash").is_some());
        assert!(cache.get("other").is_none());
        cache.forget();
        assert!(cache.get("hash").is_none(), "a change through this process is seen at once");
        // A read begun before a change, stored after it, is not used.
        let before = cache.generation();
        cache.forget();
        cache.put("hash".into(), before, numbers());
        assert!(cache.get("hash").is_none());
        // Nothing is kept for a token without numbers.
        cache.put("none".into(), cache.generation(), Arc::from(Vec::new()));
        assert!(cache.entries.lock().map(|e| !e.contains_key("none")).unwrap_or(false));
        // An entry older than the TTL is not used.
        cache.put("hash".into(), cache.generation(), numbers());
        if let Ok(mut entries) = cache.entries.lock()
            && let Some(e) = entries.get_mut("hash")
        {
            e.read_at -= WEBHOOK_NUMBERS_TTL;
        }
        assert!(cache.get("hash").is_none());
    }
}
