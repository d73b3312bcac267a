//! SCRAM-SHA-256 enhanced authentication, the server side (RFC 5802/7677, MQTT 5.0 §4.12,
//! Authentication Method `SCRAM-SHA-256`), and its credentials file (`scram_file`).
//!
//! # Credentials file
//! One `user:salt:iterations:stored_key:server_key` line per user, the binary fields in
//! standard base64, as `mqttref scram add` writes it (and as the `mqttv5` broker's
//! `--scram-file` reads it: either broker takes the other's file). The file holds no password:
//! whoever reads it can impersonate the server to a client, not a client to the server.
//! Blank lines and `#` comments are skipped; anything else that is not such a line is a
//! startup error naming the file, line and field.
//!
//! # The exchange
//! CONNECT carries client-first; the server answers AUTH 0x18 with server-first; the client's
//! AUTH 0x18 carries client-final; CONNACK 0x00 carries server-final (`v=`, the server's
//! signature). What is refused, and how:
//! - a malformed client-first or client-final, channel binding asked (`p=`), an authorization
//!   identity other than the user, a nonce that does not continue an exchange: 0x87 Not
//!   authorized (the SCRAM data is the method's business, not MQTT's framing, so not 0x82);
//! - a wrong proof, or an unknown user: 0x87, the same way, so the answer does not tell which
//!   users exist (an unknown user gets a salt derived from a per-start secret, stable per
//!   name, and the default iteration count);
//! - a SCRAM user other than the CONNECT's User Name, when it has one: 0x87 (the User Name is
//!   the identity the ACL judges, so it must be the one proven). Without a User Name the
//!   connection gets the anonymous rules whatever user it proved.
//!
//! The engine turns a refusal before CONNACK into CONNACK 0x87 and close
//! ([MQTT-4.12.0-4] (5.0)), one during a re-authentication into DISCONNECT 0x87 and close
//! ([MQTT-4.12.1-2] (5.0)). A re-authentication (AUTH 0x19 carrying a new client-first) must
//! prove the same user as the CONNECT's User Name.
//!
//! Exchanges in progress are keyed by their combined nonce (18 random bytes from each side, base64)
//! and capped at [`MAX_PENDING`]; past it the oldest is forgotten (its client-final then gets
//! 0x87). The engine's connect timeout ends abandoned exchanges on the wire; the cap bounds
//! their memory here. Verification is a few HMACs: it runs on the engine task without
//! concern (the PBKDF2 cost is the client's).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use mqttref_client::scram::{
    auth_message, hmac, prepare, random_nonce, ClientFinal, ClientFirst, Credentials, ServerFirst,
    MIN_ITERATIONS,
};
use mqttref_core::broker::{AuthDecision, Subject};
use mqttref_core::codec::ReasonCode;

use crate::auth::AuthFileError;

pub use mqttref_client::scram::METHOD;

/// Iterations `mqttref scram add` uses unless told: OWASP's figure for PBKDF2-HMAC-SHA256
/// (2023). The cost is the client's, once per connection (the reference client keeps the
/// result for re-authentication).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Exchanges in progress at once (see the module notes).
pub const MAX_PENDING: usize = 4096;
/// Salt bytes of new credentials.
pub const SALT_BYTES: usize = 16;

/// A credentials file: users and their [`Credentials`], in file order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ScramFile {
    /// (user, credentials).
    pub entries: Vec<(String, Credentials)>,
}

impl fmt::Debug for ScramFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(u, _)| u))
            .finish()
    }
}

fn key32(field: &str, text: &str) -> Result<[u8; 32], String> {
    let raw = B64
        .decode(text)
        .map_err(|e| format!("{field}: not base64 ({e})"))?;
    <[u8; 32]>::try_from(raw.as_slice())
        .map_err(|_| format!("{field}: {} bytes, expected 32", raw.len()))
}

