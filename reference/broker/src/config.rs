//! [`BrokerConfig`]: the broker's TOML configuration, and [`ConfigError`], which names the file,
//! line and field of a mistake.
//!
//! The file is flat: the driver's own keys (`listen`, `cert`, `key`, `cafile`,
//! `require_certificate`, `shutdown_grace_secs`, `write_timeout_ms`, `password_file`,
//! `acl_file`, `scram_file`, `allow_anonymous`, `storage`, `storage_dir`, `fsync`, `fsync_interval_ms`) beside every field of the
//! engine's [`Config`], which is defined once, in the core, and deserialized from the same text. Every key is optional and defaults to
//! [`BrokerConfig::default`] / [`Config::default`]; unknown keys are errors, so a typo never
//! silently leaves a default in place.
//!
//! `listen` is one listener or a list of them, each `mqtt://HOST:PORT` (TCP), `mqtts://HOST:PORT`
//! (TLS, with `cert` and `key`), `ws://HOST:PORT/PATH` (WebSocket; path `/` when none),
//! `wss://HOST:PORT/PATH` (WebSocket over TLS, with `cert` and `key`), `quic://HOST:PORT` (QUIC
//! over UDP, with `cert` and `key`; one bidirectional stream per connection, ALPN `mqtt`) or a
//! bare `HOST:PORT` (TCP). Every TLS listener (`mqtts://`, `wss://`, `quic://`) uses the same
//! `cert`, `key` and `cafile`, unless its URL ends in `?cert=FILE&key=FILE` (a certificate and
//! key of its own; `cafile` still applies).
//!
//! ```toml
//! listen = ["mqtt://0.0.0.0:1883", "mqtts://0.0.0.0:8883", "ws://0.0.0.0:8080/mqtt",
//!           "wss://0.0.0.0:8443/mqtt", "quic://0.0.0.0:14567"]
//! cert = "server.pem"            # chain, leaf first
//! key = "server.key"
//! cafile = "ca.pem"              # verify client certificates against it
//! require_certificate = true     # and refuse clients without one (mTLS)
//! max_connections = 1000
//! max_packet_size = 65536
//! server_keep_alive = 60
//! queue_overflow = "discard-session"
//! password_file = "passwd"       # `mqttref passwd passwd alice`; anonymous refused by default
//! acl_file = "acl"               # Mosquitto's format; default deny
//! scram_file = "scram"           # `mqttref scram add scram alice`: SCRAM-SHA-256 (5.0)
//!
//! [redirect]
//! reference = "other.example:1883"
//! permanent = false
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mqttref_core::broker::Config;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1883";

/// The transport of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// MQTT over TCP: `mqtt://` or a bare address.
    Mqtt,
    /// MQTT over TLS over TCP: `mqtts://`.
    Mqtts,
    /// MQTT over WebSocket over TCP: `ws://` (the HTTP path is the [`Endpoint`]'s).
    Ws,
    /// MQTT over WebSocket over TLS over TCP: `wss://` (the HTTP path is the [`Endpoint`]'s).
    Wss,
    /// MQTT over one bidirectional stream of a QUIC connection (TLS 1.3 inside, ALPN `mqtt`)
    /// over UDP: `quic://`.
    Quic,
}

impl Transport {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Mqtt => "mqtt",
            Transport::Mqtts => "mqtts",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
            Transport::Quic => "quic",
        }
    }

    /// Whether the listener speaks TLS (`mqtts://`, `wss://`, and `quic://`, whose TLS is
    /// inside QUIC), and so needs `cert` and `key`.
    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Mqtts | Transport::Wss | Transport::Quic)
    }

    /// Whether the listener speaks WebSocket (`ws://`, `wss://`), and so has an HTTP path.
    pub fn is_ws(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }
}

/// One listener: a transport, a socket address, for `ws://` and `wss://` an HTTP path and, for
/// a TLS listener, optionally a certificate and key of its own (`?cert=FILE&key=FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// TCP, TLS, WebSocket or QUIC.
    pub transport: Transport,
    /// Where to bind (port 0: any free port).
    pub addr: SocketAddr,
    /// The HTTP path a `ws://` or `wss://` listener serves (`/` when the URL has none); `None`
    /// for the others.
    pub path: Option<String>,
    /// This listener's own certificate chain and key (PEM), instead of the configuration's
    /// `cert` and `key` (its `cafile` and `require_certificate` still apply). TLS listeners
    /// only.
    pub cert_key: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.transport.scheme(), self.addr)?;
        if let Some(path) = &self.path {
            f.write_str(path)?;
        }
        match &self.cert_key {
            Some((cert, key)) => write!(f, "?cert={}&key={}", cert.display(), key.display()),
            None => Ok(()),
        }
    }
}

