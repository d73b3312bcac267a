//! The broker under test: its address (`mqtt://host:port`) and the optional target file that
//! says what the wire cannot (credentials, capability overrides, limits it enforces without
//! announcing them, a topic it refuses).
//!
//! ```toml
//! name = "mosquitto-2.0"          # report directory and titles; default: host_port
//!
//! [credentials]                   # sent in every CONNECT made by `ctx.connected`
//! username = "conformance"
//! password = "secret"
//!
//! [auth]                          # an enhanced authentication method the broker offers (5.0)
//! method = "SCRAM-SHA-256"        # the only one the suite speaks
//! user = "conformance"            # credentials of that method, for the section 4.12 and
//! password = "secret"             # 3.15 scenarios only (other scenarios use [credentials])
//!
//! [capabilities]                  # overrides what the 5.0 CONNACK announces
//! shared_subscriptions = false
//! max_qos = 1
//!
//! [limits]                        # enforced but not announced
//! max_client_id_len = 23
//! max_topic_len = 65535
//! max_keep_alive = 65535
//!
//! refused_topic = "forbidden/x"   # publishing or subscribing there is refused
//! restart = "systemctl restart mosquitto"  # run before each --isolate-failures rerun
//!
//! [tls]                           # for an mqtts:// or wss:// target (--cafile / --insecure override)
//! cafile = "ca.pem"               # verify the server against it (relative to this file)
//! insecure = false                # or accept any certificate (testing only)
//! server_name = "broker.example"  # name the certificate must carry; default: the host
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The transport and address of a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetAddr {
    /// `host:port`, as given to the TCP connect.
    pub host_port: String,
    /// `mqtts://`: TLS over TCP (with `ws_path`, `wss://`: WebSocket over TLS).
    pub tls: bool,
    /// `ws://`, `wss://`: WebSocket, upgraded at this HTTP path (`/` when the URL has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_path: Option<String>,
    /// `quic://`: QUIC over UDP (TLS 1.3 inside, so `tls` is set too), one bidirectional
    /// stream per connection.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quic: bool,
}

