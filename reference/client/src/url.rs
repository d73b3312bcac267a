//! `mqtt://[user[:password]@]host[:port][/topic]` URLs, as Mosquitto's `-L` accepts them.

use crate::error::ClientError;

/// The default MQTT port over TCP.
pub const DEFAULT_PORT: u16 = 1883;

/// A parsed `mqtt://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port; 1883 when absent.
    pub port: u16,
    /// User name, if given before `@`.
    pub username: Option<String>,
    /// Password, if given after `user:`.
    pub password: Option<String>,
    /// The path after the first `/` (Mosquitto's `-L` uses it as the topic); `None` if absent
    /// or empty.
    pub topic: Option<String>,
}

impl MqttUrl {
    /// Parses `mqtt://[user[:password]@]host[:port][/topic]`; `host[:port]` without a scheme
    /// is accepted too.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] for another scheme, an empty host or a bad port.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::InvalidUrl {
            url: url.to_string(),
            reason: why.to_string(),
        };
        let rest = match url.split_once("://") {
            Some(("mqtt", rest)) => rest,
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "unsupported scheme `{scheme}` (only mqtt:// is supported)"
                )))
            }
            None => url,
        };
        let (authority, topic) = match rest.split_once('/') {
            Some((a, t)) => (a, (!t.is_empty()).then(|| t.to_string())),
            None => (rest, None),
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
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("bad port `{p}`")))?,
        };
        Ok(MqttUrl {
            host,
            port,
            username,
            password,
            topic,
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
    fn errors() {
        assert!(MqttUrl::parse("mqtts://h").is_err());
        assert!(MqttUrl::parse("mqtt://:1883").is_err());
        assert!(MqttUrl::parse("mqtt://h:99999").is_err());
        assert!(MqttUrl::parse("mqtt://h:0").is_err());
        assert!(MqttUrl::parse("mqtt://h:x").is_err());
    }
}