/// `cert=FILE&key=FILE` of a listener URL: both or neither.
fn cert_key(s: &str, query: &str) -> Result<(PathBuf, PathBuf), String> {
    let (mut cert, mut key) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("cert", v)) if !v.is_empty() => cert = Some(PathBuf::from(v)),
            Some(("key", v)) if !v.is_empty() => key = Some(PathBuf::from(v)),
            _ => {
                return Err(format!(
                    "`{s}`: `{pair}` is not a listener option (cert=FILE and key=FILE are)"
                ))
            }
        }
    }
    match (cert, key) {
        (Some(cert), Some(key)) => Ok((cert, key)),
        _ => Err(format!(
            "`{s}`: a listener's own certificate needs both cert=FILE and key=FILE"
        )),
    }
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    /// `mqtt://HOST:PORT`, `mqtts://HOST:PORT`, `ws://HOST:PORT/PATH`, `wss://HOST:PORT/PATH`,
    /// `quic://HOST:PORT` (UDP) or a bare `HOST:PORT` (TCP); HOST is an IP address (`[::1]` for IPv6).
    /// A TLS listener may end in `?cert=FILE&key=FILE`: a certificate and key of its own.
    fn from_str(s: &str) -> Result<Self, String> {
        let (url, cert_key) = match s.split_once('?') {
            Some((url, query)) => (url, Some(cert_key(s, query)?)),
            None => (s, None),
        };
        let (transport, rest) = match url.split_once("://") {
            None => (Transport::Mqtt, url),
            Some(("mqtt" | "tcp", rest)) => (Transport::Mqtt, rest),
            Some(("mqtts" | "ssl" | "tls", rest)) => (Transport::Mqtts, rest),
            Some(("ws", rest)) => (Transport::Ws, rest),
            Some(("wss", rest)) => (Transport::Wss, rest),
            Some(("quic", rest)) => (Transport::Quic, rest),
            Some((scheme, _)) => {
                return Err(format!(
                    "`{s}`: unsupported scheme `{scheme}://` (mqtt://, mqtts://, ws://, wss:// or quic://)"
                ))
            }
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let path = match transport {
            t if t.is_ws() && path.is_empty() => Some("/".to_owned()),
            t if t.is_ws() => Some(path.to_owned()),
            _ if path.is_empty() || path == "/" => None,
            _ => return Err(format!("`{s}`: only a ws:// or wss:// listener has a path")),
        };
        let addr = host.parse().map_err(|_| {
            format!("`{s}`: not a listener like mqtt://127.0.0.1:1883, mqtts://0.0.0.0:8883, ws://127.0.0.1:8080/mqtt, quic://127.0.0.1:14567 or 127.0.0.1:1883")
        })?;
        if cert_key.is_some() && !transport.is_tls() {
            return Err(format!(
                "`{s}`: only a TLS listener (mqtts://, wss://, quic://) takes cert and key"
            ));
        }
        Ok(Endpoint {
            transport,
            addr,
            path,
            cert_key,
        })
    }
}

