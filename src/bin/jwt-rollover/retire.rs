//! `retire`: ask the service to drop its previous key, always naming the
//! key, so that a command replayed after another rotation is refused by the
//! service instead of dropping a key rotated in since.

use clap::Args;
use reqwest::StatusCode;
use serde_json::Value;

use crate::admin_client::{AdminClient, message_of};
use crate::status::blocker_line;
use crate::{AdminArgs, Failure};

#[derive(Debug, Args)]
pub(crate) struct RetireArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// The kid to retire; default the previous kid the status shows now.
    #[arg(long)]
    kid: Option<String>,
    /// Retire even while blockers hold (tokens signed by it are then refused).
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: &RetireArgs) -> Result<(), Failure> {
    let client = AdminClient::new(&args.admin)?;
    let kid = match &args.kid {
        Some(kid) => kid.clone(),
        None => {
            let status = client.status()?;
            match status["previous"]["kid"].as_str() {
                Some(kid) => kid.to_owned(),
                None => {
                    return Err(Failure::refused(
                        "the service has no previous key, so there is nothing to retire (jwt-rollover status shows its keys)",
                    ));
                }
            }
        }
    };
    let answer = client.retire(&kid, args.force)?;
    let body = &answer.body;
    match answer.status {
        StatusCode::OK => {
            let current = body["current"]["kid"].as_str().unwrap_or("?");
            eprintln!(
                "retired {kid:?}{}; the current key is {current:?}. Tokens signed by {kid:?} are now refused (retired_key); remove it from the key source when convenient.",
                if args.force { " (forced)" } else { "" }
            );
            Ok(())
        }
        StatusCode::NOT_FOUND => Err(Failure::refused(format!(
            "the service has no previous key, so {kid:?} cannot be retired: it may have been retired already (jwt-rollover status shows its keys)"
        ))),
        StatusCode::CONFLICT => Err(Failure::refused(conflict(&kid, body))),
        other => Err(Failure::usage(format!(
            "the admin API answered {other} to the retire call{}; check --admin",
            message_of(body)
        ))),
    }
}

fn conflict(kid: &str, body: &Value) -> String {
    match body["error"].as_str() {
        Some("kid_mismatch") => format!(
            "{kid:?} is not the service's previous key (the previous key is {:?}): a rotation happened since; run jwt-rollover status and retire the key it shows, if that is what you mean",
            body["previous"].as_str().unwrap_or("?")
        ),
        Some("not_eligible") => {
            // A refusal carries no clock of its own; ours is close enough.
            let now = crate::timefmt::unix_now();
            let mut message = format!(
                "{kid:?} is still in use or too new to retire; the service refused because:"
            );
            for blocker in body["blockers"].as_array().into_iter().flatten() {
                message.push_str("\n  ");
                message.push_str(&blocker_line(blocker, now));
            }
            message.push_str(
                "\nwait until the blockers clear (jwt-rollover status), or add --force to retire anyway: tokens signed by it will then be refused",
            );
            message
        }
        _ => format!("the service refused to retire {kid:?}{}", message_of(body)),
    }
}
