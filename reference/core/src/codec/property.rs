//! MQTT 5.0 properties (§2.2.2, Table 2-4): identifiers, value types, which packets may carry
//! each, and the checks the decoder runs on a property list.
//!
//! [`Properties`] is a [`Seq`] of [`Property`]: from decode, the validated raw bytes (iterated
//! lazily); to encode, a caller-given `&[Property]`. MQTT 3.1.1 has no properties: a 3.1.1
//! packet always decodes with empty properties and refuses to encode non-empty ones.
//!
//! Checks on decode ([`validate`]):
//! - an identifier the spec does not define: Malformed Packet;
//! - a property not allowed in this packet (or in the Will Properties): Protocol Error;
//! - a property twice, except User Property (anywhere) and Subscription Identifier (in PUBLISH):
//!   Protocol Error (MQTT 5.0 §2.2.2.2 and each property's "It is a Protocol Error to include
//!   ... more than once");
//! - the value ranges the spec gives: boolean bytes other than 0 or 1, Maximum QoS other than 0
//!   or 1, Receive Maximum 0, Maximum Packet Size 0, Subscription Identifier 0, and a Response
//!   Topic with wildcards ([MQTT-3.3.2-14] (5.0)): Protocol Error; Topic Alias 0
//!   ([MQTT-3.3.2-8] (5.0)): Topic Alias invalid (0x94).

use core::fmt;

use super::error::{DecodeError, EncodeError, Malformed, ProtocolViolation};
use super::header::PacketType;
use super::reader::Reader;
use super::seq::{Seq, SeqItem};
use super::version::ProtocolVersion;
use super::writer::{prefixed_len, vbi_encoded_len, Writer};

/// A packet's properties: see the module documentation.
pub type Properties<'a> = Seq<'a, Property<'a>>;

/// The data type of a property value (MQTT 5.0 §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// Byte.
    Byte,
    /// Two Byte Integer.
    TwoByteInteger,
    /// Four Byte Integer.
    FourByteInteger,
    /// Variable Byte Integer.
    VariableByteInteger,
    /// UTF-8 Encoded String.
    Utf8String,
    /// Binary Data.
    BinaryData,
    /// UTF-8 String Pair.
    Utf8StringPair,
}

/// Where a property list is found: a packet's properties, or CONNECT's Will Properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    /// The properties of a packet of this type.
    Packet(PacketType),
    /// The Will Properties in the CONNECT payload.
    Will,
}

impl PropertyContext {
    const fn bit(self) -> u16 {
        match self {
            PropertyContext::Will => 1,
            PropertyContext::Packet(t) => 1 << (t as u8),
        }
    }
}

impl fmt::Display for PropertyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyContext::Packet(t) => write!(f, "{t}"),
            PropertyContext::Will => f.write_str("Will Properties"),
        }
    }
}

