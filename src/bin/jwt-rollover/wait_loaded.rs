//! `wait-loaded`: block until the service has a key as current (and, when
//! it reports a fleet, until every replica has), so that a pipeline signs
//! with a new key only once every verifier accepts it.

use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use crate::admin_client::{AdminClient, CallError};
use crate::{AdminArgs, Failure};

#[derive(Debug, Args)]
pub(crate) struct WaitLoadedArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// The kid that must be current.
    #[arg(long)]
    kid: String,
    /// Give up (exit 1) after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    timeout: Duration,
    /// Time between two looks at the status.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    interval: Duration,
}

/// Whether `status` shows `kid` loaded; otherwise what it shows instead.
fn loaded(status: &Value, kid: &str) -> Result<(), String> {
    let current = status["current"]["kid"].as_str().unwrap_or("?");
    if current != kid {
        return Err(format!("the service's current key is {current:?}"));
    }
    let fleet = &status["fleet"];
    if fleet.is_object() {
        let fleet_kid = fleet["current_kid"].as_str();
        let everywhere = fleet["loaded_everywhere"] == true;
        if fleet_kid != Some(kid) || !everywhere {
            return Err(format!(
                "the service has {kid:?}, but the fleet shows current kid {:?}, loaded everywhere: {} (state {})",
                fleet_kid.unwrap_or("-"),
                fleet["loaded_everywhere"],
                fleet["state"].as_str().unwrap_or("-")
            ));
        }
    }
    Ok(())
}

pub(crate) fn run(args: &WaitLoadedArgs) -> Result<(), Failure> {
    let client = AdminClient::new(&args.admin)?;
    let deadline = Instant::now() + args.timeout;
    loop {
        let last_seen = match client.try_status() {
            Ok(status) => match loaded(&status, &args.kid) {
                Ok(()) => {
                    eprintln!("{:?} is current on the service", args.kid);
                    return Ok(());
                }
                Err(seen) => seen,
            },
            // A wrong token will not fix itself.
            Err(err @ CallError::Unauthorized) => return Err(err.into_failure(client.base())),
            // A service restarting is worth waiting for.
            Err(CallError::Unreachable(why)) => format!("no status: {why}"),
        };
        if Instant::now() + args.interval > deadline {
            return Err(Failure::refused(format!(
                "{:?} was not loaded within {}: last look: {last_seen}; check that the key source was updated and the service reloaded it (jwt-rollover status)",
                args.kid,
                humantime::format_duration(args.timeout)
            )));
        }
        thread::sleep(args.interval);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_fleet_must_agree_before_a_key_counts_as_loaded() {
        let alone = json!({"current": {"kid": "new"}});
        assert!(loaded(&alone, "new").is_ok());
        assert!(loaded(&alone, "other").is_err());
        let fleet = |kid: &str, everywhere: bool| {
            json!({"current": {"kid": "new"},
                   "fleet": {"current_kid": kid, "loaded_everywhere": everywhere}})
        };
        assert!(loaded(&fleet("new", true), "new").is_ok());
        assert!(loaded(&fleet("new", false), "new").is_err());
        assert!(loaded(&fleet("old", true), "new").is_err());
        let partial = json!({"current": {"kid": "new"}, "fleet": {"state": "unchecked"}});
        assert!(loaded(&partial, "new").is_err());
    }
}
