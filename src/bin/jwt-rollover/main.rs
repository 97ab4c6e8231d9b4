//! `jwt-rollover`: make keys, rotate the verifiers' JWKS, mint and inspect
//! tokens, and drive a service's admin API through a rotation.
//!
//! ```text
//! cargo install jwt-rollover --features cli
//! jwt-rollover keygen --alg ES256 --out new.jwk > new.public.jwk
//! jwt-rollover rotate --jwks jwks.json --new new.jwk --admin http://127.0.0.1:9100/admin
//! jwt-rollover wait-loaded --admin http://127.0.0.1:9100/admin --kid <new kid>
//! jwt-rollover retire --admin http://127.0.0.1:9100/admin
//! ```
//!
//! Exit codes are a stable interface for scripts: 0 success, 1 a refusal
//! (a key still in use, a timeout, a token that does not verify), 2 a usage
//! or input error. The admin token and key material are never printed,
//! except a public JWK.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod admin_client;
mod files;
mod inspect;
mod keygen;
mod mint;
mod retire;
mod rotate;
mod status;
mod timefmt;
mod wait_loaded;

/// Flags: names and defaults are a stable interface (scripts and tests use them).
#[derive(Debug, Parser)]
#[command(
    name = "jwt-rollover",
    version,
    about = "Rotate JWT signing keys without rejecting a valid request"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a signing key: writes the private JWK (mode 0600, never
    /// overwriting), prints the public JWK on stdout.
    Keygen(keygen::KeygenArgs),
    /// Put a new key first in the verifiers' JWKS; the old current key becomes previous.
    Rotate(rotate::RotateArgs),
    /// Print a signed token, for tests and smoke checks.
    Mint(mint::MintArgs),
    /// Show the service's keys, their use and what still blocks retirement.
    Status(AdminArgs),
    /// Retire the service's previous key (the one `status` shows).
    Retire(retire::RetireArgs),
    /// Decode a token (unverified), and with --jwks check its signature.
    Inspect(inspect::InspectArgs),
    /// Wait until the service (and, with a fleet gate, every replica) has a key as current.
    WaitLoaded(wait_loaded::WaitLoadedArgs),
}

/// Where the admin API is and how to authenticate to it.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The admin API's base URL, as the service mounts it, for example
    /// http://127.0.0.1:9100/admin (the CLI appends /keys...).
    #[arg(long, value_name = "URL")]
    pub(crate) admin: String,
    /// Bearer token of the admin API.
    #[arg(long, env = "JWT_ROLLOVER_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
}

/// Exit code 1: the command was understood and refused.
pub(crate) const REFUSED: u8 = 1;
/// Exit code 2: bad usage or input.
pub(crate) const USAGE: u8 = 2;

/// Why a command failed: the exit code and a sentence that says what to do.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// Exit 1: a refusal (a key still in use, a timeout, a bad signature).
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self {
            code: REFUSED,
            message: message.into(),
        }
    }

    /// Exit 2: a usage or input error.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: USAGE,
            message: message.into(),
        }
    }
}

/// Every admin call and poll has at most this long.
pub(crate) const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    // clap exits 2 on a usage error itself, 0 for --help and --version.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Rotate(args) => rotate::run(&args),
        Command::Mint(args) => mint::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Retire(args) => retire::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::WaitLoaded(args) => wait_loaded::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// A path argument, or `-` for stdin/stdout.
pub(crate) fn is_stdio(path: &std::path::Path) -> bool {
    path == std::path::Path::new("-")
}
