//! SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding: the messages, the key
//! derivation, and [`ScramClient`], the client side as an enhanced-authentication
//! [`Authenticator`] (MQTT 5.0 §4.12, Authentication Method `SCRAM-SHA-256`).
//!
//! The exchange over MQTT: CONNECT carries client-first, AUTH 0x18 from the server carries
//! server-first, AUTH 0x18 from the client carries client-final, and CONNACK 0x00 carries
//! server-final (`v=` the server's signature, which the client checks: the server proves it
//! knows the credentials too). A re-authentication runs the same exchange from AUTH 0x19 and
//! ends with AUTH 0x00.
//!
//! The server side (`mqttref-broker`'s `scram` module) uses the same parsers and
//! [`Credentials`]; its credentials file holds [`Credentials`] only, never a password.
//!
//! User names and passwords are prepared with SASLprep (RFC 4013) as RFC 5802 §2.2 asks; a
//! string SASLprep refuses is used as given (as PostgreSQL's clients do), so any password
//! still works between two parties that both do this.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::Authenticator;

/// The Authentication Method name.
pub const METHOD: &str = "SCRAM-SHA-256";
/// The iteration count RFC 7677 asks at least (§4: "at least 4096").
pub const MIN_ITERATIONS: u32 = 4096;
/// The iteration count the client accepts at most by default: a server could otherwise make
/// the client compute PBKDF2 for minutes. 10× OWASP's 600,000 for PBKDF2-HMAC-SHA256.
pub const DEFAULT_MAX_ITERATIONS: u32 = 6_000_000;
/// Bytes of randomness in a nonce (base64-encoded on the wire).
pub const NONCE_BYTES: usize = 18;

/// A SCRAM message that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    /// Not UTF-8, a missing or misplaced attribute, a bad escape, bad base64.
    #[error("malformed {message}: {why}")]
    Malformed {
        /// Which message (`client-first`, `server-first`, ...).
        message: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The client asked for channel binding (`p=`) or a mandatory extension (`m=`), which this
    /// implementation does not do.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The nonce does not continue the exchange's (replay, or another exchange's message).
    #[error("nonce mismatch")]
    Nonce,
    /// The iteration count is outside what this side accepts.
    #[error("iteration count {0} outside {MIN_ITERATIONS}..={1}")]
    Iterations(u32, u32),
    /// The proof (client) or signature (server) does not verify: wrong password or credentials.
    #[error("proof does not verify")]
    Proof,
    /// The server ended the exchange with `e=` (RFC 5802 server-error).
    #[error("server error: {0}")]
    Server(String),
    /// A message arrived out of order.
    #[error("unexpected message in state {0}")]
    State(&'static str),
}

fn malformed(message: &'static str, why: impl Into<String>) -> ScramError {
    ScramError::Malformed {
        message,
        why: why.into(),
    }
}

/// HMAC-SHA-256.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SASLprep (RFC 4013) of `s`, or `s` itself when SASLprep refuses it.
pub fn prepare(s: &str) -> String {
    match stringprep::saslprep(s) {
        Ok(p) => p.into_owned(),
        Err(_) => s.to_owned(),
    }
}

/// What a server stores for one user (RFC 5802 §3): never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Salt of PBKDF2.
    pub salt: Vec<u8>,
    /// Iteration count of PBKDF2.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys allow impersonating the server (and guessing offline): not printed.
        f.debug_struct("Credentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// `Hi(Normalize(password), salt, i)`: PBKDF2-HMAC-SHA-256.
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(prepare(password).as_bytes(), salt, iterations, &mut out);
    out
}

impl Credentials {
    /// The credentials of `password` with `salt` and `iterations`.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Self {
        Self::from_salted(
            &salted_password(password, salt, iterations),
            salt,
            iterations,
        )
    }

    /// The credentials of an already salted password.
    pub fn from_salted(salted: &[u8; 32], salt: &[u8], iterations: u32) -> Self {
        Credentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: sha256(&hmac(salted, b"Client Key")),
            server_key: hmac(salted, b"Server Key"),
        }
    }

    /// Checks a client's proof over `auth_message`; on success, the server signature to send
    /// in server-final.
    ///
    /// # Errors
    /// [`ScramError::Proof`].
    pub fn verify_proof(&self, auth_message: &[u8], proof: &[u8]) -> Result<[u8; 32], ScramError> {
        if proof.len() != 32 {
            return Err(ScramError::Proof);
        }
        let signature = hmac(&self.stored_key, auth_message);
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        if bool::from(sha256(&client_key).ct_eq(&self.stored_key)) {
            Ok(hmac(&self.server_key, auth_message))
        } else {
            Err(ScramError::Proof)
        }
    }
}

