//! The example server as an operator meets it: a real process on loopback,
//! started with hostile or unlucky key files, probed over HTTP.
//!
//! - key files that are not in the configured format (a public PEM key, a
//!   JWKS behind a byte order mark, a JSON array, `/etc/passwd`) are refused
//!   at start, with a sentence naming the flag and what the file looks like,
//!   and refused on reload with the last good keys kept, so a token forged
//!   with the file's bytes as an HMAC secret never verifies;
//! - a FIFO at the key path never stalls `/healthz`, `/whoami` or the admin
//!   status;
//! - a path no route serves is a `404` that is not counted as a rejection;
//! - an address in use is reported with the flag that named it.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use jwt_rollover::{Algorithm, Key};
use serde_json::{Value, json};

use common::process::{Proc, Response, TempDir, build_example_server, free_addr, http, wait_until};
use common::{PEM_PUBLIC_KEY, b64, mint, rename_over, unix_now};

const ADMIN_TOKEN: &str = "example-server-test-admin-token-0123";
const CURRENT_KID: &str = "example-current";
const PREVIOUS_KID: &str = "example-previous";
const CURRENT_SECRET: &[u8] = b"example-server-test-current-secret-0123";
const PREVIOUS_SECRET: &[u8] = b"example-server-test-previous-secret-012";

fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_example_server)
}

fn good_jwks() -> Vec<u8> {
    serde_json::to_vec(&json!({"keys": [
        {"kty": "oct", "kid": CURRENT_KID, "alg": "HS256", "k": b64(CURRENT_SECRET)},
        {"kty": "oct", "kid": PREVIOUS_KID, "alg": "HS256", "k": b64(PREVIOUS_SECRET)},
    ]}))
    .unwrap()
}

/// The contents that were each once loaded as an HMAC secret, by name.
fn hostile_contents() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        (
            "a PEM public key",
            PEM_PUBLIC_KEY.to_vec(),
            "a PEM public key",
        ),
        (
            "a JWKS behind a UTF-8 BOM",
            [b"\xEF\xBB\xBF".as_slice(), &good_jwks()].concat(),
            "byte order mark",
        ),
        (
            "a JSON array of JWKs",
            serde_json::to_vec(&json!([
                {"kty": "oct", "kid": CURRENT_KID, "alg": "HS256", "k": b64(CURRENT_SECRET)}
            ]))
            .unwrap(),
            "a JSON array",
        ),
        (
            "/etc/passwd",
            std::fs::read("/etc/passwd").expect("/etc/passwd is readable"),
            "text that is not JSON",
        ),
    ]
}

/// A running example server on free loopback ports.
struct Server {
    proc: Proc,
    app: SocketAddr,
    admin: SocketAddr,
}

impl Server {
    fn start(dir: &TempDir, keys: &Path, extra: &[&str]) -> Self {
        let (app, admin) = (free_addr(), free_addr());
        let mut command = Command::new(server_binary());
        command
            .env("NO_COLOR", "1")
            .env("JWT_ROLLOVER_ADMIN_TOKEN", ADMIN_TOKEN)
            .args(["--listen", &app.to_string()])
            .args(["--admin-listen", &admin.to_string()])
            .arg("--keys")
            .arg(keys)
            .args(extra);
        let proc = Proc::spawn(
            "example server",
            &mut command,
            &dir.path().join("server.log"),
        );
        let server = Self { proc, app, admin };
        wait_until(
            &[&server.proc],
            "the example server answers /healthz",
            || {
                server
                    .get_app("/healthz", None)
                    .is_ok_and(|r| r.status == 200)
            },
        );
        server
    }

