//! `rotate`: the verifiers' JWKS after a rotation: the new key's public
//! part first (current), the old current key second (previous).
//!
//! Everything is checked before anything is written: the new key file is a
//! private JWK, the old JWKS holds only public keys (HMAC secrets aside) and
//! at most two, no kid repeats, and the result loads as a `KeySet` exactly
//! as the service will load it. With `--admin`, the service is asked first
//! whether the key that leaves its ring may go.

use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use jwt_rollover::{KeySet, SigningKey, SigningKeySet};
use serde_json::{Value, json};

use crate::admin_client::AdminClient;
use crate::keygen::{hmac_warning, pretty};
use crate::mint::load_key;
use crate::status::{blocker_line, now_of};
use crate::{AdminArgs, Failure, files, is_stdio};

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// The verifiers' JWKS to rotate, replaced atomically; `-` reads stdin
    /// and writes stdout (for `kubectl ... | jwt-rollover rotate --jwks - ...`).
    #[arg(long, value_name = "FILE|-")]
    jwks: PathBuf,
    /// The new key's private JWK (from `keygen --out`); only its public part is written.
    #[arg(long, value_name = "KEY.jwk")]
    new: PathBuf,
    /// Drop the JWKS's previous key to make room (refused without it).
    #[arg(long)]
    drop_previous: bool,
    /// Start a new JWKS file holding only the new key (refused if the file
    /// exists): the first key of a service.
    #[arg(long, conflicts_with_all = ["drop_previous", "admin"])]
    create: bool,
    /// Rotate the signers' private JWKS instead (the file a `Signer` reads
    /// with asymmetric keys): the same order, private keys kept. The kids
    /// then match the verifiers' JWKS rotated with the same --new.
    #[arg(long, conflicts_with = "admin")]
    private: bool,
    /// The service's admin API: refuse to drop a key it still needs.
    #[arg(long, value_name = "URL")]
    admin: Option<String>,
    /// Bearer token of the admin API.
    #[arg(long, env = "JWT_ROLLOVER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// With --admin: drop the key even while the service still sees it used.
    #[arg(long, requires = "admin")]
    force: bool,
    /// Let the new key use another algorithm than the current one.
    #[arg(long)]
    allow_alg_change: bool,
    /// Print a Kubernetes Secret manifest with this name (key `jwks.json`)
    /// on stdout instead of writing the JWKS.
    #[arg(long, value_name = "NAME")]
    k8s_secret: Option<String>,
    /// The Secret's namespace.
    #[arg(long, value_name = "NS", requires = "k8s_secret")]
    namespace: Option<String>,
}

/// The old JWKS, checked: raw entries (kept as written) and parsed keys.
struct OldJwks {
    entries: Vec<Value>,
    keys: KeySet,
}

fn load_old(args: &RotateArgs) -> Result<OldJwks, Failure> {
    let place = format!("--jwks {}", args.jwks.display());
    let bytes = files::read_bounded("--jwks", &args.jwks)?;
    let keys = KeySet::from_jwks(&bytes).map_err(|err| {
        Failure::usage(format!(
            "{place}: {err}; fix the file (it must be the verifiers' JWKS: one or two public keys)"
        ))
    })?;
    // `KeySet` parsed it, so it is JSON with a `keys` array.
    let document: Value =
        serde_json::from_slice(&bytes).map_err(|_| Failure::usage(format!("{place}: not JSON")))?;
    let entries = document["keys"].as_array().cloned().unwrap_or_default();
    for (index, entry) in entries.iter().enumerate() {
        if SigningKeySet::has_private_members(entry) {
            return Err(Failure::usage(format!(
                "{place}: key #{} ({}) is a private key where a public one belongs: the verifiers' JWKS must never hold private members (d, p, q...); rebuild it from public JWKs (keygen prints one) and replace the leaked key",
                index + 1,
                entry["kid"]
                    .as_str()
                    .map_or_else(|| "no kid".to_owned(), |kid| format!("kid {kid:?}"))
            )));
        }
    }
    Ok(OldJwks { entries, keys })
}

/// The kid the service would lose by this rotation: its previous key, when
/// that is neither the new key nor the one being demoted.
fn leaving_service(status: &Value, staying: &[&str]) -> Option<String> {
    let previous = status["previous"]["kid"].as_str()?;
    (!staying.contains(&previous)).then(|| previous.to_owned())
}