/// A property identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PropertyId {
    /// 0x01 Payload Format Indicator: 0 unspecified bytes, 1 UTF-8 (only 0 or 1 accepted).
    PayloadFormatIndicator = 0x01,
    /// 0x02 Message Expiry Interval, seconds.
    MessageExpiryInterval = 0x02,
    /// 0x03 Content Type.
    ContentType = 0x03,
    /// 0x08 Response Topic (a topic name, no wildcards: [MQTT-3.3.2-14] (5.0)).
    ResponseTopic = 0x08,
    /// 0x09 Correlation Data.
    CorrelationData = 0x09,
    /// 0x0B Subscription Identifier, 1 to 268,435,455 (0 is a Protocol Error).
    SubscriptionIdentifier = 0x0B,
    /// 0x11 Session Expiry Interval, seconds.
    SessionExpiryInterval = 0x11,
    /// 0x12 Assigned Client Identifier.
    AssignedClientIdentifier = 0x12,
    /// 0x13 Server Keep Alive, seconds.
    ServerKeepAlive = 0x13,
    /// 0x15 Authentication Method.
    AuthenticationMethod = 0x15,
    /// 0x16 Authentication Data.
    AuthenticationData = 0x16,
    /// 0x17 Request Problem Information (0 or 1).
    RequestProblemInformation = 0x17,
    /// 0x18 Will Delay Interval, seconds.
    WillDelayInterval = 0x18,
    /// 0x19 Request Response Information (0 or 1).
    RequestResponseInformation = 0x19,
    /// 0x1A Response Information.
    ResponseInformation = 0x1A,
    /// 0x1C Server Reference.
    ServerReference = 0x1C,
    /// 0x1F Reason String.
    ReasonString = 0x1F,
    /// 0x21 Receive Maximum (0 is a Protocol Error).
    ReceiveMaximum = 0x21,
    /// 0x22 Topic Alias Maximum.
    TopicAliasMaximum = 0x22,
    /// 0x23 Topic Alias (0 is invalid: [MQTT-3.3.2-8] (5.0)).
    TopicAlias = 0x23,
    /// 0x24 Maximum QoS (0 or 1).
    MaximumQoS = 0x24,
    /// 0x25 Retain Available (0 or 1).
    RetainAvailable = 0x25,
    /// 0x26 User Property: name, value; may repeat, order kept.
    UserProperty = 0x26,
    /// 0x27 Maximum Packet Size (0 is a Protocol Error).
    MaximumPacketSize = 0x27,
    /// 0x28 Wildcard Subscription Available (0 or 1).
    WildcardSubscriptionAvailable = 0x28,
    /// 0x29 Subscription Identifiers Available (0 or 1).
    SubscriptionIdentifierAvailable = 0x29,
    /// 0x2A Shared Subscription Available (0 or 1).
    SharedSubscriptionAvailable = 0x2A,
}

impl PropertyId {
    /// Every property identifier, in numeric order.
    pub const ALL: [PropertyId; 27] = [
        PropertyId::PayloadFormatIndicator,
        PropertyId::MessageExpiryInterval,
        PropertyId::ContentType,
        PropertyId::ResponseTopic,
        PropertyId::CorrelationData,
        PropertyId::SubscriptionIdentifier,
        PropertyId::SessionExpiryInterval,
        PropertyId::AssignedClientIdentifier,
        PropertyId::ServerKeepAlive,
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
        PropertyId::RequestProblemInformation,
        PropertyId::WillDelayInterval,
        PropertyId::RequestResponseInformation,
        PropertyId::ResponseInformation,
        PropertyId::ServerReference,
        PropertyId::ReasonString,
        PropertyId::ReceiveMaximum,
        PropertyId::TopicAliasMaximum,
        PropertyId::TopicAlias,
        PropertyId::MaximumQoS,
        PropertyId::RetainAvailable,
        PropertyId::UserProperty,
        PropertyId::MaximumPacketSize,
        PropertyId::WildcardSubscriptionAvailable,
        PropertyId::SubscriptionIdentifierAvailable,
        PropertyId::SharedSubscriptionAvailable,
    ];