impl TargetAddr {
    /// Parses `mqtt://host:port` (`tcp://` too; the port defaults to 1883),
    /// `mqtts://host:port` (TLS; the port defaults to 8883), `ws://host:port/path`
    /// (WebSocket; the port defaults to 80, the path to `/`) and `wss://host:port/path`
    /// (WebSocket over TLS; the port defaults to 443) and `quic://host:port` (QUIC; the port
    /// defaults to 14567).
    pub fn parse(url: &str) -> Result<TargetAddr, String> {
        if let Some(rest) = url.strip_prefix("quic://") {
            let mut target = TargetAddr::parse(&format!("mqtts://{rest}"))
                .map_err(|e| e.replace(&format!("mqtts://{rest}"), url))?;
            if !rest.trim_end_matches('/').contains(':')
                || rest.trim_end_matches('/').ends_with(']')
            {
                // No port given: QUIC's usual MQTT port (EMQX's), not MQTT over TLS's.
                target.host_port = format!(
                    "{}:14567",
                    target.host_port.rsplit_once(':').map_or(rest, |(h, _)| h)
                );
            }
            target.quic = true;
            return Ok(target);
        }
        let ws = if let Some(rest) = url.strip_prefix("ws://") {
            Some((rest, false))
        } else {
            url.strip_prefix("wss://").map(|rest| (rest, true))
        };
        if let Some((rest, tls)) = ws {
            let (host_port, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let mut target = TargetAddr::parse(&format!("mqtt://{host_port}"))
                .map_err(|e| e.replace(&format!("mqtt://{host_port}"), url))?;
            if !host_port.contains(':') || host_port.ends_with(']') {
                // No port given: WebSocket's default, not MQTT's.
                target.host_port = format!(
                    "{}:{}",
                    target
                        .host_port
                        .rsplit_once(':')
                        .map_or(host_port, |(h, _)| h),
                    if tls { 443 } else { 80 }
                );
            }
            target.tls = tls;
            target.ws_path = Some(path.to_owned());
            return Ok(target);
        }
        let (tls, default_port) = if url.starts_with("mqtts://") {
            (true, 8883)
        } else {
            (false, 1883)
        };
        let rest = if let Some(r) = url.strip_prefix("mqtt://") {
            r
        } else if let Some(r) = url.strip_prefix("tcp://") {
            r
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            r
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(format!(
                "unsupported scheme `{scheme}://` in `{url}`: mqtt:// (TCP), mqtts:// (TLS), ws:// (WebSocket), wss:// (WebSocket over TLS) and quic:// (QUIC) are supported"
            ));
        } else {
            return Err(format!(
                "`{url}` is not a target URL: expected mqtt://host:port"
            ));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(format!("`{url}`: expected mqtt://host:port with no path"));
        }
        let host_port = if rest.starts_with('[') {
            // [v6]:port or [v6]
            match rest.rsplit_once("]:") {
                Some((_, port)) => {
                    check_port(url, port)?;
                    rest.to_string()
                }
                None => format!("{rest}:{default_port}"),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => {
                    if host.is_empty() {
                        return Err(format!("`{url}`: missing host"));
                    }
                    check_port(url, port)?;
                    rest.to_string()
                }
                None => format!("{rest}:{default_port}"),
            }
        };
        Ok(TargetAddr {
            host_port,
            tls,
            ws_path: None,
            quic: false,
        })
    }

    /// The URL: `mqtt://host:port`, `mqtts://host:port`, `ws://host:port/path`,
    /// `wss://host:port/path` or `quic://host:port`.
    pub fn url(&self) -> String {
        if self.quic {
            return format!("quic://{}", self.host_port);
        }
        if let Some(path) = &self.ws_path {
            let scheme = if self.tls { "wss" } else { "ws" };
            return format!("{scheme}://{}{path}", self.host_port);
        }
        format!(
            "{}://{}",
            if self.tls { "mqtts" } else { "mqtt" },
            self.host_port
        )
    }

    /// The host, without the port (and without the brackets of an IPv6 address).
    pub fn host(&self) -> &str {
        let host = match self.host_port.rsplit_once(':') {
            Some((h, _)) if !self.host_port.ends_with(']') => h,
            _ => &self.host_port,
        };
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// How to dial it: TCP, WebSocket, TLS (under WebSocket for `wss://`) or QUIC, the
    /// certificate checked as `tls` says (`server_name` defaults to the host).
    ///
    /// # Errors
    /// An `mqtts://`, `wss://` or `quic://` target with neither a CA file nor `insecure`; an unusable CA
    /// file.
    pub fn connector(&self, tls: &TlsSettings) -> Result<raw_client::Connector, String> {
        match (&self.ws_path, self.tls) {
            (Some(path), false) => return Ok(raw_client::Connector::Ws { path: path.clone() }),
            (None, false) => return Ok(raw_client::Connector::Tcp),
            (_, true) => {}
        }
        let trust = match (&tls.cafile, tls.insecure) {
            (Some(ca), _) => raw_client::Trust::CaFile(ca.clone()),
            (None, true) => raw_client::Trust::Insecure,
            (None, false) => {
                return Err(format!(
                    "{}: give the CA that signed the broker's certificate (--cafile, or cafile \
                     under [tls] in the target file), or --insecure to accept any certificate",
                    self.url()
                ))
            }
        };
        let config = raw_client::tls_config(&trust).map_err(|e| e.to_string())?;
        let name = tls.server_name.as_deref().unwrap_or(self.host());
        if self.quic {
            return raw_client::Connector::quic(config, name).map_err(|e| e.to_string());
        }
        match &self.ws_path {
            Some(path) => raw_client::Connector::wss(config, name, path),
            None => raw_client::Connector::tls(config, name),
        }
        .map_err(|e| e.to_string())
    }

    /// A file-name-safe default name: `host_port`.
    pub fn default_name(&self) -> String {
        self.host_port
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .trim_matches('_')
            .to_string()
    }
}

fn check_port(url: &str, port: &str) -> Result<(), String> {
    port.parse::<u16>()
        .map(|_| ())
        .map_err(|_| format!("`{url}`: `{port}` is not a port number"))
}

/// The target file (`--target-file FILE.toml`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Name used for the report directory and titles.
    pub name: Option<String>,
    /// The address, if `--target` is not given.
    pub target: Option<String>,
    /// Credentials sent by `ctx.connected`.
    pub credentials: Option<Credentials>,
    /// An enhanced authentication method and its credentials (the 4.12 and 3.15 scenarios).
    pub auth: Option<AuthSettings>,
    /// Overrides of what the CONNACK announces.
    #[serde(default)]
    pub capabilities: CapabilityOverrides,
    /// Limits the broker enforces but cannot announce.
    #[serde(default)]
    pub limits: Limits,
    /// A topic the broker refuses to let this client publish or subscribe to.
    pub refused_topic: Option<String>,
    /// How an `mqtts://` target is checked.
    #[serde(default)]
    pub tls: TlsSettings,
    /// A shell command that restarts the broker, run before each rerun of
    /// `--isolate-failures` so that the rerun meets a fresh broker (`--restart-cmd` overrides).
    pub restart: Option<String>,
}

/// `[tls]`: how the server certificate of an `mqtts://` target is checked.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// CA certificates (PEM) the server's certificate must chain to. Relative to the target
    /// file when read from one.
    pub cafile: Option<PathBuf>,
    /// Accept any server certificate (testing only; see `raw_client::tls::AcceptAnyCertificate`).
    #[serde(default)]
    pub insecure: bool,
    /// The name the certificate must carry; default: the target's host.
    pub server_name: Option<String>,
}