impl ScramFile {
    /// Reads and checks a credentials file.
    ///
    /// # Errors
    /// [`AuthFileError`] naming the file, line and field.
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let text = std::fs::read_to_string(path).map_err(|error| AuthFileError::Io {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses credentials text; `path` is only used in errors.
    ///
    /// # Errors
    /// [`AuthFileError::Line`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, AuthFileError> {
        let mut entries: Vec<(String, Credentials)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| AuthFileError::Line {
                path: path.to_owned(),
                line: i + 1,
                message,
            };
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            let [user, salt, iterations, stored, server] = fields[..] else {
                return Err(err(format!(
                    "{} fields, expected user:salt:iterations:stored_key:server_key",
                    fields.len()
                )));
            };
            if user.is_empty() {
                return Err(err("empty user name".into()));
            }
            let salt = B64
                .decode(salt)
                .map_err(|e| err(format!("user `{user}`: salt: not base64 ({e})")))?;
            if salt.is_empty() {
                return Err(err(format!("user `{user}`: empty salt")));
            }
            let iterations: u32 = iterations
                .parse()
                .ok()
                .filter(|i| *i >= MIN_ITERATIONS)
                .ok_or_else(|| {
                    err(format!(
                        "user `{user}`: iterations `{iterations}`: a number ≥ {MIN_ITERATIONS}"
                    ))
                })?;
            let stored_key =
                key32("stored_key", stored).map_err(|m| err(format!("user `{user}`: {m}")))?;
            let server_key =
                key32("server_key", server).map_err(|m| err(format!("user `{user}`: {m}")))?;
            if entries.iter().any(|(u, _)| u == user) {
                return Err(err(format!("user `{user}` appears twice")));
            }
            entries.push((
                user.to_owned(),
                Credentials {
                    salt,
                    iterations,
                    stored_key,
                    server_key,
                },
            ));
        }
        Ok(ScramFile { entries })
    }

    /// Sets (adds or replaces) `user`'s credentials for `password`, with a new random salt.
    ///
    /// # Errors
    /// The system random generator failed.
    pub fn set(&mut self, user: &str, password: &str, iterations: u32) -> Result<(), String> {
        let mut salt = [0u8; SALT_BYTES];
        getrandom::getrandom(&mut salt).map_err(|e| format!("random salt: {e}"))?;
        let creds = Credentials::derive(password, &salt, iterations);
        match self.entries.iter_mut().find(|(u, _)| u == user) {
            Some(e) => e.1 = creds,
            None => self.entries.push((user.to_owned(), creds)),
        }
        Ok(())
    }

    /// Removes `user`; whether it was there.
    pub fn remove(&mut self, user: &str) -> bool {
        let n = self.entries.len();
        self.entries.retain(|(u, _)| u != user);
        self.entries.len() != n
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        self.entries
            .iter()
            .map(|(u, c)| {
                format!(
                    "{u}:{}:{}:{}:{}\n",
                    B64.encode(&c.salt),
                    c.iterations,
                    B64.encode(c.stored_key),
                    B64.encode(c.server_key)
                )
            })
            .collect()
    }

    /// Writes the file through a temporary file renamed over it.
    ///
    /// # Errors
    /// [`AuthFileError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), AuthFileError> {
        crate::auth::replace_file(path, &self.to_text())
    }
}

/// One exchange between server-first and client-final.
struct Pending {
    /// The user's credentials; `None` for an unknown user (the exchange fails at the proof).
    creds: Option<Credentials>,
    /// client-first-message-bare and server-first-message: the AuthMessage's start.
    bare: String,
    server_first: String,
    /// base64 of the gs2 header: what `c=` must be.
    channel_binding: String,
}

/// Makes server nonces.
type NonceSource = Box<dyn FnMut() -> Result<String, String> + Send>;

/// The server side of SCRAM-SHA-256 (see the module notes).
pub struct ScramAuth {
    users: BTreeMap<String, Credentials>,
    /// Key of the fake salts of unknown users.
    secret: [u8; 32],
    pending: BTreeMap<String, Pending>,
    /// Combined nonces of `pending`, oldest first (some may be gone already).
    order: VecDeque<String>,
    nonce: NonceSource,
}

