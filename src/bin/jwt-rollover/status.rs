//! `status`: the admin status (`GET <admin>/keys`) as a table an operator
//! reads during a rotation: which keys, how much each is used, and what
//! still blocks retiring the previous one, with when it clears.
//!
//! The JSON is read as a `Value`, member by member, so that a service of
//! another version (a `fleet` section or not, a field more or less) still
//! renders.

use std::fmt::Write as _;

use serde_json::Value;

use crate::admin_client::AdminClient;
use crate::timefmt::{compact, relative, unix_now};
use crate::{AdminArgs, Failure};

pub(crate) fn run(args: &AdminArgs) -> Result<(), Failure> {
    let client = AdminClient::new(args)?;
    let status = client.status()?;
    print!("{}", render(&status));
    Ok(())
}

/// The service's own clock, so that ages do not depend on this machine's.
pub(crate) fn now_of(status: &Value) -> u64 {
    status["now"].as_u64().unwrap_or_else(unix_now)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn when(value: &Value, now: u64) -> String {
    value
        .as_u64()
        .map_or_else(|| "never".to_owned(), |at| relative(at, now))
}

pub(crate) fn render(status: &Value) -> String {
    let now = now_of(status);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:<24} {:<6} {:<14} {:>9}  {:<14} {:>11}",
        "SLOT", "KID", "ALG", "SINCE", "VERIFIED", "LAST USED", "LIVE TOKENS"
    );
    let row = |out: &mut String, slot: &str, key: &Value, previous: bool| {
        let (last_used, live) = if previous {
            let mut live = text(&key["live_tokens"]);
            if key["live_tokens_overflowed"] == true {
                live.push_str(" (at least)");
            }
            (when(&key["last_used"], now), live)
        } else {
            ("-".to_owned(), "-".to_owned())
        };
        let _ = writeln!(
            out,
            "{slot:<9} {:<24} {:<6} {:<14} {:>9}  {last_used:<14} {live:>11}",
            text(&key["kid"]),
            text(&key["alg"]),
            when(&key["since"], now),
            text(&key["verified"]),
        );
    };
    row(&mut out, "current", &status["current"], false);
    match &status["previous"] {
        Value::Null => {
            let _ = writeln!(out, "{:<9} (none)", "previous");
        }
        previous => {
            row(&mut out, "previous", previous, true);
            let eligibility = &previous["eligibility"];
            if eligibility["eligible"] == true {
                let _ = writeln!(
                    out,
                    "\nThe previous key may be retired now (jwt-rollover retire)."
                );
            } else {
                let _ = writeln!(out, "\nThe previous key is not eligible for retirement:");
                for blocker in eligibility["blockers"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "  {}", blocker_line(blocker, now));
                }
            }
        }
    }
    if let Some(retired) = status["retired"].as_array().filter(|r| !r.is_empty()) {
        let kids: Vec<String> = retired.iter().map(text).collect();
        let _ = writeln!(out, "\nRetired: {}", kids.join(", "));
    }
    let policy = &status["policy"];
    if policy.is_object() {
        let seconds = |v: &Value| v.as_u64().map_or_else(|| "-".to_owned(), compact);
        let _ = writeln!(
            out,
            "Policy: min_age {}, quiet {}, auto retirement {}",
            seconds(&policy["min_age_seconds"]),
            seconds(&policy["quiet_seconds"]),
            if policy["auto"] == true { "on" } else { "off" }
        );
    }
    if status["fleet"].is_object() {
        render_fleet(&mut out, &status["fleet"], now);
    }
    if status["signer"].is_object() {
        render_signer(&mut out, &status["signer"], now);
    }
    render_source(&mut out, &status["source"], now);
    out
}

