//! What a changed key file does to the ring: a pure function from the ring's
//! keys, the file's last good keys and its new keys to the next ring.

use std::sync::Arc;

use crate::keys::{Key, KeySet};

/// The ring's keys before the change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingKeys<'a> {
    pub(crate) current: &'a Key,
    pub(crate) previous: Option<&'a Key>,
    pub(crate) retired: &'a [Arc<str>],
}

/// The next ring, and what changed on the way.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) current: Key,
    pub(crate) previous: Option<Key>,
    /// Keys that leave the ring: retired with trigger `source`.
    pub(crate) dropped: Vec<Key>,
    /// Whether the current key changed.
    pub(crate) rotated: bool,
    /// A retired kid that comes back as current: its retirement is cleared.
    pub(crate) revived: Option<Arc<str>>,
    /// A retired kid the file lists as previous, kept out.
    pub(crate) refused_previous: Option<Arc<str>>,
}

fn is_retired(retired: &[Arc<str>], key: &Key) -> bool {
    retired.iter().any(|kid| **kid == *key.kid())
}

/// Decides the next ring. Pure: no clock, no metrics, no I/O.
pub(crate) fn transition(ring: RingKeys<'_>, old_file: &KeySet, new_file: &KeySet) -> Plan {
    let new_current = new_file.current();
    let same_current = new_current.kid() == ring.current.kid();
    let mut refused_previous = None;

    let previous = match new_file.previous() {
        Some(listed) if is_retired(ring.retired, listed) => {
            refused_previous = Some(Arc::from(listed.kid()));
            None
        }
        Some(listed) => Some(listed.clone()),
        None if same_current => {
            let old_file_listed_it = matches!(
                (old_file.previous(), ring.previous),
                (Some(listed), Some(previous)) if listed.kid() == previous.kid()
            );
            if old_file_listed_it {
                None
            } else {
                ring.previous.cloned()
            }
        }
        // A single new key: the old current stays usable, as previous.
        None => Some(ring.current.clone()),
    };

    let stays = |key: &Key| {
        key.kid() == new_current.kid() || previous.as_ref().is_some_and(|p| p.kid() == key.kid())
    };
    let dropped = std::iter::once(ring.current)
        .chain(ring.previous)
        .filter(|key| !stays(key))
        .cloned()
        .collect();

    Plan {
        current: new_current.clone(),
        previous,
        dropped,
        rotated: !same_current,
        revived: is_retired(ring.retired, new_current).then(|| Arc::from(new_current.kid())),
        refused_previous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;

    fn key(kid: &str) -> Key {
        let secret = format!("{kid}-secret-padding-to-32-bytes-at-least");
        Key::hmac(Some(kid), Algorithm::HS256, secret.as_bytes()).unwrap()
    }

    fn set(kids: &[&str]) -> KeySet {
        KeySet::new(key(kids[0]), kids.get(1).map(|kid| key(kid))).unwrap()
    }

    struct Row {
        name: &'static str,
        ring: (&'static str, Option<&'static str>),
        retired: &'static [&'static str],
        old_file: &'static [&'static str],
        new_file: &'static [&'static str],
        want: (&'static str, Option<&'static str>),
        dropped: &'static [&'static str],
        rotated: bool,
        revived: Option<&'static str>,
        refused: Option<&'static str>,
    }

    const ROWS: &[Row] = &[
        Row {
            name: "two keys: the file's order wins",
            ring: ("a", None),
            retired: &[],
            old_file: &["a"],
            new_file: &["b", "a"],
            want: ("b", Some("a")),
            dropped: &[],
            rotated: true,
            revived: None,
            refused: None,
        },
        Row {
            name: "two keys replacing both: both old keys retire",
            ring: ("b", Some("a")),
            retired: &[],
            old_file: &["b", "a"],
            new_file: &["d", "c"],
            want: ("d", Some("c")),
            dropped: &["b", "a"],
            rotated: true,
            revived: None,
            refused: None,
        },
        Row {
            name: "one new key: the old current is demoted",
            ring: ("a", None),
            retired: &[],
            old_file: &["a"],
            new_file: &["b"],
            want: ("b", Some("a")),
            dropped: &[],
            rotated: true,
            revived: None,
            refused: None,
        },
        Row {
            name: "one new key while a previous exists: that previous is pushed out",
            ring: ("b", Some("a")),
            retired: &[],
            old_file: &["b"],
            new_file: &["c"],
            want: ("c", Some("b")),
            dropped: &["a"],
            rotated: true,
            revived: None,
            refused: None,
        },
        Row {
            name: "one key, same as current, old file listed the previous: retired by source",
            ring: ("b", Some("a")),
            retired: &[],
            old_file: &["b", "a"],
            new_file: &["b"],
            want: ("b", None),
            dropped: &["a"],
            rotated: false,
            revived: None,
            refused: None,
        },
        Row {
            name: "one key, same as current, previous demoted in memory: unchanged",
            ring: ("b", Some("a")),
            retired: &[],
            old_file: &["b"],
            new_file: &["b"],
            want: ("b", Some("a")),
            dropped: &[],
            rotated: false,
            revived: None,
            refused: None,
        },
        Row {
            name: "one key equal to the previous: a rollback swaps the two",
            ring: ("b", Some("a")),
            retired: &[],
            old_file: &["b"],
            new_file: &["a"],
            want: ("a", Some("b")),
            dropped: &[],
            rotated: true,
            revived: None,
            refused: None,
        },
        Row {
            name: "a retired kid listed as previous stays out",
            ring: ("b", None),
            retired: &["a"],
            old_file: &["b", "a"],
            new_file: &["c", "a"],
            want: ("c", None),
            dropped: &["b"],
            rotated: true,
            revived: None,
            refused: Some("a"),
        },
        Row {
            name: "a retired kid may come back as current, clearing its retirement",
            ring: ("b", None),
            retired: &["a"],
            old_file: &["b"],
            new_file: &["a"],
            want: ("a", Some("b")),
            dropped: &[],
            rotated: true,
            revived: Some("a"),
            refused: None,
        },
        Row {
            name: "same two keys: nothing changes",
            ring: ("b", Some("a")),
            retired: &[],
            old_file: &["b", "a"],
            new_file: &["b", "a"],
            want: ("b", Some("a")),
            dropped: &[],
            rotated: false,
            revived: None,
            refused: None,
        },
        Row {
            name: "file swaps its order: previous becomes current",
            ring: ("b", Some("a")),
            retired: &[],
            old_file: &["b", "a"],
            new_file: &["a", "b"],
            want: ("a", Some("b")),
            dropped: &[],
            rotated: true,
            revived: None,
            refused: None,
        },
        Row {
            name: "previous retired by admin, file still lists it: stays retired",
            ring: ("b", None),
            retired: &["a"],
            old_file: &["b", "a"],
            new_file: &["b", "a"],
            want: ("b", None),
            dropped: &[],
            rotated: false,
            revived: None,
            refused: Some("a"),
        },
    ];

    #[test]
    fn every_row_of_the_transition_table() {
        for row in ROWS {
            let current = key(row.ring.0);
            let previous = row.ring.1.map(key);
            let retired: Vec<Arc<str>> = row.retired.iter().map(|kid| Arc::from(*kid)).collect();
            let plan = transition(
                RingKeys {
                    current: &current,
                    previous: previous.as_ref(),
                    retired: &retired,
                },
                &set(row.old_file),
                &set(row.new_file),
            );
            let got = (plan.current.kid(), plan.previous.as_ref().map(Key::kid));
            assert_eq!(got, row.want, "{}", row.name);
            let dropped: Vec<&str> = plan.dropped.iter().map(Key::kid).collect();
            assert_eq!(dropped, row.dropped, "{}: dropped", row.name);
            assert_eq!(plan.rotated, row.rotated, "{}: rotated", row.name);
            assert_eq!(
                plan.revived.as_deref(),
                row.revived,
                "{}: revived",
                row.name
            );
            assert_eq!(
                plan.refused_previous.as_deref(),
                row.refused,
                "{}: refused",
                row.name
            );
        }
    }

    #[test]
    fn a_kid_with_new_material_takes_the_new_material() {
        let current = key("a");
        let replaced = Key::hmac(
            Some("a"),
            Algorithm::HS256,
            b"entirely-different-secret-material!",
        )
        .unwrap();
        let plan = transition(
            RingKeys {
                current: &current,
                previous: None,
                retired: &[],
            },
            &set(&["a"]),
            &KeySet::new(replaced.clone(), None).unwrap(),
        );
        assert!(plan.current.same_key_as(&replaced));
        assert!(!plan.current.same_key_as(&current));
        assert!(!plan.rotated, "same kid: not a rotation");
    }
}