/// The broker's configuration: the driver's settings and the engine's [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Listeners, each a URL as [`Endpoint`] parses it (`mqtt://`, `mqtts://`, `ws://`, `wss://` or a bare
    /// `HOST:PORT`); see [`BrokerConfig::endpoints`]. At least one.
    pub listen: Vec<String>,
    /// The server certificate chain (PEM) of `mqtts://` listeners.
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates on `mqtts://` listeners are verified
    /// against; without it clients are not asked for one.
    pub cafile: Option<PathBuf>,
    /// Refuse `mqtts://` clients that present no certificate verified by `cafile` (mTLS).
    pub require_certificate: bool,
    /// Seconds to wait, on shutdown, for connections to flush before giving up.
    pub shutdown_grace_secs: u64,
    /// How long a write to a connection may make no progress before the connection is
    /// closed, when it has no keep alive (or no CONNACK yet); with keep alive K it is 1.5 × K.
    pub write_timeout_ms: u64,
    /// Connections from one IP address that have not completed CONNECT; a new one past it
    /// closes the oldest from that address (the engine's `max_awaiting_connect` caps them all).
    pub max_awaiting_connect_per_address: usize,
    /// Refused authentications from one IP address, within `login_failure_window_secs` of
    /// its first, after which its new connections are closed on arrival until the window
    /// ends (0: no limit). Only with a password, SCRAM or JWT file.
    pub max_login_failures_per_address: u32,
    /// The window of `max_login_failures_per_address`, seconds.
    pub login_failure_window_secs: u64,
    /// Password file (`user:argon2id-PHC` lines, see [`crate::auth`]); with it, clients
    /// authenticate with User Name and Password.
    pub password_file: Option<PathBuf>,
    /// ACL file (Mosquitto's format, see [`crate::auth`]); with it, what no rule allows is
    /// denied.
    pub acl_file: Option<PathBuf>,
    /// SCRAM-SHA-256 credentials file (see [`crate::scram`]); with it, 5.0 clients can
    /// authenticate with the Authentication Method `SCRAM-SHA-256`.
    pub scram_file: Option<PathBuf>,
    /// JWT authentication (`jwt_keys`, `jwt_issuer`, `jwt_audience`; see [`crate::jwt`]):
    /// 5.0 clients authenticate with the Authentication Method `JWT`.
    pub jwt: Option<crate::jwt::JwtConfig>,
    /// Whether clients without a User Name (and without an Authentication Method) may
    /// connect; unset: false with a password or SCRAM file, true without either.
    pub allow_anonymous: Option<bool>,
    /// Where sessions and retained messages live: `"memory"` (lost on restart) or `"file"`
    /// (in `storage_dir`, see [`crate::store`]).
    pub storage: StorageKind,
    /// Directory of the file store (needed by, and only allowed with, `storage = "file"`).
    pub storage_dir: Option<PathBuf>,
    /// When the file store syncs: `"always"` (before every batch's acknowledgements leave),
    /// `"interval"` (at most every `fsync_interval_ms`), `"never"`.
    pub fsync: FsyncMode,
    /// The `interval` policy's period.
    pub fsync_interval_ms: u64,
    /// Bridges to remote brokers (`[[bridge]]` tables; see [`crate::bridge`]).
    pub bridges: Vec<crate::bridge::BridgeConfig>,
    /// Every limit and policy of the engine.
    pub engine: Config,
}

/// The `storage` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// In memory: everything is lost when the process ends.
    #[default]
    Memory,
    /// An append-only log in `storage_dir` ([`crate::store::FileStorage`]).
    File,
}

/// The `fsync` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// Sync every batch before its acknowledgements leave.
    #[default]
    Always,
    /// Sync at most every `fsync_interval_ms`.
    Interval,
    /// Never sync (the OS writes when it likes).
    Never,
}

/// The driver's keys of the file (the rest are the engine's).
#[derive(Deserialize)]
#[serde(default)]
struct DriverKeys {
    #[serde(deserialize_with = "one_or_many")]
    listen: Vec<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    cafile: Option<PathBuf>,
    require_certificate: bool,
    shutdown_grace_secs: u64,
    write_timeout_ms: u64,
    max_awaiting_connect_per_address: usize,
    max_login_failures_per_address: u32,
    login_failure_window_secs: u64,
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
    scram_file: Option<PathBuf>,
    jwt_keys: Option<PathBuf>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    allow_anonymous: Option<bool>,
    storage: StorageKind,
    storage_dir: Option<PathBuf>,
    fsync: FsyncMode,
    fsync_interval_ms: u64,
    bridge: Vec<crate::bridge::BridgeConfig>,
}

impl Default for DriverKeys {
    fn default() -> Self {
        let b = BrokerConfig::default();
        DriverKeys {
            listen: b.listen,
            cert: b.cert,
            key: b.key,
            cafile: b.cafile,
            require_certificate: b.require_certificate,
            shutdown_grace_secs: b.shutdown_grace_secs,
            write_timeout_ms: b.write_timeout_ms,
            max_awaiting_connect_per_address: b.max_awaiting_connect_per_address,
            max_login_failures_per_address: b.max_login_failures_per_address,
            login_failure_window_secs: b.login_failure_window_secs,
            password_file: b.password_file,
            acl_file: b.acl_file,
            scram_file: b.scram_file,
            jwt_keys: b.jwt.as_ref().map(|j| j.keys.clone()),
            jwt_issuer: b.jwt.as_ref().and_then(|j| j.issuer.clone()),
            jwt_audience: b.jwt.as_ref().and_then(|j| j.audience.clone()),
            allow_anonymous: b.allow_anonymous,
            storage: b.storage,
            storage_dir: b.storage_dir,
            fsync: b.fsync,
            fsync_interval_ms: b.fsync_interval_ms,
            bridge: b.bridges,
        }
    }
}

