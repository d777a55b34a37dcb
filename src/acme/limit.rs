//! Rate limits (RFC 8555 6.6): how many requests of one kind a key (an account) may make in a
//! sliding window, in memory — a restart forgets them, as it forgets nonces. Bounded: at most
//! [`MAX_KEYS`] keys are remembered, the least recently seen forgotten first.

use std::collections::{BTreeMap, VecDeque};

use time::{Duration, OffsetDateTime};

/// The most keys remembered.
pub const MAX_KEYS: usize = 10_000;

/// At most `max` events per key within `window`.
#[derive(Debug)]
pub struct Window {
    pub max: usize,
    pub window: Duration,
    seen: BTreeMap<String, VecDeque<OffsetDateTime>>,
}

impl Window {
    pub fn new(max: usize, window: Duration) -> Window {
        Window {
            max,
            window,
            seen: BTreeMap::new(),
        }
    }

    /// Counts an event of `key` at `now`, or refuses it: `Err(seconds)` until the oldest
    /// event in the window leaves it (a `Retry-After`). A refused event is not counted.
    pub fn admit(&mut self, key: &str, now: OffsetDateTime) -> Result<(), u64> {
        if !self.seen.contains_key(key) && self.seen.len() >= MAX_KEYS {
            let stalest = self
                .seen
                .iter()
                .min_by_key(|(_, t)| t.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                self.seen.remove(&k);
            }
        }
        let times = self.seen.entry(key.to_string()).or_default();
        while times.front().is_some_and(|t| now - *t >= self.window) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = (oldest + self.window - now).whole_seconds().max(1);
            return Err(wait as u64);
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_max_events_per_window_and_is_told_when_to_retry() {
        let t0 = time::macros::datetime!(2026-12-01 12:00 UTC);
        let mut w = Window::new(2, Duration::hours(1));
        assert_eq!(w.admit("a", t0), Ok(()));
        assert_eq!(w.admit("a", t0 + Duration::minutes(10)), Ok(()));
        assert_eq!(w.admit("a", t0 + Duration::minutes(20)), Err(40 * 60));
        assert_eq!(w.admit("b", t0 + Duration::minutes(20)), Ok(()), "per key");
        // The first event leaves the window an hour after it.
        assert_eq!(w.admit("a", t0 + Duration::minutes(60)), Ok(()));
        assert!(w.admit("a", t0 + Duration::minutes(61)).is_err());
    }

    #[test]
    fn the_keys_remembered_are_bounded() {
        let t0 = time::macros::datetime!(2026-12-01 12:00 UTC);
        let mut w = Window::new(1, Duration::hours(1));
        for i in 0..MAX_KEYS + 5 {
            let _ = w.admit(&format!("k{i}"), t0 + Duration::seconds(i as i64));
        }
        assert!(w.seen.len() <= MAX_KEYS);
    }
}
