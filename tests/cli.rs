//! The `jwt-rollover` command line as an operator meets it: the built
//! binary run as a child process (`cargo test --features cli --test cli`).
//!
//! - every input error exits 2 with a sentence and writes nothing;
//! - `keygen` writes private files of mode 0600 and never overwrites;
//! - `rotate` puts the new key first, refuses to drop a previous key it was
//!   not told to, writes atomically, composes through stdin/stdout and
//!   makes a Kubernetes Secret;
//! - `mint` and `inspect --jwks` agree for every algorithm;
//! - a whole rotation against the example server: rotate, wait-loaded,
//!   tokens of both keys, status, a refused and a forced retire.
#![cfg(feature = "cli")]

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jwt_rollover::{KeySet, SigningKeySet};
use serde_json::{Value, json};

use common::process::{Proc, TempDir, build_example, free_addr, http, path_str, wait_until};

const ADMIN_TOKEN: &str = "cli-test-admin-token-0123456789";

/// The CLI, with nothing inherited that would change its behaviour.
fn cli(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jwt-rollover"));
    command
        .current_dir(dir)
        .env_remove("JWT_ROLLOVER_ADMIN_TOKEN");
    command
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    run_with_stdin(dir, args, "")
}

fn run_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut command = cli(dir);
    command.args(args).write_stdin(stdin.to_owned());
    finish(&mut command)
}

/// Runs `command`, and checks that it never printed the admin token.
fn finish(command: &mut Command) -> Run {
    let output = command.output().expect("run jwt-rollover");
    let run = Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stdout.contains(ADMIN_TOKEN) && !run.stderr.contains(ADMIN_TOKEN),
        "the admin token was printed"
    );
    run
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> Run {
    let run = run(dir, args);
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    run
}

/// `keygen` into `dir/<name>.jwk`; returns the key's entry for the
/// verifiers' JWKS: the public JWK it printed, or for HMAC (which has no
/// public part, and whose secret keygen never prints) the JWK that
/// `rotate` writes, the secret included.
fn keygen(dir: &Path, alg: &str, kid: Option<&str>, name: &str) -> Value {
    let out = format!("{name}.jwk");
    let mut args = vec!["keygen", "--alg", alg, "--out", &out];
    if let Some(kid) = kid {
        args.extend(["--kid", kid]);
    }
    let run = ok(dir, &args);
    let mut public: Value =
        serde_json::from_str(&run.stdout).expect("keygen prints the public JWK");
    if alg.starts_with("HS") {
        assert!(public.get("k").is_none(), "keygen printed an HMAC secret");
        let private: Value =
            serde_json::from_slice(&std::fs::read(dir.join(&out)).unwrap()).unwrap();
        public["k"] = private["k"].clone();
    }
    public
}

fn write_jwks(path: &Path, keys: &[&Value]) {
    std::fs::write(
        path,
        serde_json::to_vec_pretty(&json!({ "keys": keys })).unwrap(),
    )
    .unwrap();
}

fn jwks_kids(path: &Path) -> Vec<String> {
    let jwks: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Every file in `dir` with its content: "writes nothing" is this unchanged.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap_or_default(),
            )
        })
        .collect()
}

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