impl BrokerConfig {
    /// Whether a password or SCRAM file is configured, which makes `allow_anonymous`
    /// default to false.
    pub fn authenticates(&self) -> bool {
        self.password_file.is_some() || self.scram_file.is_some() || self.jwt.is_some()
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: vec![DEFAULT_LISTEN.to_owned()],
            cert: None,
            key: None,
            cafile: None,
            require_certificate: false,
            shutdown_grace_secs: 5,
            write_timeout_ms: 30_000,
            max_awaiting_connect_per_address: 128,
            max_login_failures_per_address: 10,
            login_failure_window_secs: 60,
            password_file: None,
            acl_file: None,
            scram_file: None,
            jwt: None,
            allow_anonymous: None,
            storage: StorageKind::Memory,
            storage_dir: None,
            fsync: FsyncMode::Always,
            fsync_interval_ms: 1000,
            bridges: Vec::new(),
            engine: Config::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why (not a `source`: the message already says it, and error reporters would
        /// print it twice).
        error: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the mistake.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A value is out of its range.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file (or `<config>` when not from a file).
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A `[[bridge]]` table is not usable (names the bridge and its field).
    #[error("{path}: {error}")]
    Bridge {
        /// The file (or `<config>`).
        path: PathBuf,
        /// What is wrong with which bridge (not a `source`, as in `Io`: printed once).
        error: crate::bridge::BridgeError,
    },
}

impl BrokerConfig {
    /// Reads and checks a TOML file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, and the line and field where it can.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_owned(),
            error,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and checks TOML text; `path` is only used in errors.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parse_error = |e: toml::de::Error| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        };
        // Both halves read the same text (so a wrong value is reported at its own line);
        // neither denies unknown keys, so the keys are checked here against both.
        let keys: BTreeMap<toml::Spanned<String>, IgnoredAny> =
            toml::from_str(text).map_err(parse_error)?;
        let known = [field_names::<DriverKeys>(), field_names::<Config>()];
        for key in keys.keys() {
            if !known
                .iter()
                .any(|names| names.contains(&key.get_ref().as_str()))
            {
                let (line, column) = line_col(text, key.span().start);
                return Err(ConfigError::Parse {
                    path: path.to_owned(),
                    line,
                    column,
                    message: format!("unknown field `{}`", key.get_ref()),
                });
            }
        }
        let driver: DriverKeys = toml::from_str(text).map_err(parse_error)?;
        let engine: Config = toml::from_str(text).map_err(parse_error)?;
        if driver.jwt_keys.is_none() {
            // An issuer or audience with no keys would be silently ignored.
            for (field, set) in [
                ("jwt_issuer", driver.jwt_issuer.is_some()),
                ("jwt_audience", driver.jwt_audience.is_some()),
            ] {
                if set {
                    return Err(ConfigError::Invalid {
                        path: path.to_owned(),
                        field,
                        message: "needs jwt_keys".to_owned(),
                    });
                }
            }
        }
        let config = BrokerConfig {
            listen: driver.listen,
            cert: driver.cert,
            key: driver.key,
            cafile: driver.cafile,
            require_certificate: driver.require_certificate,
            shutdown_grace_secs: driver.shutdown_grace_secs,
            write_timeout_ms: driver.write_timeout_ms,
            max_awaiting_connect_per_address: driver.max_awaiting_connect_per_address,
            max_login_failures_per_address: driver.max_login_failures_per_address,
            login_failure_window_secs: driver.login_failure_window_secs,
            password_file: driver.password_file,
            acl_file: driver.acl_file,
            scram_file: driver.scram_file,
            jwt: driver.jwt_keys.map(|keys| crate::jwt::JwtConfig {
                keys,
                issuer: driver.jwt_issuer,
                audience: driver.jwt_audience,
            }),
            allow_anonymous: driver.allow_anonymous,
            storage: driver.storage,
            storage_dir: driver.storage_dir,
            fsync: driver.fsync,
            fsync_interval_ms: driver.fsync_interval_ms,
            bridges: driver.bridge,
            engine,
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Checks what [`from_toml`](Self::from_toml) checks, for a configuration built in code or
    /// changed by command-line flags; `path` is only used in errors (`<config>` will do).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message: message.to_owned(),
        };
        let endpoints = self.endpoints().map_err(|e| invalid("listen", &e))?;
        if let Some(e) = endpoints
            .iter()
            .find(|e| e.transport.is_tls() && e.cert_key.is_none())
        {
            let message = format!("the TLS listener {e} needs cert and key");
            if self.cert.is_none() {
                return Err(invalid("cert", &message));
            }
            if self.key.is_none() {
                return Err(invalid("key", &message));
            }
        }
        if self.allow_anonymous == Some(false)
            && self.password_file.is_none()
            && self.scram_file.is_none()
            && self.jwt.is_none()
        {
            return Err(invalid(
                "allow_anonymous",
                "false needs password_file, scram_file or jwt_keys (nobody could be authenticated)",
            ));
        }
        if self.require_certificate && self.cafile.is_none() {
            return Err(invalid(
                "require_certificate",
                "needs cafile (the CA that client certificates are checked against)",
            ));
        }
        match (self.storage, &self.storage_dir) {
            (StorageKind::File, None) => {
                return Err(invalid(
                    "storage_dir",
                    "storage = \"file\" needs storage_dir",
                ))
            }
            (StorageKind::Memory, Some(_)) => {
                return Err(invalid(
                    "storage_dir",
                    "only used with storage = \"file\" (memory storage keeps no files)",
                ))
            }
            _ => {}
        }
        if self.fsync == FsyncMode::Interval && self.fsync_interval_ms == 0 {
            return Err(invalid("fsync_interval_ms", "must be at least 1"));
        }
        let e = &self.engine;
        if e.maximum_qos > 2 {
            return Err(invalid("maximum_qos", "must be 0, 1 or 2"));
        }
        if e.receive_maximum == 0 {
            return Err(invalid("receive_maximum", "must be at least 1"));
        }
        if e.max_inflight == 0 {
            return Err(invalid("max_inflight", "must be at least 1"));
        }
        if e.max_packet_size < 16 {
            return Err(invalid("max_packet_size", "must be at least 16"));
        }
        if e.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        if e.max_queued_messages == 0 {
            return Err(invalid("max_queued_messages", "must be at least 1"));
        }
        if e.denied_topics
            .iter()
            .any(|t| mqttref_core::topic::validate_topic_filter(t).is_err())
        {
            return Err(invalid(
                "denied_topics",
                "every entry must be a valid topic filter",
            ));
        }
        if e.min_keep_alive > e.max_keep_alive {
            return Err(invalid("min_keep_alive", "greater than max_keep_alive"));
        }
        let bridges =
            crate::bridge::check_all(&self.bridges).map_err(|error| ConfigError::Bridge {
                path: path.to_owned(),
                error,
            })?;
        // The local side of a bridge is an ordinary client of this broker: where anonymous
        // clients are refused it needs credentials, or it could never connect.
        let anonymous = self.allow_anonymous.unwrap_or(!self.authenticates());
        if let Some(b) = bridges
            .iter()
            .find(|b| !anonymous && b.config.local_username.is_none())
        {
            return Err(ConfigError::Bridge {
                path: path.to_owned(),
                error: crate::bridge::BridgeError {
                    bridge: b.config.name.clone(),
                    field: "local_username".into(),
                    message: "anonymous clients are refused here, so the bridge's local session needs local_username and local_password".into(),
                },
            });
        }
        Ok(())
    }

