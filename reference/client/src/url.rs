//! `mqtt://[user[:password]@]host[:port][/topic]` URLs, as Mosquitto's `-L` accepts them, and
//! the same with `mqtts://` (TLS), `ws://` (WebSocket), `wss://` (WebSocket over TLS) and
//! `quic://` (QUIC).
//!
//! In a `ws://` or `wss://` URL the path is the HTTP path of the upgrade (`/` when none), not a
//! topic: `ws://broker:8080/mqtt` is the endpoint at `/mqtt`.

use crate::error::ClientError;

/// The default MQTT port over TCP.
pub const DEFAULT_PORT: u16 = 1883;

/// The transport a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://` (or `tcp://`, or no scheme): TCP, port 1883 by default.
    Mqtt,
    /// `mqtts://` (or `ssl://`, `tls://`): TLS over TCP, port 8883 by default.
    Mqtts,
    /// `ws://`: WebSocket over TCP, port 80 by default.
    Ws,
    /// `wss://`: WebSocket over TLS over TCP, port 443 by default.
    Wss,
    /// `quic://`: QUIC (TLS 1.3 inside) over UDP, port 14567 by default (EMQX's).
    Quic,
}

impl Scheme {
    /// The port used when the URL gives none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => DEFAULT_PORT,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
            Scheme::Quic => 14567,
        }
    }

    /// Whether the transport includes TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss | Scheme::Quic)
    }
}

/// A parsed `mqtt://`, `mqtts://`, `ws://`, `wss://` or `quic://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUrl {
    /// The transport.
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port; 1883 when absent.
    pub port: u16,
    /// User name, if given before `@`.
    pub username: Option<String>,
    /// Password, if given after `user:`.
    pub password: Option<String>,
    /// The path after the first `/` (Mosquitto's `-L` uses it as the topic); `None` if absent
    /// or empty, and always for `ws://` and `wss://`.
    pub topic: Option<String>,
    /// The HTTP path of a `ws://` or `wss://` URL, with its leading `/` (`/` when none);
    /// `None` for the others.
    pub ws_path: Option<String>,
}

impl MqttUrl {
    /// Parses `SCHEME://[user[:password]@]host[:port][/path]` for the schemes of [`Scheme`];
    /// `host[:port]` without a scheme is accepted too (TCP).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] for another scheme, an empty host or a bad port.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::InvalidUrl {
            url: url.to_string(),
            reason: why.to_string(),
        };
        let (scheme, rest) = match url.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => (Scheme::Mqtt, rest),
            Some(("mqtts" | "ssl" | "tls", rest)) => (Scheme::Mqtts, rest),
            Some(("ws", rest)) => (Scheme::Ws, rest),
            Some(("wss", rest)) => (Scheme::Wss, rest),
            Some(("quic", rest)) => (Scheme::Quic, rest),
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "unsupported scheme `{scheme}` (mqtt://, mqtts://, ws://, wss:// or quic://)"
                )))
            }
            None => (Scheme::Mqtt, url),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, t)) => (a, Some(t)),
            None => (rest, None),
        };
        let (topic, ws_path) = match scheme {
            Scheme::Ws | Scheme::Wss => (None, Some(format!("/{}", path.unwrap_or("")))),
            _ => (path.filter(|t| !t.is_empty()).map(str::to_string), None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(user.to_string()), Some(pass.to_string())),
                None => (Some(u.to_string()), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed `[` in IPv6 host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("unexpected text after `]`")),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = match port {
            None => scheme.default_port(),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("bad port `{p}`")))?,
        };
        Ok(MqttUrl {
            scheme,
            host,
            port,
            username,
            password,
            topic,
            ws_path,
        })
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let u = MqttUrl::parse("mqtt://alice:s3cret@broker.example:1884/a/b").unwrap();
        assert_eq!(u.host, "broker.example");
        assert_eq!(u.port, 1884);
        assert_eq!(u.username.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        assert_eq!(u.topic.as_deref(), Some("a/b"));
    }

    #[test]
    fn defaults_and_ipv6() {
        let u = MqttUrl::parse("mqtt://localhost").unwrap();
        assert_eq!((u.port, u.topic, u.username), (1883, None, None));
        let u = MqttUrl::parse("mqtt://[::1]:1999/t").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1999));
        assert_eq!(u.authority(), "[::1]:1999");
        assert_eq!(
            MqttUrl::parse("127.0.0.1:5").unwrap().authority(),
            "127.0.0.1:5"
        );
    }

    #[test]
    fn schemes() {
        let u = MqttUrl::parse("mqtts://h/t").unwrap();
        assert_eq!(
            (u.scheme, u.port, u.topic.as_deref()),
            (Scheme::Mqtts, 8883, Some("t"))
        );
        let u = MqttUrl::parse("ws://u:p@h:8080/mqtt").unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Ws, 8080));
        assert_eq!((u.ws_path.as_deref(), u.topic), (Some("/mqtt"), None));
        assert_eq!(u.username.as_deref(), Some("u"));
        let u = MqttUrl::parse("wss://h").unwrap();
        assert_eq!(
            (u.scheme, u.port, u.ws_path.as_deref()),
            (Scheme::Wss, 443, Some("/"))
        );
        assert_eq!(MqttUrl::parse("ws://h").unwrap().port, 80);
        let u = MqttUrl::parse("quic://h/t").unwrap();
        assert_eq!(
            (u.scheme, u.port, u.topic.as_deref()),
            (Scheme::Quic, 14567, Some("t"))
        );
        assert!(u.scheme.is_tls());
        assert!(MqttUrl::parse("http://h")
            .unwrap_err()
            .to_string()
            .contains("`http`"));
    }

    #[test]
    fn errors() {
        assert!(MqttUrl::parse("mqtt://:1883").is_err());
        assert!(MqttUrl::parse("mqtt://h:99999").is_err());
        assert!(MqttUrl::parse("mqtt://h:0").is_err());
        assert!(MqttUrl::parse("mqtt://h:x").is_err());
    }
}