/// Username and password.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// User Name.
    pub username: Option<String>,
    /// Password (sent as bytes of this UTF-8 string).
    pub password: Option<String>,
}

/// `[auth]`: an enhanced authentication method the broker offers, and its credentials.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Authentication Method; the suite speaks [`AUTH_METHODS`].
    pub method: String,
    /// The method's user name (also sent as the CONNECT's User Name).
    pub user: String,
    /// The method's password.
    pub password: String,
}

/// The Authentication Methods the scenarios can run.
pub const AUTH_METHODS: &[&str] = &["SCRAM-SHA-256"];

/// Capability overrides; an absent field keeps what the probe found.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CapabilityOverrides {
    /// Retained messages.
    pub retain: Option<bool>,
    /// Wildcard subscriptions.
    pub wildcard_subscriptions: Option<bool>,
    /// Shared subscriptions.
    pub shared_subscriptions: Option<bool>,
    /// Subscription identifiers.
    pub subscription_identifiers: Option<bool>,
    /// Maximum QoS (0..=2).
    pub max_qos: Option<u8>,
    /// Topic Alias Maximum.
    pub topic_alias_maximum: Option<u16>,
    /// Receive Maximum.
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size.
    pub maximum_packet_size: Option<u32>,
}

/// Limits a broker enforces without a way to say so on the wire.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest client identifier accepted.
    pub max_client_id_len: Option<usize>,
    /// Longest topic name accepted.
    pub max_topic_len: Option<usize>,
    /// Largest keep alive accepted without a Server Keep Alive override.
    pub max_keep_alive: Option<u16>,
    /// Most topic levels accepted.
    pub max_topic_levels: Option<usize>,
    /// Most concurrent connections from one test run.
    pub max_connections: Option<usize>,
}

/// A target file that could not be read or parsed; names the file, line, column and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFileError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when the parser knows them.
    pub position: Option<(usize, usize)>,
    /// The field concerned, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TargetFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TargetFileError {}

