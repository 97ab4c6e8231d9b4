//! The application's claims and the registered claims from one pass over
//! the payload's JSON.
//!
//! The application's type `C` drives serde_json as usual; a thin wrapper
//! stands between them and, as `C` walks the claims object, notes each name
//! and keeps the raw JSON of the registered claims we check (`exp`, `nbf`,
//! `iss`, `aud`, `sub`) before handing the value on to `C`. A separate pass
//! just for those claims costs measurably more (figures in
//! docs/performance.md).
//!
//! Only the success path relies on it. Any error (claims that are not an
//! object, a duplicate registered claim, a `C` that refuses them, or a `C`
//! this cannot serve, such as `Box<RawValue>`, which needs serde_json's own
//! deserializer) makes the caller fall back to two passes, which give the
//! exact rejection. The differential test holds both paths to
//! jsonwebtoken's answers.
//!
//! What `C` sees differs from plain `serde_json::from_slice` in one way:
//! object keys reach it as strings (`visit_str`), not through serde_json's
//! key deserializer, which also parses numbers inside keys. A claims type
//! keyed by integers therefore fails here and is served by the fallback.

use std::borrow::Cow;

use serde::de::value::CowStrDeserializer;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, Error as _, IntoDeserializer as _, MapAccess,
    Visitor,
};
use serde_json::value::RawValue;

use super::{Claim, Registered, Rules, Text};

/// serde_json's marker for `RawValue`, which only its own deserializer can fill.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Whether `C` is filled by serde_json's own `RawValue` machinery, as
/// `Box<RawValue>` is (the example server's claims): one pass cannot serve
/// it. The probe reads nothing and allocates nothing, so such a type goes
/// straight to two passes instead of building a `serde_json::Error` per
/// token to learn the same thing. A `RawValue` nested deeper (a newtype
/// around it) is not seen here and takes the error path, as before.
///
/// The marker is serde_json's private name. Should serde_json rename it,
/// the probe misses and one pass is tried; it fails (serde_json's
/// `RawValue` visitor takes only what serde_json's own deserializer hands
/// it), and verification takes the two passes: one error built per token,
/// never a wrong answer
/// (`tests::a_renamed_marker_falls_back_to_two_passes`).
pub(super) fn wants_raw_value<C: DeserializeOwned>() -> bool {
    probe_for::<C>(RAW_VALUE_TOKEN)
}

fn probe_for<C: DeserializeOwned>(marker: &'static str) -> bool {
    matches!(
        C::deserialize(RawValueProbe { marker }),
        Err(Probed::RawValue)
    )
}

/// A deserializer that refuses every request and notes whether the first
/// one was serde_json's `RawValue` marker.
struct RawValueProbe {
    marker: &'static str,
}

#[derive(Debug)]
enum Probed {
    RawValue,
    Other,
}

impl std::fmt::Display for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a probe for RawValue claims, never a verdict")
    }
}

impl std::error::Error for Probed {}

impl serde::de::Error for Probed {
    fn custom<T: std::fmt::Display>(_message: T) -> Self {
        Self::Other
    }
}

impl<'de> Deserializer<'de> for RawValueProbe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed::Other)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Probed> {
        Err(if name == self.marker {
            Probed::RawValue
        } else {
            Probed::Other
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple tuple_struct map struct
        enum identifier ignored_any
    }
}

/// Deserializes `C` from `payload` and, in the same pass, reads the
/// registered claims. An error means "use the two-pass path", not a verdict.
pub(super) fn claims_and_registered<'p, C: DeserializeOwned>(
    payload: &'p [u8],
    rules: &Rules,
) -> Result<(C, Registered<'p>), serde_json::Error> {
    let required = &*rules.required_claims;
    let mut registered = Registered::new(required);
    let mut json = serde_json::Deserializer::from_slice(payload);
    let claims = C::deserialize(Tap {
        json: &mut json,
        registered: &mut registered,
        required,
    })?;
    json.end()?;
    Ok((claims, registered))
}

/// The deserializer `C` sees: serde_json's, read as an object.
struct Tap<'a, 'de, D> {
    json: D,
    registered: &'a mut Registered<'de>,
    required: &'a [String],
}

impl<'a, 'de, D> Tap<'a, 'de, D>
where
    D: Deserializer<'de, Error = serde_json::Error>,
{
    fn object<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        self.json.deserialize_map(TapVisitor {
            visitor,
            registered: self.registered,
            required: self.required,
        })
    }
}

/// Claims are a JSON object: anything else is left to the fallback.
macro_rules! not_an_object {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* _visitor: V) -> Result<V::Value, Self::Error> {
            $(let _ = $arg;)*
            Err(serde_json::Error::custom("claims are read in one pass only as an object"))
        }
    )*};
}

