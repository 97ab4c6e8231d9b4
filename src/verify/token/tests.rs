use std::cell::Cell;

thread_local! {
    /// Signature checks made on this thread, so tests can prove that a token
    /// the header rules out never reaches crypto.
    pub(super) static CRYPTO_CALLS: Cell<usize> = const { Cell::new(0) };
}

// Table-driven tests of `verify`: which key a token picks (and how many
// signature checks that costs), which malformed tokens are refused and
// where, and how the registered claims are judged.

use crate::keys::test_keys::{ED25519_X, P256_X, P256_Y, P384_X, P384_Y, RSA_2048_N};
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::clock::ManualClock;
use crate::keys::{Key, KeySet, Slot};
use crate::metrics::Metrics;
use crate::rejection::RejectionReason;
use crate::ring::{KeyRing, RetireRequest};

/// The time every test verifies at.
const NOW: u64 = 1_800_000_000;

const CURRENT_SECRET: &[u8] = b"current-secret-current-secret-32";
const PREVIOUS_SECRET: &[u8] = b"previous-secret-previous-secret!";
const RETIRED_SECRET: &[u8] = b"retired-secret-retired-secret-32";
const STRANGER_SECRET: &[u8] = b"stranger-secret-stranger-secret!";
const HS384_SECRET: &[u8] = b"hs384-secret-hs384-secret-hs384-secret-hs384-sec";

// Asymmetric key pairs, generated once with Python's `cryptography`: the
// private halves (DER, standard base64) sign, the public halves (JWK
// members) are what the layer loads. Test-only keys: they protect nothing.
const RSA_2048_PKCS1_DER: &str = "\
    MIIEpAIBAAKCAQEAxwL9MCZ8T1LU2TQ/gbIXHfdbGQYDpCYgGwjDeLw/2rctq01yvAu5PBtb6mV0\
    NPJn6cUBpifIJld30GsHVTBvpHevKr/kilDvmYW1UEtKykN8bk8QILwoeDViOGv/qL0dhc40rUQX\
    KBprZbEFVnjBOlNi1GTAJB3Q7hnFB01G2bJE/l1ITcs3kJ6BEicqIoYcFdjrQ/GzYIjEuImHXH1P\
    L1vb6SzqP4QrzsT9Y51ExBYo/xLqcfAE+oNTUE8k+Bi+e0hXYlp1hMI+Hze7TrZs4fIKRReOvOrd\
    O2X828Fx7k8Ini0oMvAMFf9YQ3X8+yecqTmbyQfNT0CSahPbgV1p3QIDAQABAoIBABrV4RjNU71p\
    jLiWRksBngLlMDRNXo/TsUgb9CnTbqPaSA79pE9NoGaFxOz0Tcl294KrFVgXrLJY4Jfq2sQGwkMx\
    /V2dHx70n3567HJdmMHx/DUutZzIaoedITe8/m49RB4fKnTDxgCbIWjGyFK6+UlZZa4AwPUNzTbS\
    JEKiDb/8gE0lFhnMU6wFuJce7vjs1cz24Sxo8THMs2kW92dLvpmFh0xlSJqvTZPK2eEzUX4SQNh2\
    FTAAtcMlY15WJNl73y3YitWDSwX4rvr6Q9NUg8/9Ssv0+ncbUwhM0INPmGlXFhVgxjnodfdjoHGs\
    TKyRJemNaNvOHaDB7QYKvomOJtECgYEA6lrcD4j5QU7rtcsOEZElucZ20LHX2b577Vqr7uuxPlR5\
    joDRbIbIjikjeussQsBqi8o2pCshL0vUoiCXcIx6zrza+CuoTVEdkS5JWHvzp2ztehDCDABfMxGW\
    O5xcYmOTSklpupr315GEev7nHMmk4E4LJ1XW7jq0om0oc492YbECgYEA2WR3PgeoyqgPmu1PZPJl\
    mVkw5axod4+k0xXeVZiPHp1O5Sy5SljmtokFAOTSD366T4dvxte11aowHWI5M71SpKizrDlodBOV\
    d/XxXkPoiNr2IPk1gp5ANne2Mh5yi9bn0iky/xa8kgCkfyBtdxuJQRVDsPOFatOzFlI5MNphye0C\
    gYASZ75erfg9a9BRP7hEIu0ekPql20HDhRVAh9127yXFamb9jRpldpRrrclujuez+l6jyebOr+B0\
    UXVKolqiaTX/5I8h7HPUVqmGzGbQPzPck053Rremr6TKYvg0iEwtIfrgW7GlCSSr1m7cJgbKmP+M\
    6jQwC6rMnOmw0/fYU40NkQKBgQCUK9ruh4/vmT8RrOApgOHo9JbUZH/LxjdkvIoPM22RQ00r/SDJ\
    4PBXx+qGInBeqVTZsglosUw5tscWsAUnE8qJeocEQxjDzTlaS2LZilWrOfr6nIFxZuWDenLPlFsk\
    nzTg1L3yig+7P/7euz6BKV6S4qiBqmnsVyDAfQiIGMEAPQKBgQC4Cngb7rdsXw3PfkvjStr9PqXT\
    6NtTzc/gMOB9c/3VZGxope5MpysAUTY3uPAQr/dHHd1Q4p9yScs0QJk26g1KdDKxJpHOcTvIs7Cl\
    jilvUyQbNMUbKyfSTXpDFjWdPuDZAQZCVGSWqd6m6dSbvfGjb9eSH1wT5yfOKYPHeYr+fA==";
const P256_PKCS8_DER: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3yL0sXEYTogyIo80//RmPMZ/6KUe\
    bCcP6xlV+A977l+hRANCAAThyknCcD+weRLYe0E1qmO/M1vE3ZluN8R454yXz42IAgQ2l/m7vWdC\
    2GXxXJg3khH3mSVkS9FTaoqRDZUN8mT+";
const P384_PKCS8_DER: &str = "\
    MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDC2NAdpdqBnII6AgFJB6X3AvFALlQIS\
    fJza8DGGXL7YwjQq8czooCj/nBuQrEL/Wi+hZANiAAR6xTgTPT3OPNOa2Z3tyOkPmRN4nlRYa0aN\
    9KI0KX76hzHj7gLkAgB9ftm3F86uuAlKd0n4jIl1OWBEXnuEFLh/Al2LJv9bn5qplmheTIHsNPF5\
    hS/pdopsXPcGBaXeWVU=";