impl TargetFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<TargetFile, TargetFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| TargetFileError {
            path: path.to_path_buf(),
            position: None,
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        let mut file = TargetFile::parse(path, &text)?;
        // A CA file named in the target file is found beside it, wherever the run starts.
        if let (Some(ca), Some(dir)) = (&mut file.tls.cafile, path.parent()) {
            if ca.is_relative() {
                *ca = dir.join(&*ca);
            }
        }
        Ok(file)
    }

    /// Parses `text` (read from `path`, which only names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<TargetFile, TargetFileError> {
        let file: TargetFile = toml::from_str(text).map_err(|e| {
            let position = e.span().map(|s| line_col(text, s.start));
            let field = e.span().and_then(|s| field_at(text, s.start));
            TargetFileError {
                path: path.to_path_buf(),
                position,
                field,
                message: e.message().trim().to_string(),
            }
        })?;
        file.validate(path, text)?;
        Ok(file)
    }

    fn validate(&self, path: &Path, text: &str) -> Result<(), TargetFileError> {
        let err = |field: &str, message: String| {
            let key = field.rsplit('.').next().unwrap_or(field);
            let position = find_key(text, key).map(|at| line_col(text, at));
            TargetFileError {
                path: path.to_path_buf(),
                position,
                field: Some(field.to_string()),
                message,
            }
        };
        if let Some(q) = self.capabilities.max_qos {
            if q > 2 {
                return Err(err(
                    "capabilities.max_qos",
                    format!("{q} is not a QoS (0, 1 or 2)"),
                ));
            }
        }
        if let Some(t) = &self.target {
            TargetAddr::parse(t).map_err(|m| err("target", m))?;
        }
        if let Some(a) = &self.auth {
            if !AUTH_METHODS.contains(&a.method.as_str()) {
                return Err(err(
                    "auth.method",
                    format!(
                        "`{}`: the scenarios speak {}",
                        a.method,
                        AUTH_METHODS.join(", ")
                    ),
                ));
            }
        }
        if let Some(n) = &self.name {
            if n.is_empty() || n.contains(['/', '\\']) || n == "." || n == ".." {
                return Err(err("name", format!("`{n}` cannot name a report directory")));
            }
        }
        Ok(())
    }
}

