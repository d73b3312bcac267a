//! MQTT 5.0 properties as raw values: identifiers, names, and constructors.
//!
//! A [`Property`] is an identifier and a value in one of the wire encodings; nothing ties the
//! encoding to the identifier, so a property can be written with the wrong type
//! (`Property::u16(SESSION_EXPIRY_INTERVAL, 1)`) or with an unknown identifier. The named
//! constructors ([`session_expiry_interval`], ...) use the right encoding.

/// Payload Format Indicator (byte).
pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
/// Message Expiry Interval (four-byte integer).
pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
/// Content Type (UTF-8 string).
pub const CONTENT_TYPE: u8 = 0x03;
/// Response Topic (UTF-8 string).
pub const RESPONSE_TOPIC: u8 = 0x08;
/// Correlation Data (binary).
pub const CORRELATION_DATA: u8 = 0x09;
/// Subscription Identifier (Variable Byte Integer).
pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0b;
/// Session Expiry Interval (four-byte integer).
pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
/// Assigned Client Identifier (UTF-8 string).
pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
/// Server Keep Alive (two-byte integer).
pub const SERVER_KEEP_ALIVE: u8 = 0x13;
/// Authentication Method (UTF-8 string).
pub const AUTHENTICATION_METHOD: u8 = 0x15;
/// Authentication Data (binary).
pub const AUTHENTICATION_DATA: u8 = 0x16;
/// Request Problem Information (byte).
pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
/// Will Delay Interval (four-byte integer).
pub const WILL_DELAY_INTERVAL: u8 = 0x18;
/// Request Response Information (byte).
pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
/// Response Information (UTF-8 string).
pub const RESPONSE_INFORMATION: u8 = 0x1a;
/// Server Reference (UTF-8 string).
pub const SERVER_REFERENCE: u8 = 0x1c;
/// Reason String (UTF-8 string).
pub const REASON_STRING: u8 = 0x1f;
/// Receive Maximum (two-byte integer).
pub const RECEIVE_MAXIMUM: u8 = 0x21;
/// Topic Alias Maximum (two-byte integer).
pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
/// Topic Alias (two-byte integer).
pub const TOPIC_ALIAS: u8 = 0x23;
/// Maximum QoS (byte).
pub const MAXIMUM_QOS: u8 = 0x24;
/// Retain Available (byte).
pub const RETAIN_AVAILABLE: u8 = 0x25;
/// User Property (UTF-8 string pair).
pub const USER_PROPERTY: u8 = 0x26;
/// Maximum Packet Size (four-byte integer).
pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
/// Wildcard Subscription Available (byte).
pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
/// Subscription Identifier Available (byte).
pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
/// Shared Subscription Available (byte).
pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2a;

/// The specification's name for a property identifier, if it is one.
pub fn name(id: u8) -> Option<&'static str> {
    Some(match id {
        PAYLOAD_FORMAT_INDICATOR => "payload_format_indicator",
        MESSAGE_EXPIRY_INTERVAL => "message_expiry_interval",
        CONTENT_TYPE => "content_type",
        RESPONSE_TOPIC => "response_topic",
        CORRELATION_DATA => "correlation_data",
        SUBSCRIPTION_IDENTIFIER => "subscription_identifier",
        SESSION_EXPIRY_INTERVAL => "session_expiry_interval",
        ASSIGNED_CLIENT_IDENTIFIER => "assigned_client_identifier",
        SERVER_KEEP_ALIVE => "server_keep_alive",
        AUTHENTICATION_METHOD => "authentication_method",
        AUTHENTICATION_DATA => "authentication_data",
        REQUEST_PROBLEM_INFORMATION => "request_problem_information",
        WILL_DELAY_INTERVAL => "will_delay_interval",
        REQUEST_RESPONSE_INFORMATION => "request_response_information",
        RESPONSE_INFORMATION => "response_information",
        SERVER_REFERENCE => "server_reference",
        REASON_STRING => "reason_string",
        RECEIVE_MAXIMUM => "receive_maximum",
        TOPIC_ALIAS_MAXIMUM => "topic_alias_maximum",
        TOPIC_ALIAS => "topic_alias",
        MAXIMUM_QOS => "maximum_qos",
        RETAIN_AVAILABLE => "retain_available",
        USER_PROPERTY => "user_property",
        MAXIMUM_PACKET_SIZE => "maximum_packet_size",
        WILDCARD_SUBSCRIPTION_AVAILABLE => "wildcard_subscription_available",
        SUBSCRIPTION_IDENTIFIER_AVAILABLE => "subscription_identifier_available",
        SHARED_SUBSCRIPTION_AVAILABLE => "shared_subscription_available",
        _ => return None,
    })
}

/// A property value in one of the wire encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropValue {
    /// Byte.
    Byte(u8),
    /// Two Byte Integer.
    TwoByte(u16),
    /// Four Byte Integer.
    FourByte(u32),
    /// Variable Byte Integer (minimal).
    Vbi(u32),
    /// UTF-8 Encoded String (raw bytes, not checked).
    Utf8(Vec<u8>),
    /// Binary Data.
    Binary(Vec<u8>),
    /// UTF-8 String Pair (User Property).
    Pair(Vec<u8>, Vec<u8>),
    /// These bytes after the identifier, as they are.
    Raw(Vec<u8>),
}