/// `saslname` escaping (RFC 5802 §5.1): `,` is `=2C`, `=` is `=3D`.
pub fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Reverses [`escape_name`]; `None` on any other `=` sequence.
pub fn unescape_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3) {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// A nonce is printable ASCII except `,` (RFC 5802 §7).
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b',')
}

/// `NONCE_BYTES` random bytes as base64, from the operating system.
///
/// # Errors
/// The system generator failed (its message).
pub fn random_nonce() -> Result<String, String> {
    let mut raw = [0u8; NONCE_BYTES];
    getrandom::getrandom(&mut raw).map_err(|e| format!("random nonce: {e}"))?;
    Ok(B64.encode(raw))
}

/// Splits `attr=value`, checking the attribute letter.
fn attr<'a>(
    part: Option<&'a str>,
    name: char,
    message: &'static str,
) -> Result<&'a str, ScramError> {
    let part = part.ok_or_else(|| malformed(message, format!("missing `{name}=`")))?;
    let mut chars = part.chars();
    if chars.next() != Some(name) || chars.next() != Some('=') {
        return Err(malformed(
            message,
            format!(
                "expected `{name}=`, found `{}`",
                part.chars().take(8).collect::<String>()
            ),
        ));
    }
    Ok(&part[2..])
}

fn utf8<'a>(data: &'a [u8], message: &'static str) -> Result<&'a str, ScramError> {
    std::str::from_utf8(data).map_err(|_| malformed(message, "not UTF-8"))
}

fn b64(text: &str, message: &'static str) -> Result<Vec<u8>, ScramError> {
    B64.decode(text)
        .map_err(|e| malformed(message, format!("base64: {e}")))
}

/// client-first-message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst<'a> {
    /// `n,,` or `y,,` (with an authorization identity, `n,a=NAME,`).
    pub gs2_header: &'a str,
    /// The authorization identity (`a=`), unescaped, if any.
    pub authzid: Option<String>,
    /// The user name, unescaped (not yet SASLprep'd).
    pub username: String,
    /// The client's nonce.
    pub nonce: &'a str,
    /// client-first-message-bare: part of AuthMessage.
    pub bare: &'a str,
}

impl<'a> ClientFirst<'a> {
    /// Parses a client-first-message.
    ///
    /// # Errors
    /// [`ScramError::Malformed`]; [`ScramError::Unsupported`] for channel binding (`p=`) or a
    /// mandatory extension (`m=`).
    pub fn parse(data: &'a [u8]) -> Result<Self, ScramError> {
        const M: &str = "client-first";
        let text = utf8(data, M)?;
        let mut it = text.splitn(3, ',');
        let flag = it.next().unwrap_or_default();
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => {
                return Err(ScramError::Unsupported("channel binding"));
            }
            _ => return Err(malformed(M, "gs2 flag must be n, y or p=")),
        }
        let authz = it.next().ok_or_else(|| malformed(M, "no gs2 header"))?;
        let authzid = if authz.is_empty() {
            None
        } else {
            let a = attr(Some(authz), 'a', M)?;
            Some(unescape_name(a).ok_or_else(|| malformed(M, "bad escape in a="))?)
        };
        let bare = it
            .next()
            .ok_or_else(|| malformed(M, "no client-first-message-bare"))?;
        let gs2_header = &text[..text.len() - bare.len()];
        let mut parts = bare.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("m=")) {
            return Err(ScramError::Unsupported("mandatory extension m="));
        }
        let name = attr(first, 'n', M)?;
        let username = unescape_name(name).ok_or_else(|| malformed(M, "bad escape in n="))?;
        if username.is_empty() {
            return Err(malformed(M, "empty user name"));
        }
        let nonce = attr(parts.next(), 'r', M)?;
        if !valid_nonce(nonce) {
            return Err(malformed(M, "nonce must be printable ASCII without `,`"));
        }
        Ok(ClientFirst {
            gs2_header,
            authzid,
            username,
            nonce,
            bare,
        })
    }
}

/// server-first-message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    /// The client's nonce followed by the server's.
    pub nonce: String,
    /// PBKDF2 salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count.
    pub iterations: u32,
}

impl ServerFirst {
    /// The message text.
    pub fn to_text(&self) -> String {
        format!(
            "r={},s={},i={}",
            self.nonce,
            B64.encode(&self.salt),
            self.iterations
        )
    }

