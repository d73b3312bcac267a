//! JWT enhanced authentication (MQTT 5.0 §4.12, Authentication Method `JWT`): the CONNECT's
//! Authentication Data is a signed JSON Web Token (RFC 7519), checked against the keys of a
//! file (`jwt_keys`), with the `jsonwebtoken` crate.
//!
//! # Keys file
//! A JWK Set (RFC 7517), the JSON a JWKS endpoint serves:
//! ```json
//! {"keys": [
//!   {"kty": "oct", "kid": "shared", "alg": "HS256", "k": "<base64url secret>"},
//!   {"kty": "RSA", "kid": "rsa-2026", "alg": "RS256", "n": "...", "e": "AQAB"},
//!   {"kty": "EC",  "kid": "ec-2026", "alg": "ES256", "crv": "P-256", "x": "...", "y": "..."}
//! ]}
//! ```
//! Every key names its `alg` (HS256, RS256 or ES256) and, when there are several, a distinct
//! `kid`. Anything else is a startup error naming the file and the key.
//!
//! # What is accepted
//! A token whose header's `kid` names a key (with one key, a token without `kid` uses it),
//! whose `alg` is that key's (so an RS256 public key is never used as an HS256 secret, and
//! `alg: none` is never a key's), whose signature verifies, with `exp` in the future (30 s of
//! clock skew allowed) and a `sub`, and, when configured, the `iss` and `aud` asked for. The
//! identity is `sub`: a CONNECT with a User Name other than `sub` is refused, since the User
//! Name is what the ACL judges. Everything else is CONNACK 0x87 (or, when re-authenticating
//! with AUTH 0x19 and a new token, DISCONNECT 0x87). The expiry is checked when the token is
//! presented; a connection outlives its token unless the client re-authenticates (the clock
//! is the system's: the broker's simulator runs do not use JWT).

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mqttref_core::broker::AuthDecision;
use mqttref_core::codec::ReasonCode;

use crate::auth::AuthFileError;

/// The Authentication Method name.
pub const METHOD: &str = "JWT";
/// Clock skew allowed on `exp` (and `nbf`), seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The algorithms a key may name.
const ALGORITHMS: &[(&str, Algorithm)] = &[
    ("HS256", Algorithm::HS256),
    ("RS256", Algorithm::RS256),
    ("ES256", Algorithm::ES256),
];

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The keys of a `jwt_keys` file.
pub struct JwtKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| (&k.kid, k.alg)))
            .finish()
    }
}

impl JwtKeys {
    /// Reads and checks a keys file.
    ///
    /// # Errors
    /// [`AuthFileError`] naming the file (and the line, or the key).
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let text = std::fs::read_to_string(path).map_err(|error| AuthFileError::Io {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a JWK Set; `path` is only used in errors.
    ///
    /// # Errors
    /// [`AuthFileError::Line`] for JSON that is not a JWK Set, [`AuthFileError::Key`] for a
    /// key that cannot be used.
    pub fn parse(text: &str, path: &Path) -> Result<Self, AuthFileError> {
        let set: JwkSet = serde_json::from_str(text).map_err(|e| AuthFileError::Line {
            path: path.to_owned(),
            line: e.line(),
            message: format!("not a JWK Set: {e}"),
        })?;
        let key_err = |i: usize, message: String| AuthFileError::Key {
            path: path.to_owned(),
            key: i + 1,
            message,
        };
        if set.keys.is_empty() {
            return Err(key_err(0, "no keys".into()));
        }
        let mut keys: Vec<Key> = Vec::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let named = jwk
                .common
                .key_algorithm
                .map(|a| format!("{a:?}"))
                .ok_or_else(|| key_err(i, "no `alg` (HS256, RS256 or ES256)".into()))?;
            let alg = ALGORITHMS
                .iter()
                .find(|(n, _)| *n == named)
                .map(|(_, a)| *a)
                .ok_or_else(|| key_err(i, format!("`alg` {named}: HS256, RS256 or ES256")))?;
            let key =
                DecodingKey::from_jwk(jwk).map_err(|e| key_err(i, format!("{named} key: {e}")))?;
            let kid = jwk.common.key_id.clone();
            if set.keys.len() > 1 && kid.is_none() {
                return Err(key_err(
                    i,
                    "no `kid` (needed when there are several keys)".into(),
                ));
            }
            if kid.is_some() && keys.iter().any(|k| k.kid == kid) {
                return Err(key_err(i, format!("`kid` {kid:?} appears twice")));
            }
            let family_ok = matches!(
                (&jwk.algorithm, alg),
                (
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_),
                    Algorithm::HS256
                ) | (
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_),
                    Algorithm::RS256
                ) | (
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_),
                    Algorithm::ES256
                )
            );
            if !family_ok {
                return Err(key_err(i, format!("`alg` {named} does not fit its `kty`")));
            }
            keys.push(Key { kid, alg, key });
        }
        Ok(JwtKeys { keys })
    }
}