#[test]
fn input_errors_exit_2_with_a_sentence_and_write_nothing() {
    let dir = TempDir::new("cli-input");
    let d = dir.path();
    let old = keygen(d, "HS256", Some("old"), "old");
    let prev = keygen(d, "HS256", Some("prev"), "prev");
    keygen(d, "HS256", Some("new"), "new");
    let es = keygen(d, "ES256", Some("es"), "es");
    write_jwks(&d.join("jwks.json"), &[&old]);
    write_jwks(&d.join("three.json"), &[&old, &prev, &es]);
    std::fs::write(d.join("bad.json"), b"{\"keys\": [").unwrap();
    let mut private_es: Value =
        serde_json::from_slice(&std::fs::read(d.join("es.jwk")).unwrap()).unwrap();
    write_jwks(&d.join("private.json"), &[&old, &private_es]);
    let mut weak: Value =
        serde_json::from_slice(&std::fs::read(d.join("new.jwk")).unwrap()).unwrap();
    weak["k"] = json!(common::b64(b"only-16-bytes!!!"));
    weak["kid"] = json!("weak");
    std::fs::write(d.join("weak.jwk"), weak.to_string()).unwrap();
    private_es["alg"] = json!("ES999");
    private_es["kid"] = json!("es999");
    std::fs::write(d.join("unknown-alg.jwk"), private_es.to_string()).unwrap();
    std::fs::write(d.join("public.jwk"), es.to_string()).unwrap();

    let cases: &[(&str, &[&str], &str)] = &[
        (
            "missing JWKS",
            &["rotate", "--jwks", "nope.json", "--new", "new.jwk"],
            "no such file; check the path, or add --create",
        ),
        (
            "missing key",
            &["rotate", "--jwks", "jwks.json", "--new", "nope.jwk"],
            "cannot read",
        ),
        (
            "weak HMAC key",
            &["rotate", "--jwks", "jwks.json", "--new", "weak.jwk"],
            "at least 32",
        ),
        (
            "bad JWKS",
            &["rotate", "--jwks", "bad.json", "--new", "new.jwk"],
            "invalid JSON",
        ),
        (
            "three keys",
            &["rotate", "--jwks", "three.json", "--new", "new.jwk"],
            "3 keys",
        ),
        (
            "unknown alg",
            &["rotate", "--jwks", "jwks.json", "--new", "unknown-alg.jwk"],
            "unknown alg",
        ),
        (
            "private key in the JWKS",
            &["rotate", "--jwks", "private.json", "--new", "new.jwk"],
            "a private key where a public one belongs",
        ),
        (
            "public key as --new",
            &["rotate", "--jwks", "jwks.json", "--new", "public.jwk"],
            "is a public key",
        ),
        (
            "JWKS as --new",
            &["rotate", "--jwks", "jwks.json", "--new", "jwks.json"],
            "not one key",
        ),
        (
            "kid already there",
            &["rotate", "--jwks", "jwks.json", "--new", "old.jwk"],
            "already in --jwks",
        ),
        (
            "algorithm change",
            &["rotate", "--jwks", "jwks.json", "--new", "es.jwk"],
            "--allow-alg-change",
        ),
        (
            "out exists",
            &["keygen", "--alg", "HS256", "--out", "new.jwk"],
            "never overwrites",
        ),
        (
            "alg none",
            &["keygen", "--alg", "none", "--out", "none.jwk"],
            "invalid value 'none'",
        ),
        (
            "unknown keygen alg",
            &["keygen", "--alg", "HS1024", "--out", "x.jwk"],
            "invalid value",
        ),
        (
            "mint with a public key",
            &["mint", "--key", "public.jwk"],
            "is a public key",
        ),
        ("inspect garbage", &["inspect", "abc"], "a JWT has three"),
        (
            "inspect a token that is not base64url",
            &["inspect", "a.b.c", "--jwks", "bad.json"],
            "not base64url",
        ),
        (
            "bad admin URL",
            &["status", "--admin", "not a url"],
            "is not a URL",
        ),
    ];
    for (name, args, expected) in cases {
        let before = snapshot(d);
        let run = run(d, args);
        assert_eq!(run.code, 2, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}: {}", run.stdout);
        assert_eq!(snapshot(d), before, "{name}: something was written");
    }
    // The existing key file is still the key it was.
    let kept: Value = serde_json::from_slice(&std::fs::read(d.join("new.jwk")).unwrap()).unwrap();
    assert_eq!(kept["kid"], "new");
}

#[test]
fn keygen_writes_a_private_file_and_prints_only_the_public_part() {
    let dir = TempDir::new("cli-keygen");
    let d = dir.path();
    for alg in [
        "HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "ES384", "EdDSA",
    ] {
        let name = format!("k-{alg}");
        let public = keygen(d, alg, None, &name);
        let path = d.join(format!("{name}.jwk"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{alg}");
        }
        let private: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(public["alg"], alg);
        assert_eq!(public["use"], "sig");
        assert_eq!(public["kid"], private["kid"]);
        for member in PRIVATE_MEMBERS {
            assert!(public.get(member).is_none(), "{alg}: {member} on stdout");
        }
        if alg.starts_with("HS") {
            assert!(
                private.get("k").is_some(),
                "{alg}: the secret is in the file"
            );
        } else {
            assert!(private.get("d").is_some(), "{alg}");
        }
        // YYYY-MM-DD-xxxxxx
        let kid = public["kid"].as_str().unwrap();
        let bytes = kid.as_bytes();
        assert_eq!(bytes.len(), 17, "{kid}");
        for (index, byte) in bytes.iter().enumerate() {
            match index {
                4 | 7 | 10 => assert_eq!(*byte, b'-', "{kid}"),
                0..=9 => assert!(byte.is_ascii_digit(), "{kid}"),
                _ => assert!(
                    byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase(),
                    "{kid}"
                ),
            }
        }
    }
    let run = run(d, &["keygen", "--alg", "HS256", "--out", "h.jwk"]);
    assert!(
        run.stderr
            .contains("the verifiers' JWKS holds the secret itself"),
        "{}",
        run.stderr
    );
    let printed: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        printed.get("k").is_none(),
        "an HMAC secret on stdout: {printed}"
    );
    assert_eq!(printed["alg"], "HS256");
}

