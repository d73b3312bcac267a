//! Password authentication and ACL authorization: the files (`password_file`, `acl_file`),
//! their parsing, and the [`Authenticator`] and [`Authorizer`] the engine consults.
//!
//! # Password file
//! One `user:PHC` line per user, the PHC string an argon2id hash (`$argon2id$v=19$m=...`), as
//! `mqttref passwd` writes it; blank lines and `#` comments are skipped. A line that is not
//! that, a duplicate user, another algorithm, or parameters above [`MAX_WORK_KIB`] /
//! [`MAX_LANES`] is a startup error naming the file, line and what is wrong.
//!
//! Verification runs **on the engine task** (the engine asks its [`Authenticator`] inside
//! `handle_bytes`, synchronously), so it blocks every connection while it runs. It is kept
//! bounded instead of moved: the driver would otherwise have to decode CONNECT itself, ahead of
//! the engine that owns framing. `mqttref passwd` writes the argon2 crate's defaults (m = 19456
//! KiB, t = 2, p = 1: OWASP's argon2id baseline, about 20-40 ms on one current core), and the
//! loader refuses hashes costing more than twice that (`m × t ≤` [`MAX_WORK_KIB`]), so one
//! CONNECT stalls the engine for at most one such verification. An unknown user costs the same
//! (a dummy hash is verified), so timing does not tell which users exist. Failed attempts are
//! limited per client address by the driver (`max_login_failures_per_address`, counted
//! through [`AuthSetup::failures`]), which also caps the stall a flood can cause.
//!
//! # ACL file (Mosquitto's format)
//! ```text
//! # anonymous clients (rules before any `user` line)
//! topic read public/#
//! user alice
//! topic readwrite alice/#
//! topic deny alice/secret/#
//! # every client, wherever the line is: %u is the user name, %c the client identifier
//! pattern readwrite users/%u/#
//! ```
//! Access is `read`, `write`, `readwrite` (the default) or `deny`. With a file, what no rule
//! allows is denied; a `deny` rule wins over any allowing one. A topic is readable/writable if
//! an allowing rule's filter matches it; a SUBSCRIBE filter is allowed if a readable rule's
//! filter covers every topic it can match and no `deny` rule covers it (deliveries are checked
//! again per message, so a `#` subscription never receives a denied topic). A `pattern` whose
//! `%u` or `%c` would be replaced by something containing `+`, `#` or `/` (or that is absent)
//! does not apply: `%u` can never widen a rule.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use mqttref_core::broker::{
    Access, AuthDecision, AuthRequest, Authenticator, Authorizer, Broker, Config, NoAuth, Storage,
    Subject,
};
use mqttref_core::codec::ReasonCode;
use mqttref_core::topic;

use crate::jwt::{self, JwtAuth};
use crate::scram::{self, ScramAuth, ScramFile};
use crate::BrokerConfig;

/// Ceiling of an accepted hash's cost, memory (KiB) × iterations: twice the default's
/// (19456 × 2), see the module notes on why verification must stay bounded.
pub const MAX_WORK_KIB: u64 = 2 * 19_456 * 2;
/// Ceiling of an accepted hash's parallelism (the lanes are computed one after the other).
pub const MAX_LANES: u32 = 4;

/// A password or ACL file that cannot be used: the broker does not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The system random generator failed (secrets of the SCRAM exchange).
    #[error("{0}")]
    Random(String),
    /// A key of a JWK Set is wrong (`jwt_keys`).
    #[error("{path}: key {key}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// 1-based position of the key in `keys`.
        key: usize,
        /// What is wrong.
        message: String,
    },
    /// A line is wrong.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn read(path: &Path) -> Result<String, AuthFileError> {
    std::fs::read_to_string(path).map_err(|error| AuthFileError::Io {
        path: path.to_owned(),
        error,
    })
}