    /// Parses a server-first-message.
    ///
    /// # Errors
    /// [`ScramError::Malformed`], [`ScramError::Unsupported`] for `m=`.
    pub fn parse(data: &[u8]) -> Result<Self, ScramError> {
        const M: &str = "server-first";
        let text = utf8(data, M)?;
        let mut parts = text.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("m=")) {
            return Err(ScramError::Unsupported("mandatory extension m="));
        }
        let nonce = attr(first, 'r', M)?;
        if !valid_nonce(nonce) {
            return Err(malformed(M, "nonce must be printable ASCII without `,`"));
        }
        let salt = b64(attr(parts.next(), 's', M)?, M)?;
        let i = attr(parts.next(), 'i', M)?;
        let iterations = i
            .parse::<u32>()
            .map_err(|_| malformed(M, format!("iteration count `{i}`")))?;
        Ok(ServerFirst {
            nonce: nonce.to_owned(),
            salt,
            iterations,
        })
    }
}

/// client-final-message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal<'a> {
    /// `c=`, still base64: must be base64(gs2-header) without channel binding.
    pub channel_binding: &'a str,
    /// The combined nonce.
    pub nonce: &'a str,
    /// The decoded proof.
    pub proof: Vec<u8>,
    /// client-final-message-without-proof: part of AuthMessage.
    pub without_proof: &'a str,
}

impl<'a> ClientFinal<'a> {
    /// Parses a client-final-message.
    ///
    /// # Errors
    /// [`ScramError::Malformed`].
    pub fn parse(data: &'a [u8]) -> Result<Self, ScramError> {
        const M: &str = "client-final";
        let text = utf8(data, M)?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| malformed(M, "missing `p=`"))?;
        let mut parts = without_proof.split(',');
        let channel_binding = attr(parts.next(), 'c', M)?;
        let nonce = attr(parts.next(), 'r', M)?;
        Ok(ClientFinal {
            channel_binding,
            nonce,
            proof: b64(proof, M)?,
            without_proof,
        })
    }
}

/// The AuthMessage both sides sign (RFC 5802 §3).
pub fn auth_message(client_first_bare: &str, server_first: &str, without_proof: &str) -> String {
    format!("{client_first_bare},{server_first},{without_proof}")
}

/// Where a [`ScramClient`] is in its exchange.
#[derive(Debug, Clone)]
enum Step {
    /// No exchange (before CONNECT, or after one ended).
    Idle,
    /// client-first sent.
    SentFirst { nonce: String, bare: String },
    /// client-final sent: the server signature expected in server-final.
    SentFinal { server_signature: [u8; 32] },
}

/// The client side of SCRAM-SHA-256 as an [`Authenticator`]: give it to
/// `ClientOptions::with_authenticator`. Its PBKDF2 result is kept for the salt and iteration
/// count it was computed for, so a re-authentication against the same server is cheap.
pub struct ScramClient {
    username: String,
    password: String,
    max_iterations: u32,
    step: Step,
    /// (salt, iterations, SaltedPassword) of the last exchange.
    cache: Option<(Vec<u8>, u32, [u8; 32])>,
    /// Nonces to use instead of random ones (tests with RFC 7677's vector).
    fixed_nonce: Option<String>,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("username", &self.username)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// Authenticates as `username` with `password`.
    pub fn new(username: &str, password: &str) -> Self {
        ScramClient {
            username: prepare(username),
            password: password.to_owned(),
            max_iterations: DEFAULT_MAX_ITERATIONS,
            step: Step::Idle,
            cache: None,
            fixed_nonce: None,
        }
    }

    /// Refuses servers asking for more PBKDF2 iterations than `max`.
    #[must_use]
    pub fn max_iterations(mut self, max: u32) -> Self {
        self.max_iterations = max;
        self
    }

    /// Uses `nonce` instead of a random nonce (tests only: a fixed nonce lets an observer
    /// replay the exchange).
    #[doc(hidden)]
    #[must_use]
    pub fn with_fixed_nonce(mut self, nonce: &str) -> Self {
        self.fixed_nonce = Some(nonce.to_owned());
        self
    }

    /// client-first-message; starts an exchange.
    ///
    /// # Errors
    /// The system random generator failed.
    pub fn client_first(&mut self) -> Result<Vec<u8>, String> {
        let nonce = match &self.fixed_nonce {
            Some(n) => n.clone(),
            None => random_nonce()?,
        };
        let bare = format!("n={},r={nonce}", escape_name(&self.username));
        let message = format!("n,,{bare}");
        self.step = Step::SentFirst { nonce, bare };
        Ok(message.into_bytes())
    }