#[test]
fn rotate_puts_the_new_key_first_and_drops_the_previous_only_when_told() {
    let dir = TempDir::new("cli-rotate");
    let d = dir.path();
    let k1 = keygen(d, "ES256", Some("k1"), "k1");
    keygen(d, "ES256", Some("k2"), "k2");
    keygen(d, "ES256", Some("k3"), "k3");
    let jwks = d.join("jwks.json");
    write_jwks(&jwks, &[&k1]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&jwks, std::fs::Permissions::from_mode(0o640)).unwrap();
    }

    let run1 = ok(d, &["rotate", "--jwks", "jwks.json", "--new", "k2.jwk"]);
    assert!(run1.stdout.is_empty());
    assert_eq!(jwks_kids(&jwks), ["k2", "k1"]);
    let written = std::fs::read_to_string(&jwks).unwrap();
    for member in PRIVATE_MEMBERS {
        assert!(
            !written.contains(&format!("\"{member}\"")),
            "{member} in the JWKS"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&jwks).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "the file's mode is kept");
    }

    // The JWKS now has a previous key: dropping it needs --drop-previous.
    let before = snapshot(d);
    let refused = run(d, &["rotate", "--jwks", "jwks.json", "--new", "k3.jwk"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("\"k1\""), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--drop-previous"),
        "{}",
        refused.stderr
    );
    assert_eq!(snapshot(d), before);

    let dropped = ok(
        d,
        &[
            "rotate",
            "--jwks",
            "jwks.json",
            "--new",
            "k3.jwk",
            "--drop-previous",
        ],
    );
    assert!(
        dropped
            .stderr
            .contains("dropped the old previous key \"k1\""),
        "{}",
        dropped.stderr
    );
    assert_eq!(jwks_kids(&jwks), ["k3", "k2"]);

    // Atomic: no temporary file is left beside it.
    let names: Vec<String> = snapshot(d).into_keys().collect();
    assert!(
        names
            .iter()
            .all(|name| !name.starts_with('.') && !name.ends_with(".tmp")),
        "{names:?}"
    );
}

#[test]
fn rotate_composes_through_stdin_and_makes_a_kubernetes_secret() {
    let dir = TempDir::new("cli-rotate-stdio");
    let d = dir.path();
    let k1 = keygen(d, "EdDSA", Some("k1"), "k1");
    keygen(d, "EdDSA", Some("k2"), "k2");
    let input = json!({"keys": [k1]}).to_string();

    let before = snapshot(d);
    let piped = run_with_stdin(d, &["rotate", "--jwks", "-", "--new", "k2.jwk"], &input);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    let jwks: Value = serde_json::from_str(&piped.stdout).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "k2");
    assert_eq!(jwks["keys"][1], k1);
    assert_eq!(snapshot(d), before, "stdin/stdout mode writes no file");

    let manifest = run_with_stdin(
        d,
        &[
            "rotate",
            "--jwks",
            "-",
            "--new",
            "k2.jwk",
            "--k8s-secret",
            "jwt-keys",
            "--namespace",
            "orders",
        ],
        &input,
    );
    assert_eq!(manifest.code, 0, "{}", manifest.stderr);
    let secret: Value = serde_json::from_str(&manifest.stdout).unwrap();
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["apiVersion"], "v1");
    assert_eq!(secret["metadata"]["name"], "jwt-keys");
    assert_eq!(secret["metadata"]["namespace"], "orders");
    let data = STANDARD
        .decode(secret["data"]["jwks.json"].as_str().unwrap())
        .unwrap();
    let decoded: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(decoded, jwks);
}