/// `Signer: signs with "k1" (since 2m ago); "k2" waits for activation_delay (active in 1m30s)`.
fn render_signer(out: &mut String, signer: &Value, now: u64) {
    let signing = match signer["kid"].as_str() {
        Some(kid) => format!("signs with {kid:?} (since {})", when(&signer["since"], now)),
        None => "cannot sign: no key with a private part".to_owned(),
    };
    let _ = write!(out, "\nSigner: {signing}");
    let pending = &signer["pending"];
    if let Some(kid) = pending["kid"].as_str() {
        let waits: Vec<String> = pending["waiting_for"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let active = match pending["active_at"].as_u64() {
            Some(at) if at > now => format!("activation delay ends {}", relative(at, now)),
            _ => "activation delay over".to_owned(),
        };
        let _ = write!(
            out,
            "; {kid:?} waits for {} ({active})",
            if waits.is_empty() {
                "nothing".to_owned()
            } else {
                waits.join(" and ")
            }
        );
    }
    let _ = writeln!(out);
    if let Some(error) = signer["private_keys"]["last_error"].as_str() {
        let _ = writeln!(out, "  private keys refused, last good keys kept: {error}");
    }
}

/// `quiet: clears in 4m10s (last used 10s ago; quiet needs 600s)`.
pub(crate) fn blocker_line(blocker: &Value, now: u64) -> String {
    let kind = text(&blocker["blocker"]);
    let clears = match blocker["clears_at"].as_u64() {
        Some(at) if at <= now => "clears now".to_owned(),
        Some(at) => format!("clears {}", relative(at, now)),
        None => "clears at an unknown time".to_owned(),
    };
    let mut line = format!("{kind}: {clears}");
    if let Some(detail) = blocker["detail"].as_str() {
        let _ = write!(line, " ({detail})");
    }
    if let Some(query) = blocker["query"].as_str() {
        let _ = write!(line, "; query {query}");
        if !blocker["value"].is_null() {
            let _ = write!(line, " = {}", text(&blocker["value"]));
        }
    }
    line
}

fn render_fleet(out: &mut String, fleet: &Value, now: u64) {
    let _ = writeln!(
        out,
        "\nFleet: {} (gate {}, checked {})",
        text(&fleet["state"]),
        text(&fleet["gate"]),
        when(&fleet["checked_at"], now)
    );
    let loaded = match &fleet["loaded_everywhere"] {
        Value::Bool(true) => "yes",
        Value::Bool(false) => "no",
        _ => "unknown",
    };
    let _ = writeln!(
        out,
        "  current kid {} (loaded everywhere: {loaded}), previous kid {}",
        text(&fleet["current_kid"]),
        text(&fleet["previous_kid"])
    );
    let replicas = &fleet["replicas"];
    if replicas.is_object() {
        let kids = replicas["current_kids"]
            .as_object()
            .map(|kids| {
                kids.iter()
                    .map(|(kid, count)| format!("{kid}={}", text(count)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  replicas up {}; current kids: {}",
            text(&replicas["up"]),
            if kids.is_empty() { "-" } else { &kids }
        );
    }
    for blocker in fleet["blockers"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {}", blocker_line(blocker, now));
    }
    if fleet["error"].is_object() {
        let _ = writeln!(
            out,
            "  error: {}: {}",
            text(&fleet["error"]["reason"]),
            text(&fleet["error"]["detail"])
        );
    }
}

fn render_source(out: &mut String, source: &Value, now: u64) {
    if !source.is_object() {
        return;
    }
    let _ = writeln!(
        out,
        "\nSource: {} ({}), last reload {} ({}), last success {}",
        text(&source["path"]),
        text(&source["format"]),
        when(&source["last_reload"], now),
        text(&source["last_result"]),
        when(&source["last_success"], now)
    );
    if let Some(error) = source["last_error"].as_str() {
        let _ = writeln!(out, "  last error: {error}");
    }
    if source["read_in_progress"].is_object() {
        let _ = writeln!(
            out,
            "  a read of the key file has not returned for {}s",
            text(&source["read_in_progress"]["seconds"])
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_status_with_a_fleet_renders_every_part() {
        let status = json!({
            "now": 1_000,
            "current": {"kid": "new", "alg": "HS256", "since": 900, "verified": 5},
            "previous": {"kid": "old", "alg": "HS256", "since": 900, "verified": 3,
                "last_used": 990, "live_tokens": 1, "live_tokens_overflowed": false,
                "eligibility": {"eligible": false, "blockers": [
                    {"blocker": "min_age", "clears_at": 1_250, "detail": "previous for 100s"},
                    {"blocker": "quiet", "clears_at": null, "detail": "unknown"}
                ]}},
            "retired": ["older"],
            "policy": {"min_age_seconds": 3600, "quiet_seconds": 600, "auto": true},
            "fleet": {"gate": "prometheus", "checked_at": 995, "state": "closed",
                "current_kid": "new", "previous_kid": "old", "loaded_everywhere": false,
                "replicas": {"up": 2, "current_kids": {"new": 1, "old": 1}},
                "blockers": [{"blocker": "fleet_quiet", "clears_at": 1_590, "detail": "d",
                    "query": "sum(x)", "value": "3"}],
                "error": {"reason": "unreachable", "detail": "refused"}},
            "source": {"path": "/k/jwks.json", "format": "jwks", "last_reload": 999,
                "last_success": 900, "last_result": "unchanged", "last_error": null}
        });
        let text = render(&status);
        for expected in [
            "new",
            "old",
            "1m40s ago",
            "10s ago",
            "min_age: clears in 4m10s (previous for 100s)",
            "quiet: clears at an unknown time",
            "Retired: older",
            "Fleet: closed",
            "loaded everywhere: no",
            "current kids: new=1, old=1",
            "fleet_quiet: clears in 9m50s (d); query sum(x) = 3",
            "error: unreachable: refused",
            "Source: /k/jwks.json (jwks)",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn a_signer_section_renders_what_it_signs_with_and_waits_for() {
        let status = json!({
            "now": 1_000,
            "current": {"kid": "k2", "alg": "HS256", "since": 990, "verified": 0},
            "signer": {"kid": "k1", "since": 900, "activation_delay_seconds": 120,
                "pending": {"kid": "k2", "waiting_for": ["activation_delay", "fleet"], "active_at": 1_110}},
        });
        let text = render(&status);
        assert!(
            text.contains("Signer: signs with \"k1\" (since 1m40s ago); \"k2\" waits for activation_delay and fleet (activation delay ends in 1m50s)"),
            "{text}"
        );
    }

    #[test]
    fn a_minimal_status_renders() {
        let text = render(&json!({"current": {"kid": "k"}, "previous": null}));
        assert!(text.contains("(none)"), "{text}");
    }
}