    fn get_app(&self, path: &str, token: Option<&str>) -> std::io::Result<Response> {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|value| ("Authorization", value.as_str()))
            .collect();
        http(self.app, "GET", path, &headers)
    }

    fn admin(&self, method: &str, path: &str) -> std::io::Result<Response> {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        http(self.admin, method, path, &[("Authorization", &bearer)])
    }

    fn status(&self) -> Value {
        let reply = self.admin("GET", "/admin/keys").expect("GET /admin/keys");
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str(&reply.body).expect("the status is JSON")
    }

    fn whoami_status(&self, token: &str) -> u16 {
        self.get_app("/whoami", Some(token))
            .expect("GET /whoami")
            .status
    }

    /// The sum of every `jwt_rejections_total` series on `/metrics`.
    fn rejections(&self) -> f64 {
        let reply = http(self.admin, "GET", "/metrics", &[]).expect("GET /metrics");
        reply
            .body
            .lines()
            .filter(|line| line.starts_with("jwt_rejections_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

fn hour_token(secret: &[u8], kid: Option<&str>) -> String {
    // Building a key installs jsonwebtoken's crypto provider, which
    // jsonwebtoken cannot choose alone with both backend features on.
    Key::hmac(None, Algorithm::HS256, CURRENT_SECRET).expect("a valid key");
    mint(
        secret,
        kid,
        &json!({"sub": "alice", "exp": unix_now() + 3600}),
    )
}

/// Tokens an attacker signs with a public file's bytes as the HMAC secret:
/// with the kid a raw secret file of those bytes got, and without a kid.
fn forged_with(bytes: &[u8]) -> Vec<String> {
    let secret = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let thumbprint = Key::hmac(None, Algorithm::HS256, secret).unwrap();
    let raw_secret_kid = &thumbprint.kid()[..16];
    vec![
        hour_token(secret, Some(raw_secret_kid)),
        hour_token(secret, None),
    ]
}

/// Runs the server until it exits, for at most 20 s; returns its status
/// and what it printed.
fn run_to_exit(dir: &TempDir, args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let log = dir.path().join("start.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(server_binary());
    command
        .env("NO_COLOR", "1")
        .env("JWT_ROLLOVER_ADMIN_TOKEN", ADMIN_TOKEN)
        .args(["--listen", &free_addr().to_string()]);
    if !args.iter().any(|arg| *arg == "--admin-listen") {
        command.args(["--admin-listen", &free_addr().to_string()]);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start the example server");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server kept running: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(&log).unwrap())
}

#[test]
fn key_files_not_in_the_configured_format_are_refused_at_start() {
    let dir = TempDir::new("example-start");
    let mut cases: Vec<(String, PathBuf, &str, &str)> = Vec::new();
    for (name, content, looks_like) in hostile_contents() {
        let path = dir.path().join(name.replace(['/', ' '], "-"));
        std::fs::write(&path, content).unwrap();
        cases.push((name.to_owned(), path, "jwks", looks_like));
    }
    cases.push((
        "/etc/passwd itself".to_owned(),
        PathBuf::from("/etc/passwd"),
        "jwks",
        "text that is not JSON",
    ));
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, good_jwks()).unwrap();
    cases.push((
        "a JWKS given as a raw secret".to_owned(),
        jwks_path,
        "secret",
        "a JSON object",
    ));
    let pem_path = dir.path().join("public.pem");
    std::fs::write(&pem_path, PEM_PUBLIC_KEY).unwrap();
    cases.push((
        "a PEM given as a raw secret".to_owned(),
        pem_path,
        "secret",
        "a PEM public key",
    ));

    for (name, path, format, looks_like) in cases {
        let (code, output) = run_to_exit(
            &dir,
            &[
                "--keys".as_ref(),
                path.as_os_str(),
                "--key-format".as_ref(),
                format.as_ref(),
            ],
        );
        assert_eq!(code, Some(1), "{name}: {output}");
        let expected = format!("error: --keys {} (--key-format {format}): ", path.display());
        assert!(output.contains(&expected), "{name}: {output}");
        assert!(output.contains(looks_like), "{name}: {output}");
        assert!(!output.contains("Try it"), "{name}: it served: {output}");
    }
}

#[test]
fn key_files_not_in_the_configured_format_are_refused_on_reload() {
    let dir = TempDir::new("example-reload");
    let keys = dir.path().join("jwks.json");
    std::fs::write(&keys, good_jwks()).unwrap();
    let server = Server::start(&dir, &keys, &["--poll", "1h"]);
    let current = hour_token(CURRENT_SECRET, Some(CURRENT_KID));
    let previous = hour_token(PREVIOUS_SECRET, Some(PREVIOUS_KID));

    for (name, content, looks_like) in hostile_contents() {
        rename_over(&keys, &content);
        let reply = server.admin("POST", "/admin/keys/reload").unwrap();
        assert_eq!(reply.status, 422, "{name}: {}", reply.body);
        assert!(reply.body.contains(looks_like), "{name}: {}", reply.body);

        let status = server.status();
        assert_eq!(status["current"]["kid"], CURRENT_KID, "{name}");
        assert_eq!(status["previous"]["kid"], PREVIOUS_KID, "{name}");
        assert!(
            status["source"]["last_error"]
                .as_str()
                .is_some_and(|error| error.contains(looks_like)),
            "{name}: {status}"
        );
        assert_eq!(server.whoami_status(&current), 200, "{name}");
        assert_eq!(server.whoami_status(&previous), 200, "{name}");
        for forged in forged_with(&content) {
            assert_eq!(
                server.whoami_status(&forged),
                401,
                "{name}: a forgery got in"
            );
        }
    }

    // Good content again is taken.
    rename_over(&keys, &good_jwks());
    let reply = server.admin("POST", "/admin/keys/reload").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.status()["source"]["last_error"], Value::Null);
}

/// Regression: with the key path a FIFO, two admin calls (the worker
/// count on two cores) stalled `/whoami`, `/healthz` and `/metrics`.
#[test]
fn a_fifo_at_the_key_path_never_stalls_the_server() {
    let dir = TempDir::new("example-fifo");
    let keys = dir.path().join("jwks.json");
    std::fs::write(&keys, good_jwks()).unwrap();
    let server = Server::start(&dir, &keys, &["--poll", "1s"]);
    let current = hour_token(CURRENT_SECRET, Some(CURRENT_KID));

    std::fs::remove_file(&keys).unwrap();
    let made = Command::new("mkfifo").arg(&keys).status().unwrap();
    assert!(made.success());

    // Two reloads and two status calls at once, while the watcher polls.
    let calls: Vec<_> = [("POST", "/admin/keys/reload"), ("GET", "/admin/keys")]
        .into_iter()
        .cycle()
        .take(4)
        .map(|(method, path)| {
            let admin = server.admin;
            thread::spawn(move || {
                let bearer = format!("Bearer {ADMIN_TOKEN}");
                http(admin, method, path, &[("Authorization", &bearer)])
            })
        })
        .collect();
    for _ in 0..3 {
        for (what, path, token) in [
            ("/healthz", "/healthz", None),
            ("/whoami", "/whoami", Some(current.as_str())),
        ] {
            let started = Instant::now();
            let reply = server.get_app(path, token).unwrap();
            assert_eq!(reply.status, 200, "{what}");
            assert!(started.elapsed() < Duration::from_secs(1), "{what} stalled");
        }
        let started = Instant::now();
        let status = server.status();
        assert!(started.elapsed() < Duration::from_secs(1), "status stalled");
        assert_eq!(status["current"]["kid"], CURRENT_KID);
        thread::sleep(Duration::from_millis(400));
    }
    for call in calls {
        let reply = call.join().unwrap().expect("the admin call answers");
        assert!(
            reply.status == 200 || (reply.status == 422 && reply.body.contains("it is a FIFO")),
            "{} {}",
            reply.status,
            reply.body
        );
    }
    let status = server.status();
    assert!(
        status["source"]["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("it is a FIFO")),
        "{status}"
    );
}

#[test]
fn unknown_paths_are_404_and_not_counted_as_rejections() {
    let dir = TempDir::new("example-404");
    let keys = dir.path().join("jwks.json");
    std::fs::write(&keys, good_jwks()).unwrap();
    let server = Server::start(&dir, &keys, &[]);
    let current = hour_token(CURRENT_SECRET, Some(CURRENT_KID));

    for token in [None, Some("garbage"), Some(current.as_str())] {
        for path in ["/", "/wp-login.php", "/whoami/extra", "/.env"] {
            let reply = server.get_app(path, token).unwrap();
            assert_eq!(reply.status, 404, "{path} with {token:?}");
            assert!(reply.header("www-authenticate").is_none(), "{path}");
        }
    }
    assert_eq!(server.rejections(), 0.0, "scanners are not rejections");

    // The guarded route still is guarded, and counted.
    assert_eq!(server.get_app("/whoami", None).unwrap().status, 401);
    assert_eq!(server.rejections(), 1.0);
}

#[test]
fn an_address_in_use_is_reported_with_its_flag() {
    let dir = TempDir::new("example-bind");
    let keys = dir.path().join("jwks.json");
    std::fs::write(&keys, good_jwks()).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (code, output) = run_to_exit(
        &dir,
        &[
            "--keys".as_ref(),
            keys.as_os_str(),
            "--admin-listen".as_ref(),
            address.as_ref(),
        ],
    );
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains(&format!("error: --admin-listen {address}: ")),
        "{output}"
    );
    assert!(!output.contains("Os {"), "Debug output: {output}");
}