#[test]
fn mint_and_inspect_agree_for_every_algorithm() {
    let dir = TempDir::new("cli-mint");
    let d = dir.path();
    for alg in [
        "HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "ES384", "EdDSA",
    ] {
        let kid = format!("kid-{alg}");
        let public = keygen(d, alg, Some(&kid), &format!("a-{alg}"));
        keygen(d, alg, Some(&kid), &format!("b-{alg}"));
        let jwks = d.join(format!("jwks-{alg}.json"));
        write_jwks(&jwks, &[&public]);
        let jwks = path_str(&jwks);

        let key = format!("a-{alg}.jwk");
        let token = ok(
            d,
            &[
                "mint",
                "--key",
                &key,
                "--claim",
                "role=\"admin\"",
                "--claim",
                "n=3",
            ],
        )
        .stdout
        .trim()
        .to_owned();
        let unverified = ok(d, &["inspect", &token]);
        assert!(unverified.stdout.contains("UNVERIFIED"), "{alg}");
        assert!(unverified.stdout.contains("\"role\": \"admin\""), "{alg}");
        assert!(unverified.stdout.contains("\"n\": 3"), "{alg}");
        assert!(
            unverified.stdout.contains("\"sub\": \"jwt-rollover-cli\""),
            "{alg}"
        );

        let verified = ok(d, &["inspect", &token, "--jwks", jwks]);
        assert!(
            verified
                .stdout
                .contains(&format!("kid {kid:?} names the current key")),
            "{alg}: {}",
            verified.stdout
        );
        assert!(
            verified.stdout.contains("VERIFIED: the signature verifies"),
            "{alg}"
        );

        // From stdin, and without a kid: the keys are tried in turn.
        let no_kid = ok(d, &["mint", "--key", &key, "--no-kid"]).stdout;
        let tried = run_with_stdin(d, &["inspect", "-", "--jwks", jwks], &no_kid);
        assert_eq!(tried.code, 0, "{alg}: {}", tried.stderr);
        assert!(
            tried.stdout.contains("tried in turn: current"),
            "{alg}: {}",
            tried.stdout
        );

        // Same kid, another key: refused.
        let other_key = format!("b-{alg}.jwk");
        let forged = ok(d, &["mint", "--key", &other_key]).stdout;
        let refused = run(d, &["inspect", forged.trim(), "--jwks", jwks]);
        assert_eq!(refused.code, 1, "{alg}: {}", refused.stdout);
        assert!(
            refused.stderr.contains("does not verify"),
            "{alg}: {}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("bad_signature"),
            "{alg}: {}",
            refused.stderr
        );
    }
}

// ---------------------------------------------------------------------------
// End to end, against the example server
// ---------------------------------------------------------------------------

/// `cargo build --example server` with exactly this test's features, so
/// the library artifact is shared with the CLI's.
fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // This test's own features (the CLI's included), so that cargo
        // reuses the library it built for this test.
        let features: Vec<&str> = [
            ("axum", cfg!(feature = "axum")),
            ("watch", cfg!(feature = "watch")),
            ("prometheus-gate", cfg!(feature = "prometheus-gate")),
            ("signer", cfg!(feature = "signer")),
            ("cli", cfg!(feature = "cli")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        build_example("server", &features)
    })
}

struct Server {
    proc: Proc,
    app: SocketAddr,
    admin_url: String,
}

impl Server {
    fn start(dir: &TempDir, keys: &Path) -> Self {
        let (app, admin) = (free_addr(), free_addr());
        let mut command = StdCommand::new(server_binary());
        command
            .env("NO_COLOR", "1")
            .env("JWT_ROLLOVER_ADMIN_TOKEN", ADMIN_TOKEN)
            .args(["--listen", &app.to_string()])
            .args(["--admin-listen", &admin.to_string()])
            .arg("--keys")
            .arg(keys)
            .args(["--min-age", "2s", "--quiet", "2s", "--poll", "1s"]);
        let proc = Proc::spawn("example server", &mut command, &dir.join("server.log"));
        let server = Self {
            proc,
            app,
            admin_url: format!("http://{admin}/admin"),
        };
        wait_until(
            &[&server.proc],
            "the example server answers /healthz",
            || http(server.app, "GET", "/healthz", &[]).is_ok_and(|r| r.status == 200),
        );
        server
    }

