//! The cache of OCSP responses to requests without a nonce (RFC 5019 2.2, SPEC.md
//! SERVE-OCSP): bounded in entries, evicting one entry at a time when full (the CLOCK
//! approximation of least-recently-used), emptied whole only when a new snapshot is served.
//!
//! Invariant: it never holds more than its capacity; an entry asked for since the hand last
//! passed it survives one more sweep, so a working set smaller than the capacity stays cached
//! however many one-off requests pass through (review finding: the cache was emptied whole
//! when full, so a stream of distinct requests evicted the hot entries too).

use std::collections::HashMap;
use std::hash::Hash;

/// A bounded map with CLOCK eviction.
pub struct Clock<K, V> {
    capacity: usize,
    index: HashMap<K, usize>,
    slots: Vec<Entry<K, V>>,
    hand: usize,
}

struct Entry<K, V> {
    key: K,
    value: V,
    referenced: bool,
}

impl<K: Hash + Eq + Clone, V: Clone> Clock<K, V> {
    /// An empty cache holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Clock<K, V> {
        Clock {
            capacity: capacity.max(1),
            index: HashMap::new(),
            slots: Vec::new(),
            hand: 0,
        }
    }

    /// The value cached for `key`, marking it recently used.
    pub fn get(&mut self, key: &K) -> Option<V> {
        let i = *self.index.get(key)?;
        let entry = &mut self.slots[i];
        entry.referenced = true;
        Some(entry.value.clone())
    }

    /// Caches `value` for `key`, replacing its earlier value, or evicting one entry not used
    /// since the hand last passed it when the cache is full.
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(&i) = self.index.get(&key) {
            self.slots[i].value = value;
            self.slots[i].referenced = true;
            return;
        }
        let entry = Entry {
            key: key.clone(),
            value,
            referenced: false,
        };
        if self.slots.len() < self.capacity {
            self.index.insert(key, self.slots.len());
            self.slots.push(entry);
            return;
        }
        // At most two turns: the first clears every reference bit it passes.
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            if self.slots[i].referenced {
                self.slots[i].referenced = false;
                continue;
            }
            self.index.remove(&self.slots[i].key);
            self.index.insert(key, i);
            self.slots[i] = entry;
            return;
        }
    }

    /// Drops every entry (a new snapshot is served).
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    /// SERVE-OCSP: the bound holds whatever is inserted, and one entry goes at a time.
    #[test]
    fn the_cache_never_exceeds_its_capacity_and_evicts_one_entry_at_a_time() {
        let mut c = Clock::new(100);
        for i in 0..10_000u32 {
            c.insert(i, i);
            assert!(c.len() <= 100);
            if i >= 100 {
                assert_eq!(c.len(), 100, "one in, one out once full");
            }
        }
        let held = (0..10_000u32).filter(|i| c.get(i).is_some()).count();
        assert_eq!(held, 100);
    }

    /// SERVE-OCSP: entries in use survive a stream of one-off requests (not emptied whole).
    #[test]
    fn entries_in_use_survive_a_stream_of_one_off_keys() {
        let mut c = Clock::new(64);
        let hot: Vec<u32> = (0..8).collect();
        for &h in &hot {
            c.insert(h, h);
        }
        for i in 1000..20_000u32 {
            for &h in &hot {
                assert_eq!(c.get(&h), Some(h), "hot entry {h} evicted at {i}");
            }
            c.insert(i, i);
        }
        assert_eq!(c.len(), 64);
    }

    #[test]
    fn a_replaced_value_and_clear() {
        let mut c = Clock::new(2);
        c.insert("a", 1);
        c.insert("a", 2);
        assert_eq!((c.len(), c.get(&"a")), (1, Some(2)));
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.get(&"a"), None);
    }
}