/// The `jwt_*` configuration keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtConfig {
    /// The keys file.
    pub keys: PathBuf,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's), if any.
    pub audience: Option<String>,
}

/// The claims read from a token.
#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
}

/// The server side of JWT authentication (see the module notes).
#[derive(Debug)]
pub struct JwtAuth {
    keys: JwtKeys,
    issuer: Option<String>,
    audience: Option<String>,
}

const DENY: AuthDecision = AuthDecision::Deny(ReasonCode::NotAuthorized);

impl JwtAuth {
    /// Checks tokens against `keys`, with the optional issuer and audience.
    pub fn new(keys: JwtKeys, issuer: Option<String>, audience: Option<String>) -> Self {
        JwtAuth {
            keys,
            issuer,
            audience,
        }
    }

    /// Loads the keys `config` names.
    ///
    /// # Errors
    /// [`AuthFileError`].
    pub fn load(config: &JwtConfig) -> Result<Self, AuthFileError> {
        Ok(Self::new(
            JwtKeys::load(&config.keys)?,
            config.issuer.clone(),
            config.audience.clone(),
        ))
    }

    /// The `sub` of a valid token, or why not.
    ///
    /// # Errors
    /// A description of what is wrong with the token.
    pub fn verify(&self, token: &[u8]) -> Result<String, String> {
        let token = std::str::from_utf8(token).map_err(|_| "token is not UTF-8")?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or_else(|| format!("no key `{kid}`"))?,
            None if self.keys.keys.len() == 1 => &self.keys.keys[0],
            None => return Err("no `kid`, and there are several keys".into()),
        };
        if header.alg != key.alg {
            return Err(format!("alg {:?}, the key's is {:?}", header.alg, key.alg));
        }
        let mut v = Validation::new(key.alg);
        v.leeway = LEEWAY_SECS;
        v.set_required_spec_claims(&["exp", "sub"]);
        if let Some(i) = &self.issuer {
            v.set_issuer(&[i]);
        }
        match &self.audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, &v).map_err(|e| format!("{e}"))?;
        Ok(data.claims.sub)
    }

    /// Judges a token (CONNECT's Authentication Data, or AUTH 0x19's); `username`: the
    /// CONNECT's User Name, which must be the token's `sub` when present.
    pub fn check(&self, username: Option<&str>, token: Option<&[u8]>) -> AuthDecision {
        let Some(token) = token else {
            return DENY;
        };
        match self.verify(token) {
            Ok(sub) if username.is_none_or(|u| u == sub) => AuthDecision::Allow(None),
            Ok(_) => DENY,
            Err(why) => {
                tracing::debug!(%why, "JWT refused");
                DENY
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine as _;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const RSA_KEY: &str = include_str!("../tests/jwt/rsa.key");
    const RSA_N: &str = include_str!("../tests/jwt/rsa.n");

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// An ES256 key pair: (PKCS#8 PEM, JWK x, JWK y).
    fn ec_key() -> (String, String, String) {
        let pair = rcgen::KeyPair::generate().unwrap();
        let raw = pair.public_key_raw();
        assert_eq!((raw.len(), raw[0]), (65, 4), "uncompressed P-256 point");
        (
            pair.serialize_pem(),
            B64URL.encode(&raw[1..33]),
            B64URL.encode(&raw[33..]),
        )
    }

    struct Fixture {
        auth: JwtAuth,
        ec_pem: String,
        other_ec_pem: String,
    }

    fn fixture(issuer: Option<&str>, audience: Option<&str>) -> Fixture {
        let (ec_pem, x, y) = ec_key();
        let (other_ec_pem, _, _) = ec_key();
        let set = format!(
            r#"{{"keys": [
              {{"kty": "oct", "kid": "hs", "alg": "HS256", "k": "{}"}},
              {{"kty": "RSA", "kid": "rs", "alg": "RS256", "n": "{}", "e": "AQAB"}},
              {{"kty": "EC", "kid": "es", "alg": "ES256", "crv": "P-256", "x": "{x}", "y": "{y}"}}
            ]}}"#,
            B64URL.encode(b"a shared secret of 32 bytes!!!!!"),
            RSA_N.trim()
        );
        let keys = JwtKeys::parse(&set, Path::new("keys.json")).unwrap();
        Fixture {
            auth: JwtAuth::new(keys, issuer.map(Into::into), audience.map(Into::into)),
            ec_pem,
            other_ec_pem,
        }
    }

    fn token(
        alg: Algorithm,
        kid: Option<&str>,
        key: &EncodingKey,
        claims: &serde_json::Value,
    ) -> Vec<u8> {
        let mut h = Header::new(alg);
        h.kid = kid.map(Into::into);
        encode(&h, claims, key).unwrap().into_bytes()
    }

    fn claims(sub: &str, exp: u64) -> serde_json::Value {
        serde_json::json!({"sub": sub, "exp": exp})
    }

    #[test]
    fn the_three_algorithms_verify() {
        let f = fixture(None, None);
        let c = claims("alice", now() + 600);
        let hs = EncodingKey::from_secret(b"a shared secret of 32 bytes!!!!!");
        let rs = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
        let es = EncodingKey::from_ec_pem(f.ec_pem.as_bytes()).unwrap();
        for t in [
            token(Algorithm::HS256, Some("hs"), &hs, &c),
            token(Algorithm::RS256, Some("rs"), &rs, &c),
            token(Algorithm::ES256, Some("es"), &es, &c),
        ] {
            assert_eq!(f.auth.verify(&t), Ok("alice".into()));
            assert_eq!(
                f.auth.check(Some("alice"), Some(&t)),
                AuthDecision::Allow(None)
            );
            assert_eq!(f.auth.check(None, Some(&t)), AuthDecision::Allow(None));
            // The User Name must be the token's subject.
            assert_eq!(f.auth.check(Some("bob"), Some(&t)), DENY);
        }
    }

    #[test]
    fn bad_tokens_are_refused() {
        let f = fixture(Some("https://issuer.example"), Some("mqtt"));
        let hs = EncodingKey::from_secret(b"a shared secret of 32 bytes!!!!!");
        let good = serde_json::json!({
            "sub": "alice", "exp": now() + 600, "iss": "https://issuer.example", "aud": "mqtt"
        });
        assert!(f
            .auth
            .verify(&token(Algorithm::HS256, Some("hs"), &hs, &good))
            .is_ok());
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good.clone();
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove(k);
            c
        };
        // alg none: header {"alg":"none"}, no signature.
        let none = format!(
            "{}.{}.",
            B64URL.encode(br#"{"alg":"none","typ":"JWT","kid":"hs"}"#),
            B64URL.encode(good.to_string())
        );
        let es_other = EncodingKey::from_ec_pem(f.other_ec_pem.as_bytes()).unwrap();
        let rs_pub_as_secret = EncodingKey::from_secret(RSA_N.trim().as_bytes());
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("alg none", none.into_bytes()),
            (
                "expired",
                token(
                    Algorithm::HS256,
                    Some("hs"),
                    &hs,
                    &with("exp", (now() - 120).into()),
                ),
            ),
            (
                "signed with another key",
                token(Algorithm::ES256, Some("es"), &es_other, &good),
            ),
            (
                "another secret",
                token(
                    Algorithm::HS256,
                    Some("hs"),
                    &EncodingKey::from_secret(b"guess"),
                    &good,
                ),
            ),
            (
                "HS256 under an RSA key's kid",
                token(Algorithm::HS256, Some("rs"), &rs_pub_as_secret, &good),
            ),
            (
                "unknown kid",
                token(Algorithm::HS256, Some("nope"), &hs, &good),
            ),
            (
                "no kid with several keys",
                token(Algorithm::HS256, None, &hs, &good),
            ),
            (
                "no exp",
                token(Algorithm::HS256, Some("hs"), &hs, &without("exp")),
            ),
            (
                "no sub",
                token(Algorithm::HS256, Some("hs"), &hs, &without("sub")),
            ),
            (
                "wrong iss",
                token(
                    Algorithm::HS256,
                    Some("hs"),
                    &hs,
                    &with("iss", "https://evil".into()),
                ),
            ),
            (
                "wrong aud",
                token(
                    Algorithm::HS256,
                    Some("hs"),
                    &hs,
                    &with("aud", "web".into()),
                ),
            ),
            ("not a token", b"hello".to_vec()),
            ("not UTF-8", vec![0xFF, 0xFE]),
        ];
        for (what, t) in cases {
            assert_eq!(f.auth.check(None, Some(&t)), DENY, "{what}");
        }
        assert_eq!(f.auth.check(None, None), DENY, "no token");
    }

    #[test]
    fn malformed_key_files_name_the_key() {
        let p = Path::new("keys.json");
        let err = |text: &str| JwtKeys::parse(text, p).unwrap_err().to_string();
        assert!(
            err("{").starts_with("keys.json:1: not a JWK Set"),
            "{}",
            err("{")
        );
        assert_eq!(err(r#"{"keys": []}"#), "keys.json: key 1: no keys");
        assert_eq!(
            err(r#"{"keys": [{"kty": "oct", "k": "AAAA"}]}"#),
            "keys.json: key 1: no `alg` (HS256, RS256 or ES256)"
        );
        assert_eq!(
            err(r#"{"keys": [{"kty": "oct", "alg": "HS512", "k": "AAAA"}]}"#),
            "keys.json: key 1: `alg` HS512: HS256, RS256 or ES256"
        );
        assert_eq!(
            err(
                r#"{"keys": [{"kty": "oct", "alg": "HS256", "kid": "a", "k": "AAAA"}, {"kty": "oct", "alg": "HS256", "k": "AAAA"}]}"#
            ),
            "keys.json: key 2: no `kid` (needed when there are several keys)"
        );
        assert_eq!(
            err(r#"{"keys": [{"kty": "oct", "alg": "RS256", "k": "AAAA"}]}"#),
            "keys.json: key 1: `alg` RS256 does not fit its `kty`"
        );
    }
}
