//! What the target can do: read from its 5.0 CONNACK by a probe connection, overridden by the
//! target file, and matched against what each scenario needs.
//!
//! MQTT 3.1.1 has no way to announce capabilities, so for 3.1.1 everything starts as "present"
//! and only the target file can say otherwise.

use serde::Serialize;
use std::fmt;

/// Something a scenario needs from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Retained messages (5.0: Retain Available).
    Retain,
    /// Wildcard topic filters (5.0: Wildcard Subscription Available).
    WildcardSubscriptions,
    /// `$share/...` filters (5.0: Shared Subscription Available).
    SharedSubscriptions,
    /// Subscription Identifiers (5.0: Subscription Identifier Available).
    SubscriptionIdentifiers,
    /// At least this QoS (5.0: Maximum QoS).
    MaxQos(u8),
    /// Topic aliases from client to server (5.0: Topic Alias Maximum > 0).
    TopicAliases,
    /// The target file names a topic the broker refuses (authorization).
    RefusedTopic,
    /// The target file gives credentials the broker accepts.
    Credentials,
    /// The target is reached over WebSocket (`ws://`).
    WebSocket,
    /// The target file names an enhanced authentication method the broker offers (`[auth]`).
    EnhancedAuth,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Retain => f.write_str("retain"),
            Capability::WildcardSubscriptions => f.write_str("wildcard subscriptions"),
            Capability::SharedSubscriptions => f.write_str("shared subscriptions"),
            Capability::SubscriptionIdentifiers => f.write_str("subscription identifiers"),
            Capability::MaxQos(q) => write!(f, "QoS {q}"),
            Capability::TopicAliases => f.write_str("topic aliases"),
            Capability::RefusedTopic => {
                f.write_str("a refused topic (target file `refused_topic`)")
            }
            Capability::Credentials => f.write_str("credentials (target file `[credentials]`)"),
            Capability::WebSocket => f.write_str("a WebSocket transport"),
            Capability::EnhancedAuth => {
                f.write_str("an enhanced authentication method (target file `[auth]`)")
            }
        }
    }
}

/// Where a capability value came from, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The protocol default (property absent from CONNACK, or 3.1.1).
    Default,
    /// The probe connection's CONNACK.
    Connack,
    /// The target file.
    TargetFile,
}

/// The target's capabilities for one protocol version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Retained messages supported.
    pub retain: bool,
    /// Wildcard subscriptions supported.
    pub wildcard_subscriptions: bool,
    /// Shared subscriptions supported.
    pub shared_subscriptions: bool,
    /// Subscription identifiers supported.
    pub subscription_identifiers: bool,
    /// Highest QoS the server accepts.
    pub max_qos: u8,
    /// Topic Alias Maximum (0: no aliases).
    pub topic_alias_maximum: u16,
    /// Receive Maximum (65535 when absent).
    pub receive_maximum: u16,
    /// Maximum Packet Size, if announced.
    pub maximum_packet_size: Option<u32>,
    /// A topic the broker refuses (target file only).
    pub refused_topic: Option<String>,
    /// Credentials were given in the target file.
    pub credentials: bool,
    /// The target file names an enhanced authentication method (`[auth]`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enhanced_auth: bool,
    /// The target is reached over WebSocket (`ws://`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub websocket: bool,
    /// Where each non-default value came from, by field name.
    pub sources: std::collections::BTreeMap<&'static str, Source>,
}

impl Default for Capabilities {
    /// What a server offers when it says nothing: everything, QoS 2, no topic aliases.
    fn default() -> Self {
        Capabilities {
            retain: true,
            wildcard_subscriptions: true,
            shared_subscriptions: true,
            subscription_identifiers: true,
            max_qos: 2,
            topic_alias_maximum: 0,
            receive_maximum: 65535,
            maximum_packet_size: None,
            refused_topic: None,
            credentials: false,
            enhanced_auth: false,
            websocket: false,
            sources: Default::default(),
        }
    }
}

impl Capabilities {
    /// `Ok` when `need` is met, otherwise the reason to skip.
    pub fn check(&self, need: Capability) -> Result<(), String> {
        let (ok, why) = match need {
            Capability::Retain => (self.retain, "Retain Available is 0"),
            Capability::WildcardSubscriptions => (
                self.wildcard_subscriptions,
                "Wildcard Subscription Available is 0",
            ),
            Capability::SharedSubscriptions => (
                self.shared_subscriptions,
                "Shared Subscription Available is 0",
            ),
            Capability::SubscriptionIdentifiers => (
                self.subscription_identifiers,
                "Subscription Identifier Available is 0",
            ),
            Capability::MaxQos(q) => (self.max_qos >= q, "Maximum QoS is lower"),
            Capability::TopicAliases => (self.topic_alias_maximum > 0, "Topic Alias Maximum is 0"),
            Capability::RefusedTopic => (
                self.refused_topic.is_some(),
                "the target file names no refused_topic",
            ),
            Capability::Credentials => (self.credentials, "the target file gives no credentials"),
            Capability::EnhancedAuth => {
                (self.enhanced_auth, "the target file names no [auth] method")
            }
            // Not a property of the broker but of how it is reached: said plainly.
            Capability::WebSocket if !self.websocket => {
                return Err("target is not a WebSocket transport".into())
            }
            Capability::WebSocket => (true, ""),
        };
        if ok {
            Ok(())
        } else {
            let source = self
                .source_of(need)
                .map(|s| match s {
                    Source::Default => "",
                    Source::Connack => " (from CONNACK)",
                    Source::TargetFile => " (from the target file)",
                })
                .unwrap_or("");
            Err(format!("needs {need}: {why}{source}"))
        }
    }

