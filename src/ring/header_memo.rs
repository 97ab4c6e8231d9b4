//! Token headers already read, so that the next token with the same header
//! skips its base64url and JSON.
//!
//! An issuer writes the same header into every token it signs with a key
//! (`{"alg":"HS256","typ":"JWT","kid":"2026-11"}`, byte for byte), and
//! reading it (base64url, then a JSON parse of `alg`, `kid` and `crit`)
//! costs about a tenth of an HS256 verification. The memo compares the
//! header's text instead, about forty bytes.
//!
//! Why it is safe:
//! - an entry is found by the exact header text, and the same text always
//!   reads to the same `alg` and `kid`: nothing is guessed;
//! - only what was read is remembered: the key is still chosen, the `alg`
//!   still pinned to it, the signature and the claims still checked, for
//!   every token;
//! - only headers of tokens whose signature matched a key are remembered,
//!   so a forger cannot fill the memo with headers of their own;
//! - it is bounded ([`SLOTS`] entries of at most [`MAX_HEADER_B64`]
//!   characters) and lives in one ring snapshot: a reload or a retirement
//!   starts with an empty one, and an issuer's new header is learned again.

use std::fmt;
use std::sync::OnceLock;

/// How many distinct headers one snapshot remembers: the current and the
/// previous key's, with room for a second form of each (an issuer that
/// writes `typ`, another that does not). Further headers are read as usual.
const SLOTS: usize = 4;

/// Longer headers (a typical one is 40 to 80 characters) are not remembered.
const MAX_HEADER_B64: usize = 256;

/// What a header says that verification acts on. A remembered header had
/// no `crit` and an `alg` other than `none`.
#[derive(Debug)]
pub(crate) struct ReadHeader {
    pub(crate) alg: Box<str>,
    pub(crate) kid: Option<Box<str>>,
}

struct Entry {
    header_b64: Box<str>,
    read: ReadHeader,
}

/// Up to [`SLOTS`] headers, filled in order and never changed: a lookup is
/// a few lock-free loads and string comparisons.
#[derive(Default)]
pub(crate) struct HeaderMemo {
    slots: [OnceLock<Entry>; SLOTS],
}

impl HeaderMemo {
    /// What the header `header_b64` (its base64url text) says, if it was
    /// read before.
    pub(crate) fn get(&self, header_b64: &str) -> Option<&ReadHeader> {
        self.slots
            .iter()
            .map_while(OnceLock::get)
            .find(|entry| *entry.header_b64 == *header_b64)
            .map(|entry| &entry.read)
    }

    /// Remembers that `header_b64` reads to `alg` and `kid`. Call it only
    /// once the token's signature matched: see the module docs.
    pub(crate) fn remember(&self, header_b64: &str, alg: &str, kid: Option<&str>) {
        if header_b64.len() > MAX_HEADER_B64 {
            return;
        }
        for slot in &self.slots {
            let entry = slot.get_or_init(|| Entry {
                header_b64: header_b64.into(),
                read: ReadHeader {
                    alg: alg.into(),
                    kid: kid.map(Into::into),
                },
            });
            // Ours, or another thread's copy of the same header.
            if *entry.header_b64 == *header_b64 {
                return;
            }
        }
    }

    /// How many headers are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().map_while(OnceLock::get).count()
    }
}

impl fmt::Debug for HeaderMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Kids and algorithms only: a header is not secret, but it is part
        // of a token, which is never logged.
        f.debug_list()
            .entries(self.slots.iter().map_while(OnceLock::get).map(|e| &e.read))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_in_order_and_finds_by_exact_text() {
        let memo = HeaderMemo::default();
        assert!(memo.get("eyJhbGciOiJIUzI1NiJ9").is_none());
        memo.remember("eyJhbGciOiJIUzI1NiJ9", "HS256", None);
        memo.remember("eyJhbGciOiJIUzI1NiIsImtpZCI6ImEifQ", "HS256", Some("a"));
        // The same header again takes no second slot.
        memo.remember("eyJhbGciOiJIUzI1NiJ9", "HS256", None);
        assert_eq!(memo.len(), 2);

        let read = memo.get("eyJhbGciOiJIUzI1NiIsImtpZCI6ImEifQ").unwrap();
        assert_eq!((&*read.alg, read.kid.as_deref()), ("HS256", Some("a")));
        let read = memo.get("eyJhbGciOiJIUzI1NiJ9").unwrap();
        assert_eq!((&*read.alg, read.kid.as_deref()), ("HS256", None));
        // A prefix, or one character more, is another header.
        assert!(memo.get("eyJhbGciOiJIUzI1NiJ").is_none());
        assert!(memo.get("eyJhbGciOiJIUzI1NiJ9x").is_none());
    }

    #[test]
    fn is_bounded_in_entries_and_length() {
        let memo = HeaderMemo::default();
        memo.remember(&"h".repeat(MAX_HEADER_B64 + 1), "HS256", None);
        assert_eq!(memo.len(), 0, "an over-long header is not remembered");
        for i in 0..SLOTS + 3 {
            memo.remember(&format!("header{i}"), "HS256", None);
        }
        assert_eq!(memo.len(), SLOTS);
        assert!(memo.get(&format!("header{}", SLOTS - 1)).is_some());
        assert!(memo.get(&format!("header{SLOTS}")).is_none());
    }

    #[test]
    fn concurrent_remembers_of_one_header_take_one_slot() {
        let memo = HeaderMemo::default();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| memo.remember("eyJhbGciOiJFUzI1NiJ9", "ES256", None));
            }
        });
        assert_eq!(memo.len(), 1);
    }
}
