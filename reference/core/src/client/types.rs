//! Owned values the client session takes from and gives to its caller: outgoing and incoming
//! Application Messages with their properties, the Will, subscriptions, and what CONNACK said.
//!
//! The codec works on borrowed views; a session outlives every buffer it decodes from, so what it
//! keeps (messages in flight, the subscriptions to restore) and what it hands out (events) is
//! owned here. Each type converts to and from the codec's [`Property`] list.

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::{Properties, Property, QoS, ReasonCode, SubscriptionOptions};

/// A User Property: a name and a value, order kept, names may repeat.
pub type UserProperty = (String, String);

/// The per-message properties of a PUBLISH (MQTT 5.0 §3.3.2.3), also used for the Will
/// Properties (with [`Will::delay_interval`]). Ignored for 3.1.1 connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// Payload Format Indicator: `Some(1)` says the payload is UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval, seconds.
    pub message_expiry_interval: Option<u32>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic (request/response).
    pub response_topic: Option<String>,
    /// Correlation Data (request/response).
    pub correlation_data: Option<Vec<u8>>,
    /// User Properties, in order.
    pub user_properties: Vec<UserProperty>,
    /// Subscription Identifiers of the subscriptions that matched (incoming messages only;
    /// a client must not send them: [MQTT-3.3.4-6] (5.0)).
    pub subscription_identifiers: Vec<u32>,
}

impl PublishProperties {
    /// Appends the codec properties for these values to `out` (Subscription Identifiers are
    /// never sent by a client, so they are left out).
    pub(crate) fn push_to<'a>(&'a self, out: &mut Vec<Property<'a>>) {
        if let Some(v) = self.payload_format_indicator {
            out.push(Property::PayloadFormatIndicator(v));
        }
        if let Some(v) = self.message_expiry_interval {
            out.push(Property::MessageExpiryInterval(v));
        }
        if let Some(v) = &self.content_type {
            out.push(Property::ContentType(v));
        }
        if let Some(v) = &self.response_topic {
            out.push(Property::ResponseTopic(v));
        }
        if let Some(v) = &self.correlation_data {
            out.push(Property::CorrelationData(v));
        }
        for (k, v) in &self.user_properties {
            out.push(Property::UserProperty((k, v)));
        }
    }

    /// Collects the message properties from a decoded list (Topic Alias is the session's
    /// business and not kept).
    pub(crate) fn from_properties(props: &Properties<'_>) -> Self {
        let mut out = PublishProperties::default();
        for p in props.iter() {
            match p {
                Property::PayloadFormatIndicator(v) => out.payload_format_indicator = Some(v),
                Property::MessageExpiryInterval(v) => out.message_expiry_interval = Some(v),
                Property::ContentType(v) => out.content_type = Some(v.into()),
                Property::ResponseTopic(v) => out.response_topic = Some(v.into()),
                Property::CorrelationData(v) => out.correlation_data = Some(v.to_vec()),
                Property::UserProperty((k, v)) => out.user_properties.push((k.into(), v.into())),
                Property::SubscriptionIdentifier(v) => out.subscription_identifiers.push(v),
                _ => {}
            }
        }
        out
    }

    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == PublishProperties::default()
    }
}

/// An Application Message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Topic Name (no wildcards).
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Quality of Service.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// Properties (5.0).
    pub properties: PublishProperties,
}

impl OutgoingMessage {
    /// A QoS 0, non-retained message without properties.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        OutgoingMessage {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: PublishProperties::default(),
        }
    }

    /// The same message with QoS `qos`.
    #[must_use]
    pub fn with_qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// The same message with RETAIN `retain`.
    #[must_use]
    pub fn with_retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }
}

/// An Application Message received from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic Name (a Topic Alias already resolved).
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// The QoS it was delivered with.
    pub qos: QoS,
    /// RETAIN as received: set for a retained message sent on subscription (or, with Retain As
    /// Published, as the publisher sent it).
    pub retain: bool,
    /// DUP as received. Informational: a QoS 2 message is delivered once whatever DUP says.
    pub dup: bool,
    /// The packet identifier it arrived with (`None` for QoS 0).
    pub packet_id: Option<u16>,
    /// Properties (5.0).
    pub properties: PublishProperties,
}

/// The Will Message (MQTT 5.0 §3.1.2.5, §3.1.3.2-3.1.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic.
    pub topic: String,
    /// Will Payload.
    pub payload: Vec<u8>,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will Delay Interval, seconds (5.0).
    pub delay_interval: Option<u32>,
    /// The other Will Properties (5.0).
    pub properties: PublishProperties,
}

impl Will {
    /// A QoS 0, non-retained Will without properties.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Will {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            delay_interval: None,
            properties: PublishProperties::default(),
        }
    }
}

/// One topic filter of a SUBSCRIBE with its options (MQTT 5.0 §3.8.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeFilter {
    /// Topic Filter (may be `$share/{name}/{filter}` in 5.0).
    pub filter: String,
    /// Maximum QoS, No Local, Retain As Published, Retain Handling (only the QoS in 3.1.1).
    pub options: SubscriptionOptions,
}