    /// The listeners, parsed.
    ///
    /// # Errors
    /// The first entry that is not a listener URL, or an empty list.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, String> {
        if self.listen.is_empty() {
            return Err("at least one listener is needed".into());
        }
        self.listen.iter().map(|l| l.parse()).collect()
    }

    /// The file store's sync policy.
    pub fn fsync_policy(&self) -> crate::store::FsyncPolicy {
        match self.fsync {
            FsyncMode::Always => crate::store::FsyncPolicy::Always,
            FsyncMode::Interval => crate::store::FsyncPolicy::Interval(
                std::time::Duration::from_millis(self.fsync_interval_ms),
            ),
            FsyncMode::Never => crate::store::FsyncPolicy::Never,
        }
    }

    /// The TLS files of `endpoint`: its own certificate and key (`?cert=&key=`), else the
    /// configuration's, with the configuration's client verification either way; `None` when
    /// it has neither.
    pub fn tls_files_for(&self, endpoint: &Endpoint) -> Option<crate::tls::TlsFiles> {
        match &endpoint.cert_key {
            Some((cert, key)) => Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                cafile: self.cafile.clone(),
                require_certificate: self.require_certificate,
            }),
            None => self.tls_files(),
        }
    }

    /// The TLS files of the TLS listeners, if `cert` and `key` are set.
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.cert.clone()?,
            key: self.key.clone()?,
            cafile: self.cafile.clone(),
            require_certificate: self.require_certificate,
        })
    }

    /// The engine configuration, with the local sessions of the bridges exempt from the
    /// slow-subscriber cut (see [`crate::bridge`]).
    pub fn engine_config(&self) -> Config {
        let mut engine = self.engine.clone();
        for b in &self.bridges {
            let id = b.local_client_id();
            if !engine.slow_subscriber_exempt.contains(&id) {
                engine.slow_subscriber_exempt.push(id);
            }
        }
        engine
    }
}