    /// client-final-message in answer to server-first.
    ///
    /// # Errors
    /// [`ScramError`]: out of order, malformed, a nonce that does not extend ours, an
    /// iteration count outside the accepted range.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let Step::SentFirst { nonce, bare } = std::mem::replace(&mut self.step, Step::Idle) else {
            return Err(ScramError::State("no client-first sent"));
        };
        if let Some(e) = server_error(server_first) {
            return Err(e);
        }
        let sf = ServerFirst::parse(server_first)?;
        if !sf.nonce.starts_with(&nonce) || sf.nonce.len() == nonce.len() {
            return Err(ScramError::Nonce);
        }
        if !(MIN_ITERATIONS..=self.max_iterations).contains(&sf.iterations) {
            return Err(ScramError::Iterations(sf.iterations, self.max_iterations));
        }
        let salted = match &self.cache {
            Some((salt, i, s)) if *salt == sf.salt && *i == sf.iterations => *s,
            _ => {
                let s = salted_password(&self.password, &sf.salt, sf.iterations);
                self.cache = Some((sf.salt.clone(), sf.iterations, s));
                s
            }
        };
        let creds = Credentials::from_salted(&salted, &sf.salt, sf.iterations);
        // "biws" is base64("n,,"): no channel binding, no authorization identity.
        let without_proof = format!("c=biws,r={}", sf.nonce);
        let server_first_text = utf8(server_first, "server-first")?;
        let message = auth_message(&bare, server_first_text, &without_proof);
        let client_key = hmac(&salted, b"Client Key");
        let signature = hmac(&creds.stored_key, message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.step = Step::SentFinal {
            server_signature: hmac(&creds.server_key, message.as_bytes()),
        };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks server-final: the server's signature proves it holds the credentials.
    ///
    /// # Errors
    /// [`ScramError`]: out of order, malformed, `e=` from the server, a wrong signature.
    pub fn check_server_final(&mut self, server_final: &[u8]) -> Result<(), ScramError> {
        const M: &str = "server-final";
        let Step::SentFinal { server_signature } = std::mem::replace(&mut self.step, Step::Idle)
        else {
            return Err(ScramError::State("no client-final sent"));
        };
        if let Some(e) = server_error(server_final) {
            return Err(e);
        }
        let text = utf8(server_final, M)?;
        let v = attr(text.split(',').next(), 'v', M)?;
        let got = b64(v, M)?;
        if bool::from(got.as_slice().ct_eq(&server_signature)) {
            Ok(())
        } else {
            Err(ScramError::Proof)
        }
    }
}

/// `e=VALUE` of a server message, if it is one.
fn server_error(data: &[u8]) -> Option<ScramError> {
    let text = std::str::from_utf8(data).ok()?;
    text.strip_prefix("e=")
        .map(|e| ScramError::Server(e.split(',').next().unwrap_or(e).to_owned()))
}

impl Authenticator for ScramClient {
    fn method(&self) -> String {
        METHOD.to_owned()
    }

    fn initial_data(&mut self) -> Option<Vec<u8>> {
        // Without randomness there is no safe nonce: send no data, which the server refuses.
        self.client_first().ok()
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        let challenge = challenge.ok_or("AUTH 0x18 without server-first data")?;
        self.client_final(challenge)
            .map(Some)
            .map_err(|e| format!("SCRAM: {e}"))
    }