    /// `/whoami` with `token`: the status and the JSON body (or the
    /// `WWW-Authenticate` header of a refusal, as a string).
    fn whoami(&self, token: &str) -> (u16, Value) {
        let bearer = format!("Bearer {token}");
        let reply = http(self.app, "GET", "/whoami", &[("Authorization", &bearer)]).unwrap();
        let body = if reply.status == 200 {
            serde_json::from_str(&reply.body).unwrap()
        } else {
            json!(reply.header("www-authenticate").unwrap_or_default())
        };
        (reply.status, body)
    }
}

/// The CLI with the admin token in its environment, as an operator runs it.
fn admin_run(dir: &Path, args: &[&str]) -> Run {
    let mut command = cli(dir);
    command
        .env("JWT_ROLLOVER_ADMIN_TOKEN", ADMIN_TOKEN)
        .args(args);
    finish(&mut command)
}

#[test]
fn a_whole_rotation_against_the_example_server() {
    let dir = TempDir::new("cli-e2e");
    let d = dir.path();
    let old = keygen(d, "HS256", Some("old"), "old");
    keygen(d, "HS256", Some("new"), "new");
    keygen(d, "HS256", Some("third"), "third");
    let jwks = d.join("jwks.json");
    write_jwks(&jwks, &[&old]);
    let server = Server::start(&dir, &jwks);
    let admin = server.admin_url.as_str();

    let old_token = ok(d, &["mint", "--key", "old.jwk", "--ttl", "1h"]).stdout;
    let old_token = old_token.trim();
    let (status, body) = server.whoami(old_token);
    assert_eq!((status, &body["slot"]), (200, &json!("current")), "{body}");

    // Rotate the file the server watches; with --admin, the service is
    // asked first (it has no previous key, so nothing leaves its ring).
    let rotated = admin_run(
        d,
        &[
            "rotate",
            "--jwks",
            "jwks.json",
            "--new",
            "new.jwk",
            "--admin",
            admin,
        ],
    );
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let waited = admin_run(
        d,
        &[
            "wait-loaded",
            "--admin",
            admin,
            "--kid",
            "new",
            "--timeout",
            "30s",
            "--interval",
            "200ms",
        ],
    );
    assert_eq!(waited.code, 0, "{}", waited.stderr);

    let new_token = ok(d, &["mint", "--key", "new.jwk"]).stdout;
    let (status, body) = server.whoami(new_token.trim());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["kid"], &body["slot"]),
        (&json!("new"), &json!("current"))
    );
    let (status, body) = server.whoami(old_token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["kid"], &body["slot"]),
        (&json!("old"), &json!("previous"))
    );

    let shown = admin_run(d, &["status", "--admin", admin]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("new") && shown.stdout.contains("old"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("live_tokens"), "{}", shown.stdout);

    // A wait for a key the service does not have times out with what it saw.
    let timed_out = admin_run(
        d,
        &[
            "wait-loaded",
            "--admin",
            admin,
            "--kid",
            "third",
            "--timeout",
            "1s",
            "--interval",
            "200ms",
        ],
    );
    assert_eq!(timed_out.code, 1, "{}", timed_out.stderr);
    assert!(
        timed_out.stderr.contains("current key is \"new\""),
        "{}",
        timed_out.stderr
    );

    // Another rotation would drop "old" from the service while its tokens
    // are live: refused, file unchanged.
    let before = std::fs::read(&jwks).unwrap();
    let refused = admin_run(
        d,
        &[
            "rotate",
            "--jwks",
            "jwks.json",
            "--new",
            "third.jwk",
            "--drop-previous",
            "--admin",
            admin,
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("\"old\""), "{}", refused.stderr);
    assert_eq!(std::fs::read(&jwks).unwrap(), before);

    // Retire without --force: the old key's live token holds it.
    let held = admin_run(d, &["retire", "--admin", admin]);
    assert_eq!(held.code, 1, "{}", held.stderr);
    assert!(held.stderr.contains("live_tokens"), "{}", held.stderr);
    assert!(held.stderr.contains("--force"), "{}", held.stderr);

    // A wrong admin token is a usage error that names the flag.
    let unauthorized = cli(d)
        .args([
            "status",
            "--admin",
            admin,
            "--admin-token",
            "wrong-token-wrong-token",
        ])
        .output()
        .unwrap();
    assert_eq!(unauthorized.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unauthorized.stderr).contains("check --admin-token"));

    let forced = admin_run(d, &["retire", "--admin", admin, "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let (status, challenge) = server.whoami(old_token);
    assert_eq!(status, 401);
    assert!(
        challenge.as_str().unwrap().contains("retired_key"),
        "{challenge}"
    );

    // Nothing left to retire.
    let nothing = admin_run(d, &["retire", "--admin", admin]);
    assert_eq!(nothing.code, 1, "{}", nothing.stderr);
    assert!(
        nothing.stderr.contains("no previous key"),
        "{}",
        nothing.stderr
    );
}

#[test]
fn rotate_create_starts_a_jwks_and_never_replaces_one() {
    let dir = TempDir::new("cli-create");
    let d = dir.path();
    keygen(d, "HS256", Some("first"), "first");
    keygen(d, "HS256", Some("second"), "second");

    let missing = run(d, &["rotate", "--jwks", "jwks.json", "--new", "first.jwk"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("add --create"),
        "{}",
        missing.stderr
    );
    assert!(!d.join("jwks.json").exists());

    let created = ok(
        d,
        &[
            "rotate",
            "--jwks",
            "jwks.json",
            "--new",
            "first.jwk",
            "--create",
        ],
    );
    assert!(
        created.stderr.contains("created: current \"first\""),
        "{}",
        created.stderr
    );
    assert_eq!(jwks_kids(&d.join("jwks.json")), ["first"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.join("jwks.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "an HMAC JWKS holds its secret");
    }
    KeySet::from_jwks(&std::fs::read(d.join("jwks.json")).unwrap())
        .expect("a JWKS the service loads");

    let before = snapshot(d);
    let again = run(
        d,
        &[
            "rotate",
            "--jwks",
            "jwks.json",
            "--new",
            "second.jwk",
            "--create",
        ],
    );
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    assert_eq!(snapshot(d), before, "--create wrote over an existing JWKS");

    ok(d, &["rotate", "--jwks", "jwks.json", "--new", "second.jwk"]);
    assert_eq!(jwks_kids(&d.join("jwks.json")), ["second", "first"]);
}

#[test]
fn rotate_private_keeps_the_signers_jwks_in_step_with_the_verifiers() {
    let dir = TempDir::new("cli-private");
    let d = dir.path();
    keygen(d, "ES256", Some("es-1"), "es-1");
    keygen(d, "ES256", Some("es-2"), "es-2");
    keygen(d, "ES256", Some("es-3"), "es-3");
    ok(
        d,
        &[
            "rotate",
            "--jwks",
            "jwks.json",
            "--new",
            "es-1.jwk",
            "--create",
        ],
    );
    ok(
        d,
        &[
            "rotate",
            "--jwks",
            "private.json",
            "--new",
            "es-1.jwk",
            "--create",
            "--private",
        ],
    );
    ok(d, &["rotate", "--jwks", "jwks.json", "--new", "es-2.jwk"]);
    ok(
        d,
        &[
            "rotate",
            "--jwks",
            "private.json",
            "--new",
            "es-2.jwk",
            "--private",
        ],
    );

    assert_eq!(jwks_kids(&d.join("jwks.json")), ["es-2", "es-1"]);
    assert_eq!(jwks_kids(&d.join("private.json")), ["es-2", "es-1"]);
    let private = std::fs::read(d.join("private.json")).unwrap();
    let signers = SigningKeySet::from_jwks_bytes(&private).expect("a private JWKS a Signer reads");
    assert_eq!(signers.current().kid(), "es-2");
    let public: Value =
        serde_json::from_slice(&std::fs::read(d.join("jwks.json")).unwrap()).unwrap();
    for key in public["keys"].as_array().unwrap() {
        assert!(
            !SigningKeySet::has_private_members(key),
            "the verifiers' JWKS got a private key: {key}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.join("private.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a private JWKS is private");
    }

    // The previous key goes only when told, as in the verifiers' JWKS.
    let before = snapshot(d);
    let refused = run(
        d,
        &[
            "rotate",
            "--jwks",
            "private.json",
            "--new",
            "es-3.jwk",
            "--private",
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("\"es-1\""), "{}", refused.stderr);
    assert_eq!(snapshot(d), before);
    // A private JWKS is never read as the verifiers' one, nor the reverse.
    let wrong = run(
        d,
        &[
            "rotate",
            "--jwks",
            "jwks.json",
            "--new",
            "es-3.jwk",
            "--private",
        ],
    );
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert_eq!(snapshot(d), before);
}