fn check_service(
    args: &RotateArgs,
    admin: &str,
    new: &SigningKey,
    current: &str,
) -> Result<(), Failure> {
    let client = AdminClient::new(&AdminArgs {
        admin: admin.to_owned(),
        admin_token: args.admin_token.clone(),
    })?;
    let status = client.status()?;
    let Some(leaving) = leaving_service(&status, &[new.kid(), current]) else {
        return Ok(());
    };
    let eligibility = &status["previous"]["eligibility"];
    if eligibility["eligible"] != false {
        return Ok(());
    }
    let now = now_of(&status);
    let blockers: Vec<String> = eligibility["blockers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|blocker| format!("\n  {}", blocker_line(blocker, now)))
        .collect();
    if args.force {
        eprintln!(
            "warning: --force: the service's previous key {leaving:?} is still held:{}\ntokens signed by it will be refused once the service loads the new JWKS",
            blockers.concat()
        );
        return Ok(());
    }
    Err(Failure::refused(format!(
        "the service's previous key {leaving:?} would leave its ring, but it is not eligible for retirement yet:{}\nwait until it is (jwt-rollover status), retire it first, or add --force to drop it anyway",
        blockers.concat()
    )))
}

pub(crate) fn run(args: &RotateArgs) -> Result<(), Failure> {
    let new = load_key("--new", &args.new)?;
    if args.private {
        return rotate_private(args, &new);
    }
    if args.create {
        return create(args, &new);
    }
    if !is_stdio(&args.jwks) && !args.jwks.exists() {
        return Err(Failure::usage(format!(
            "--jwks {}: no such file; check the path, or add --create to start a new JWKS with {:?} as its only key",
            args.jwks.display(),
            new.kid()
        )));
    }
    let old = load_old(args)?;
    let current = old.keys.current();
    let place = format!("--jwks {}", args.jwks.display());

    for key in [Some(current), old.keys.previous()].into_iter().flatten() {
        if key.kid() == new.kid() {
            return Err(Failure::usage(format!(
                "the new key's kid {:?} is already in {place}: give the new key its own kid (keygen names one by date and thumbprint)",
                new.kid()
            )));
        }
        if key.thumbprint() == new.verification_key().thumbprint() {
            return Err(Failure::usage(format!(
                "the new key is the same key as {:?} in {place}, under another kid: a rotation needs new key material (jwt-rollover keygen)",
                key.kid()
            )));
        }
    }
    if new.algorithm() != current.algorithm() && !args.allow_alg_change {
        return Err(Failure::usage(format!(
            "the new key signs with {:?} but the current key {:?} with {:?}: signers and clients that expect one algorithm would break; pass --allow-alg-change if this migration is intended",
            new.algorithm(),
            current.kid(),
            current.algorithm()
        )));
    }
    let dropped = old.keys.previous().map(|key| key.kid().to_owned());
    if let Some(dropped) = &dropped
        && !args.drop_previous
    {
        return Err(Failure::refused(format!(
            "{place} already has a previous key, {dropped:?}, which this rotation would drop: once it is retired on the service (jwt-rollover status, retire), run again with --drop-previous"
        )));
    }
    if let Some(admin) = &args.admin {
        check_service(args, admin, &new, current.kid())?;
    }

    let current_entry = old.entries.first().cloned().unwrap_or(Value::Null);
    let jwks = json!({"keys": [new.public_jwk(), current_entry]});
    let text = pretty(&jwks)?;
    // The very parser the service runs: nothing is written that it would refuse.
    KeySet::from_jwks(text.as_bytes()).map_err(|err| {
        Failure::usage(format!(
            "the rotated JWKS would be refused by the verifiers ({err}); nothing was written"
        ))
    })?;

    // An HMAC key (new or old) puts its secret into the JWKS.
    let holds_secrets = jwks["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(|key| key.get("k").is_some()));
    match &args.k8s_secret {
        Some(name) => write_stdout(
            &secret_manifest(name, args.namespace.as_deref(), &text)?,
            holds_secrets,
        )?,
        None if is_stdio(&args.jwks) => write_stdout(&text, holds_secrets)?,
        None => files::replace_atomically(&args.jwks, text.as_bytes())?,
    }

    eprintln!(
        "rotated: current {:?} ({:?}), previous {:?}",
        new.kid(),
        new.algorithm(),
        current.kid()
    );
    if let Some(dropped) = dropped {
        eprintln!("dropped the old previous key {dropped:?}");
    }
    if new.is_symmetric() {
        eprintln!("{}", hmac_warning());
    }
    eprintln!(
        "next: wait until the service has {:?} as current (jwt-rollover wait-loaded --kid {}), then sign with it",
        new.kid(),
        new.kid()
    );
    Ok(())
}

/// `--private`: the signers' private JWKS, rotated like the verifiers' one
/// (new key first, old current second), checked by the parser the
/// `Signer` runs. Written with mode 0600 when created.
fn rotate_private(args: &RotateArgs, new: &SigningKey) -> Result<(), Failure> {
    let place = format!("--jwks {}", args.jwks.display());
    let mut keys = vec![new.to_private_jwk()];
    if args.create {
        if !is_stdio(&args.jwks) && args.jwks.exists() {
            return Err(Failure::usage(format!(
                "{place} exists: --create only starts a new private JWKS; to rotate it, run again without --create"
            )));
        }
    } else {
        if !is_stdio(&args.jwks) && !args.jwks.exists() {
            return Err(Failure::usage(format!(
                "--jwks {}: no such file; check the path, or add --create to start a new private JWKS with {:?} as its only key",
                args.jwks.display(),
                new.kid()
            )));
        }
        let bytes = files::read_bounded("--jwks", &args.jwks)?;
        let old = SigningKeySet::from_jwks_bytes(&bytes).map_err(|err| {
            Failure::usage(format!(
                "{place}: {err}; with --private it must be the signers' private JWKS (one or two private JWKs)"
            ))
        })?;
        let current = old.current();
        for key in [Some(current), old.previous()].into_iter().flatten() {
            if key.kid() == new.kid() {
                return Err(Failure::usage(format!(
                    "the new key's kid {:?} is already in {place}: give the new key its own kid",
                    new.kid()
                )));
            }
        }
        if new.algorithm() != current.algorithm() && !args.allow_alg_change {
            return Err(Failure::usage(format!(
                "the new key signs with {:?} but the current key {:?} with {:?}; pass --allow-alg-change if this migration is intended",
                new.algorithm(),
                current.kid(),
                current.algorithm()
            )));
        }
        if let Some(dropped) = old.previous()
            && !args.drop_previous
        {
            return Err(Failure::refused(format!(
                "{place} already has a previous key, {:?}, which this rotation would drop: once it is retired on the service, run again with --drop-previous",
                dropped.kid()
            )));
        }
        keys.push(current.to_private_jwk());
    }
    let text = pretty(&json!({ "keys": keys }))?;
    SigningKeySet::from_jwks_bytes(text.as_bytes()).map_err(|err| {
        Failure::usage(format!(
            "the rotated private JWKS would be refused by a Signer ({err}); nothing was written"
        ))
    })?;
    match &args.k8s_secret {
        Some(name) => write_stdout(
            &secret_manifest_with(name, args.namespace.as_deref(), PRIVATE_SECRET_FILE, &text)?,
            true,
        )?,
        None if is_stdio(&args.jwks) => write_stdout(&text, true)?,
        None if args.create => files::create_atomically(&args.jwks, text.as_bytes(), true)?,
        None => files::replace_atomically(&args.jwks, text.as_bytes())?,
    }
    eprintln!(
        "rotated the signers' private JWKS: current {:?} ({:?}){}",
        new.kid(),
        new.algorithm(),
        keys.get(1)
            .and_then(|old| old["kid"].as_str())
            .map(|kid| format!(", previous {kid:?}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// The file name a private JWKS has in its Kubernetes Secret.
const PRIVATE_SECRET_FILE: &str = "private-jwks.json";

/// `--create`: a JWKS whose only key is the new one, for a service's first
/// key. Never over an existing file: that one needs a rotation.
fn create(args: &RotateArgs, new: &SigningKey) -> Result<(), Failure> {
    let place = format!("--jwks {}", args.jwks.display());
    if !is_stdio(&args.jwks) && args.jwks.exists() {
        return Err(Failure::usage(format!(
            "{place} exists: --create only starts a new JWKS; to rotate it, run again without --create"
        )));
    }
    let text = pretty(&json!({"keys": [new.public_jwk()]}))?;
    KeySet::from_jwks(text.as_bytes()).map_err(|err| {
        Failure::usage(format!(
            "the new JWKS would be refused by the verifiers ({err}); nothing was written"
        ))
    })?;
    match &args.k8s_secret {
        Some(name) => write_stdout(
            &secret_manifest(name, args.namespace.as_deref(), &text)?,
            new.is_symmetric(),
        )?,
        None if is_stdio(&args.jwks) => write_stdout(&text, new.is_symmetric())?,
        None => files::create_atomically(&args.jwks, text.as_bytes(), new.is_symmetric())?,
    }
    eprintln!(
        "created: current {:?} ({:?}), no previous key",
        new.kid(),
        new.algorithm()
    );
    if new.is_symmetric() {
        eprintln!("{}", hmac_warning());
    }
    Ok(())
}

/// A `v1` Secret holding the JWKS as `data.jwks.json`, as JSON (which
/// `kubectl apply -f -` reads as it reads YAML).
fn secret_manifest(name: &str, namespace: Option<&str>, jwks: &str) -> Result<String, Failure> {
    secret_manifest_with(name, namespace, "jwks.json", jwks)
}

/// A `v1` Secret holding `content` as `data.<file>`.
fn secret_manifest_with(
    name: &str,
    namespace: Option<&str>,
    file: &str,
    content: &str,
) -> Result<String, Failure> {
    let mut metadata = json!({"name": name});
    if let Some(namespace) = namespace {
        metadata["namespace"] = json!(namespace);
    }
    pretty(&json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {file: STANDARD.encode(content)},
    }))
}

/// Writes the result on stdout. Key material that is secret (an HMAC
/// JWKS, a private JWKS, or a Secret manifest of one) goes only into a
/// pipe or a file, never onto a terminal, where it would stay in
/// scrollback and screen recordings.
fn write_stdout(text: &str, holds_secrets: bool) -> Result<(), Failure> {
    use std::io::IsTerminal as _;
    if holds_secrets && std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "the output holds secret key material and stdout is a terminal: send it to a file or a pipe (`> file`, `| kubectl apply -f -`); nothing was written".to_owned(),
        ));
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| Failure::usage(format!("cannot write to stdout: {err}")))
}
