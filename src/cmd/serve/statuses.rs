//! The serial → status index `ca serve` answers OCSP from (SPEC.md SERVE-STATE): one fixed-size
//! entry per certificate in a sorted array, searched by binary search — 40 bytes a
//! certificate and no allocation per serial, where a `HashMap<Serial, Status>` took about 130
//! (its table, and a heap block per serial): 137 MiB resident at 1,000,000 certificates
//! before, docs/benchmarks.md.
//!
//! Invariant: [`Statuses::get`] gives back exactly the status last inserted for a serial —
//! the same time (to the nanosecond) and reason — and `None` for a serial never inserted; a
//! revoked certificate can never come back `good`.

use time::OffsetDateTime;

use crate::pki::ocsp::Status;
use crate::pki::reason::Reason;
use crate::pki::serial::Serial;

/// The longest serial magnitude kept (RFC 5280: 20 octets); a longer one is never issued.
const KEY: usize = 20;
const GOOD: u8 = 0xFF;
const UNKNOWN: u8 = 0xFE;

/// Statuses by serial, built once per snapshot.
#[derive(Default)]
pub struct Statuses(Vec<Entry>);

#[derive(Clone, Copy)]
struct Entry {
    /// The serial's magnitude, right-aligned (so keys compare as numbers of one length).
    key: [u8; KEY],
    len: u8,
    /// A reason code, or GOOD / UNKNOWN.
    kind: u8,
    nanos: u32,
    secs: i64,
}

impl Entry {
    fn of(serial: &Serial, status: Status) -> Option<Entry> {
        let bytes = serial.as_bytes();
        let len = bytes.len();
        if len > KEY {
            return None;
        }
        let mut key = [0u8; KEY];
        key[KEY - len..].copy_from_slice(bytes);
        let (kind, at) = match status {
            Status::Good => (GOOD, OffsetDateTime::UNIX_EPOCH),
            Status::Unknown => (UNKNOWN, OffsetDateTime::UNIX_EPOCH),
            Status::Revoked { at, reason } => (reason.code(), at),
        };
        Some(Entry {
            key,
            len: len as u8,
            kind,
            nanos: at.nanosecond(),
            secs: at.unix_timestamp(),
        })
    }

    fn sort_key(&self) -> (u8, [u8; KEY]) {
        (self.len, self.key)
    }

    fn status(&self) -> Option<Status> {
        Some(match self.kind {
            GOOD => Status::Good,
            UNKNOWN => Status::Unknown,
            code => Status::Revoked {
                at: OffsetDateTime::from_unix_timestamp(self.secs)
                    .ok()?
                    .replace_nanosecond(self.nanos)
                    .ok()?,
                reason: Reason::from_code(code)?,
            },
        })
    }
}

/// Entries as the fold of index.log gives them, before sorting: 40 bytes each, so loading
/// holds no second copy of the statuses in a bigger form.
#[derive(Default)]
pub struct Builder(Vec<Entry>);

impl Builder {
    /// Records `status` for `serial`; a later record for the same serial wins.
    pub fn push(&mut self, serial: &Serial, status: Status) {
        if let Some(e) = Entry::of(serial, status) {
            self.0.push(e);
        }
    }

    /// The index: sorted, one entry per serial (the last pushed).
    pub fn build(self) -> Statuses {
        let mut entries = self.0;
        // Stable: of equal keys the last pushed stays last, and is the one kept.
        entries.sort_by_key(Entry::sort_key);
        // In place: a later duplicate's status moves into the one kept before it is dropped.
        entries.dedup_by(|later, kept| {
            let same = later.sort_key() == kept.sort_key();
            if same {
                *kept = *later;
            }
            same
        });
        entries.shrink_to_fit();
        Statuses(entries)
    }
}

impl Statuses {
    /// The index of `pairs`; for a serial given more than once, the last status wins.
    pub fn build<'a>(pairs: impl IntoIterator<Item = (&'a Serial, Status)>) -> Statuses {
        let mut b = Builder::default();
        for (serial, status) in pairs {
            b.push(serial, status);
        }
        b.build()
    }

    /// The status recorded for `serial`; `None` when it was never inserted. An entry whose
    /// time or reason does not decode (never written so) is `None` too: `unknown`, never `good`.
    pub fn get(&self, serial: &Serial) -> Option<Status> {
        let probe = Entry::of(serial, Status::Unknown)?;
        let i = self
            .0
            .binary_search_by_key(&probe.sort_key(), Entry::sort_key)
            .ok()?;
        self.0[i].status()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SERVE-STATE: every status comes back as inserted (reasons, times to the nanosecond,
    /// serial lengths 1..=20), the last of duplicates wins, a serial never inserted is None.
    #[test]
    fn statuses_round_trip_and_the_last_wins() {
        let at = OffsetDateTime::from_unix_timestamp(1_765_000_000)
            .unwrap()
            .replace_nanosecond(123_456_789)
            .unwrap();
        let reasons = Reason::ALL;
        let mut pairs = Vec::new();
        let mut want = Vec::new();
        for len in 1..=20usize {
            for (i, reason) in reasons.iter().enumerate() {
                let mut bytes = vec![0x5A; len];
                bytes[0] = 1 + i as u8;
                let serial = Serial::from_magnitude(&bytes);
                let status = match i % 3 {
                    0 => Status::Good,
                    _ => Status::Revoked {
                        at: at + time::Duration::seconds(i as i64),
                        reason: *reason,
                    },
                };
                // A first status overwritten by the later one.
                pairs.push((serial.clone(), Status::Good));
                pairs.push((serial.clone(), status));
                want.push((serial, status));
            }
        }
        let index = Statuses::build(pairs.iter().map(|(s, st)| (s, *st)));
        assert_eq!(index.len(), want.len());
        for (serial, status) in &want {
            assert_eq!(index.get(serial), Some(*status), "{serial:?}");
        }
        // Never inserted: other values, and the same bytes at another length.
        for missing in [Serial::from_u64(0xEE), Serial::from_magnitude(&[0x5A; 19])] {
            assert_eq!(index.get(&missing), None);
        }
        assert!(Statuses::default().is_empty());
    }
}
