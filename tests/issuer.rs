//! `examples/issuer.rs` as a black box: a service that issues tokens with a
//! `Signer` and verifies them, through a rotation of its key file. Fresh
//! tokens stay signed by the old key until the new one has been current
//! for `--activation-delay`; then they switch, and both verify throughout.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use jwt_rollover::{KeyFormat, KeySet};
use serde_json::{Value, json};

use common::process::{Proc, TempDir, build_example, free_addr, http, path_str, wait_until};
use common::{hs256_jwks, rename_over};

const ADMIN_TOKEN: &str = "issuer-test-admin-token-0123456789";
const ACTIVATION_DELAY: u64 = 3;

struct Issuer {
    app: SocketAddr,
    admin: SocketAddr,
    _proc: Proc,
}

impl Issuer {
    /// A fresh token's kid, and whether `/whoami` accepts it (and in which slot).
    fn issue_and_verify(&self) -> (String, String) {
        let issued = http(self.app, "POST", "/token?sub=alice", &[]).expect("POST /token");
        assert_eq!(issued.status, 200, "{}", issued.body);
        let body: Value = serde_json::from_str(&issued.body).expect("token JSON");
        let token = body["access_token"].as_str().expect("an access token");
        let auth = format!("Bearer {token}");
        let whoami =
            http(self.app, "GET", "/whoami", &[("Authorization", &auth)]).expect("GET /whoami");
        assert_eq!(
            whoami.status, 200,
            "a fresh token was refused: {}",
            whoami.body
        );
        let answer: Value = serde_json::from_str(&whoami.body).expect("whoami JSON");
        assert_eq!(answer["kid"], body["kid"]);
        assert_eq!(answer["claims"]["sub"], "alice");
        (
            answer["kid"].as_str().unwrap_or_default().to_owned(),
            answer["slot"].as_str().unwrap_or_default().to_owned(),
        )
    }

    fn status(&self) -> Value {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let response = http(
            self.admin,
            "GET",
            "/admin/keys",
            &[("Authorization", &auth)],
        )
        .expect("GET /admin/keys");
        serde_json::from_str(&response.body).expect("status JSON")
    }

    fn signer_metric(&self) -> Vec<String> {
        let metrics = http(self.admin, "GET", "/metrics", &[])
            .expect("GET /metrics")
            .body;
        metrics
            .lines()
            .filter(|line| line.starts_with("jwt_signer_key_info{"))
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn fresh_tokens_switch_to_the_new_key_only_after_the_activation_delay() {
    let bin = build_example("issuer", &["axum", "watch", "prometheus-gate", "signer"]);
    let dir = TempDir::new("issuer");
    let keys = dir.join("jwks.json");
    let old = (
        "issuer-old",
        &b"issuer-test-secret-old-0123456789abcdef"[..],
    );
    let new = (
        "issuer-new",
        &b"issuer-test-secret-new-0123456789abcdef"[..],
    );
    // Parsing installs the crypto provider too (for nothing here but the check).
    KeySet::parse(&hs256_jwks(&[old]), KeyFormat::Jwks).expect("a valid JWKS");
    rename_over(&keys, &hs256_jwks(&[old]));
    let (app, admin) = (free_addr(), free_addr());
    let proc = Proc::spawn(
        "issuer",
        Command::new(&bin).env("NO_COLOR", "1").args([
            "--keys",
            path_str(&keys),
            "--listen",
            &app.to_string(),
            "--admin-listen",
            &admin.to_string(),
            "--admin-token",
            ADMIN_TOKEN,
            "--activation-delay",
            &format!("{ACTIVATION_DELAY}s"),
            "--poll",
            "1s",
        ]),
        &dir.join("issuer.log"),
    );
    wait_until(&[&proc], "the issuer answers", || {
        http(app, "GET", "/healthz", &[]).is_ok_and(|r| r.status == 200)
    });
    let issuer = Issuer {
        app,
        admin,
        _proc: proc,
    };
    assert_eq!(
        issuer.issue_and_verify(),
        ("issuer-old".into(), "current".into())
    );
    assert_eq!(
        issuer.signer_metric(),
        ["jwt_signer_key_info{kid=\"issuer-old\"} 1"]
    );

    // The Secret changes: the new key first.
    rename_over(&keys, &hs256_jwks(&[new, old]));
    let rotated = Instant::now();
    wait_until(&[], "the issuer to load the new key", || {
        issuer.status()["current"]["kid"] == "issuer-new"
    });
    let pending = issuer.status()["signer"].clone();
    assert_eq!(pending["kid"], "issuer-old", "{pending}");
    assert_eq!(pending["pending"]["kid"], "issuer-new", "{pending}");
    assert_eq!(
        pending["pending"]["waiting_for"],
        json!(["activation_delay"]),
        "{pending}"
    );

    // Until the delay passes, fresh tokens use the old key, still accepted
    // as previous; then the new key, as current.
    let mut switched_after = None;
    while switched_after.is_none() {
        let (kid, slot) = issuer.issue_and_verify();
        let elapsed = rotated.elapsed();
        match kid.as_str() {
            "issuer-old" => {
                assert_eq!(slot, "previous");
                assert!(
                    elapsed < Duration::from_secs(ACTIVATION_DELAY + 5),
                    "still signing with the old key after {elapsed:?}"
                );
            }
            "issuer-new" => {
                assert_eq!(slot, "current");
                switched_after = Some(elapsed);
            }
            other => panic!("signed by {other}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let switched_after = switched_after.unwrap();
    // The delay counts whole seconds from the rotation's second.
    assert!(
        switched_after >= Duration::from_secs(ACTIVATION_DELAY - 1),
        "switched after {switched_after:?}, before the {ACTIVATION_DELAY}s activation delay"
    );
    println!("the signer switched {switched_after:.1?} after the key file changed");
    assert_eq!(
        issuer.signer_metric(),
        ["jwt_signer_key_info{kid=\"issuer-new\"} 1"]
    );
    let signer = issuer.status()["signer"].clone();
    assert_eq!(
        (signer["kid"].clone(), signer["pending"].clone()),
        (json!("issuer-new"), Value::Null)
    );
}
