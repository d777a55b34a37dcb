//! Replay nonces (RFC 8555 6.5): each is handed out once and accepted once. The book is
//! bounded: when full, the oldest nonce is forgotten (a client holding it gets `badNonce` and
//! retries with the fresh nonce sent with that answer, as RFC 8555 6.5 requires clients to).

use std::collections::{HashSet, VecDeque};

/// How many unused nonces are remembered at most.
pub const CAPACITY: usize = 10_000;

/// The nonces handed out and not yet used.
#[derive(Debug, Default)]
pub struct Book {
    live: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Book {
    /// An empty book holding at most `capacity` nonces.
    pub fn new(capacity: usize) -> Book {
        Book {
            live: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers a fresh nonce made from 16 random bytes and returns it.
    pub fn issue(&mut self, random: [u8; 16]) -> String {
        let nonce = super::b64url(&random);
        while self.live.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.live.remove(&old);
                }
                None => break,
            }
        }
        self.live.insert(nonce.clone());
        self.order.push_back(nonce.clone());
        nonce
    }

    /// Accepts `nonce` once: true the first time for a nonce this book issued, false after.
    pub fn consume(&mut self, nonce: &str) -> bool {
        if !self.live.remove(nonce) {
            return false;
        }
        // The queue entry is skipped when it comes up (`live` no longer holds it).
        if self.order.len() > 2 * self.capacity {
            let live = &self.live;
            self.order.retain(|n| live.contains(n));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_and_only_if_issued() {
        let mut book = Book::new(4);
        let n = book.issue([1; 16]);
        assert!(!book.consume("bm90LWlzc3VlZA"));
        assert!(book.consume(&n));
        assert!(!book.consume(&n), "a replayed nonce is refused");
    }

    #[test]
    fn the_book_is_bounded_and_forgets_the_oldest() {
        let mut book = Book::new(2);
        let a = book.issue([1; 16]);
        let b = book.issue([2; 16]);
        let c = book.issue([3; 16]);
        assert!(!book.consume(&a));
        assert!(book.consume(&b) && book.consume(&c));
        for i in 0..100u8 {
            let n = book.issue([i; 16]);
            assert!(book.consume(&n));
        }
        assert!(book.order.len() <= 4);
    }
}