/// Hashes `password` as argon2id with the crate's default parameters and a random salt.
///
/// # Panics
/// Never with the default parameters (the argon2 crate only fails on invalid ones).
pub fn hash_password(password: &[u8]) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .expect("default argon2 parameters are valid")
        .to_string()
}

/// Checks that `phc` is an argon2id hash within the cost ceilings.
fn check_phc(phc: &str) -> Result<(), String> {
    let hash = PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(format!("algorithm `{}`: only argon2id", hash.algorithm));
    }
    let params = argon2::Params::try_from(&hash).map_err(|e| format!("parameters: {e}"))?;
    let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
    if work > MAX_WORK_KIB || params.p_cost() > MAX_LANES {
        return Err(format!(
            "parameters m={} t={} p={} cost more than m×t ≤ {MAX_WORK_KIB}, p ≤ {MAX_LANES} \
             (verification runs on the engine task)",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    if hash.hash.is_none() {
        return Err("PHC string without a hash".into());
    }
    Ok(())
}

/// A password file: users and their argon2id PHC strings, in file order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    /// (user, PHC string).
    pub entries: Vec<(String, String)>,
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Users only: hashes are secrets too (offline guessing).
        f.debug_list()
            .entries(self.entries.iter().map(|(u, _)| u))
            .finish()
    }
}

impl PasswordFile {
    /// Reads and checks a password file.
    ///
    /// # Errors
    /// [`AuthFileError`] naming the file and line.
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        Self::parse(&read(path)?, path, true)
    }

    /// Reads a file of plaintext `user:password` lines (for `mqttref passwd -U`).
    ///
    /// # Errors
    /// [`AuthFileError`] naming the file and line.
    pub fn load_plain(path: &Path) -> Result<Self, AuthFileError> {
        Self::parse(&read(path)?, path, false)
    }

    /// Parses `text`; `hashed`: the second field must be a usable PHC string.
    ///
    /// # Errors
    /// [`AuthFileError::Line`].
    pub fn parse(text: &str, path: &Path, hashed: bool) -> Result<Self, AuthFileError> {
        let mut entries: Vec<(String, String)> = Vec::new();
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
            let Some((user, secret)) = line.split_once(':') else {
                return Err(err("expected `user:password-hash`".into()));
            };
            if user.is_empty() {
                return Err(err("empty user name".into()));
            }
            if hashed {
                check_phc(secret).map_err(|m| err(format!("user `{user}`: {m}")))?;
            }
            if entries.iter().any(|(u, _)| u == user) {
                return Err(err(format!("user `{user}` appears twice")));
            }
            entries.push((user.to_owned(), secret.to_owned()));
        }
        Ok(PasswordFile { entries })
    }

    /// Sets (adds or replaces) `user`'s password.
    pub fn set(&mut self, user: &str, password: &[u8]) {
        let phc = hash_password(password);
        match self.entries.iter_mut().find(|(u, _)| u == user) {
            Some(e) => e.1 = phc,
            None => self.entries.push((user.to_owned(), phc)),
        }
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
            .map(|(u, h)| format!("{u}:{h}\n"))
            .collect()
    }

    /// Writes the file (through a temporary file renamed over it, so a crash never leaves
    /// half a file).
    ///
    /// # Errors
    /// [`AuthFileError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), AuthFileError> {
        replace_file(path, &self.to_text())
    }
}

/// Replaces the file at `path` with `text`, through `<path>.tmp` renamed over it, so a crash
/// never leaves half a file (the password, SCRAM and ACL files' writers).
///
/// # Errors
/// [`AuthFileError::Io`] naming `path`.
pub fn replace_file(path: &Path, text: &str) -> Result<(), AuthFileError> {
    let io = |error| AuthFileError::Io {
        path: path.to_owned(),
        error,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The [`Authenticator`] of a password file (see the module notes on blocking).
pub struct PasswordAuth {
    users: BTreeMap<String, String>,
    allow_anonymous: bool,
    /// Verified for unknown users, so they cost what known ones do.
    dummy: String,
}

impl fmt::Debug for PasswordAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordAuth")
            .field("users", &self.users.len())
            .field("allow_anonymous", &self.allow_anonymous)
            .finish()
    }
}