    /// The identifier for a byte; `None` if the spec defines none.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x01 => PropertyId::PayloadFormatIndicator,
            0x02 => PropertyId::MessageExpiryInterval,
            0x03 => PropertyId::ContentType,
            0x08 => PropertyId::ResponseTopic,
            0x09 => PropertyId::CorrelationData,
            0x0B => PropertyId::SubscriptionIdentifier,
            0x11 => PropertyId::SessionExpiryInterval,
            0x12 => PropertyId::AssignedClientIdentifier,
            0x13 => PropertyId::ServerKeepAlive,
            0x15 => PropertyId::AuthenticationMethod,
            0x16 => PropertyId::AuthenticationData,
            0x17 => PropertyId::RequestProblemInformation,
            0x18 => PropertyId::WillDelayInterval,
            0x19 => PropertyId::RequestResponseInformation,
            0x1A => PropertyId::ResponseInformation,
            0x1C => PropertyId::ServerReference,
            0x1F => PropertyId::ReasonString,
            0x21 => PropertyId::ReceiveMaximum,
            0x22 => PropertyId::TopicAliasMaximum,
            0x23 => PropertyId::TopicAlias,
            0x24 => PropertyId::MaximumQoS,
            0x25 => PropertyId::RetainAvailable,
            0x26 => PropertyId::UserProperty,
            0x27 => PropertyId::MaximumPacketSize,
            0x28 => PropertyId::WildcardSubscriptionAvailable,
            0x29 => PropertyId::SubscriptionIdentifierAvailable,
            0x2A => PropertyId::SharedSubscriptionAvailable,
            _ => return None,
        })
    }

    /// The value type.
    pub const fn value_type(self) -> PropertyType {
        match self {
            PropertyId::PayloadFormatIndicator => PropertyType::Byte,
            PropertyId::MessageExpiryInterval => PropertyType::FourByteInteger,
            PropertyId::ContentType => PropertyType::Utf8String,
            PropertyId::ResponseTopic => PropertyType::Utf8String,
            PropertyId::CorrelationData => PropertyType::BinaryData,
            PropertyId::SubscriptionIdentifier => PropertyType::VariableByteInteger,
            PropertyId::SessionExpiryInterval => PropertyType::FourByteInteger,
            PropertyId::AssignedClientIdentifier => PropertyType::Utf8String,
            PropertyId::ServerKeepAlive => PropertyType::TwoByteInteger,
            PropertyId::AuthenticationMethod => PropertyType::Utf8String,
            PropertyId::AuthenticationData => PropertyType::BinaryData,
            PropertyId::RequestProblemInformation => PropertyType::Byte,
            PropertyId::WillDelayInterval => PropertyType::FourByteInteger,
            PropertyId::RequestResponseInformation => PropertyType::Byte,
            PropertyId::ResponseInformation => PropertyType::Utf8String,
            PropertyId::ServerReference => PropertyType::Utf8String,
            PropertyId::ReasonString => PropertyType::Utf8String,
            PropertyId::ReceiveMaximum => PropertyType::TwoByteInteger,
            PropertyId::TopicAliasMaximum => PropertyType::TwoByteInteger,
            PropertyId::TopicAlias => PropertyType::TwoByteInteger,
            PropertyId::MaximumQoS => PropertyType::Byte,
            PropertyId::RetainAvailable => PropertyType::Byte,
            PropertyId::UserProperty => PropertyType::Utf8StringPair,
            PropertyId::MaximumPacketSize => PropertyType::FourByteInteger,
            PropertyId::WildcardSubscriptionAvailable => PropertyType::Byte,
            PropertyId::SubscriptionIdentifierAvailable => PropertyType::Byte,
            PropertyId::SharedSubscriptionAvailable => PropertyType::Byte,
        }
    }

    /// Whether this property may appear in `context` (MQTT 5.0 Table 2-4).
    pub const fn allowed_in(self, context: PropertyContext) -> bool {
        let mask: u16 = match self {
            PropertyId::PayloadFormatIndicator => 0b0000000000001001,
            PropertyId::MessageExpiryInterval => 0b0000000000001001,
            PropertyId::ContentType => 0b0000000000001001,
            PropertyId::ResponseTopic => 0b0000000000001001,
            PropertyId::CorrelationData => 0b0000000000001001,
            PropertyId::SubscriptionIdentifier => 0b0000000100001000,
            PropertyId::SessionExpiryInterval => 0b0100000000000110,
            PropertyId::AssignedClientIdentifier => 0b0000000000000100,
            PropertyId::ServerKeepAlive => 0b0000000000000100,
            PropertyId::AuthenticationMethod => 0b1000000000000110,
            PropertyId::AuthenticationData => 0b1000000000000110,
            PropertyId::RequestProblemInformation => 0b0000000000000010,
            PropertyId::WillDelayInterval => 0b0000000000000001,
            PropertyId::RequestResponseInformation => 0b0000000000000010,
            PropertyId::ResponseInformation => 0b0000000000000100,
            PropertyId::ServerReference => 0b0100000000000100,
            PropertyId::ReasonString => 0b1100101011110100,
            PropertyId::ReceiveMaximum => 0b0000000000000110,
            PropertyId::TopicAliasMaximum => 0b0000000000000110,
            PropertyId::TopicAlias => 0b0000000000001000,
            PropertyId::MaximumQoS => 0b0000000000000100,
            PropertyId::RetainAvailable => 0b0000000000000100,
            PropertyId::UserProperty => 0b1100111111111111,
            PropertyId::MaximumPacketSize => 0b0000000000000110,
            PropertyId::WildcardSubscriptionAvailable => 0b0000000000000100,
            PropertyId::SubscriptionIdentifierAvailable => 0b0000000000000100,
            PropertyId::SharedSubscriptionAvailable => 0b0000000000000100,
        };
        mask & context.bit() != 0
    }

    /// Whether this property may appear more than once in `context`: User Property anywhere,
    /// Subscription Identifier in PUBLISH (one per matching subscription, MQTT 5.0 §3.3.2.3.8).
    pub const fn may_repeat(self, context: PropertyContext) -> bool {
        match self {
            PropertyId::UserProperty => true,
            PropertyId::SubscriptionIdentifier => {
                matches!(context, PropertyContext::Packet(PacketType::Publish))
            }
            _ => false,
        }
    }

    /// The property's name as the spec writes it.
    pub const fn name(self) -> &'static str {
        match self {
            PropertyId::PayloadFormatIndicator => "Payload Format Indicator",
            PropertyId::MessageExpiryInterval => "Message Expiry Interval",
            PropertyId::ContentType => "Content Type",
            PropertyId::ResponseTopic => "Response Topic",
            PropertyId::CorrelationData => "Correlation Data",
            PropertyId::SubscriptionIdentifier => "Subscription Identifier",
            PropertyId::SessionExpiryInterval => "Session Expiry Interval",
            PropertyId::AssignedClientIdentifier => "Assigned Client Identifier",
            PropertyId::ServerKeepAlive => "Server Keep Alive",
            PropertyId::AuthenticationMethod => "Authentication Method",
            PropertyId::AuthenticationData => "Authentication Data",
            PropertyId::RequestProblemInformation => "Request Problem Information",
            PropertyId::WillDelayInterval => "Will Delay Interval",
            PropertyId::RequestResponseInformation => "Request Response Information",
            PropertyId::ResponseInformation => "Response Information",
            PropertyId::ServerReference => "Server Reference",
            PropertyId::ReasonString => "Reason String",
            PropertyId::ReceiveMaximum => "Receive Maximum",
            PropertyId::TopicAliasMaximum => "Topic Alias Maximum",
            PropertyId::TopicAlias => "Topic Alias",
            PropertyId::MaximumQoS => "Maximum QoS",
            PropertyId::RetainAvailable => "Retain Available",
            PropertyId::UserProperty => "User Property",
            PropertyId::MaximumPacketSize => "Maximum Packet Size",
            PropertyId::WildcardSubscriptionAvailable => "Wildcard Subscription Available",
            PropertyId::SubscriptionIdentifierAvailable => "Subscription Identifiers Available",
            PropertyId::SharedSubscriptionAvailable => "Shared Subscription Available",
        }
    }
}