    fn success(&mut self, data: Option<&[u8]>) -> Result<(), String> {
        let data = data.ok_or("SCRAM: the server accepted without server-final data")?;
        self.check_server_final(data)
            .map_err(|e| format!("SCRAM: server-final: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 §3.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    #[test]
    fn rfc7677_vector_client_side() {
        let mut c = ScramClient::new("user", "pencil").with_fixed_nonce(NONCE);
        assert_eq!(c.client_first().unwrap(), CLIENT_FIRST.as_bytes());
        let fin = c.client_final(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(fin).unwrap(), CLIENT_FINAL);
        c.check_server_final(SERVER_FINAL.as_bytes()).unwrap();
    }

    #[test]
    fn rfc7677_vector_server_side() {
        let cf = ClientFirst::parse(CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(
            (cf.username.as_str(), cf.nonce, cf.gs2_header),
            ("user", NONCE, "n,,")
        );
        let sf = ServerFirst::parse(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(sf.to_text(), SERVER_FIRST);
        let creds = Credentials::derive("pencil", &sf.salt, sf.iterations);
        let fin = ClientFinal::parse(CLIENT_FINAL.as_bytes()).unwrap();
        assert_eq!(
            (fin.channel_binding, fin.nonce),
            ("biws", sf.nonce.as_str())
        );
        let msg = auth_message(cf.bare, SERVER_FIRST, fin.without_proof);
        let sig = creds.verify_proof(msg.as_bytes(), &fin.proof).unwrap();
        assert_eq!(format!("v={}", B64.encode(sig)), SERVER_FINAL);
        // Another password's credentials refuse the same proof.
        let other = Credentials::derive("pencil2", &sf.salt, sf.iterations);
        assert_eq!(
            other.verify_proof(msg.as_bytes(), &fin.proof),
            Err(ScramError::Proof)
        );
    }

    #[test]
    fn client_refuses_bad_server_messages() {
        let first = |c: &mut ScramClient| {
            c.client_first().unwrap();
        };
        let mut c = ScramClient::new("user", "pencil").with_fixed_nonce(NONCE);
        first(&mut c);
        // A nonce that does not extend ours (a replayed or foreign server-first).
        assert_eq!(
            c.client_final(b"r=otherNonceXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            Err(ScramError::Nonce)
        );
        first(&mut c);
        assert_eq!(
            c.client_final(format!("r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").as_bytes()),
            Err(ScramError::Nonce),
            "the server must add its own nonce"
        );
        first(&mut c);
        assert_eq!(
            c.client_final(format!("r={NONCE}x,s=AAAA,i=4095").as_bytes()),
            Err(ScramError::Iterations(4095, DEFAULT_MAX_ITERATIONS))
        );
        let mut c = ScramClient::new("user", "pencil")
            .with_fixed_nonce(NONCE)
            .max_iterations(10_000);
        first(&mut c);
        assert_eq!(
            c.client_final(format!("r={NONCE}x,s=AAAA,i=4000000000").as_bytes()),
            Err(ScramError::Iterations(4_000_000_000, 10_000))
        );
        first(&mut c);
        assert!(matches!(
            c.client_final(b"s=AAAA,r=x,i=1"),
            Err(ScramError::Malformed { .. })
        ));
        first(&mut c);
        assert_eq!(
            c.client_final(b"e=unknown-user"),
            Err(ScramError::Server("unknown-user".into()))
        );
        // A wrong server signature: the server does not hold the credentials.
        first(&mut c);
        c.client_final(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            c.check_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err(ScramError::Proof)
        );
        // Out of order.
        assert!(matches!(
            c.check_server_final(SERVER_FINAL.as_bytes()),
            Err(ScramError::State(_))
        ));
    }

    #[test]
    fn client_first_parsing() {
        let cf = ClientFirst::parse(b"y,,n=a=2Cb=3Dc,r=xyz,ext").unwrap();
        assert_eq!((cf.username.as_str(), cf.gs2_header), ("a,b=c", "y,,"));
        let cf = ClientFirst::parse(b"n,a=bob,n=bob,r=xyz").unwrap();
        assert_eq!(cf.authzid.as_deref(), Some("bob"));
        assert_eq!(cf.gs2_header, "n,a=bob,");
        assert_eq!(
            ClientFirst::parse(b"p=tls-unique,,n=u,r=x"),
            Err(ScramError::Unsupported("channel binding"))
        );
        assert_eq!(
            ClientFirst::parse(b"n,,m=ext,n=u,r=x"),
            Err(ScramError::Unsupported("mandatory extension m="))
        );
        for bad in [
            &b"n,,n=u"[..],
            b"n,,r=x,n=u",
            b"x,,n=u,r=x",
            b"n,,n=a=2Xb,r=x",
            b"n,,n=,r=x",
            b"n,,n=u,r=a b",
            b"n,,n=u,r=",
            b"\xff,,n=u,r=x",
            b"",
        ] {
            assert!(
                matches!(ClientFirst::parse(bad), Err(ScramError::Malformed { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn names_escape_both_ways() {
        for n in ["plain", "a,b", "x=y", "=,=,", ""] {
            assert_eq!(unescape_name(&escape_name(n)).as_deref(), Some(n));
        }
        assert_eq!(unescape_name("a=2"), None);
    }

    #[test]
    fn saslprep_maps_spaces_and_keeps_refused_strings() {
        // U+00A0 NO-BREAK SPACE is mapped to a space (RFC 4013 §2.1).
        assert_eq!(prepare("a\u{a0}b"), "a b");
        // A prohibited control character: used as given.
        assert_eq!(prepare("a\u{7}b"), "a\u{7}b");
    }
}