impl PasswordAuth {
    /// Authenticates against `file`; clients without a user name only if `allow_anonymous`.
    pub fn new(file: PasswordFile, allow_anonymous: bool) -> Self {
        PasswordAuth {
            users: file.entries.into_iter().collect(),
            allow_anonymous,
            dummy: hash_password(b"not a password of anyone"),
        }
    }

    fn verify(&self, user: &str, password: &[u8]) -> bool {
        let (phc, known) = match self.users.get(user) {
            Some(p) => (p.as_str(), true),
            None => (self.dummy.as_str(), false),
        };
        let ok = PasswordHash::new(phc)
            .is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok());
        ok && known
    }
}

impl PasswordAuth {
    /// Judges a CONNECT without an Authentication Method.
    fn judge(&self, req: &AuthRequest<'_>) -> AuthDecision {
        match req.username {
            // 0x87 Not authorized / 3.1.1 return code 5: a user name is required.
            None if !self.allow_anonymous => AuthDecision::Deny(ReasonCode::NotAuthorized),
            None => AuthDecision::Allow(None),
            Some(user) => {
                if self.verify(user, req.password.unwrap_or_default()) {
                    AuthDecision::Allow(None)
                } else {
                    // 0x86 Bad User Name or Password / 3.1.1 return code 4.
                    AuthDecision::Deny(ReasonCode::BadUserNameOrPassword)
                }
            }
        }
    }
}

/// Access of one ACL rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleAccess {
    Read,
    Write,
    ReadWrite,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    access: RuleAccess,
    filter: String,
}

/// An ACL file (Mosquitto's format; see the module notes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    /// `topic` rules before any `user` line: clients without a user name.
    anonymous: Vec<Rule>,
    /// `topic` rules after `user NAME`.
    users: BTreeMap<String, Vec<Rule>>,
    /// `pattern` rules, for every client.
    patterns: Vec<Rule>,
}

impl Acl {
    /// Reads and checks an ACL file.
    ///
    /// # Errors
    /// [`AuthFileError`] naming the file and line.
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        Self::parse(&read(path)?, path)
    }

    /// Parses ACL text; `path` is only used in errors.
    ///
    /// # Errors
    /// [`AuthFileError::Line`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, AuthFileError> {
        let mut acl = Acl::default();
        let mut user: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| AuthFileError::Line {
                path: path.to_owned(),
                line: i + 1,
                message,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(k, r)| (k, r.trim()));
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(err("`user` needs a user name".into()));
                    }
                    acl.users.entry(rest.to_owned()).or_default();
                    user = Some(rest.to_owned());
                }
                "topic" | "pattern" => {
                    let (access, filter) = match rest.split_once(char::is_whitespace) {
                        Some((a, f)) => match a {
                            "read" => (RuleAccess::Read, f.trim()),
                            "write" => (RuleAccess::Write, f.trim()),
                            "readwrite" => (RuleAccess::ReadWrite, f.trim()),
                            "deny" => (RuleAccess::Deny, f.trim()),
                            _ => (RuleAccess::ReadWrite, rest),
                        },
                        None => (RuleAccess::ReadWrite, rest),
                    };
                    if filter.is_empty() {
                        return Err(err(format!("`{keyword}` needs a topic filter")));
                    }
                    let probe = filter.replace("%u", "u").replace("%c", "c");
                    if let Err(e) = topic::validate_topic_filter(&probe) {
                        return Err(err(format!("topic filter `{filter}`: {e:?}")));
                    }
                    let rule = Rule {
                        access,
                        filter: filter.to_owned(),
                    };
                    match (keyword, &user) {
                        ("pattern", _) => acl.patterns.push(rule),
                        (_, Some(u)) => acl.users.entry(u.clone()).or_default().push(rule),
                        (_, None) => acl.anonymous.push(rule),
                    }
                }
                other => {
                    return Err(err(format!(
                        "unknown keyword `{other}` (user, topic or pattern)"
                    )))
                }
            }
        }
        Ok(acl)
    }
}

