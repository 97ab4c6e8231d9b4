//! Times as an operator reads them: ages and waits ("4m10s ago", "in
//! 4m10s") rather than Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `4m10s`, `2h5m`, `3d4h`: the two largest units, no spaces.
pub(crate) fn compact(seconds: u64) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = seconds;
    for (size, name) in units {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 || (!parts.is_empty() && rest == 0) {
            break;
        }
    }
    parts.concat()
}

/// `in 4m10s`, `4m10s ago` or `now`, from `now`.
pub(crate) fn relative(at: u64, now: u64) -> String {
    match at.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", compact(at - now)),
        std::cmp::Ordering::Less => format!("{} ago", compact(now - at)),
        std::cmp::Ordering::Equal => "now".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_compactly() {
        for (seconds, text) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (250, "4m10s"),
            (3_600, "1h"),
            (3_725, "1h2m"),
            (90_061, "1d1h"),
        ] {
            assert_eq!(compact(seconds), text, "{seconds}");
        }
        assert_eq!(relative(1_250, 1_000), "in 4m10s");
        assert_eq!(relative(1_000, 1_250), "4m10s ago");
        assert_eq!(relative(7, 7), "now");
    }
}
