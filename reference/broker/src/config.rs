//! [`BrokerConfig`]: the broker's TOML configuration, and [`ConfigError`], which names the file,
//! line and field of a mistake.
//!
//! Every key is optional and defaults to the engine's [`Config::default`]; unknown keys are
//! errors (`deny_unknown_fields`), so a typo never silently leaves a default in place.
//!
//! ```toml
//! listen = "0.0.0.0:1883"
//! max_connections = 1000
//! max_packet_size = 65536
//! server_keep_alive = 60
//!
//! [redirect]
//! reference = "other.example:1883"
//! permanent = false
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mqttref_core::broker::{Config, DollarPublish, Redirect};
use serde::Deserialize;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1883";

/// What to do with a client PUBLISH to a `$` topic (see [`DollarPublish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DollarPolicy {
    /// Refuse: 0x87 Not authorized to 5.0 clients.
    NotAuthorized,
    /// Acknowledge and drop.
    Drop,
    /// Forward like any other topic.
    Allow,
}

/// Server redirection (MQTT 5.0 §4.11).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// Server Reference sent in CONNACK.
    pub reference: String,
    /// 0x9D Server moved (`true`) or 0x9C Use another server (`false`).
    #[serde(default)]
    pub permanent: bool,
}

/// The broker's configuration. See [`Config`] for what each limit means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct BrokerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Seconds to wait, on shutdown, for connections to flush before giving up.
    pub shutdown_grace_secs: u64,
    /// How long a write to a connection may make no progress before the connection is
    /// closed, when it has no keep alive (or no CONNACK yet); with keep alive K it is 1.5 × K.
    pub write_timeout_ms: u64,
    pub seed: u64,
    pub max_connections: usize,
    pub connect_timeout_ms: u64,
    pub max_packet_size: u32,
    pub receive_maximum: u16,
    pub max_inflight: u16,
    pub max_queued_messages: usize,
    pub max_queued_bytes: usize,
    pub queue_qos0_offline: bool,
    pub max_outbound_bytes: usize,
    pub topic_alias_maximum: u16,
    pub outbound_topic_aliases: bool,
    pub min_keep_alive: u16,
    pub max_keep_alive: u16,
    pub server_keep_alive: Option<u16>,
    pub max_session_expiry: u32,
    pub v311_session_expiry: u32,
    pub maximum_qos: u8,
    pub retain_available: bool,
    pub wildcard_subscriptions: bool,
    pub subscription_identifiers: bool,
    pub shared_subscriptions: bool,
    pub dollar_publish: DollarPolicy,
    pub response_information: Option<String>,
    pub redirect: Option<RedirectConfig>,
    pub max_retained: usize,
    /// Topic filters no client may publish or subscribe to (0x87 Not authorized).
    pub denied_topics: Vec<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let c = Config::default();
        BrokerConfig {
            listen: DEFAULT_LISTEN.to_owned(),
            shutdown_grace_secs: 5,
            write_timeout_ms: 30_000,
            seed: c.seed,
            max_connections: c.max_connections,
            connect_timeout_ms: c.connect_timeout_ms,
            max_packet_size: c.max_packet_size,
            receive_maximum: c.receive_maximum,
            max_inflight: c.max_inflight,
            max_queued_messages: c.max_queued_messages,
            max_queued_bytes: c.max_queued_bytes,
            queue_qos0_offline: c.queue_qos0_offline,
            max_outbound_bytes: c.max_outbound_bytes,
            topic_alias_maximum: c.topic_alias_maximum,
            outbound_topic_aliases: c.outbound_topic_aliases,
            min_keep_alive: c.min_keep_alive,
            max_keep_alive: c.max_keep_alive,
            server_keep_alive: c.server_keep_alive,
            max_session_expiry: c.max_session_expiry,
            v311_session_expiry: c.v311_session_expiry,
            maximum_qos: c.maximum_qos,
            retain_available: c.retain_available,
            wildcard_subscriptions: c.wildcard_subscriptions,
            subscription_identifiers: c.subscription_identifiers,
            shared_subscriptions: c.shared_subscriptions,
            dollar_publish: match c.dollar_publish {
                DollarPublish::NotAuthorized => DollarPolicy::NotAuthorized,
                DollarPublish::Drop => DollarPolicy::Drop,
                DollarPublish::Allow => DollarPolicy::Allow,
            },
            response_information: c.response_information,
            redirect: None,
            max_retained: c.max_retained,
            denied_topics: c.denied_topics,
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
        let config: BrokerConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message: message.to_owned(),
        };
        if self.listen.parse::<SocketAddr>().is_err() {
            return Err(invalid(
                "listen",
                "not a socket address like 127.0.0.1:1883",
            ));
        }
        if self.maximum_qos > 2 {
            return Err(invalid("maximum_qos", "must be 0, 1 or 2"));
        }
        if self.receive_maximum == 0 {
            return Err(invalid("receive_maximum", "must be at least 1"));
        }
        if self.max_inflight == 0 {
            return Err(invalid("max_inflight", "must be at least 1"));
        }
        if self.max_packet_size < 16 {
            return Err(invalid("max_packet_size", "must be at least 16"));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        if self
            .denied_topics
            .iter()
            .any(|t| mqttref_core::topic::validate_topic_filter(t).is_err())
        {
            return Err(invalid(
                "denied_topics",
                "every entry must be a valid topic filter",
            ));
        }
        if self.min_keep_alive > self.max_keep_alive {
            return Err(invalid("min_keep_alive", "greater than max_keep_alive"));
        }
        Ok(())
    }

    /// The engine configuration.
    pub fn engine_config(&self) -> Config {
        Config {
            seed: self.seed,
            max_connections: self.max_connections,
            connect_timeout_ms: self.connect_timeout_ms,
            max_packet_size: self.max_packet_size,
            receive_maximum: self.receive_maximum,
            max_inflight: self.max_inflight,
            max_queued_messages: self.max_queued_messages,
            max_queued_bytes: self.max_queued_bytes,
            queue_qos0_offline: self.queue_qos0_offline,
            max_outbound_bytes: self.max_outbound_bytes,
            topic_alias_maximum: self.topic_alias_maximum,
            outbound_topic_aliases: self.outbound_topic_aliases,
            min_keep_alive: self.min_keep_alive,
            max_keep_alive: self.max_keep_alive,
            server_keep_alive: self.server_keep_alive,
            max_session_expiry: self.max_session_expiry,
            v311_session_expiry: self.v311_session_expiry,
            maximum_qos: self.maximum_qos,
            retain_available: self.retain_available,
            wildcard_subscriptions: self.wildcard_subscriptions,
            subscription_identifiers: self.subscription_identifiers,
            shared_subscriptions: self.shared_subscriptions,
            dollar_publish: match self.dollar_publish {
                DollarPolicy::NotAuthorized => DollarPublish::NotAuthorized,
                DollarPolicy::Drop => DollarPublish::Drop,
                DollarPolicy::Allow => DollarPublish::Allow,
            },
            response_information: self.response_information.clone(),
            redirect: self.redirect.as_ref().map(|r| Redirect {
                reference: r.reference.clone(),
                permanent: r.permanent,
            }),
            max_retained: self.max_retained,
            denied_topics: self.denied_topics.clone(),
        }
    }
}

impl fmt::Display for DollarPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DollarPolicy::NotAuthorized => "not-authorized",
            DollarPolicy::Drop => "drop",
            DollarPolicy::Allow => "allow",
        })
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
        assert_eq!(c.max_connections, 5);
        assert_eq!(c.listen, DEFAULT_LISTEN);
        let e = c.engine_config();
        assert_eq!(
            e.redirect,
            Some(Redirect {
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

    #[test]
    fn wrong_type_names_line() {
        let err = BrokerConfig::from_toml("\n\nmaximum_qos = \"two\"\n", Path::new("c.toml"))
            .unwrap_err();
        assert!(err.to_string().starts_with("c.toml:3:"), "{err}");
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