const ED25519_PKCS8_DER: &str = "MC4CAQAwBQYDK2VwBCIEIB2pXRi3zVuh2V+CkAz9AMbX/1zPH2regFXiBf6x+ubd";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hs(kid: &str, alg: Algorithm, secret: &[u8]) -> Key {
    Key::hmac(Some(kid), alg, secret).unwrap()
}

fn ring_of(keys: KeySet) -> KeyRing {
    let metrics = Metrics::new(&prometheus::Registry::new()).unwrap();
    KeyRing::with_clock(keys, metrics, ManualClock::new(NOW))
}

/// Current `cur` and previous `prev` (both HS256), and `gone` retired
/// because the source pushed it out.
fn standard_ring() -> KeyRing {
    let ring = ring_of(
        KeySet::new(
            hs("prev", Algorithm::HS256, PREVIOUS_SECRET),
            Some(hs("gone", Algorithm::HS256, RETIRED_SECRET)),
        )
        .unwrap(),
    );
    ring.rotate(hs("cur", Algorithm::HS256, CURRENT_SECRET))
        .unwrap();
    assert_eq!(ring.current_kid(), "cur");
    assert_eq!(ring.previous_kid().as_deref(), Some("prev"));
    ring
}

/// Runs a future that needs no runtime services (a retirement without a
/// fleet gate) to completion, from a sync helper.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

/// Current `cur` (HS256), previous `prev` retired by an admin.
fn admin_retired_ring() -> KeyRing {
    let ring = ring_of(
        KeySet::new(
            hs("cur", Algorithm::HS256, CURRENT_SECRET),
            Some(hs("prev", Algorithm::HS256, PREVIOUS_SECRET)),
        )
        .unwrap(),
    );
    assert_eq!(
        block_on(ring.retire(RetireRequest::previous().force()))
            .ok()
            .as_deref(),
        Some("prev")
    );
    ring
}

/// Current `cur` (HS256), previous `p384` (HS384).
fn mixed_ring() -> KeyRing {
    ring_of(
        KeySet::new(
            hs("cur", Algorithm::HS256, CURRENT_SECRET),
            Some(hs("p384", Algorithm::HS384, HS384_SECRET)),
        )
        .unwrap(),
    )
}