/// 1-based line and column of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The `key` of a `key = value` line containing offset `at`, if any.
fn field_at(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

/// Offset of the first line that assigns `key`.
fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some((k, _)) = line.split_once('=') {
            if k.trim() == key {
                return Some(offset + (line.len() - line.trim_start().len()));
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            TargetAddr::parse("mqtt://127.0.0.1:1884")
                .unwrap()
                .host_port,
            "127.0.0.1:1884"
        );
        assert_eq!(
            TargetAddr::parse("mqtt://broker").unwrap().host_port,
            "broker:1883"
        );
        assert_eq!(
            TargetAddr::parse("mqtt://[::1]:1900").unwrap().host_port,
            "[::1]:1900"
        );
        let ws = TargetAddr::parse("ws://127.0.0.1:8080/mqtt").unwrap();
        assert_eq!(ws.host_port, "127.0.0.1:8080");
        assert_eq!(ws.ws_path.as_deref(), Some("/mqtt"));
        assert_eq!(ws.url(), "ws://127.0.0.1:8080/mqtt");
        assert!(matches!(
            ws.connector(&TlsSettings::default()),
            Ok(raw_client::Connector::Ws { path }) if path == "/mqtt"
        ));
        let ws = TargetAddr::parse("ws://broker").unwrap();
        assert_eq!(ws.host_port, "broker:80");
        assert_eq!(ws.url(), "ws://broker:80/");
        let quic = TargetAddr::parse("quic://127.0.0.1:14567").unwrap();
        assert!(quic.quic && quic.tls);
        assert_eq!(quic.host_port, "127.0.0.1:14567");
        assert_eq!(quic.url(), "quic://127.0.0.1:14567");
        assert_eq!(TargetAddr::parse("quic://b").unwrap().host_port, "b:14567");
        assert_eq!(
            TargetAddr::parse("quic://[::1]").unwrap().host_port,
            "[::1]:14567"
        );
        assert!(quic.connector(&TlsSettings::default()).is_err());
        assert!(matches!(
            quic.connector(&TlsSettings {
                insecure: true,
                ..TlsSettings::default()
            }),
            Ok(raw_client::Connector::Quic { server_name, .. }) if server_name == "127.0.0.1"
        ));
        assert!(TargetAddr::parse("quic://h:1/path").is_err());
        let tls = TargetAddr::parse("mqtts://a").unwrap();
        assert!(tls.tls);
        assert_eq!(tls.host_port, "a:8883");
        assert_eq!(tls.url(), "mqtts://a:8883");
        assert_eq!(tls.host(), "a");
        assert_eq!(TargetAddr::parse("mqtts://[::1]:9").unwrap().host(), "::1");
        // Neither a CA nor --insecure: an error naming both ways out, before any connection.
        let err = tls.connector(&TlsSettings::default()).unwrap_err();
        assert!(
            err.contains("--cafile") && err.contains("--insecure"),
            "{err}"
        );
        assert!(tls
            .connector(&TlsSettings {
                insecure: true,
                ..TlsSettings::default()
            })
            .is_ok());
        let err = tls
            .connector(&TlsSettings {
                cafile: Some("/nonexistent/ca.pem".into()),
                ..TlsSettings::default()
            })
            .unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let wss = TargetAddr::parse("wss://127.0.0.1:8443/mqtt").unwrap();
        assert!(wss.tls);
        assert_eq!(wss.ws_path.as_deref(), Some("/mqtt"));
        assert_eq!(wss.url(), "wss://127.0.0.1:8443/mqtt");
        assert!(wss.connector(&TlsSettings::default()).is_err());
        assert!(matches!(
            wss.connector(&TlsSettings {
                insecure: true,
                ..TlsSettings::default()
            }),
            Ok(raw_client::Connector::Wss { path, .. }) if path == "/mqtt"
        ));
        assert_eq!(TargetAddr::parse("wss://b").unwrap().url(), "wss://b:443/");
        assert!(TargetAddr::parse("http://a:1")
            .unwrap_err()
            .contains("unsupported scheme"));
        assert!(TargetAddr::parse("localhost:1883").is_err());
        assert!(TargetAddr::parse("mqtt://a:99999")
            .unwrap_err()
            .contains("not a port"));
        assert_eq!(
            TargetAddr::parse("mqtt://127.0.0.1:1884")
                .unwrap()
                .default_name(),
            "127.0.0.1_1884"
        );
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
name = "mosq"
refused_topic = "no/way"
restart = "true"
[credentials]
username = "u"
password = "p"
[capabilities]
shared_subscriptions = false
max_qos = 1
[limits]
max_client_id_len = 23
"#;
        let f = TargetFile::parse(Path::new("t.toml"), text).unwrap();
        assert_eq!(f.name.as_deref(), Some("mosq"));
        assert_eq!(f.restart.as_deref(), Some("true"));
        assert_eq!(f.capabilities.max_qos, Some(1));
        assert_eq!(f.limits.max_client_id_len, Some(23));
        assert_eq!(f.credentials.unwrap().username.as_deref(), Some("u"));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let text = "name = \"x\"\n[capabilities]\nmax_qos = \"two\"\n";
        let e = TargetFile::parse(Path::new("t.toml"), text).unwrap_err();
        assert_eq!(e.position, Some((3, 11)), "{e}");
        assert_eq!(e.field.as_deref(), Some("max_qos"), "{e}");
        assert!(
            e.to_string().starts_with("t.toml:3:11: field `max_qos`: "),
            "{e}"
        );

        let text = "[capabilities]\nretian = true\n";
        let e = TargetFile::parse(Path::new("t.toml"), text).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
        assert!(e.to_string().contains("retian"), "{e}");

        let text = "[capabilities]\nmax_qos = 3\n";
        let e = TargetFile::parse(Path::new("t.toml"), text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:2:1: field `capabilities.max_qos`: 3 is not a QoS (0, 1 or 2)"
        );
    }
}
