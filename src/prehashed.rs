//! Maps keyed by a hash we already computed.
//!
//! The token cache and the previous-key tracker key their maps by a
//! `RandomState` hash of (part of) a token. Hashing that `u64` again with
//! the map's default SipHash costs as much as a map lookup; this hasher
//! passes it through instead. Safe only because the key is already the
//! output of a keyed hash: nobody outside the process can aim collisions.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` whose `u64` keys are already uniformly distributed hashes.
pub(crate) type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Hands a `u64` key through as its own hash.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is expected; anything else still hashes, slowly.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_u64_key_is_its_own_hash_and_lookups_work() {
        let mut hasher = PassThrough::default();
        hasher.write_u64(0xdead_beef);
        assert_eq!(hasher.finish(), 0xdead_beef);

        let mut map = PrehashedMap::default();
        for key in [0, 1, u64::MAX, 0x8000_0000_0000_0000] {
            map.insert(key, key.wrapping_mul(3));
        }
        assert_eq!(map.len(), 4);
        assert_eq!(map.get(&u64::MAX), Some(&u64::MAX.wrapping_mul(3)));
        assert_eq!(map.get(&2), None);
    }
}