/// `listen = "ADDR"` or `listen = ["ADDR", ...]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match OneOrMany::deserialize(d) {
        Ok(OneOrMany::One(s)) => Ok(vec![s]),
        Ok(OneOrMany::Many(v)) => Ok(v),
        Err(_) => Err(serde::de::Error::custom(
            "`listen` must be a string or an array of strings",
        )),
    }
}

/// The field names of a struct that derives `Deserialize`, as serde sees them: asked of a
/// deserializer that records them and stops.
fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl std::fmt::Display for Fields {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names")
        }
    }
    impl std::error::Error for Fields {}
    impl serde::de::Error for Fields {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Fields(&[])
        }
    }
    struct Names;
    impl<'de> serde::Deserializer<'de> for Names {
        type Error = Fields;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    match T::deserialize(Names) {
        Err(Fields(names)) => names,
        Ok(_) => &[],
    }
}

/// 1-based line and column of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = BrokerConfig::from_toml(
            "max_connections = 5\n[redirect]\nreference = \"x:1\"\n",
            Path::new("b.toml"),
        )
        .unwrap();
        assert_eq!(c.engine.max_connections, 5);
        assert_eq!(c.listen, vec![DEFAULT_LISTEN.to_owned()]);
        let e = c.engine_config();
        assert_eq!(
            e.redirect,
            Some(mqttref_core::broker::Redirect {
                reference: "x:1".into(),
                permanent: false
            })
        );
        assert_eq!(e.max_packet_size, Config::default().max_packet_size);
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let err = BrokerConfig::from_toml(
            "listen = \"127.0.0.1:1\"\nmax_conections = 5\n",
            Path::new("b.toml"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("b.toml:2:1: "), "{text}");
        assert!(text.contains("max_conections"), "{text}");
    }

    /// `storage = "file"` needs `storage_dir` and the reverse; `fsync` takes its three words.
    #[test]
    fn storage_keys() {
        let c = BrokerConfig::from_toml(
            "storage = \"file\"\nstorage_dir = \"/var/lib/m\"\nfsync = \"interval\"\nfsync_interval_ms = 50\n",
            Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(c.storage, StorageKind::File);
        assert_eq!(
            c.fsync_policy(),
            crate::store::FsyncPolicy::Interval(std::time::Duration::from_millis(50))
        );
        assert_eq!(BrokerConfig::default().fsync, FsyncMode::Always);
        for (text, field) in [
            ("storage = \"file\"\n", "`storage_dir`"),
            ("storage_dir = \"/x\"\n", "`storage_dir`"),
            (
                "fsync = \"interval\"\nfsync_interval_ms = 0\n",
                "`fsync_interval_ms`",
            ),
        ] {
            let err = BrokerConfig::from_toml(text, Path::new("s.toml")).unwrap_err();
            assert!(err.to_string().contains(field), "{text}: {err}");
        }
        let err =
            BrokerConfig::from_toml("\nfsync = \"sometimes\"\n", Path::new("s.toml")).unwrap_err();
        assert!(err.to_string().starts_with("s.toml:2:"), "{err}");
    }

    #[test]
    fn authentication_keys() {
        let c = BrokerConfig::from_toml(
            "scram_file = \"scram\"\njwt_keys = \"keys.json\"\njwt_issuer = \"https://i\"\n\
             max_login_failures_per_address = 5\nlogin_failure_window_secs = 30\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(c.scram_file.as_deref(), Some(Path::new("scram")));
        let jwt = c.jwt.as_ref().unwrap();
        assert_eq!(
            (
                jwt.keys.as_path(),
                jwt.issuer.as_deref(),
                jwt.audience.as_deref()
            ),
            (Path::new("keys.json"), Some("https://i"), None)
        );
        assert_eq!(
            (
                c.max_login_failures_per_address,
                c.login_failure_window_secs
            ),
            (5, 30)
        );
        // With an authentication file, anonymous clients are refused unless allowed.
        assert!(c.authenticates());
        let err = BrokerConfig::from_toml("jwt_audience = \"mqtt\"\n", Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("jwt_audience") && err.contains("needs jwt_keys"),
            "{err}"
        );
        let err = BrokerConfig::from_toml("allow_anonymous = false\n", Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("password_file, scram_file or jwt_keys"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_line() {
        let err = BrokerConfig::from_toml("\n\nmaximum_qos = \"two\"\n", Path::new("c.toml"))
            .unwrap_err();
        assert!(err.to_string().starts_with("c.toml:3:"), "{err}");
    }

    /// Every engine field is a key, with the engine's name; enums in kebab case; and a
    /// misspelt key in a table is still an error.
    #[test]
    fn engine_fields_and_enums() {
        let c = BrokerConfig::from_toml(
            "write_timeout_ms = 7\nqueue_overflow = \"drop-oldest\"\nslow_subscriber_timeout_ms = 0\n\
             dollar_publish = \"allow\"\nserver_keep_alive = 30\n",
            Path::new("e.toml"),
        )
        .unwrap();
        assert_eq!(c.write_timeout_ms, 7);
        assert_eq!(
            c.engine.queue_overflow,
            mqttref_core::broker::QueueOverflow::DropOldest
        );
        assert_eq!(c.engine.slow_subscriber_timeout_ms, 0);
        assert_eq!(
            c.engine.dollar_publish,
            mqttref_core::broker::DollarPublish::Allow
        );
        assert_eq!(c.engine.server_keep_alive, Some(30));
        let err = BrokerConfig::from_toml(
            "queue_overflow = \"drop-everything\"\n",
            Path::new("e.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("e.toml:1:"), "{err}");
        let err = BrokerConfig::from_toml(
            "\n[redirect]\nreference = \"x:1\"\npermanant = true\n",
            Path::new("e.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("permanant"), "{err}");
        assert!(err.to_string().starts_with("e.toml:4:"), "{err}");
    }

    /// `listen` is a string or a list; each entry a URL or a bare address; `mqtts://` needs
    /// `cert` and `key`, and `require_certificate` needs `cafile`.
    #[test]
    fn listeners_and_tls_keys() {
        let c = BrokerConfig::from_toml("listen = \"mqtt://127.0.0.1:1\"\n", Path::new("l.toml"))
            .unwrap();
        assert_eq!(c.listen, vec!["mqtt://127.0.0.1:1".to_owned()]);
        let c = BrokerConfig::from_toml(
            "listen = [\"127.0.0.1:1\", \"mqtts://[::1]:2\"]\ncert = \"s.pem\"\nkey = \"s.key\"\n\
             cafile = \"ca.pem\"\nrequire_certificate = true\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let e = c.endpoints().unwrap();
        assert_eq!(e[0].transport, Transport::Mqtt);
        assert_eq!(e[0].to_string(), "mqtt://127.0.0.1:1");
        assert_eq!(e[1].transport, Transport::Mqtts);
        assert_eq!(e[1].to_string(), "mqtts://[::1]:2");
        let files = c.tls_files().unwrap();
        assert_eq!(files.cafile.as_deref(), Some(Path::new("ca.pem")));
        assert!(files.require_certificate);

        let err =
            BrokerConfig::from_toml("listen = \"mqtts://127.0.0.1:1\"\n", Path::new("l.toml"))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "l.toml: field `cert`: the TLS listener mqtts://127.0.0.1:1 needs cert and key"
        );
        let err = BrokerConfig::from_toml("require_certificate = true\n", Path::new("l.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("`require_certificate`"), "{err}");
        let c =
            BrokerConfig::from_toml("listen = \"ws://127.0.0.1:1/mqtt\"\n", Path::new("l.toml"))
                .unwrap();
        let e = c.endpoints().unwrap();
        assert_eq!(e[0].transport, Transport::Ws);
        assert_eq!(e[0].to_string(), "ws://127.0.0.1:1/mqtt");
        let err = BrokerConfig::from_toml("listen = \"wss://127.0.0.1:1\"\n", Path::new("l.toml"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "l.toml: field `cert`: the TLS listener wss://127.0.0.1:1/ needs cert and key"
        );
        let c = BrokerConfig::from_toml(
            "listen = \"wss://127.0.0.1:1\"\ncert = \"s.pem\"\nkey = \"s.key\"\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let e = c.endpoints().unwrap();
        assert_eq!(e[0].transport, Transport::Wss);
        assert_eq!(e[0].path.as_deref(), Some("/"));
        assert_eq!(e[0].to_string(), "wss://127.0.0.1:1/");
        let err = BrokerConfig::from_toml("listen = \"quic://127.0.0.1:1\"\n", Path::new("l.toml"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "l.toml: field `cert`: the TLS listener quic://127.0.0.1:1 needs cert and key"
        );
        let c = BrokerConfig::from_toml(
            "listen = \"quic://0.0.0.0:14567\"\ncert = \"s.pem\"\nkey = \"s.key\"\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let e = c.endpoints().unwrap();
        assert_eq!(
            (e[0].transport, e[0].path.as_deref()),
            (Transport::Quic, None)
        );
        assert_eq!(e[0].to_string(), "quic://0.0.0.0:14567");
        let err = BrokerConfig::from_toml(
            "listen = \"quic://127.0.0.1:1/mqtt\"\n",
            Path::new("l.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("has a path"), "{err}");
        // A listener with its own certificate needs no global one; the others still do.
        let c = BrokerConfig::from_toml(
            "listen = \"mqtts://127.0.0.1:1?cert=a.pem&key=a.key\"\n",
            Path::new("l.toml"),
        )
        .unwrap();
        let e = c.endpoints().unwrap();
        assert_eq!(
            e[0].cert_key,
            Some((PathBuf::from("a.pem"), PathBuf::from("a.key")))
        );
        assert_eq!(e[0].to_string(), "mqtts://127.0.0.1:1?cert=a.pem&key=a.key");
        assert_eq!(c.tls_files_for(&e[0]).unwrap().cert, PathBuf::from("a.pem"));
        let err = BrokerConfig::from_toml(
            "listen = [\"quic://127.0.0.1:1?cert=a.pem&key=a.key\", \"wss://127.0.0.1:2\"]\n",
            Path::new("l.toml"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("wss://127.0.0.1:2/ needs cert and key"),
            "{err}"
        );
        for (listen, why) in [
            (
                "mqtts://127.0.0.1:1?cert=a.pem",
                "both cert=FILE and key=FILE",
            ),
            (
                "mqtts://127.0.0.1:1?cert=a.pem&key=a.key&ca=c",
                "`ca=c` is not a listener option",
            ),
            (
                "mqtt://127.0.0.1:1?cert=a.pem&key=a.key",
                "only a TLS listener",
            ),
        ] {
            let err =
                BrokerConfig::from_toml(&format!("listen = \"{listen}\"\n"), Path::new("l.toml"))
                    .unwrap_err();
            assert!(err.to_string().contains(why), "{listen}: {err}");
        }
        let err = BrokerConfig::from_toml("listen = \"udp://127.0.0.1:1\"\n", Path::new("l.toml"))
            .unwrap_err();
        assert!(
            err.to_string().contains("unsupported scheme `udp://`"),
            "{err}"
        );
        let err = BrokerConfig::from_toml("listen = []\n", Path::new("l.toml")).unwrap_err();
        assert!(err.to_string().contains("at least one"), "{err}");
        let err = BrokerConfig::from_toml("\nlisten = 5\n", Path::new("l.toml")).unwrap_err();
        assert!(err.to_string().starts_with("l.toml:2:"), "{err}");
    }

    #[test]
    fn out_of_range_names_field() {
        let err = BrokerConfig::from_toml("maximum_qos = 3\n", Path::new("d.toml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "d.toml: field `maximum_qos`: must be 0, 1 or 2"
        );
    }
}