impl fmt::Display for PropertyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), *self as u8)
    }
}

/// A property with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Property<'a> {
    /// 0x01 Payload Format Indicator: 0 unspecified bytes, 1 UTF-8 (only 0 or 1 accepted).
    PayloadFormatIndicator(u8),
    /// 0x02 Message Expiry Interval, seconds.
    MessageExpiryInterval(u32),
    /// 0x03 Content Type.
    ContentType(&'a str),
    /// 0x08 Response Topic (a topic name, no wildcards: [MQTT-3.3.2-14] (5.0)).
    ResponseTopic(&'a str),
    /// 0x09 Correlation Data.
    CorrelationData(&'a [u8]),
    /// 0x0B Subscription Identifier, 1 to 268,435,455 (0 is a Protocol Error).
    SubscriptionIdentifier(u32),
    /// 0x11 Session Expiry Interval, seconds.
    SessionExpiryInterval(u32),
    /// 0x12 Assigned Client Identifier.
    AssignedClientIdentifier(&'a str),
    /// 0x13 Server Keep Alive, seconds.
    ServerKeepAlive(u16),
    /// 0x15 Authentication Method.
    AuthenticationMethod(&'a str),
    /// 0x16 Authentication Data.
    AuthenticationData(&'a [u8]),
    /// 0x17 Request Problem Information (0 or 1).
    RequestProblemInformation(u8),
    /// 0x18 Will Delay Interval, seconds.
    WillDelayInterval(u32),
    /// 0x19 Request Response Information (0 or 1).
    RequestResponseInformation(u8),
    /// 0x1A Response Information.
    ResponseInformation(&'a str),
    /// 0x1C Server Reference.
    ServerReference(&'a str),
    /// 0x1F Reason String.
    ReasonString(&'a str),
    /// 0x21 Receive Maximum (0 is a Protocol Error).
    ReceiveMaximum(u16),
    /// 0x22 Topic Alias Maximum.
    TopicAliasMaximum(u16),
    /// 0x23 Topic Alias (0 is invalid: [MQTT-3.3.2-8] (5.0)).
    TopicAlias(u16),
    /// 0x24 Maximum QoS (0 or 1).
    MaximumQoS(u8),
    /// 0x25 Retain Available (0 or 1).
    RetainAvailable(u8),
    /// 0x26 User Property: name, value; may repeat, order kept.
    UserProperty((&'a str, &'a str)),
    /// 0x27 Maximum Packet Size (0 is a Protocol Error).
    MaximumPacketSize(u32),
    /// 0x28 Wildcard Subscription Available (0 or 1).
    WildcardSubscriptionAvailable(u8),
    /// 0x29 Subscription Identifiers Available (0 or 1).
    SubscriptionIdentifierAvailable(u8),
    /// 0x2A Shared Subscription Available (0 or 1).
    SharedSubscriptionAvailable(u8),
}

impl<'a> Property<'a> {
    /// The identifier.
    pub const fn id(&self) -> PropertyId {
        match self {
            Property::PayloadFormatIndicator(..) => PropertyId::PayloadFormatIndicator,
            Property::MessageExpiryInterval(..) => PropertyId::MessageExpiryInterval,
            Property::ContentType(..) => PropertyId::ContentType,
            Property::ResponseTopic(..) => PropertyId::ResponseTopic,
            Property::CorrelationData(..) => PropertyId::CorrelationData,
            Property::SubscriptionIdentifier(..) => PropertyId::SubscriptionIdentifier,
            Property::SessionExpiryInterval(..) => PropertyId::SessionExpiryInterval,
            Property::AssignedClientIdentifier(..) => PropertyId::AssignedClientIdentifier,
            Property::ServerKeepAlive(..) => PropertyId::ServerKeepAlive,
            Property::AuthenticationMethod(..) => PropertyId::AuthenticationMethod,
            Property::AuthenticationData(..) => PropertyId::AuthenticationData,
            Property::RequestProblemInformation(..) => PropertyId::RequestProblemInformation,
            Property::WillDelayInterval(..) => PropertyId::WillDelayInterval,
            Property::RequestResponseInformation(..) => PropertyId::RequestResponseInformation,
            Property::ResponseInformation(..) => PropertyId::ResponseInformation,
            Property::ServerReference(..) => PropertyId::ServerReference,
            Property::ReasonString(..) => PropertyId::ReasonString,
            Property::ReceiveMaximum(..) => PropertyId::ReceiveMaximum,
            Property::TopicAliasMaximum(..) => PropertyId::TopicAliasMaximum,
            Property::TopicAlias(..) => PropertyId::TopicAlias,
            Property::MaximumQoS(..) => PropertyId::MaximumQoS,
            Property::RetainAvailable(..) => PropertyId::RetainAvailable,
            Property::UserProperty(..) => PropertyId::UserProperty,
            Property::MaximumPacketSize(..) => PropertyId::MaximumPacketSize,
            Property::WildcardSubscriptionAvailable(..) => {
                PropertyId::WildcardSubscriptionAvailable
            }
            Property::SubscriptionIdentifierAvailable(..) => {
                PropertyId::SubscriptionIdentifierAvailable
            }
            Property::SharedSubscriptionAvailable(..) => PropertyId::SharedSubscriptionAvailable,
        }
    }
}

impl<'a> SeqItem<'a> for Property<'a> {
    fn read(r: &mut Reader<'a>, _version: ProtocolVersion) -> Result<Self, DecodeError> {
        // The identifier is a Variable Byte Integer; every defined one fits in one byte.
        let raw = r.vbi()?;
        let id = u8::try_from(raw).ok().and_then(PropertyId::from_u8).ok_or(
            Malformed::UnknownProperty(u8::try_from(raw).unwrap_or(u8::MAX)),
        )?;
        Ok(match id {
            PropertyId::PayloadFormatIndicator => Property::PayloadFormatIndicator(r.u8()?),
            PropertyId::MessageExpiryInterval => Property::MessageExpiryInterval(r.u32()?),
            PropertyId::ContentType => Property::ContentType(r.utf8()?),
            PropertyId::ResponseTopic => Property::ResponseTopic(r.utf8()?),
            PropertyId::CorrelationData => Property::CorrelationData(r.binary()?),
            PropertyId::SubscriptionIdentifier => Property::SubscriptionIdentifier(r.vbi()?),
            PropertyId::SessionExpiryInterval => Property::SessionExpiryInterval(r.u32()?),
            PropertyId::AssignedClientIdentifier => Property::AssignedClientIdentifier(r.utf8()?),
            PropertyId::ServerKeepAlive => Property::ServerKeepAlive(r.u16()?),
            PropertyId::AuthenticationMethod => Property::AuthenticationMethod(r.utf8()?),
            PropertyId::AuthenticationData => Property::AuthenticationData(r.binary()?),
            PropertyId::RequestProblemInformation => Property::RequestProblemInformation(r.u8()?),
            PropertyId::WillDelayInterval => Property::WillDelayInterval(r.u32()?),
            PropertyId::RequestResponseInformation => Property::RequestResponseInformation(r.u8()?),
            PropertyId::ResponseInformation => Property::ResponseInformation(r.utf8()?),
            PropertyId::ServerReference => Property::ServerReference(r.utf8()?),
            PropertyId::ReasonString => Property::ReasonString(r.utf8()?),
            PropertyId::ReceiveMaximum => Property::ReceiveMaximum(r.u16()?),
            PropertyId::TopicAliasMaximum => Property::TopicAliasMaximum(r.u16()?),
            PropertyId::TopicAlias => Property::TopicAlias(r.u16()?),
            PropertyId::MaximumQoS => Property::MaximumQoS(r.u8()?),
            PropertyId::RetainAvailable => Property::RetainAvailable(r.u8()?),
            PropertyId::UserProperty => {
                let (k, v) = r.utf8_pair()?;
                Property::UserProperty((k, v))
            }
            PropertyId::MaximumPacketSize => Property::MaximumPacketSize(r.u32()?),
            PropertyId::WildcardSubscriptionAvailable => {
                Property::WildcardSubscriptionAvailable(r.u8()?)
            }
            PropertyId::SubscriptionIdentifierAvailable => {
                Property::SubscriptionIdentifierAvailable(r.u8()?)
            }
            PropertyId::SharedSubscriptionAvailable => {
                Property::SharedSubscriptionAvailable(r.u8()?)
            }
        })
    }

    fn encoded_len(&self, _version: ProtocolVersion) -> Result<usize, EncodeError> {
        // One byte of identifier (all identifiers are below 128) plus the value.
        let value = match *self {
            Property::PayloadFormatIndicator(_)
            | Property::RequestProblemInformation(_)
            | Property::RequestResponseInformation(_)
            | Property::MaximumQoS(_)
            | Property::RetainAvailable(_)
            | Property::WildcardSubscriptionAvailable(_)
            | Property::SubscriptionIdentifierAvailable(_)
            | Property::SharedSubscriptionAvailable(_) => 1,
            Property::MessageExpiryInterval(_)
            | Property::SessionExpiryInterval(_)
            | Property::WillDelayInterval(_)
            | Property::MaximumPacketSize(_) => 4,
            Property::ContentType(v)
            | Property::ResponseTopic(v)
            | Property::AssignedClientIdentifier(v)
            | Property::AuthenticationMethod(v)
            | Property::ResponseInformation(v)
            | Property::ServerReference(v)
            | Property::ReasonString(v) => prefixed_len(v.len())?,
            Property::CorrelationData(v) | Property::AuthenticationData(v) => {
                prefixed_len(v.len())?
            }
            Property::SubscriptionIdentifier(v) => vbi_encoded_len(v)?,
            Property::ServerKeepAlive(_)
            | Property::ReceiveMaximum(_)
            | Property::TopicAliasMaximum(_)
            | Property::TopicAlias(_) => 2,
            Property::UserProperty((k, v)) => prefixed_len(k.len())? + prefixed_len(v.len())?,
        };
        Ok(1 + value)
    }

    fn write(&self, w: &mut Writer<'_>, _version: ProtocolVersion) -> Result<(), EncodeError> {
        w.put_u8(self.id() as u8)?;
        match *self {
            Property::PayloadFormatIndicator(v)
            | Property::RequestProblemInformation(v)
            | Property::RequestResponseInformation(v)
            | Property::MaximumQoS(v)
            | Property::RetainAvailable(v)
            | Property::WildcardSubscriptionAvailable(v)
            | Property::SubscriptionIdentifierAvailable(v)
            | Property::SharedSubscriptionAvailable(v) => w.put_u8(v),
            Property::MessageExpiryInterval(v)
            | Property::SessionExpiryInterval(v)
            | Property::WillDelayInterval(v)
            | Property::MaximumPacketSize(v) => w.put_u32(v),
            Property::ContentType(v)
            | Property::ResponseTopic(v)
            | Property::AssignedClientIdentifier(v)
            | Property::AuthenticationMethod(v)
            | Property::ResponseInformation(v)
            | Property::ServerReference(v)
            | Property::ReasonString(v) => w.put_utf8(v),
            Property::CorrelationData(v) | Property::AuthenticationData(v) => w.put_binary(v),
            Property::SubscriptionIdentifier(v) => w.put_vbi(v),
            Property::ServerKeepAlive(v)
            | Property::ReceiveMaximum(v)
            | Property::TopicAliasMaximum(v)
            | Property::TopicAlias(v) => w.put_u16(v),
            Property::UserProperty((k, v)) => {
                w.put_utf8(k)?;
                w.put_utf8(v)
            }
        }
    }
}

/// Checks the value ranges the spec gives for a single property.
fn check_value(p: &Property<'_>) -> Result<(), DecodeError> {
    let bad = ProtocolViolation::InvalidPropertyValue(p.id()).into();
    match *p {
        // Boolean bytes: "It is a Protocol Error to include ... a value other than 0 or 1"
        // (MQTT 5.0 §3.1.2.11.6, §3.1.2.11.7, §3.2.2.3.5, §3.2.2.3.11, §3.2.2.3.12,
        // §3.2.2.3.13); Payload Format Indicator has only the values 0 and 1 (§3.3.2.3.2).
        Property::PayloadFormatIndicator(v)
        | Property::RequestProblemInformation(v)
        | Property::RequestResponseInformation(v)
        | Property::RetainAvailable(v)
        | Property::WildcardSubscriptionAvailable(v)
        | Property::SubscriptionIdentifierAvailable(v)
        | Property::SharedSubscriptionAvailable(v)
        | Property::MaximumQoS(v)
            if v > 1 =>
        {
            // Maximum QoS: "a value other than 0 or 1" is a Protocol Error (§3.2.2.3.4).
            Err(bad)
        }
        // Receive Maximum 0 is a Protocol Error (§3.1.2.11.3, §3.2.2.3.3).
        Property::ReceiveMaximum(0) => Err(bad),
        // Maximum Packet Size 0 is a Protocol Error (§3.1.2.11.4, §3.2.2.3.6).
        Property::MaximumPacketSize(0) => Err(bad),
        // Subscription Identifier 0 is a Protocol Error (§3.3.2.3.8, §3.8.2.1.2).
        Property::SubscriptionIdentifier(0) => Err(bad),
        // [MQTT-3.3.2-8] (5.0): Topic Alias 0 is not permitted; reason code 0x94.
        Property::TopicAlias(0) => Err(DecodeError::TopicAliasInvalid),
        // [MQTT-3.3.2-14] (5.0): the Response Topic must not contain wildcards.
        Property::ResponseTopic(t) => match crate::topic::validate_topic_name(t) {
            Ok(()) => Ok(()),
            Err(_) => Err(bad),
        },
        _ => Ok(()),
    }
}

/// Reads a Property Length and the property list it announces, validating it for `context`.
///
/// # Errors
/// See the module documentation.
pub(crate) fn read_properties<'a>(
    r: &mut Reader<'a>,
    context: PropertyContext,
) -> Result<Properties<'a>, DecodeError> {
    let len = r.vbi()?;
    let bytes = r.take(usize::try_from(len).map_err(|_| Malformed::UnexpectedEnd)?)?;
    validate(bytes, context)
}

/// Validates an encoded property list (without its length prefix) for `context`.
///
/// # Errors
/// See the module documentation.
pub fn validate(bytes: &[u8], context: PropertyContext) -> Result<Properties<'_>, DecodeError> {
    // Identifiers are below 64, so one bit each records what was seen.
    let mut seen: u64 = 0;
    super::seq::validate(bytes, ProtocolVersion::V5, |p: Property<'_>| {
        let id = p.id();
        if !id.allowed_in(context) {
            return Err(ProtocolViolation::PropertyNotAllowed {
                property: id,
                context,
            }
            .into());
        }
        let bit = 1u64 << (id as u8 & 63);
        if seen & bit != 0 && !id.may_repeat(context) {
            return Err(ProtocolViolation::DuplicateProperty(id).into());
        }
        seen |= bit;
        check_value(&p)
    })
}

/// Bytes a property list takes on the wire, including its Property Length.
///
/// # Errors
/// When a value cannot be represented.
pub(crate) fn properties_len(p: &Properties<'_>) -> Result<usize, EncodeError> {
    let inner = p.encoded_len(ProtocolVersion::V5)?;
    let inner32 = u32::try_from(inner).map_err(|_| EncodeError::PacketTooLarge(inner))?;
    Ok(vbi_encoded_len(inner32)? + inner)
}

/// Writes a Property Length and the property list.
///
/// # Errors
/// When a value cannot be represented, or the buffer is full.
pub(crate) fn write_properties(p: &Properties<'_>, w: &mut Writer<'_>) -> Result<(), EncodeError> {
    let inner = p.encoded_len(ProtocolVersion::V5)?;
    let inner32 = u32::try_from(inner).map_err(|_| EncodeError::PacketTooLarge(inner))?;
    w.put_vbi(inner32)?;
    p.write(w, ProtocolVersion::V5)
}

impl<'a> Properties<'a> {
    /// The first property with identifier `id`.
    pub fn get(&self, id: PropertyId) -> Option<Property<'a>> {
        self.iter().find(|p| p.id() == id)
    }

    /// The User Properties, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter_map(|p| match p {
            Property::UserProperty(kv) => Some(kv),
            _ => None,
        })
    }
}