impl<'de, D> Deserializer<'de> for Tap<'_, 'de, D>
where
    D: Deserializer<'de, Error = serde_json::Error>,
{
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.object(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.object(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.object(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.object(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if name == RAW_VALUE_TOKEN {
            return Err(serde_json::Error::custom(
                "RawValue claims need serde_json's own deserializer",
            ));
        }
        // Like serde_json: a newtype is its content.
        visitor.visit_newtype_struct(self)
    }

    not_an_object! {
        deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_i128(), deserialize_u8(), deserialize_u16(),
        deserialize_u32(), deserialize_u64(), deserialize_u128(), deserialize_f32(),
        deserialize_f64(), deserialize_char(), deserialize_str(), deserialize_string(),
        deserialize_bytes(), deserialize_byte_buf(), deserialize_option(), deserialize_unit(),
        deserialize_seq(), deserialize_identifier(),
        deserialize_unit_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    }
}

/// Hands `C`'s visitor a map access that watches the names go by.
struct TapVisitor<'a, 'de, V> {
    visitor: V,
    registered: &'a mut Registered<'de>,
    required: &'a [String],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TapVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(TapMap {
            map,
            registered: self.registered,
            required: self.required,
            pending: None,
        })
    }
}

struct TapMap<'a, 'de, A> {
    map: A,
    registered: &'a mut Registered<'de>,
    required: &'a [String],
    /// The registered claim whose value comes next: its raw JSON is kept,
    /// then handed to `C`. `None`: the value goes straight to `C`.
    pending: Option<Claim>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TapMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(Text(name)) = self.map.next_key::<Text<'de>>()? else {
            return Ok(None);
        };
        self.pending = self.registered.note::<A::Error>(&name, self.required)?;
        let key: CowStrDeserializer<'de, A::Error> = Cow::into_deserializer(name);
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match self.pending.take() {
            None => self.map.next_value_seed(seed),
            Some(claim) => {
                let raw: &'de RawValue = self.map.next_value()?;
                *self.registered.slot(claim) = Some(raw);
                seed.deserialize(raw).map_err(A::Error::custom)
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde::de::IgnoredAny;
    use serde_json::Value;

    use super::*;
    use crate::verify::token::RegisteredSeed;

    /// Registered claims as comparable text.
    fn raw(registered: &Registered<'_>) -> [Option<String>; 5] {
        [
            registered.exp,
            registered.sub,
            registered.nbf,
            registered.iss,
            registered.aud,
        ]
        .map(|value| value.map(|raw| raw.get().to_owned()))
    }

    /// The two-pass reading: registered claims alone, then `C` alone.
    fn two_passes<C: DeserializeOwned>(
        payload: &[u8],
        rules: &Rules,
    ) -> Option<(C, [Option<String>; 5], Vec<bool>)> {
        let mut json = serde_json::Deserializer::from_slice(payload);
        let registered = RegisteredSeed {
            required: &rules.required_claims,
        }
        .deserialize(&mut json)
        .ok()?;
        json.end().ok()?;
        let claims = serde_json::from_slice::<C>(payload).ok()?;
        Some((claims, raw(&registered), registered.present.clone()))
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Typed {
        sub: String,
        exp: u64,
        #[serde(default)]
        roles: Vec<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        sub: String,
        exp: u64,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Flattened {
        sub: String,
        #[serde(flatten)]
        rest: BTreeMap<String, Value>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Newtype(Value);

    const PAYLOADS: &[&str] = &[
        r#"{"sub":"ada","exp":1800000000}"#,
        r#"{"exp":1800000000,"sub":"ada","roles":["a","b"],"nested":{"exp":1,"sub":2}}"#,
        r#"{"sub":"\u0061da","exp":1.8e9,"nbf":17e8,"iss":"https://i","aud":["x","y"]}"#,
        r#" { "sub" : "ada" , "exp" : 1800000000 , "x" : null } "#,
        r#"{"s\u0075b":"escaped key","exp":1800000000}"#,
        r#"{"sub":"ada","exp":1800000000,"extra":{"deep":[1,2,{"k":"v"}]}}"#,
        r#"{"sub":"ada"}"#,
        r#"{}"#,
        // Refused by both: not an object, duplicates, trailing data, bad JSON.
        r#"["ada",1800000000]"#,
        r#""ada""#,
        r#"{"sub":"ada","exp":1,"exp":2}"#,
        r#"{"sub":"a","sub":"b","exp":1}"#,
        r#"{"sub":"ada","exp":1800000000} x"#,
        r#"{"sub":"ada","exp":"#,
        r#"{"sub":"ada","exp":1800000000,}"#,
        // Accepted by Value, refused by the typed claims.
        r#"{"sub":5,"exp":1800000000}"#,
        r#"{"sub":"ada","exp":-1}"#,
        r#"{"sub":"ada","exp":1800000000,"roles":"admin"}"#,
    ];

    /// Where one pass succeeds it must give exactly what two passes give;
    /// where two passes fail, one pass must fail too (so the caller falls
    /// back and refuses with the same reason).
    fn agrees<C: DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, rules: &Rules) {
        for payload in PAYLOADS {
            let one = claims_and_registered::<C>(payload.as_bytes(), rules)
                .map(|(claims, registered)| (claims, raw(&registered), registered.present));
            let two = two_passes::<C>(payload.as_bytes(), rules);
            match (one, two) {
                (Ok(one), Some(two)) => assert_eq!(one, two, "{name}: {payload}"),
                (Ok(one), None) => {
                    panic!("{name}: one pass accepted what two refuse: {payload}: {one:?}")
                }
                (Err(_), _) => {} // the caller falls back to two passes
            }
        }
    }

    #[test]
    fn one_pass_agrees_with_two_passes() {
        let plain = Rules::default();
        let required = Rules {
            required_claims: vec!["roles".to_owned(), "nested".to_owned()].into(),
            ..Rules::default()
        };
        for rules in [&plain, &required] {
            agrees::<Value>("Value", rules);
            agrees::<Typed>("Typed", rules);
            agrees::<Strict>("Strict", rules);
            agrees::<Flattened>("Flattened", rules);
            agrees::<Newtype>("Newtype", rules);
            agrees::<BTreeMap<String, Value>>("BTreeMap", rules);
        }
    }

    /// The common claims types take the fast path: a regression to the
    /// fallback would only show as lost speed, so it is tested here.
    #[test]
    fn common_claims_types_take_one_pass() {
        let rules = Rules::default();
        let payload = br#"{"sub":"ada","exp":1800000000,"roles":["a"]}"#;
        assert!(claims_and_registered::<Value>(payload, &rules).is_ok());
        assert!(claims_and_registered::<Typed>(payload, &rules).is_ok());
        assert!(claims_and_registered::<Flattened>(payload, &rules).is_ok());
        assert!(claims_and_registered::<Newtype>(payload, &rules).is_ok());
        assert!(claims_and_registered::<IgnoredAny>(payload, &rules).is_ok());
        let (_, registered) = claims_and_registered::<Typed>(payload, &rules).unwrap();
        assert_eq!(registered.exp.map(RawValue::get), Some("1800000000"));
        assert_eq!(registered.sub.map(RawValue::get), Some(r#""ada""#));
    }

    /// The probe names `Box<RawValue>` and nothing else.
    #[test]
    fn the_probe_finds_raw_value_claims_only() {
        assert!(wants_raw_value::<Box<RawValue>>());
        assert!(!wants_raw_value::<Value>());
        assert!(!wants_raw_value::<Typed>());
        assert!(!wants_raw_value::<Flattened>());
        assert!(!wants_raw_value::<Newtype>());
        assert!(!wants_raw_value::<IgnoredAny>());
        assert!(!wants_raw_value::<BTreeMap<u32, String>>());
        assert!(!wants_raw_value::<Option<Box<RawValue>>>());
    }

    /// If serde_json renamed its private marker, the probe would miss; one
    /// pass then refuses `Box<RawValue>` claims, and the caller's fallback
    /// (two passes, `check`'s `None` arm) gives the same claims.
    #[test]
    fn a_renamed_marker_falls_back_to_two_passes() {
        assert!(!probe_for::<Box<RawValue>>(
            "$serde_json::private::RenamedRawValue"
        ));
        let rules = Rules::default();
        let payload = br#"{"sub":"ada","exp":1800000000}"#;
        assert!(claims_and_registered::<Box<RawValue>>(payload, &rules).is_err());
        let (exp, _) = super::super::check_claims(payload, &rules, 1_700_000_000).unwrap();
        assert_eq!(exp, Some(1_800_000_000));
        let claims: Box<RawValue> = serde_json::from_slice(payload).unwrap();
        assert_eq!(claims.get(), r#"{"sub":"ada","exp":1800000000}"#);
    }

    /// Types one pass cannot serve are told so, so that the caller falls back.
    #[test]
    fn raw_value_and_integer_keys_fall_back() {
        let rules = Rules::default();
        let payload = br#"{"sub":"ada","exp":1800000000}"#;
        assert!(claims_and_registered::<Box<RawValue>>(payload, &rules).is_err());
        assert!(serde_json::from_slice::<Box<RawValue>>(payload).is_ok());
        let numeric = br#"{"1":"one","2":"two"}"#;
        assert!(claims_and_registered::<BTreeMap<u32, String>>(numeric, &rules).is_err());
        assert!(serde_json::from_slice::<BTreeMap<u32, String>>(numeric).is_ok());
    }
}