/// A token minted by jsonwebtoken, as a real signer would.
fn mint(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    crate::keys::crypto::ensure_provider();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn mint_hs(alg: Algorithm, kid: Option<&str>, secret: &[u8]) -> String {
    mint(alg, kid, &EncodingKey::from_secret(secret), &valid_claims())
}

/// A token with exactly this header and payload text, HS256-signed with
/// `secret`: for headers and payloads no well-behaved library writes.
fn signed(header: &str, payload: &str, secret: &[u8]) -> String {
    crate::keys::crypto::ensure_provider();
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{input}.{signature}")
}

fn valid_claims() -> Value {
    json!({"sub": "alice", "exp": NOW + 3600})
}

const CUR_HEADER: &str = r#"{"alg":"HS256","kid":"cur"}"#;

fn valid_payload() -> String {
    valid_claims().to_string()
}

/// What `verify` made of a token: the key that matched, or the reason.
type Outcome = Result<(String, Slot), RejectionReason>;

fn accepted(kid: &str, slot: Slot) -> Outcome {
    Ok((kid.to_owned(), slot))
}

/// Runs `verify` and counts the signature checks it made.
fn run<C: DeserializeOwned>(token: &str, ring: &KeyRing, rules: &Rules) -> (Outcome, usize) {
    let snapshot = ring.load();
    let before = CRYPTO_CALLS.with(Cell::get);
    let outcome = check::<C>(token, &snapshot, rules, NOW)
        .map(|accepted| (accepted.key.key.kid().to_owned(), accepted.key.slot))
        .map_err(|rejection| rejection.reason());
    let calls = CRYPTO_CALLS.with(Cell::get) - before;
    (outcome, calls)
}

#[test]
fn key_choice_table() {
    let standard = standard_ring();
    let admin = admin_retired_ring();
    let mixed = mixed_ring();
    let defaults = Rules::default();
    let require_kid = Rules {
        require_kid: true,
        ..Rules::default()
    };
    let none_header = |kid: Option<&str>| {
        let header = match kid {
            Some(kid) => json!({"alg": "none", "kid": kid}),
            None => json!({"alg": "none"}),
        };
        signed(&header.to_string(), &valid_payload(), CURRENT_SECRET)
    };
    use Algorithm::{HS256, HS384, HS512};
    use RejectionReason as R;
    let cases: Vec<(&str, &KeyRing, &Rules, String, Outcome, usize)> = vec![
        (
            "kid of the current key",
            &standard,
            &defaults,
            mint_hs(HS256, Some("cur"), CURRENT_SECRET),
            accepted("cur", Slot::Current),
            1,
        ),
        (
            "kid of the previous key",
            &standard,
            &defaults,
            mint_hs(HS256, Some("prev"), PREVIOUS_SECRET),
            accepted("prev", Slot::Previous),
            1,
        ),
        (
            "no kid, signed with the current key",
            &standard,
            &defaults,
            mint_hs(HS256, None, CURRENT_SECRET),
            accepted("cur", Slot::Current),
            1,
        ),
        (
            "no kid, signed with the previous key: current tried first",
            &standard,
            &defaults,
            mint_hs(HS256, None, PREVIOUS_SECRET),
            accepted("prev", Slot::Previous),
            2,
        ),
        (
            "no kid, signed with neither key",
            &standard,
            &defaults,
            mint_hs(HS256, None, STRANGER_SECRET),
            Err(R::BadSignature),
            2,
        ),
        (
            "no kid, signed with the retired key",
            &standard,
            &defaults,
            mint_hs(HS256, None, RETIRED_SECRET),
            Err(R::BadSignature),
            2,
        ),
        (
            "kid of the current key, signed with the previous: only the named key is tried",
            &standard,
            &defaults,
            mint_hs(HS256, Some("cur"), PREVIOUS_SECRET),
            Err(R::BadSignature),
            1,
        ),
        (
            "unknown kid",
            &standard,
            &defaults,
            mint_hs(HS256, Some("nobody"), CURRENT_SECRET),
            Err(R::UnknownKid),
            0,
        ),
        (
            "kid differing only in case is unknown",
            &standard,
            &defaults,
            mint_hs(HS256, Some("CUR"), CURRENT_SECRET),
            Err(R::UnknownKid),
            0,
        ),
        (
            "kid retired by the source",
            &standard,
            &defaults,
            mint_hs(HS256, Some("gone"), RETIRED_SECRET),
            Err(R::RetiredKey),
            0,
        ),
        (
            "kid retired by an admin",
            &admin,
            &defaults,
            mint_hs(HS256, Some("prev"), PREVIOUS_SECRET),
            Err(R::RetiredKey),
            0,
        ),
        (
            "no kid after an admin retirement: only the current key is left",
            &admin,
            &defaults,
            mint_hs(HS256, None, PREVIOUS_SECRET),
            Err(R::BadSignature),
            1,
        ),
        (
            "require_kid, no kid",
            &standard,
            &require_kid,
            mint_hs(HS256, None, CURRENT_SECRET),
            Err(R::UnknownKid),
            0,
        ),
        (
            "require_kid, kid of the current key",
            &standard,
            &require_kid,
            mint_hs(HS256, Some("cur"), CURRENT_SECRET),
            accepted("cur", Slot::Current),
            1,
        ),
        (
            "HS384 header on the HS256 current key",
            &standard,
            &defaults,
            mint_hs(HS384, Some("cur"), HS384_SECRET),
            Err(R::WrongAlg),
            0,
        ),
        (
            "HS256 header on the HS384 previous key",
            &mixed,
            &defaults,
            mint_hs(HS256, Some("p384"), HS384_SECRET),
            Err(R::WrongAlg),
            0,
        ),
        (
            "alg none with the current kid",
            &standard,
            &defaults,
            none_header(Some("cur")),
            Err(R::WrongAlg),
            0,
        ),
        (
            "alg none without kid",
            &standard,
            &defaults,
            none_header(None),
            Err(R::WrongAlg),
            0,
        ),
        (
            "alg none with an unknown kid",
            &standard,
            &defaults,
            none_header(Some("nobody")),
            Err(R::WrongAlg),
            0,
        ),
        (
            "no kid, and no key uses HS512",
            &standard,
            &defaults,
            mint_hs(
                HS512,
                None,
                b"hs512-secret-hs512-secret-hs512-secret-hs512-secret-hs512-secre",
            ),
            Err(R::WrongAlg),
            0,
        ),
        (
            "no kid, RS256 on HMAC keys (alg confusion)",
            &standard,
            &defaults,
            signed(r#"{"alg":"RS256"}"#, &valid_payload(), CURRENT_SECRET),
            Err(R::WrongAlg),
            0,
        ),
        (
            "kid of an HMAC key, RS256 header",
            &standard,
            &defaults,
            signed(
                r#"{"alg":"RS256","kid":"cur"}"#,
                &valid_payload(),
                CURRENT_SECRET,
            ),
            Err(R::WrongAlg),
            0,
        ),
        (
            "no kid, HS384: only the HS384 previous key is tried",
            &mixed,
            &defaults,
            mint_hs(HS384, None, HS384_SECRET),
            accepted("p384", Slot::Previous),
            1,
        ),
        (
            "no kid, HS256: only the HS256 current key is tried",
            &mixed,
            &defaults,
            mint_hs(HS256, None, STRANGER_SECRET),
            Err(R::BadSignature),
            1,
        ),
    ];
    for (name, ring, rules, token, expected, expected_calls) in cases {
        let (outcome, calls) = run::<Value>(&token, ring, rules);
        assert_eq!(outcome, expected, "{name}");
        assert_eq!(calls, expected_calls, "{name}: signature checks");
    }
}

#[test]
fn asymmetric_jwks_keys_verify_their_own_signatures() {
    let der = |b64: &str| STANDARD.decode(b64).unwrap();
    let rsa =
        |alg: &str| json!({"kty": "RSA", "kid": "k", "alg": alg, "n": RSA_2048_N, "e": "AQAB"});
    let rsa_key = || EncodingKey::from_rsa_der(&der(RSA_2048_PKCS1_DER));
    let cases: Vec<(&str, Value, Algorithm, EncodingKey)> = vec![
        ("RS256", rsa("RS256"), Algorithm::RS256, rsa_key()),
        ("RS384", rsa("RS384"), Algorithm::RS384, rsa_key()),
        ("RS512", rsa("RS512"), Algorithm::RS512, rsa_key()),
        ("PS256", rsa("PS256"), Algorithm::PS256, rsa_key()),
        ("PS384", rsa("PS384"), Algorithm::PS384, rsa_key()),
        ("PS512", rsa("PS512"), Algorithm::PS512, rsa_key()),
        (
            "ES256",
            json!({"kty": "EC", "kid": "k", "crv": "P-256", "x": P256_X, "y": P256_Y}),
            Algorithm::ES256,
            EncodingKey::from_ec_der(&der(P256_PKCS8_DER)),
        ),
        (
            "ES384",
            json!({"kty": "EC", "kid": "k", "crv": "P-384", "x": P384_X, "y": P384_Y}),
            Algorithm::ES384,
            EncodingKey::from_ec_der(&der(P384_PKCS8_DER)),
        ),
        (
            "EdDSA",
            json!({"kty": "OKP", "kid": "k", "crv": "Ed25519", "x": ED25519_X}),
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&der(ED25519_PKCS8_DER)),
        ),
    ];
    let rules = Rules::default();
    for (name, jwk, alg, signing_key) in cases {
        let keys = KeySet::from_jwks(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
        let ring = ring_of(keys);

        let with_kid = mint(alg, Some("k"), &signing_key, &valid_claims());
        let without_kid = mint(alg, None, &signing_key, &valid_claims());
        // The first signature character carries 6 bits of the signature:
        // changing it always breaks the signature, never the encoding.
        let (signing_input, signature) = with_kid.rsplit_once('.').unwrap();
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{signing_input}.{first}{}", &signature[1..]);
        let other_claims = mint(
            alg,
            Some("k"),
            &signing_key,
            &json!({"sub": "mallory", "exp": NOW + 3600}),
        );
        let (_, other_signature) = other_claims.rsplit_once('.').unwrap();
        let spliced = format!("{signing_input}.{other_signature}");

        let table: Vec<(&str, String, Outcome, usize)> = vec![
            ("with kid", with_kid, accepted("k", Slot::Current), 1),
            ("without kid", without_kid, accepted("k", Slot::Current), 1),
            (
                "tampered signature",
                tampered,
                Err(RejectionReason::BadSignature),
                1,
            ),
            (
                "signature of other claims",
                spliced,
                Err(RejectionReason::BadSignature),
                1,
            ),
        ];
        for (case, token, expected, expected_calls) in table {
            let (outcome, calls) = run::<Value>(&token, &ring, &rules);
            assert_eq!(outcome, expected, "{name}, {case}");
            assert_eq!(calls, expected_calls, "{name}, {case}: signature checks");
        }
    }
}

#[test]
fn rsa_public_key_as_hmac_secret_is_refused_before_crypto() {
    let keys = KeySet::from_jwks(
        json!({"keys": [{"kty": "RSA", "kid": "rsa", "alg": "RS256", "n": RSA_2048_N, "e": "AQAB"}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let ring = ring_of(keys);
    let public_material = URL_SAFE_NO_PAD.decode(RSA_2048_N).unwrap();
    for (name, kid) in [("with kid", Some("rsa")), ("without kid", None)] {
        let token = mint_hs(Algorithm::HS256, kid, &public_material);
        let (outcome, calls) = run::<Value>(&token, &ring, &Rules::default());
        assert_eq!(outcome, Err(RejectionReason::WrongAlg), "{name}");
        assert_eq!(calls, 0, "{name}: signature checks");
    }
}

#[test]
fn malformed_tokens_table() {
    let ring = standard_ring();
    let rules = Rules::default();
    let valid = signed(CUR_HEADER, &valid_payload(), CURRENT_SECRET);
    let mut parts = valid.split('.');
    let (h, p, s) = (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
    );
    let with_header = |header: &str| signed(header, &valid_payload(), CURRENT_SECRET);
    let with_payload = |payload: &str| signed(CUR_HEADER, payload, CURRENT_SECRET);
    use RejectionReason as R;
    let cases: Vec<(&str, String, Outcome, usize)> = vec![
        (
            "baseline: the parts below are well formed",
            valid.clone(),
            accepted("cur", Slot::Current),
            1,
        ),
        ("empty", String::new(), Err(R::Malformed), 0),
        ("one part", h.clone(), Err(R::Malformed), 0),
        ("two parts", format!("{h}.{p}"), Err(R::Malformed), 0),
        ("four parts", format!("{valid}.{s}"), Err(R::Malformed), 0),
        (
            "four parts, empty fourth",
            format!("{valid}."),
            Err(R::Malformed),
            0,
        ),
        ("empty header", format!(".{p}.{s}"), Err(R::Malformed), 0),
        ("empty payload", format!("{h}..{s}"), Err(R::Malformed), 0),
        ("empty signature", format!("{h}.{p}."), Err(R::Malformed), 0),
        ("only dots", "..".to_owned(), Err(R::Malformed), 0),
        (
            "header not base64url (1 char)",
            format!("A.{p}.{s}"),
            Err(R::Malformed),
            0,
        ),
        (
            "header not base64url (5 chars)",
            format!("AAAAA.{p}.{s}"),
            Err(R::Malformed),
            0,
        ),
        (
            "payload not base64url",
            format!("{h}.A.{s}"),
            Err(R::Malformed),
            0,
        ),
        (
            "signature not base64url",
            format!("{h}.{p}.A"),
            Err(R::Malformed),
            0,
        ),
        (
            "signature longer than any key's",
            format!("{h}.{p}.{}", b64([7_u8; 1100])),
            Err(R::Malformed),
            0,
        ),
        (
            "header not JSON",
            with_header("{alg:HS256}"),
            Err(R::Malformed),
            0,
        ),
        (
            "header JSON with trailing data",
            with_header(r#"{"alg":"HS256","kid":"cur"} {}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "header JSON string",
            with_header(r#""HS256""#),
            Err(R::Malformed),
            0,
        ),
        (
            "header JSON null",
            with_header("null"),
            Err(R::Malformed),
            0,
        ),
        (
            "header JSON number",
            with_header("256"),
            Err(R::Malformed),
            0,
        ),
        (
            "header JSON empty array",
            with_header("[]"),
            Err(R::Malformed),
            0,
        ),
        (
            "kid a number",
            with_header(r#"{"alg":"HS256","kid":7}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "kid an array",
            with_header(r#"{"alg":"HS256","kid":["cur"]}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "alg missing",
            with_header(r#"{"kid":"cur"}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "alg a number",
            with_header(r#"{"alg":256,"kid":"cur"}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "alg null",
            with_header(r#"{"alg":null,"kid":"cur"}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "crit header present",
            with_header(r#"{"alg":"HS256","kid":"cur","crit":["exp"],"exp":1}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "crit header empty",
            with_header(r#"{"alg":"HS256","kid":"cur","crit":[]}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "duplicate alg member",
            with_header(r#"{"alg":"HS256","alg":"HS256","kid":"cur"}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "duplicate alg member, none first",
            with_header(r#"{"alg":"none","alg":"HS256","kid":"cur"}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "duplicate kid member",
            with_header(r#"{"alg":"HS256","kid":"prev","kid":"cur"}"#),
            Err(R::Malformed),
            0,
        ),
        (
            "unknown header members are ignored",
            with_header(r#"{"alg":"HS256","kid":"cur","typ":"JWT","x-extra":{"a":[1]}}"#),
            accepted("cur", Slot::Current),
            1,
        ),
        (
            "'+' in the signature",
            format!("{h}.{p}.+{}", &s[1..]),
            Err(R::Malformed),
            0,
        ),
        (
            "'/' in the payload",
            format!("{h}.{}/.{s}", &p[..p.len() - 1]),
            Err(R::Malformed),
            0,
        ),
        ("padding '='", format!("{valid}="), Err(R::Malformed), 0),
        (
            "a space inside",
            format!("{h}. {p}.{s}"),
            Err(R::Malformed),
            0,
        ),
        (
            "trailing newline",
            format!("{valid}\n"),
            Err(R::Malformed),
            0,
        ),
        (
            "scheme left in",
            format!("Bearer {valid}"),
            Err(R::Malformed),
            0,
        ),
        (
            "non-ASCII",
            format!("{h}.{p}.{s}\u{e9}"),
            Err(R::Malformed),
            0,
        ),
        (
            "claims an array",
            with_payload("[1,2]"),
            Err(R::Malformed),
            1,
        ),
        (
            "claims a string",
            with_payload(r#""alice""#),
            Err(R::Malformed),
            1,
        ),
        ("claims null", with_payload("null"), Err(R::Malformed), 1),
        (
            "claims a number",
            with_payload("1800003600"),
            Err(R::Malformed),
            1,
        ),
        (
            "claims not JSON",
            with_payload("{exp:1800003600}"),
            Err(R::Malformed),
            1,
        ),
        (
            "claims JSON with trailing data",
            with_payload(&format!("{} {{}}", valid_payload())),
            Err(R::Malformed),
            1,
        ),
        (
            "signature well encoded but too short reaches crypto and fails",
            format!("{h}.{p}.{}", &s[..32]),
            Err(R::BadSignature),
            1,
        ),
    ];
    for (name, token, expected, expected_calls) in cases {
        let (outcome, calls) = run::<Value>(&token, &ring, &rules);
        assert_eq!(outcome, expected, "{name}: {token:?}");
        assert_eq!(calls, expected_calls, "{name}: signature checks");
    }
}

/// RFC 7515 section 4: the JOSE header is a JSON object. A JSON array must
/// not be read as a header, whatever its elements.
#[test]
fn header_json_array_is_malformed() {
    assert_all_malformed_without_crypto(&[r#"["HS256","cur"]"#, r#"["HS256"]"#]);
}

/// RFC 7515 sections 4.1.4 and 4.1.11, and step 2 of this module's docs:
/// `kid` is a string, and a `crit` member is refused. `null` is neither a
/// string nor an absent member.
#[test]
fn header_null_kid_or_crit_is_malformed() {
    assert_all_malformed_without_crypto(&[
        r#"{"alg":"HS256","kid":null}"#,
        r#"{"alg":"HS256","kid":"cur","crit":null}"#,
    ]);
}

/// Signs each header over valid claims with the current key and expects
/// every one to be malformed before any signature check; reports all
/// outcomes at once.
fn assert_all_malformed_without_crypto(headers: &[&str]) {
    let ring = standard_ring();
    let outcomes: Vec<(&str, Outcome, usize)> = headers
        .iter()
        .map(|header| {
            let token = signed(header, &valid_payload(), CURRENT_SECRET);
            let (outcome, calls) = run::<Value>(&token, &ring, &Rules::default());
            (*header, outcome, calls)
        })
        .collect();
    let expected: Vec<(&str, Outcome, usize)> = headers
        .iter()
        .map(|header| (*header, Err(RejectionReason::Malformed), 0))
        .collect();
    assert_eq!(outcomes, expected, "(header, outcome, signature checks)");
}

#[test]
fn size_bound_is_checked_first_and_is_inclusive() {
    let ring = standard_ring();
    let defaults = Rules::default();
    assert_eq!(defaults.max_token_bytes, DEFAULT_MAX_TOKEN_BYTES);

    // A signed, otherwise valid token of exactly the default bound.
    let bare = signed(CUR_HEADER, r#"{"exp":1800003600,"pad":""}"#, CURRENT_SECRET);
    let mut pad = DEFAULT_MAX_TOKEN_BYTES - bare.len();
    let at_bound = loop {
        let payload = json!({"exp": NOW + 3600, "pad": "p".repeat(pad * 3 / 4)}).to_string();
        let token = signed(CUR_HEADER, &payload, CURRENT_SECRET);
        match token.len().cmp(&DEFAULT_MAX_TOKEN_BYTES) {
            std::cmp::Ordering::Equal => break token,
            std::cmp::Ordering::Less => pad += 1,
            std::cmp::Ordering::Greater => pad -= 1,
        }
    };
    let over_bound = {
        let payload = json!({"exp": NOW + 3600, "pad": "p".repeat(DEFAULT_MAX_TOKEN_BYTES)});
        signed(CUR_HEADER, &payload.to_string(), CURRENT_SECRET)
    };
    let tight = Rules {
        max_token_bytes: bare.len() - 1,
        ..Rules::default()
    };
    let exact = Rules {
        max_token_bytes: bare.len(),
        ..Rules::default()
    };
    use RejectionReason as R;
    let cases: Vec<(&str, String, &Rules, Outcome, usize)> = vec![
        (
            "valid token of exactly the default bound",
            at_bound,
            &defaults,
            accepted("cur", Slot::Current),
            1,
        ),
        (
            "valid token over the default bound",
            over_bound,
            &defaults,
            Err(R::TooLarge),
            0,
        ),
        (
            "garbage one byte over the bound is too large, not malformed",
            "*".repeat(DEFAULT_MAX_TOKEN_BYTES + 1),
            &defaults,
            Err(R::TooLarge),
            0,
        ),
        (
            "garbage at the bound is malformed",
            "*".repeat(DEFAULT_MAX_TOKEN_BYTES),
            &defaults,
            Err(R::Malformed),
            0,
        ),
        (
            "configured bound: one byte short",
            bare.clone(),
            &tight,
            Err(R::TooLarge),
            0,
        ),
        (
            "configured bound: exact",
            bare,
            &exact,
            accepted("cur", Slot::Current),
            1,
        ),
    ];
    for (name, token, rules, expected, expected_calls) in cases {
        let (outcome, calls) = run::<Value>(&token, &ring, rules);
        assert_eq!(outcome, expected, "{name} ({} bytes)", token.len());
        assert_eq!(calls, expected_calls, "{name}: signature checks");
    }
}

/// A claims case: name, rules, payload text, and the accepted `exp` or the
/// reason.
type ClaimsCase<'a> = (
    &'a str,
    &'a Rules,
    String,
    Result<Option<u64>, RejectionReason>,
);

#[test]
fn claims_table() {
    let ring = standard_ring();
    let defaults = Rules::default();
    let no_leeway = Rules {
        leeway: 0,
        ..Rules::default()
    };
    let exp_optional = Rules {
        require_exp: false,
        ..Rules::default()
    };
    let issuers = Rules {
        issuers: Some(Box::new([
            "https://a.example".to_owned(),
            "https://b.example".to_owned(),
        ])),
        ..Rules::default()
    };
    let audiences = Rules {
        audiences: Some(Box::new(["api".to_owned(), "admin".to_owned()])),
        ..Rules::default()
    };
    let required = Rules {
        required_claims: Box::new(["sub".to_owned(), "tenant".to_owned()]),
        ..Rules::default()
    };
    let exp = NOW + 3600;
    let leeway = DEFAULT_LEEWAY_SECS;
    assert_eq!(defaults.leeway, leeway);
    use RejectionReason as R;
    let cases: Vec<ClaimsCase<'_>> = vec![
        (
            "exp in the future",
            &defaults,
            format!(r#"{{"exp":{exp}}}"#),
            Ok(Some(exp)),
        ),
        (
            "exp as string",
            &defaults,
            format!(r#"{{"exp":"{exp}"}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "exp as float in the future, rounded up",
            &defaults,
            format!(r#"{{"exp":{exp}.5}}"#),
            Ok(Some(exp + 1)),
        ),
        (
            "exp as float in the future, rounded down",
            &defaults,
            format!(r#"{{"exp":{exp}.25}}"#),
            Ok(Some(exp)),
        ),
        (
            "exp in exponent notation",
            &defaults,
            r#"{"exp":1.8000036e9}"#.to_owned(),
            Ok(Some(exp)),
        ),
        (
            "exp as float in the past",
            &defaults,
            format!(r#"{{"exp":{}.5}}"#, NOW - 120),
            Err(R::Expired),
        ),
        (
            "exp 1e300",
            &defaults,
            r#"{"exp":1e300}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp 99999999999999999999999",
            &defaults,
            r#"{"exp":99999999999999999999999}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp u64::MAX",
            &defaults,
            format!(r#"{{"exp":{}}}"#, u64::MAX),
            Ok(Some(u64::MAX)),
        ),
        (
            "exp 2^64",
            &defaults,
            r#"{"exp":18446744073709551616}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp negative",
            &defaults,
            r#"{"exp":-1}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp negative float",
            &defaults,
            r#"{"exp":-1.5}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp null",
            &defaults,
            r#"{"exp":null}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp true",
            &defaults,
            r#"{"exp":true}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp an object",
            &defaults,
            r#"{"exp":{}}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp 0",
            &defaults,
            r#"{"exp":0}"#.to_owned(),
            Err(R::Expired),
        ),
        (
            "missing exp",
            &defaults,
            r#"{"sub":"a"}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "missing exp, exp not required",
            &exp_optional,
            r#"{"sub":"a"}"#.to_owned(),
            Ok(None),
        ),
        (
            "empty claims, exp not required",
            &exp_optional,
            "{}".to_owned(),
            Ok(None),
        ),
        (
            "exp not required but present and past",
            &exp_optional,
            format!(r#"{{"exp":{}}}"#, NOW - 3600),
            Err(R::Expired),
        ),
        (
            "exp not required but present and a string",
            &exp_optional,
            r#"{"exp":"soon"}"#.to_owned(),
            Err(R::InvalidClaims),
        ),
        (
            "exp == now - leeway: accepted",
            &defaults,
            format!(r#"{{"exp":{}}}"#, NOW - leeway),
            Ok(Some(NOW - leeway)),
        ),
        (
            "exp == now - leeway - 1: expired",
            &defaults,
            format!(r#"{{"exp":{}}}"#, NOW - leeway - 1),
            Err(R::Expired),
        ),
        (
            "exp just past, within leeway",
            &defaults,
            format!(r#"{{"exp":{}}}"#, NOW - 1),
            Ok(Some(NOW - 1)),
        ),
        (
            "no leeway: exp == now accepted",
            &no_leeway,
            format!(r#"{{"exp":{NOW}}}"#),
            Ok(Some(NOW)),
        ),
        (
            "no leeway: exp == now - 1 expired",
            &no_leeway,
            format!(r#"{{"exp":{}}}"#, NOW - 1),
            Err(R::Expired),
        ),
        (
            "nbf beyond leeway",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":{}}}"#, NOW + leeway + 1),
            Err(R::Immature),
        ),
        (
            "nbf == now + leeway",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":{}}}"#, NOW + leeway),
            Ok(Some(exp)),
        ),
        (
            "nbf within leeway",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":{}}}"#, NOW + 30),
            Ok(Some(exp)),
        ),
        (
            "nbf in the past",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":{}}}"#, NOW - 3600),
            Ok(Some(exp)),
        ),
        (
            "no leeway: nbf == now + 1",
            &no_leeway,
            format!(r#"{{"exp":{exp},"nbf":{}}}"#, NOW + 1),
            Err(R::Immature),
        ),
        (
            "no leeway: nbf == now",
            &no_leeway,
            format!(r#"{{"exp":{exp},"nbf":{NOW}}}"#),
            Ok(Some(exp)),
        ),
        (
            "nbf as float, rounded into the leeway",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":{}.4}}"#, NOW + leeway),
            Ok(Some(exp)),
        ),
        (
            "nbf as string",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":"{NOW}"}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "nbf negative",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":-1}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "nbf null",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":null}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "iss matching the second accepted issuer",
            &issuers,
            format!(r#"{{"exp":{exp},"iss":"https://b.example"}}"#),
            Ok(Some(exp)),
        ),
        (
            "iss of another issuer",
            &issuers,
            format!(r#"{{"exp":{exp},"iss":"https://c.example"}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "iss differing in case",
            &issuers,
            format!(r#"{{"exp":{exp},"iss":"https://A.example"}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "iss missing",
            &issuers,
            format!(r#"{{"exp":{exp}}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "iss a number",
            &issuers,
            format!(r#"{{"exp":{exp},"iss":42}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "iss an array holding an accepted issuer",
            &issuers,
            format!(r#"{{"exp":{exp},"iss":["https://a.example"]}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "iss unchecked when not configured",
            &defaults,
            format!(r#"{{"exp":{exp},"iss":42}}"#),
            Ok(Some(exp)),
        ),
        (
            "aud string match",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":"admin"}}"#),
            Ok(Some(exp)),
        ),
        (
            "aud array containing a match",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":["web","api"]}}"#),
            Ok(Some(exp)),
        ),
        (
            "aud array with a non-string and a match: every element must be a string",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":[42,"api"]}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "sub a number",
            &defaults,
            format!(r#"{{"exp":{exp},"sub":5}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "sub an array",
            &defaults,
            format!(r#"{{"exp":{exp},"sub":["alice"]}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "sub twice",
            &defaults,
            format!(r#"{{"exp":{exp},"sub":"alice","sub":"admin"}}"#),
            Err(R::Malformed),
        ),
        (
            "aud array without a match",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":["web","API"]}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "aud empty array",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":[]}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "aud string without a match",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":"web"}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "aud missing",
            &audiences,
            format!(r#"{{"exp":{exp}}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "aud a number",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":42}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "aud unchecked when not configured",
            &defaults,
            format!(r#"{{"exp":{exp},"aud":"anyone"}}"#),
            Ok(Some(exp)),
        ),
        (
            "required claims present",
            &required,
            format!(r#"{{"exp":{exp},"sub":"a","tenant":"t"}}"#),
            Ok(Some(exp)),
        ),
        (
            "required claim missing",
            &required,
            format!(r#"{{"exp":{exp},"sub":"a"}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "required claims all missing",
            &required,
            format!(r#"{{"exp":{exp}}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "required claim names are case-sensitive",
            &required,
            format!(r#"{{"exp":{exp},"sub":"a","Tenant":"t"}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "duplicate exp member",
            &defaults,
            format!(r#"{{"exp":{exp},"exp":{exp}}}"#),
            Err(R::Malformed),
        ),
        (
            "duplicate exp member, the second in the past",
            &defaults,
            format!(r#"{{"exp":{exp},"exp":1}}"#),
            Err(R::Malformed),
        ),
        (
            "duplicate nbf member",
            &defaults,
            format!(r#"{{"exp":{exp},"nbf":1,"nbf":1}}"#),
            Err(R::Malformed),
        ),
        (
            "duplicate iss member",
            &issuers,
            format!(r#"{{"exp":{exp},"iss":"https://evil.example","iss":"https://a.example"}}"#),
            Err(R::Malformed),
        ),
        (
            "duplicate aud member",
            &audiences,
            format!(r#"{{"exp":{exp},"aud":"web","aud":"api"}}"#),
            Err(R::Malformed),
        ),
    ];
    for (name, rules, payload, expected) in cases {
        let token = signed(CUR_HEADER, &payload, CURRENT_SECRET);
        let snapshot = ring.load();
        let before = CRYPTO_CALLS.with(Cell::get);
        let outcome = check::<Value>(&token, &snapshot, rules, NOW)
            .map(|accepted| {
                assert_eq!(accepted.key.slot, Slot::Current, "{name}");
                accepted.exp
            })
            .map_err(|rejection| rejection.reason());
        assert_eq!(outcome, expected, "{name}: {payload}");
        // Claims are read only after the signature check passed.
        assert_eq!(
            CRYPTO_CALLS.with(Cell::get) - before,
            1,
            "{name}: signature checks"
        );
    }
}

#[test]
fn claims_of_a_token_with_a_bad_signature_are_never_judged() {
    let ring = standard_ring();
    for payload in [
        format!(r#"{{"exp":{}}}"#, NOW - 3600),
        r#"{"exp":"x"}"#.to_owned(),
        r#"{"exp":1,"exp":2}"#.to_owned(),
        "[]".to_owned(),
    ] {
        let token = signed(CUR_HEADER, &payload, STRANGER_SECRET);
        let (outcome, calls) = run::<Value>(&token, &ring, &Rules::default());
        assert_eq!(outcome, Err(RejectionReason::BadSignature), "{payload}");
        assert_eq!(calls, 1, "{payload}: signature checks");
    }
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Subject {
    sub: String,
}

#[test]
fn claims_must_fit_the_application_type() {
    let ring = standard_ring();
    let rules = Rules::default();
    let exp = NOW + 3600;
    use RejectionReason as R;
    let cases: Vec<(&str, String, Result<&str, R>)> = vec![
        (
            "sub a string",
            format!(r#"{{"exp":{exp},"sub":"alice"}}"#),
            Ok("alice"),
        ),
        (
            "sub a number",
            format!(r#"{{"exp":{exp},"sub":42}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "sub missing",
            format!(r#"{{"exp":{exp}}}"#),
            Err(R::InvalidClaims),
        ),
        (
            "sub duplicated: a registered claim, refused like a duplicate exp",
            format!(r#"{{"exp":{exp},"sub":"alice","sub":"bob"}}"#),
            Err(R::Malformed),
        ),
        (
            "registered claims are judged first",
            format!(r#"{{"exp":{},"sub":42}}"#, NOW - 3600),
            Err(R::Expired),
        ),
    ];
    for (name, payload, expected) in cases {
        let token = signed(CUR_HEADER, &payload, CURRENT_SECRET);
        let snapshot = ring.load();
        let outcome = check::<Subject>(&token, &snapshot, &rules, NOW)
            .map(|accepted| accepted.claims)
            .map_err(|rejection| rejection.reason());
        let expected = expected.map(|sub| Subject {
            sub: sub.to_owned(),
        });
        assert_eq!(outcome, expected, "{name}");
    }
}

/// Claims types that one pass cannot serve (see `one_pass`) verify through
/// the two-pass fallback, with the same claim checks.
#[test]
fn raw_value_claims_verify_through_the_fallback() {
    let ring = standard_ring();
    let rules = Rules::default();
    let snapshot = ring.load();
    let payload = format!(r#"{{"sub":"alice","exp":{}}}"#, NOW + 3600);
    let token = signed(CUR_HEADER, &payload, CURRENT_SECRET);
    let accepted = check::<Box<RawValue>>(&token, &snapshot, &rules, NOW).expect("accepted");
    assert_eq!(accepted.claims.get(), payload);
    assert_eq!(accepted.exp, Some(NOW + 3600));

    let expired = signed(
        CUR_HEADER,
        &format!(r#"{{"sub":"alice","exp":{}}}"#, NOW - 3600),
        CURRENT_SECRET,
    );
    let rejection = check::<Box<RawValue>>(&expired, &snapshot, &rules, NOW).unwrap_err();
    assert_eq!(rejection.reason(), RejectionReason::Expired);
}

/// The header memo changes no outcome and no key choice: every token gets
/// the same answer, with as many signature checks, whether its header was
/// read before (warm) or not (a fresh ring each, cold).
#[tokio::test]
async fn remembered_headers_change_no_outcome() {
    let rules = Rules::default();
    let expired_claims = json!({"sub": "alice", "exp": NOW - 3600});
    let stranger = EncodingKey::from_secret(STRANGER_SECRET);
    let tokens = [
        mint_hs(Algorithm::HS256, Some("cur"), CURRENT_SECRET),
        mint_hs(Algorithm::HS256, Some("prev"), PREVIOUS_SECRET),
        // No kid: one header text, tried against both keys in turn.
        mint_hs(Algorithm::HS256, None, CURRENT_SECRET),
        mint_hs(Algorithm::HS256, None, PREVIOUS_SECRET),
        // The same headers, refused for their signature or their claims.
        mint(Algorithm::HS256, Some("cur"), &stranger, &valid_claims()),
        mint(Algorithm::HS256, None, &stranger, &valid_claims()),
        mint(
            Algorithm::HS256,
            Some("prev"),
            &EncodingKey::from_secret(PREVIOUS_SECRET),
            &expired_claims,
        ),
        // Headers no accepted token has.
        mint_hs(Algorithm::HS256, Some("gone"), RETIRED_SECRET),
        mint_hs(Algorithm::HS256, Some("nobody"), STRANGER_SECRET),
        mint_hs(Algorithm::HS384, Some("cur"), CURRENT_SECRET),
    ];
    let cold: Vec<_> = tokens
        .iter()
        .map(|token| run::<Value>(token, &standard_ring(), &rules))
        .collect();
    assert_eq!(cold[0].0, accepted("cur", Slot::Current));
    assert_eq!(cold[3], (accepted("prev", Slot::Previous), 2));
    assert_eq!(cold[5], (Err(RejectionReason::BadSignature), 2));

    let warm = standard_ring();
    for token in &tokens[..4] {
        assert!(run::<Value>(token, &warm, &rules).0.is_ok());
    }
    assert_eq!(
        warm.load().headers.len(),
        3,
        "kid cur, kid prev, and the kid-less header are remembered"
    );
    for (token, cold) in tokens.iter().zip(&cold) {
        assert_eq!(run::<Value>(token, &warm, &rules), *cold, "{token}");
    }
    assert_eq!(warm.load().headers.len(), 3, "refused tokens add no header");

    // A new ring state starts with an empty memo.
    warm.retire(RetireRequest::previous().force())
        .await
        .unwrap();
    assert_eq!(warm.load().headers.len(), 0);
    assert_eq!(
        run::<Value>(&tokens[1], &warm, &rules).0,
        Err(RejectionReason::RetiredKey)
    );
}

/// A forged token never teaches the memo its header, even one that reads
/// cleanly and names a loaded key.
#[test]
fn only_headers_of_matching_signatures_are_remembered() {
    let ring = standard_ring();
    let rules = Rules::default();
    let forged = signed(
        r#"{"alg":"HS256","kid":"cur","x":"forger"}"#,
        &valid_payload(),
        STRANGER_SECRET,
    );
    assert_eq!(
        run::<Value>(&forged, &ring, &rules).0,
        Err(RejectionReason::BadSignature)
    );
    assert_eq!(ring.load().headers.len(), 0);
    let genuine = signed(CUR_HEADER, &valid_payload(), CURRENT_SECRET);
    assert_eq!(
        run::<Value>(&genuine, &ring, &rules).0,
        accepted("cur", Slot::Current)
    );
    assert_eq!(ring.load().headers.len(), 1);
}

/// The shortcuts for `exp`/`nbf` and `sub` answer exactly as serde_json's
/// full reading does, on the values they take and on those they pass on.
#[test]
fn registered_claim_shortcuts_agree_with_serde_json() {
    let raw = |text: &'static str| serde_json::from_str::<&RawValue>(text).expect("valid JSON");
    let numbers = [
        "0",
        "7",
        "1800000000",
        "9999999999999999999",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        "1800000000.4",
        "1800000000.5",
        "1.8e9",
        "1E400",
        "-1",
        "-0",
        "0.0",
        r#""1800000000""#,
        "null",
        "true",
        "[1]",
        "{}",
    ];
    for text in numbers {
        assert_eq!(
            numeric_date(raw(text)),
            numeric_date_by_serde(text),
            "{text}"
        );
    }
    assert_eq!(numeric_date(raw("1800000000")), Some(1_800_000_000));
    assert_eq!(
        numeric_date(raw("9999999999999999999")),
        Some(9_999_999_999_999_999_999)
    );

    let values = [
        r#""ada""#,
        r#""""#,
        r#""é中🔑""#,
        r#""a\"b""#,
        r#""\u0041""#,
        r#""\ud83d\ude00""#,
        r#""\ud800""#,
        r#""x\udc00y""#,
        "5",
        "null",
        "true",
        r#"["a"]"#,
        r#"{"a":"b"}"#,
    ];
    for text in values {
        assert_eq!(
            is_json_string(raw(text)),
            serde_json::from_str::<Text<'_>>(text).is_ok(),
            "{text}"
        );
    }
    assert!(is_json_string(raw(r#""ada""#)));
    assert!(
        !is_json_string(raw(r#""\ud800""#)),
        "a lone surrogate is no str"
    );
}