/// One property: identifier and value. The identifier is written as a Variable Byte Integer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// Property identifier (any value, known or not).
    pub id: u8,
    /// Value, in whatever encoding was chosen.
    pub value: PropValue,
}

impl Property {
    /// Byte-valued property.
    pub fn byte(id: u8, v: u8) -> Self {
        Self {
            id,
            value: PropValue::Byte(v),
        }
    }
    /// Two-byte-integer property.
    pub fn u16(id: u8, v: u16) -> Self {
        Self {
            id,
            value: PropValue::TwoByte(v),
        }
    }
    /// Four-byte-integer property.
    pub fn u32(id: u8, v: u32) -> Self {
        Self {
            id,
            value: PropValue::FourByte(v),
        }
    }
    /// Variable-Byte-Integer property.
    pub fn vbi(id: u8, v: u32) -> Self {
        Self {
            id,
            value: PropValue::Vbi(v),
        }
    }
    /// String property (raw bytes: may be invalid UTF-8).
    pub fn string(id: u8, s: impl AsRef<[u8]>) -> Self {
        Self {
            id,
            value: PropValue::Utf8(s.as_ref().to_vec()),
        }
    }
    /// Binary property.
    pub fn binary(id: u8, b: impl AsRef<[u8]>) -> Self {
        Self {
            id,
            value: PropValue::Binary(b.as_ref().to_vec()),
        }
    }
    /// String-pair property under any identifier.
    pub fn pair(id: u8, k: impl AsRef<[u8]>, v: impl AsRef<[u8]>) -> Self {
        Self {
            id,
            value: PropValue::Pair(k.as_ref().to_vec(), v.as_ref().to_vec()),
        }
    }
    /// Identifier followed by these bytes as they are.
    pub fn raw(id: u8, bytes: impl AsRef<[u8]>) -> Self {
        Self {
            id,
            value: PropValue::Raw(bytes.as_ref().to_vec()),
        }
    }
}

/// Payload Format Indicator.
pub fn payload_format_indicator(v: u8) -> Property {
    Property::byte(PAYLOAD_FORMAT_INDICATOR, v)
}
/// Message Expiry Interval, seconds.
pub fn message_expiry_interval(secs: u32) -> Property {
    Property::u32(MESSAGE_EXPIRY_INTERVAL, secs)
}
/// Content Type.
pub fn content_type(s: impl AsRef<[u8]>) -> Property {
    Property::string(CONTENT_TYPE, s)
}
/// Response Topic.
pub fn response_topic(s: impl AsRef<[u8]>) -> Property {
    Property::string(RESPONSE_TOPIC, s)
}
/// Correlation Data.
pub fn correlation_data(b: impl AsRef<[u8]>) -> Property {
    Property::binary(CORRELATION_DATA, b)
}
/// Subscription Identifier.
pub fn subscription_identifier(id: u32) -> Property {
    Property::vbi(SUBSCRIPTION_IDENTIFIER, id)
}
/// Session Expiry Interval, seconds.
pub fn session_expiry_interval(secs: u32) -> Property {
    Property::u32(SESSION_EXPIRY_INTERVAL, secs)
}
/// Authentication Method.
pub fn authentication_method(s: impl AsRef<[u8]>) -> Property {
    Property::string(AUTHENTICATION_METHOD, s)
}
/// Authentication Data.
pub fn authentication_data(b: impl AsRef<[u8]>) -> Property {
    Property::binary(AUTHENTICATION_DATA, b)
}
/// Request Problem Information.
pub fn request_problem_information(v: u8) -> Property {
    Property::byte(REQUEST_PROBLEM_INFORMATION, v)
}
/// Will Delay Interval, seconds.
pub fn will_delay_interval(secs: u32) -> Property {
    Property::u32(WILL_DELAY_INTERVAL, secs)
}
/// Request Response Information.
pub fn request_response_information(v: u8) -> Property {
    Property::byte(REQUEST_RESPONSE_INFORMATION, v)
}
/// Reason String.
pub fn reason_string(s: impl AsRef<[u8]>) -> Property {
    Property::string(REASON_STRING, s)
}
/// Receive Maximum.
pub fn receive_maximum(v: u16) -> Property {
    Property::u16(RECEIVE_MAXIMUM, v)
}
/// Topic Alias Maximum.
pub fn topic_alias_maximum(v: u16) -> Property {
    Property::u16(TOPIC_ALIAS_MAXIMUM, v)
}
/// Topic Alias.
pub fn topic_alias(v: u16) -> Property {
    Property::u16(TOPIC_ALIAS, v)
}
/// User Property.
pub fn user_property(k: impl AsRef<[u8]>, v: impl AsRef<[u8]>) -> Property {
    Property::pair(USER_PROPERTY, k, v)
}
/// Maximum Packet Size.
pub fn maximum_packet_size(v: u32) -> Property {
    Property::u32(MAXIMUM_PACKET_SIZE, v)
}