impl SubscribeFilter {
    /// A filter with QoS `qos` and every 5.0 option at its default.
    pub fn new(filter: impl Into<String>, qos: QoS) -> Self {
        SubscribeFilter {
            filter: filter.into(),
            options: SubscriptionOptions::qos(qos),
        }
    }
}

/// The properties of a SUBSCRIBE (5.0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// Subscription Identifier, 1 to 268,435,455.
    pub subscription_identifier: Option<u32>,
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
}

/// What the server said in a successful CONNACK (MQTT 5.0 §3.2.2.3), with the spec's defaults
/// filled in for absent properties (and for 3.1.1, which has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAckInfo {
    /// Session Present.
    pub session_present: bool,
    /// The reason code (Success).
    pub reason_code: ReasonCode,
    /// Session Expiry Interval the server chose, if it sent one.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum: QoS 1 and 2 PUBLISHes the server accepts unacknowledged (default 65,535).
    pub receive_maximum: u16,
    /// Maximum QoS the server accepts (default 2).
    pub maximum_qos: QoS,
    /// Whether the server accepts retained messages (default true).
    pub retain_available: bool,
    /// Maximum Packet Size the server accepts, if limited.
    pub maximum_packet_size: Option<u32>,
    /// Client Identifier the server assigned, if the client sent an empty one.
    pub assigned_client_identifier: Option<String>,
    /// Topic Alias Maximum the server accepts (default 0: none).
    pub topic_alias_maximum: u16,
    /// Reason String.
    pub reason_string: Option<String>,
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
    /// Wildcard Subscription Available (default true).
    pub wildcard_subscription_available: bool,
    /// Subscription Identifiers Available (default true).
    pub subscription_identifiers_available: bool,
    /// Shared Subscription Available (default true).
    pub shared_subscription_available: bool,
    /// Server Keep Alive: the keep alive the client must use instead of its own.
    pub server_keep_alive: Option<u16>,
    /// Response Information (basis for response topics).
    pub response_information: Option<String>,
    /// Server Reference.
    pub server_reference: Option<String>,
    /// Authentication Method.
    pub authentication_method: Option<String>,
    /// Authentication Data.
    pub authentication_data: Option<Vec<u8>>,
}

impl ConnAckInfo {
    /// The defaults a CONNACK without properties means.
    pub(crate) fn defaults(session_present: bool, reason_code: ReasonCode) -> Self {
        ConnAckInfo {
            session_present,
            reason_code,
            session_expiry_interval: None,
            receive_maximum: u16::MAX,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: None,
            assigned_client_identifier: None,
            topic_alias_maximum: 0,
            reason_string: None,
            user_properties: Vec::new(),
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            server_keep_alive: None,
            response_information: None,
            server_reference: None,
            authentication_method: None,
            authentication_data: None,
        }
    }

    /// Reads the CONNACK properties over the defaults.
    pub(crate) fn from_properties(
        session_present: bool,
        reason_code: ReasonCode,
        props: &Properties<'_>,
    ) -> Self {
        let mut c = ConnAckInfo::defaults(session_present, reason_code);
        for p in props.iter() {
            match p {
                Property::SessionExpiryInterval(v) => c.session_expiry_interval = Some(v),
                Property::ReceiveMaximum(v) => c.receive_maximum = v,
                Property::MaximumQoS(v) => {
                    c.maximum_qos = QoS::from_u8(v).unwrap_or(QoS::AtLeastOnce)
                }
                Property::RetainAvailable(v) => c.retain_available = v != 0,
                Property::MaximumPacketSize(v) => c.maximum_packet_size = Some(v),
                Property::AssignedClientIdentifier(v) => {
                    c.assigned_client_identifier = Some(v.into())
                }
                Property::TopicAliasMaximum(v) => c.topic_alias_maximum = v,
                Property::ReasonString(v) => c.reason_string = Some(v.into()),
                Property::UserProperty((k, v)) => c.user_properties.push((k.into(), v.into())),
                Property::WildcardSubscriptionAvailable(v) => {
                    c.wildcard_subscription_available = v != 0
                }
                Property::SubscriptionIdentifierAvailable(v) => {
                    c.subscription_identifiers_available = v != 0
                }
                Property::SharedSubscriptionAvailable(v) => {
                    c.shared_subscription_available = v != 0
                }
                Property::ServerKeepAlive(v) => c.server_keep_alive = Some(v),
                Property::ResponseInformation(v) => c.response_information = Some(v.into()),
                Property::ServerReference(v) => c.server_reference = Some(v.into()),
                Property::AuthenticationMethod(v) => c.authentication_method = Some(v.into()),
                Property::AuthenticationData(v) => c.authentication_data = Some(v.to_vec()),
                _ => {}
            }
        }
        c
    }
}

/// Reason String and User Properties, as carried by acknowledgements and DISCONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckProperties {
    /// Reason String.
    pub reason_string: Option<String>,
    /// User Properties.
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    pub(crate) fn from_properties(props: &Properties<'_>) -> Self {
        let mut out = AckProperties::default();
        for p in props.iter() {
            match p {
                Property::ReasonString(v) => out.reason_string = Some(v.into()),
                Property::UserProperty((k, v)) => out.user_properties.push((k.into(), v.into())),
                _ => {}
            }
        }
        out
    }
}