/// `%u` and `%c` replaced, or `None` if a replacement is absent or could widen the filter.
fn substitute(filter: &str, who: &Subject<'_>) -> Option<String> {
    let safe = |s: &str| !s.is_empty() && !s.contains(['+', '#', '/']);
    let mut out = filter.to_owned();
    if out.contains("%u") {
        let u = who.username.filter(|u| safe(u))?;
        out = out.replace("%u", u);
    }
    if out.contains("%c") {
        if !safe(who.client_id) {
            return None;
        }
        out = out.replace("%c", who.client_id);
    }
    Some(out)
}

/// Whether every topic `filter` matches is matched by `rule` (both valid filters).
fn covers(rule: &str, filter: &str) -> bool {
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    let mut first = true;
    loop {
        match (r.next(), f.next()) {
            (Some("#"), Some(fl)) => {
                // [MQTT-4.7.2-1] (5.0 and 3.1.1): a leading wildcard does not match `$` topics.
                return !(first && fl.starts_with('$'));
            }
            (Some("#"), None) => return true, // `a/#` also matches `a`
            (Some("+"), Some(fl)) => {
                if fl == "#" || (first && fl.starts_with('$')) {
                    return false;
                }
            }
            (Some(rl), Some(fl)) => {
                if rl != fl {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
        first = false;
    }
}

impl Authorizer for Acl {
    fn authorize(&self, who: &Subject<'_>, topic_or_filter: &str, access: Access) -> bool {
        let fixed = match who.username {
            Some(u) => self.users.get(u).map_or(&[][..], Vec::as_slice),
            None => &self.anonymous,
        };
        let check = |rule_filter: &str| match access {
            Access::Subscribe => covers(rule_filter, topic_or_filter),
            Access::Read | Access::Write => topic::matches(rule_filter, topic_or_filter),
        };
        let grants = |a: RuleAccess| match access {
            Access::Read | Access::Subscribe => {
                matches!(a, RuleAccess::Read | RuleAccess::ReadWrite)
            }
            Access::Write => matches!(a, RuleAccess::Write | RuleAccess::ReadWrite),
        };
        let mut allowed = false;
        let rules = fixed
            .iter()
            .map(|r| Some((r.access, std::borrow::Cow::Borrowed(r.filter.as_str()))))
            .chain(self.patterns.iter().map(|r| {
                substitute(&r.filter, who).map(|f| (r.access, std::borrow::Cow::Owned(f)))
            }));
        for (a, filter) in rules.flatten() {
            if !check(&filter) {
                continue;
            }
            if a == RuleAccess::Deny {
                return false;
            }
            allowed |= grants(a);
        }
        allowed
    }
}

/// The broker's [`Authenticator`]: a CONNECT without an Authentication Method goes to the
/// password file (or, without one, `allow_anonymous` decides, as Mosquitto does: a User Name
/// is then taken as given); `SCRAM-SHA-256` goes to the SCRAM file
/// ([`crate::scram::ScramAuth`]), `JWT` to the keys file ([`crate::jwt::JwtAuth`]); any other
/// method gets 0x8C Bad authentication method
/// ([MQTT-4.12.0-1] (5.0)).
#[derive(Debug)]
pub struct BrokerAuth {
    passwords: Option<PasswordAuth>,
    scram: Option<ScramAuth>,
    jwt: Option<JwtAuth>,
    allow_anonymous: bool,
    /// Refusals so far, read by the driver's per-address login limit.
    failures: Arc<AtomicU64>,
}

impl BrokerAuth {
    fn count(&self, d: AuthDecision) -> AuthDecision {
        if matches!(d, AuthDecision::Deny(_)) {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        d
    }
}

impl Authenticator for BrokerAuth {
    fn authenticate(&mut self, req: &AuthRequest<'_>) -> AuthDecision {
        let d = self.decide(req);
        self.count(d)
    }

    fn continue_auth(
        &mut self,
        who: &Subject<'_>,
        method: &str,
        data: Option<&[u8]>,
    ) -> AuthDecision {
        let d = self.decide_more(who, method, data);
        self.count(d)
    }
}

impl BrokerAuth {
    fn decide(&mut self, req: &AuthRequest<'_>) -> AuthDecision {
        match (req.method, &mut self.scram, &self.passwords) {
            (Some(scram::METHOD), Some(s), _) => s.step(req.username, req.data),
            (Some(jwt::METHOD), _, _) if self.jwt.is_some() => match &self.jwt {
                Some(j) => j.check(req.username, req.data),
                None => AuthDecision::Deny(ReasonCode::BadAuthenticationMethod),
            },
            (Some(_), _, _) => AuthDecision::Deny(ReasonCode::BadAuthenticationMethod),
            (None, _, Some(p)) => p.judge(req),
            (None, _, None) if self.allow_anonymous => AuthDecision::Allow(None),
            // Only SCRAM is configured: 0x87 Not authorized / 3.1.1 return code 5.
            (None, _, None) => AuthDecision::Deny(ReasonCode::NotAuthorized),
        }
    }

    fn decide_more(
        &mut self,
        who: &Subject<'_>,
        method: &str,
        data: Option<&[u8]>,
    ) -> AuthDecision {
        match (&mut self.scram, &self.jwt) {
            (Some(s), _) if method == scram::METHOD => s.continue_auth(who, data),
            // A re-authentication (AUTH 0x19) with a fresh token.
            (_, Some(j)) if method == jwt::METHOD => j.check(who.username, data),
            _ => AuthDecision::Deny(ReasonCode::NotAuthorized),
        }
    }
}

/// What the configuration's `password_file`, `acl_file`, `scram_file` and `allow_anonymous`
/// load into: checked at startup, so a file that fails to load stops the broker before it
/// listens.
#[derive(Debug, Default)]
pub struct AuthSetup {
    passwords: Option<PasswordAuth>,
    scram: Option<ScramAuth>,
    jwt: Option<JwtAuth>,
    failures: Arc<AtomicU64>,
    allow_anonymous: bool,
    acl: Option<Acl>,
}

impl AuthSetup {
    /// Loads the files `config` names.
    ///
    /// # Errors
    /// [`AuthFileError`] naming the file and line.
    pub fn load(config: &BrokerConfig) -> Result<Self, AuthFileError> {
        let allow_anonymous = config.allow_anonymous.unwrap_or(!config.authenticates());
        let passwords = match &config.password_file {
            Some(path) => Some(PasswordAuth::new(
                PasswordFile::load(path)?,
                allow_anonymous,
            )),
            None => None,
        };
        let scram = match &config.scram_file {
            Some(path) => {
                Some(ScramAuth::new(ScramFile::load(path)?).map_err(AuthFileError::Random)?)
            }
            None => None,
        };
        let acl = match &config.acl_file {
            Some(path) => Some(Acl::load(path)?),
            None => None,
        };
        let jwt = match &config.jwt {
            Some(j) => Some(JwtAuth::load(j)?),
            None => None,
        };
        Ok(AuthSetup {
            passwords,
            scram,
            jwt,
            failures: Arc::default(),
            allow_anonymous,
            acl,
        })
    }

    /// The count of refused authentications (wrong passwords, SCRAM proofs, tokens, missing
    /// credentials) the engine's authenticator will keep; `None` without authentication.
    pub fn failures(&self) -> Option<Arc<AtomicU64>> {
        (self.passwords.is_some() || self.scram.is_some() || self.jwt.is_some())
            .then(|| self.failures.clone())
    }

    /// The engine over in-memory storage, with these checks.
    pub fn engine(self, config: Config) -> Broker {
        self.engine_with(config, Default::default())
    }

    /// The engine over `store`, with these checks.
    pub fn engine_with<S: Storage>(self, config: Config, store: S) -> Broker<S> {
        let auth: Box<dyn Authenticator + Send> = match (self.passwords, self.scram, self.jwt) {
            (None, None, None) => Box::new(NoAuth),
            (passwords, scram, jwt) => Box::new(BrokerAuth {
                passwords,
                scram,
                jwt,
                failures: self.failures,
                allow_anonymous: self.allow_anonymous,
            }),
        };
        let mut engine = Broker::with_parts(config, store, auth);
        if let Some(acl) = self.acl {
            engine.set_authorizer(Box::new(acl));
        }
        engine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who<'a>(user: Option<&'a str>, client: &'a str) -> Subject<'a> {
        Subject {
            client_id: client,
            username: user,
        }
    }

    #[test]
    fn covers_is_inclusion() {
        assert!(covers("#", "a/b"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/+/c"));
        assert!(covers("a/+", "a/+"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/b", "a/+"));
        assert!(!covers("#", "$SYS/x"));
        assert!(!covers("+/x", "$SYS/x"));
        assert!(covers("$SYS/#", "$SYS/x"));
        assert!(!covers("a/b", "a/b/c"));
    }

    #[test]
    fn acl_rules() {
        let acl = Acl::parse(
            "# c\ntopic read public/#\nuser alice\ntopic alice/#\ntopic deny alice/secret/#\n\
             pattern readwrite users/%u/#\npattern write clients/%c\n",
            Path::new("acl"),
        )
        .unwrap();
        let anon = who(None, "x");
        let alice = who(Some("alice"), "c1");
        assert!(acl.authorize(&anon, "public/a", Access::Read));
        assert!(!acl.authorize(&anon, "public/a", Access::Write));
        assert!(!acl.authorize(&alice, "public/a", Access::Read));
        assert!(acl.authorize(&alice, "alice/x", Access::Write));
        assert!(!acl.authorize(&alice, "alice/secret/x", Access::Read));
        assert!(acl.authorize(&alice, "alice/#", Access::Subscribe));
        assert!(!acl.authorize(&alice, "alice/secret/#", Access::Subscribe));
        assert!(acl.authorize(&alice, "users/alice/a", Access::Write));
        assert!(!acl.authorize(&alice, "users/bob/a", Access::Write));
        assert!(acl.authorize(&alice, "clients/c1", Access::Write));
        assert!(!acl.authorize(&alice, "clients/c1", Access::Read));
        // %u never widens: wildcards or `/` in the user name.
        for bad in ["+", "#", "bob/x", "a+b"] {
            let w = who(Some(bad), "c");
            assert!(!acl.authorize(&w, "users/bob/x/a", Access::Write), "{bad}");
            assert!(!acl.authorize(&w, "users/+/a", Access::Subscribe), "{bad}");
            assert!(!acl.authorize(&w, "users/#", Access::Subscribe), "{bad}");
        }
        assert!(!acl.authorize(&who(Some("a"), "+"), "clients/x", Access::Write));
    }

    #[test]
    fn malformed_files_name_the_line() {
        let e = Acl::parse("topic read a\nfoo bar\n", Path::new("x.acl")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.acl:2: unknown keyword `foo` (user, topic or pattern)"
        );
        let e = Acl::parse("user\n", Path::new("x.acl")).unwrap_err();
        assert!(e.to_string().starts_with("x.acl:1:"), "{e}");
        let e = Acl::parse("topic read a/#/b\n", Path::new("x.acl")).unwrap_err();
        assert!(e.to_string().starts_with("x.acl:1: topic filter"), "{e}");
        let e = PasswordFile::parse("# c\nalice\n", Path::new("p"), true).unwrap_err();
        assert_eq!(e.to_string(), "p:2: expected `user:password-hash`");
        let e = PasswordFile::parse("alice:plain\n", Path::new("p"), true).unwrap_err();
        assert!(
            e.to_string().starts_with("p:1: user `alice`: not a PHC"),
            "{e}"
        );
        let heavy = "a:$argon2id$v=19$m=1000000,t=9,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let e = PasswordFile::parse(heavy, Path::new("p"), true).unwrap_err();
        assert!(e.to_string().contains("cost more"), "{e}");
    }

    #[test]
    fn passwords_verify() {
        let mut f = PasswordFile::default();
        f.set("alice", b"secret");
        let text = f.to_text();
        let f = PasswordFile::parse(&text, Path::new("p"), true).unwrap();
        let mut auth = BrokerAuth {
            passwords: Some(PasswordAuth::new(f, false)),
            scram: None,
            jwt: None,
            failures: Arc::default(),
            allow_anonymous: false,
        };
        let req = |u: Option<&'static str>, p: &'static [u8]| AuthRequest {
            client_id: "c",
            username: u,
            password: Some(p),
            method: None,
            data: None,
        };
        assert_eq!(
            auth.authenticate(&req(Some("alice"), b"secret")),
            AuthDecision::Allow(None)
        );
        assert_eq!(
            auth.authenticate(&req(Some("alice"), b"wrong")),
            AuthDecision::Deny(ReasonCode::BadUserNameOrPassword)
        );
        assert_eq!(
            auth.authenticate(&req(Some("bob"), b"secret")),
            AuthDecision::Deny(ReasonCode::BadUserNameOrPassword)
        );
        assert_eq!(
            auth.authenticate(&req(None, b"")),
            AuthDecision::Deny(ReasonCode::NotAuthorized)
        );
    }

    #[test]
    fn methods_are_dispatched() {
        let scram = ScramFile::parse(
            "user:W22ZaJ0SNY7soEsUEjb6gQ==:4096:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:\
             wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
            Path::new("s"),
        )
        .unwrap();
        let req = |method: Option<&'static str>, username: Option<&'static str>| AuthRequest {
            client_id: "c",
            username,
            password: None,
            method,
            data: Some(b"n,,n=user,r=abc"),
        };
        for anonymous in [false, true] {
            let mut auth = BrokerAuth {
                passwords: None,
                scram: Some(ScramAuth::new(scram.clone()).unwrap()),
                jwt: None,
                failures: Arc::default(),
                allow_anonymous: anonymous,
            };
            assert!(matches!(
                auth.authenticate(&req(Some("SCRAM-SHA-256"), None)),
                AuthDecision::Continue(_)
            ));
            // [MQTT-4.12.0-1]: any other method, 0x8C.
            assert_eq!(
                auth.authenticate(&req(Some("SCRAM-SHA-1"), None)),
                AuthDecision::Deny(ReasonCode::BadAuthenticationMethod)
            );
            // Without a method and without a password file, `allow_anonymous` decides.
            let plain = auth.authenticate(&req(None, Some("user")));
            if anonymous {
                assert_eq!(plain, AuthDecision::Allow(None));
            } else {
                assert_eq!(plain, AuthDecision::Deny(ReasonCode::NotAuthorized));
            }
            // An AUTH for another method than SCRAM's never continues anything.
            let who = Subject {
                client_id: "c",
                username: None,
            };
            assert_eq!(
                auth.continue_auth(&who, "OTHER", Some(b"x")),
                AuthDecision::Deny(ReasonCode::NotAuthorized)
            );
        }
        // A password file alone knows no method.
        let mut auth = BrokerAuth {
            passwords: Some(PasswordAuth::new(PasswordFile::default(), true)),
            scram: None,
            jwt: None,
            failures: Arc::default(),
            allow_anonymous: true,
        };
        assert_eq!(
            auth.authenticate(&req(Some("SCRAM-SHA-256"), None)),
            AuthDecision::Deny(ReasonCode::BadAuthenticationMethod)
        );
    }
}