impl fmt::Debug for ScramAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramAuth")
            .field("users", &self.users.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

const DENY: AuthDecision = AuthDecision::Deny(ReasonCode::NotAuthorized);

impl ScramAuth {
    /// Authenticates the users of `file`, with random server nonces.
    ///
    /// # Errors
    /// The system random generator failed (no secret for unknown users' salts).
    pub fn new(file: ScramFile) -> Result<Self, String> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| format!("random secret: {e}"))?;
        Ok(Self::with_parts(file, secret, Box::new(random_nonce)))
    }

    /// With a given secret and nonce source (tests: RFC 7677's fixed nonce).
    pub fn with_parts(file: ScramFile, secret: [u8; 32], nonce: NonceSource) -> Self {
        ScramAuth {
            users: file
                .entries
                .into_iter()
                .map(|(u, c)| (prepare(&u), c))
                .collect(),
            secret,
            pending: BTreeMap::new(),
            order: VecDeque::new(),
            nonce,
        }
    }

    /// Exchanges in progress.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// One step: a client-first (CONNECT, AUTH 0x19, or a restart with AUTH 0x18) starts an
    /// exchange, a client-final (`c=...`) ends one. `username`: the CONNECT's User Name, which
    /// the SCRAM user must equal when present.
    pub fn step(&mut self, username: Option<&str>, data: Option<&[u8]>) -> AuthDecision {
        let Some(data) = data else {
            // SCRAM is client-first: no data is a malformed start.
            return DENY;
        };
        if data.starts_with(b"c=") {
            self.finish(data)
        } else {
            self.start(username, data)
        }
    }

    fn start(&mut self, username: Option<&str>, data: &[u8]) -> AuthDecision {
        let Ok(first) = ClientFirst::parse(data) else {
            return DENY;
        };
        let user = prepare(&first.username);
        if first.authzid.as_deref().is_some_and(|a| prepare(a) != user)
            || username.is_some_and(|u| prepare(u) != user)
        {
            return DENY;
        }
        let Ok(server_nonce) = (self.nonce)() else {
            return AuthDecision::Deny(ReasonCode::UnspecifiedError);
        };
        let creds = self.users.get(&user).cloned();
        let (salt, iterations) = match &creds {
            Some(c) => (c.salt.clone(), c.iterations),
            None => (
                hmac(&self.secret, user.as_bytes())[..SALT_BYTES].to_vec(),
                DEFAULT_ITERATIONS,
            ),
        };
        let combined = format!("{}{server_nonce}", first.nonce);
        let server_first = ServerFirst {
            nonce: combined.clone(),
            salt,
            iterations,
        }
        .to_text();
        while self.pending.len() >= MAX_PENDING {
            match self.order.pop_front() {
                Some(old) => {
                    self.pending.remove(&old);
                }
                None => break,
            }
        }
        self.pending.insert(
            combined.clone(),
            Pending {
                creds,
                bare: first.bare.to_owned(),
                server_first: server_first.clone(),
                channel_binding: B64.encode(first.gs2_header),
            },
        );
        self.order.push_back(combined);
        AuthDecision::Continue(server_first.into_bytes())
    }

    fn finish(&mut self, data: &[u8]) -> AuthDecision {
        let Ok(fin) = ClientFinal::parse(data) else {
            return DENY;
        };
        let Some(p) = self.pending.remove(fin.nonce) else {
            return DENY;
        };
        if let Some(i) = self.order.iter().position(|n| n == fin.nonce) {
            self.order.remove(i);
        }
        if fin.channel_binding != p.channel_binding {
            return DENY;
        }
        let Some(creds) = p.creds else {
            return DENY;
        };
        let message = auth_message(&p.bare, &p.server_first, fin.without_proof);
        match creds.verify_proof(message.as_bytes(), &fin.proof) {
            Ok(sig) => AuthDecision::Allow(Some(format!("v={}", B64.encode(sig)).into_bytes())),
            Err(_) => DENY,
        }
    }

    /// [`step`](Self::step) for the engine's `continue_auth`.
    pub fn continue_auth(&mut self, who: &Subject<'_>, data: Option<&[u8]>) -> AuthDecision {
        self.step(who.username, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqttref_client::scram::ScramClient;

    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const LINE: &str = "user:W22ZaJ0SNY7soEsUEjb6gQ==:4096:\
        WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

    fn server(text: &str) -> ScramAuth {
        let file = ScramFile::parse(text, Path::new("scram")).unwrap();
        ScramAuth::with_parts(file, [7; 32], Box::new(|| Ok(SERVER_NONCE.to_owned())))
    }

    /// Runs a whole exchange: the server's answer to client-final, and the client's verdict on
    /// server-final.
    fn exchange(
        s: &mut ScramAuth,
        connect_user: Option<&str>,
        c: &mut ScramClient,
    ) -> (AuthDecision, Option<Result<(), String>>) {
        use mqttref_client::Authenticator as _;
        let first = c.initial_data().unwrap();
        let AuthDecision::Continue(sf) = s.step(connect_user, Some(&first)) else {
            panic!("no server-first");
        };
        let fin = c.step(Some(&sf)).unwrap().unwrap();
        let d = s.step(connect_user, Some(&fin));
        let verdict = match &d {
            AuthDecision::Allow(data) => Some(c.success(data.as_deref())),
            _ => None,
        };
        (d, verdict)
    }

    #[test]
    fn rfc7677_vector() {
        // The file line holds the credentials of "pencil" with RFC 7677's salt.
        let mut s = server(LINE);
        let first = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        assert_eq!(
            s.step(None, Some(first)),
            AuthDecision::Continue(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .to_vec()
            )
        );
        let fin = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            s.step(None, Some(fin)),
            AuthDecision::Allow(Some(
                b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
            ))
        );
        assert_eq!(s.pending(), 0);
        // A replay of the same client-final finds no exchange.
        assert_eq!(s.step(None, Some(fin)), DENY);
    }

    #[test]
    fn client_and_server_agree_and_refuse() {
        let mut s = server(LINE);
        let mut good = ScramClient::new("user", "pencil").with_fixed_nonce(NONCE);
        let (d, verdict) = exchange(&mut s, Some("user"), &mut good);
        assert!(matches!(d, AuthDecision::Allow(Some(_))));
        assert_eq!(verdict, Some(Ok(())));
        // Wrong password: 0x87 at client-final.
        let mut bad = ScramClient::new("user", "pencil2").with_fixed_nonce(NONCE);
        assert_eq!(exchange(&mut s, None, &mut bad).0, DENY);
        // Unknown user: a server-first all the same (no hint), then 0x87.
        let mut nobody = ScramClient::new("nobody", "x").with_fixed_nonce(NONCE);
        assert_eq!(exchange(&mut s, None, &mut nobody).0, DENY);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn unknown_users_get_stable_fake_salts() {
        let mut s = server(LINE);
        let ask =
            |s: &mut ScramAuth, u: &str| s.step(None, Some(format!("n,,n={u},r=abc").as_bytes()));
        assert_eq!(ask(&mut s, "ghost"), ask(&mut s, "ghost"));
        assert_ne!(ask(&mut s, "ghost"), ask(&mut s, "spirit"));
        let AuthDecision::Continue(sf) = ask(&mut s, "ghost") else {
            panic!()
        };
        let sf = ServerFirst::parse(&sf).unwrap();
        assert_eq!(
            (sf.salt.len(), sf.iterations),
            (SALT_BYTES, DEFAULT_ITERATIONS)
        );
    }

    #[test]
    fn the_connect_user_name_must_be_the_scram_user() {
        let mut s = server(LINE);
        assert_eq!(s.step(Some("alice"), Some(b"n,,n=user,r=abc")), DENY);
        // An authorization identity other than the user.
        assert_eq!(s.step(None, Some(b"n,a=admin,n=user,r=abc")), DENY);
        assert!(matches!(
            s.step(Some("user"), Some(b"n,a=user,n=user,r=abc")),
            AuthDecision::Continue(_)
        ));
    }

    #[test]
    fn malformed_and_unsupported_steps_are_refused() {
        let mut s = server(LINE);
        for bad in [
            None,
            Some(&b""[..]),
            Some(b"p=tls-server-end-point,,n=user,r=abc"),
            Some(b"n,,m=x,n=user,r=abc"),
            Some(b"n,,r=abc"),
            Some(b"hello"),
            Some(b"c=biws,r=nothing-pending,p=AAAA"),
            Some(b"c=biws"),
        ] {
            assert_eq!(s.step(None, bad), DENY, "{bad:?}");
        }
        // Channel binding data that is not base64("n,,").
        let AuthDecision::Continue(_) = s.step(None, Some(b"n,,n=user,r=abc")) else {
            panic!()
        };
        let fin =
            format!("c=eSws,r=abc{SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(s.step(None, Some(fin.as_bytes())), DENY);
    }

    #[test]
    fn pending_exchanges_are_capped() {
        let mut n = 0u32;
        let mut s = ScramAuth::with_parts(
            ScramFile::parse(LINE, Path::new("scram")).unwrap(),
            [1; 32],
            Box::new(move || {
                n += 1;
                Ok(format!("s{n}"))
            }),
        );
        for i in 0..MAX_PENDING + 10 {
            let first = format!("n,,n=user,r=c{i}");
            assert!(matches!(
                s.step(None, Some(first.as_bytes())),
                AuthDecision::Continue(_)
            ));
        }
        assert_eq!(s.pending(), MAX_PENDING);
    }

    #[test]
    fn file_round_trip_and_errors() {
        let mut f = ScramFile::parse(LINE, Path::new("scram")).unwrap();
        f.set("bob", "secret", MIN_ITERATIONS).unwrap();
        let again = ScramFile::parse(&f.to_text(), Path::new("scram")).unwrap();
        assert_eq!(again, f);
        assert!(f.remove("bob"));
        assert!(!f.remove("bob"));
        let cases = [
            ("user:AAAA:4096:x", "scram:1: 4 fields"),
            (":AAAA:4096:A:A", "scram:1: empty user name"),
            ("\nu:!!:4096:A:A", "scram:2: user `u`: salt: not base64"),
            ("u:AAAA:100:A:A", "scram:1: user `u`: iterations `100`"),
            (
                "u:AAAA:4096:AAAA:A",
                "scram:1: user `u`: stored_key: 3 bytes, expected 32",
            ),
        ];
        for (text, want) in cases {
            let e = ScramFile::parse(text, Path::new("scram"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{e} / {want}");
        }
        let twice = format!("{LINE}\n{LINE}\n");
        let e = ScramFile::parse(&twice, Path::new("scram"))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "scram:2: user `user` appears twice");
    }

    #[test]
    fn reads_a_file_written_by_the_mqttv5_cli() {
        // `mqttv5 scram -c -b pencil -i 10000 user FILE`.
        let line = "user:9A/XEqYBzoclADtRYZKvZQ==:10000:blle8vwMGJEQ6ZgamXONJyAtDL25eY2qBAyFHkAK5vY=:QRsG/pzgeQrT12ODp/XG85fEb9FCtTfmNqb6KbzDMVE=";
        let mut s = server(line);
        let mut c = ScramClient::new("user", "pencil");
        let (d, verdict) = exchange(&mut s, Some("user"), &mut c);
        assert!(matches!(d, AuthDecision::Allow(_)));
        assert_eq!(verdict, Some(Ok(())));
    }
}