    fn source_of(&self, need: Capability) -> Option<Source> {
        let field = match need {
            Capability::Retain => "retain",
            Capability::WildcardSubscriptions => "wildcard_subscriptions",
            Capability::SharedSubscriptions => "shared_subscriptions",
            Capability::SubscriptionIdentifiers => "subscription_identifiers",
            Capability::MaxQos(_) => "max_qos",
            Capability::TopicAliases => "topic_alias_maximum",
            Capability::RefusedTopic
            | Capability::Credentials
            | Capability::WebSocket
            | Capability::EnhancedAuth => return None,
        };
        self.sources.get(field).copied()
    }

    /// Applies the CONNACK properties of a 5.0 probe (identifier, value), in the wire's
    /// property identifiers; unknown ones are ignored.
    pub fn apply_connack_property(&mut self, id: u8, value: u32) {
        let field = match id {
            0x25 => {
                self.retain = value != 0;
                "retain"
            }
            0x28 => {
                self.wildcard_subscriptions = value != 0;
                "wildcard_subscriptions"
            }
            0x29 => {
                self.subscription_identifiers = value != 0;
                "subscription_identifiers"
            }
            0x2A => {
                self.shared_subscriptions = value != 0;
                "shared_subscriptions"
            }
            0x24 => {
                self.max_qos = u8::try_from(value).unwrap_or(2);
                "max_qos"
            }
            0x22 => {
                self.topic_alias_maximum = u16::try_from(value).unwrap_or(u16::MAX);
                "topic_alias_maximum"
            }
            0x21 => {
                self.receive_maximum = u16::try_from(value).unwrap_or(u16::MAX);
                "receive_maximum"
            }
            0x27 => {
                self.maximum_packet_size = Some(value);
                "maximum_packet_size"
            }
            _ => return,
        };
        self.sources.insert(field, Source::Connack);
    }

    /// Applies the overrides of a target file.
    pub fn apply_overrides(&mut self, o: &crate::target::CapabilityOverrides) {
        let mut set = |field: &'static str| {
            self.sources.insert(field, Source::TargetFile);
        };
        if o.retain.is_some() {
            set("retain");
        }
        if o.wildcard_subscriptions.is_some() {
            set("wildcard_subscriptions");
        }
        if o.shared_subscriptions.is_some() {
            set("shared_subscriptions");
        }
        if o.subscription_identifiers.is_some() {
            set("subscription_identifiers");
        }
        if o.max_qos.is_some() {
            set("max_qos");
        }
        if o.topic_alias_maximum.is_some() {
            set("topic_alias_maximum");
        }
        if o.receive_maximum.is_some() {
            set("receive_maximum");
        }
        if o.maximum_packet_size.is_some() {
            set("maximum_packet_size");
        }
        self.retain = o.retain.unwrap_or(self.retain);
        self.wildcard_subscriptions = o
            .wildcard_subscriptions
            .unwrap_or(self.wildcard_subscriptions);
        self.shared_subscriptions = o.shared_subscriptions.unwrap_or(self.shared_subscriptions);
        self.subscription_identifiers = o
            .subscription_identifiers
            .unwrap_or(self.subscription_identifiers);
        self.max_qos = o.max_qos.unwrap_or(self.max_qos);
        self.topic_alias_maximum = o.topic_alias_maximum.unwrap_or(self.topic_alias_maximum);
        self.receive_maximum = o.receive_maximum.unwrap_or(self.receive_maximum);
        self.maximum_packet_size = o.maximum_packet_size.or(self.maximum_packet_size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::CapabilityOverrides;

    #[test]
    fn connack_then_overrides() {
        let mut caps = Capabilities::default();
        caps.apply_connack_property(0x2A, 0);
        caps.apply_connack_property(0x24, 1);
        assert_eq!(
            caps.check(Capability::SharedSubscriptions),
            Err(
                "needs shared subscriptions: Shared Subscription Available is 0 (from CONNACK)"
                    .into()
            )
        );
        assert!(caps.check(Capability::MaxQos(1)).is_ok());
        assert!(caps.check(Capability::MaxQos(2)).is_err());
        caps.apply_overrides(&CapabilityOverrides {
            shared_subscriptions: Some(true),
            retain: Some(false),
            ..Default::default()
        });
        assert!(caps.check(Capability::SharedSubscriptions).is_ok());
        assert_eq!(
            caps.check(Capability::Retain),
            Err("needs retain: Retain Available is 0 (from the target file)".into())
        );
    }
}
