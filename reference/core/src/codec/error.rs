//! Decode and encode errors, split by cause, and the reason code each one requires.
//!
//! Like rustls' `InvalidMessage` / `PeerMisbehaved`, a decode error says *why* the bytes were
//! refused: [`Malformed`] (the bytes cannot be parsed: MQTT 5.0 §4.13 "Malformed Packet", reason
//! code 0x81), [`ProtocolViolation`] (parsed, but the data is not allowed: "Protocol Error",
//! 0x82), or one of the causes that have their own reason code (0x84, 0x8F, 0x90, 0x94, 0x95).
//! [`DecodeError::reason_code`] (also `From<DecodeError> for ReasonCode`) gives the code to put
//! in the CONNACK or DISCONNECT. A short input is not an error: see [`Decoded`](super::Decoded).

use core::fmt;

use super::header::PacketType;
use super::property::{PropertyContext, PropertyId};
use super::reason::ReasonCode;
use super::version::ProtocolVersion;
use crate::topic::TopicError;

/// Why a packet could not be decoded.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes cannot be parsed as the packet they claim to be (reason code 0x81).
    Malformed(Malformed),
    /// The packet parsed, but holds data the protocol forbids (reason code 0x82).
    Protocol(ProtocolViolation),
    /// The packet is larger than the Maximum Packet Size the receiver set (reason code 0x95).
    /// Detected from the fixed header, before the body is read.
    PacketTooLarge {
        /// Fixed header plus Remaining Length, in bytes.
        size: u64,
        /// The limit.
        maximum: u32,
    },
    /// CONNECT asks for a protocol level this codec does not speak (3, MQTT 3.1 `MQIsdp`, or
    /// anything other than 4 and 5): reason code 0x84, return code 0x01 in 3.1.1
    /// ([MQTT-3.1.2-2] (5.0) / [MQTT-3.1.2-2] (3.1.1)).
    UnsupportedProtocolVersion {
        /// The Protocol Level byte received.
        level: u8,
    },
    /// CONNECT's protocol name is neither `MQTT` nor `MQIsdp` ([MQTT-3.1.2-1] (5.0) /
    /// [MQTT-3.1.2-1] (3.1.1)); answered like an unsupported version (0x84), as 5.0 allows.
    InvalidProtocolName,
    /// A PUBLISH topic name or Will Topic is not a valid topic name (reason code 0x90), e.g.
    /// it has a wildcard ([MQTT-3.3.2-2] (5.0) / [MQTT-3.3.2-2] (3.1.1)).
    TopicNameInvalid(TopicError),
    /// A SUBSCRIBE or UNSUBSCRIBE topic filter is not valid (reason code 0x8F).
    TopicFilterInvalid(TopicError),
    /// A Topic Alias property of 0 ([MQTT-3.3.2-8] (5.0)), reason code 0x94.
    TopicAliasInvalid,
}

/// Malformed Packet causes: the bytes do not follow the encoding rules.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A Variable Byte Integer not in its minimal encoding ([MQTT-1.5.5-1] (5.0)).
    VarIntNonMinimal,
    /// A Variable Byte Integer longer than four bytes.
    VarIntTooLong,
    /// Packet type 0, or 15 (AUTH) in 3.1.1.
    ReservedPacketType(u8),
    /// Reserved fixed-header flag bits with the wrong value ([MQTT-2.1.3-1] (5.0) /
    /// [MQTT-2.2.2-1] (3.1.1)).
    InvalidFlags {
        /// The packet type of the header.
        packet_type: PacketType,
        /// The flag nibble received.
        flags: u8,
    },
    /// PUBLISH with both QoS bits set ([MQTT-3.3.1-4] (5.0) / [MQTT-3.3.1-4] (3.1.1)).
    PublishQoS3,
    /// PUBLISH with DUP set and QoS 0 ([MQTT-3.3.1-2] (5.0) / [MQTT-3.3.1-2] (3.1.1)).
    PublishDupWithQoS0,
    /// The Remaining Length (or a Property Length) ends before the fields it must hold.
    UnexpectedEnd,
    /// Bytes left after the last field: the Remaining Length or a Property Length is too long.
    TrailingBytes,
    /// A UTF-8 Encoded String is not well-formed UTF-8 ([MQTT-1.5.4-1] (5.0) / [MQTT-1.5.3-1]
    /// (3.1.1)).
    InvalidUtf8,
    /// A UTF-8 Encoded String encodes a surrogate U+D800..U+DFFF ([MQTT-1.5.4-1] (5.0) /
    /// [MQTT-1.5.3-1] (3.1.1)).
    Surrogate,
    /// A UTF-8 Encoded String holds U+0000 ([MQTT-1.5.4-2] (5.0) / [MQTT-1.5.3-2] (3.1.1)).
    NullCharacter,
    /// A property identifier the spec does not define.
    UnknownProperty(u8),
    /// A reason code (or 3.1.1 return code) the spec does not define.
    UnknownReasonCode(u8),
    /// CONNECT's reserved flag bit is 1 ([MQTT-3.1.2-3] (5.0) / [MQTT-3.1.2-3] (3.1.1)).
    ConnectReservedFlag,
    /// Will QoS non-zero without the Will Flag ([MQTT-3.1.2-11] (5.0) / [MQTT-3.1.2-13] (3.1.1)).
    WillQoSWithoutWill,
    /// Will Retain set without the Will Flag ([MQTT-3.1.2-13] (5.0) / [MQTT-3.1.2-15] (3.1.1)).
    WillRetainWithoutWill,
    /// Will QoS 3 ([MQTT-3.1.2-12] (5.0) / [MQTT-3.1.2-14] (3.1.1)).
    WillQoS3,
    /// 3.1.1 only: Password Flag set without the User Name Flag ([MQTT-3.1.2-22] (3.1.1)).
    PasswordWithoutUsername,
    /// CONNACK Acknowledge Flags bits 7-1 are not 0 ([MQTT-3.2.2-1] (5.0); 3.1.1 §3.2.2.1).
    ConnAckReservedFlags(u8),
    /// Subscription Options reserved bits set ([MQTT-3.8.3-5] (5.0) / [MQTT-3.8.3-4] (3.1.1)).
    SubscriptionOptionsReserved(u8),
    /// 3.1.1 only: a requested QoS of 3 in SUBSCRIBE ([MQTT-3.8.3-4] (3.1.1)).
    SubscriptionQoS3,
}

/// Protocol Error causes: the packet parsed but breaks a rule of the protocol.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolViolation {
    /// A property appears twice where only User Property (and Subscription Identifier in
    /// PUBLISH) may repeat (MQTT 5.0 §2.2.2.2).
    DuplicateProperty(PropertyId),
    /// A property this packet (or the Will Properties) may not carry (MQTT 5.0 Table 2-4).
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// Where it was found.
        context: PropertyContext,
    },
    /// A property value outside the range the spec gives (e.g. Receive Maximum 0, Subscription
    /// Identifier 0, Maximum QoS 2, a boolean byte other than 0 or 1).
    InvalidPropertyValue(PropertyId),
    /// Packet Identifier 0 where a non-zero one is required ([MQTT-2.2.1-3] (5.0) /
    /// [MQTT-2.3.1-1] (3.1.1)).
    PacketIdentifierZero,
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter ([MQTT-3.8.3-2], [MQTT-3.10.3-2] (5.0) /
    /// [MQTT-3.8.3-3], [MQTT-3.10.3-2] (3.1.1)).
    NoTopicFilters(PacketType),
    /// 5.0 Subscription Options with Retain Handling 3 (MQTT 5.0 §3.8.3.1).
    RetainHandling3,
    /// 5.0 Subscription Options with Maximum QoS 3 (MQTT 5.0 §3.8.3.1).
    SubscriptionQoS3,
    /// No Local set on a shared subscription ([MQTT-3.8.3-4] (5.0)).
    NoLocalOnSharedSubscription,
    /// A reason code this packet may not carry (MQTT 5.0 Table 2-6; [MQTT-3.2.2-8],
    /// [MQTT-3.4.2-1], [MQTT-3.9.3-2], [MQTT-3.11.3-2], [MQTT-3.15.2-1] (5.0);
    /// [MQTT-3.9.3-2] (3.1.1)).
    ReasonCodeNotAllowed {
        /// The reason code.
        code: ReasonCode,
        /// The packet it was found in.
        packet_type: PacketType,
    },
    /// A 5.0 PUBLISH with an empty topic name and no Topic Alias (MQTT 5.0 §3.3.2.1).
    EmptyTopicWithoutAlias,
    /// CONNACK with Session Present 1 and an error code ([MQTT-3.2.2-6] (5.0) /
    /// [MQTT-3.2.2-4] (3.1.1)).
    SessionPresentWithError,
}

impl DecodeError {
    /// The reason code the spec requires for this error (in a CONNACK or a DISCONNECT).
    pub const fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::Malformed(_) => ReasonCode::MalformedPacket,
            DecodeError::Protocol(_) => ReasonCode::ProtocolError,
            DecodeError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            DecodeError::UnsupportedProtocolVersion { .. } | DecodeError::InvalidProtocolName => {
                ReasonCode::UnsupportedProtocolVersion
            }
            DecodeError::TopicNameInvalid(_) => ReasonCode::TopicNameInvalid,
            DecodeError::TopicFilterInvalid(_) => ReasonCode::TopicFilterInvalid,
            DecodeError::TopicAliasInvalid => ReasonCode::TopicAliasInvalid,
        }
    }
}

impl From<Malformed> for DecodeError {
    fn from(m: Malformed) -> Self {
        DecodeError::Malformed(m)
    }
}

impl From<ProtocolViolation> for DecodeError {
    fn from(p: ProtocolViolation) -> Self {
        DecodeError::Protocol(p)
    }
}

impl From<DecodeError> for ReasonCode {
    fn from(e: DecodeError) -> Self {
        e.reason_code()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Malformed(m) => write!(f, "malformed packet: {m}"),
            DecodeError::Protocol(p) => write!(f, "protocol error: {p}"),
            DecodeError::PacketTooLarge { size, maximum } => {
                write!(
                    f,
                    "packet of {size} bytes exceeds the maximum packet size {maximum}"
                )
            }
            DecodeError::UnsupportedProtocolVersion { level } => {
                write!(f, "unsupported protocol level {level}")
            }
            DecodeError::InvalidProtocolName => f.write_str("protocol name is not \"MQTT\""),
            DecodeError::TopicNameInvalid(e) => write!(f, "invalid topic name: {e}"),
            DecodeError::TopicFilterInvalid(e) => write!(f, "invalid topic filter: {e}"),
            DecodeError::TopicAliasInvalid => f.write_str("topic alias 0"),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::VarIntNonMinimal => {
                f.write_str("variable byte integer not minimally encoded")
            }
            Malformed::VarIntTooLong => f.write_str("variable byte integer longer than 4 bytes"),
            Malformed::ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            Malformed::InvalidFlags { packet_type, flags } => {
                write!(
                    f,
                    "invalid fixed header flags {flags:#06b} for {packet_type}"
                )
            }
            Malformed::PublishQoS3 => f.write_str("PUBLISH with QoS 3"),
            Malformed::PublishDupWithQoS0 => f.write_str("PUBLISH with DUP set and QoS 0"),
            Malformed::UnexpectedEnd => f.write_str("length too short for the fields it holds"),
            Malformed::TrailingBytes => f.write_str("bytes left after the last field"),
            Malformed::InvalidUtf8 => f.write_str("string is not well-formed UTF-8"),
            Malformed::Surrogate => f.write_str("string encodes a UTF-16 surrogate"),
            Malformed::NullCharacter => f.write_str("string contains U+0000"),
            Malformed::UnknownProperty(id) => write!(f, "unknown property identifier {id:#04x}"),
            Malformed::UnknownReasonCode(c) => write!(f, "unknown reason code {c:#04x}"),
            Malformed::ConnectReservedFlag => f.write_str("CONNECT reserved flag set"),
            Malformed::WillQoSWithoutWill => f.write_str("Will QoS set without Will Flag"),
            Malformed::WillRetainWithoutWill => f.write_str("Will Retain set without Will Flag"),
            Malformed::WillQoS3 => f.write_str("Will QoS 3"),
            Malformed::PasswordWithoutUsername => {
                f.write_str("Password Flag without User Name Flag")
            }
            Malformed::ConnAckReservedFlags(b) => write!(f, "CONNACK reserved flags {b:#04x}"),
            Malformed::SubscriptionOptionsReserved(b) => {
                write!(f, "subscription options reserved bits set ({b:#04x})")
            }
            Malformed::SubscriptionQoS3 => f.write_str("subscription QoS 3"),
        }
    }
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolViolation::DuplicateProperty(p) => write!(f, "property {p} included twice"),
            ProtocolViolation::PropertyNotAllowed { property, context } => {
                write!(f, "property {property} not allowed in {context}")
            }
            ProtocolViolation::InvalidPropertyValue(p) => {
                write!(f, "invalid value for property {p}")
            }
            ProtocolViolation::PacketIdentifierZero => f.write_str("packet identifier 0"),
            ProtocolViolation::NoTopicFilters(t) => write!(f, "{t} without topic filters"),
            ProtocolViolation::RetainHandling3 => f.write_str("retain handling 3"),
            ProtocolViolation::SubscriptionQoS3 => f.write_str("subscription maximum QoS 3"),
            ProtocolViolation::NoLocalOnSharedSubscription => {
                f.write_str("No Local set on a shared subscription")
            }
            ProtocolViolation::ReasonCodeNotAllowed { code, packet_type } => {
                write!(f, "reason code {code} not allowed in {packet_type}")
            }
            ProtocolViolation::EmptyTopicWithoutAlias => {
                f.write_str("empty topic name without a topic alias")
            }
            ProtocolViolation::SessionPresentWithError => {
                f.write_str("session present set with an error reason code")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Why a packet could not be encoded. Encoding checks representability (lengths, ranges, what
/// the version can express), not protocol rules, so a test client can encode packets a
/// conforming peer must reject (a wildcard topic name, a packet identifier 0, a duplicate
/// property...).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A string or binary field is longer than 65,535 bytes.
    FieldTooLong(usize),
    /// A Variable Byte Integer value over 268,435,455.
    VarIntOutOfRange(u32),
    /// The Remaining Length would exceed 268,435,455.
    PacketTooLarge(usize),
    /// The packet uses something `version` cannot express (properties or a reason code in
    /// 3.1.1, AUTH in 3.1.1, 5.0 subscription options in 3.1.1...).
    NotInVersion {
        /// What could not be expressed.
        what: &'static str,
        /// The version asked for.
        version: ProtocolVersion,
    },
    /// A PUBLISH has a packet identifier with QoS 0, or none with QoS 1 or 2.
    PacketIdMismatch,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "buffer too small: {needed} bytes needed, {available} available"
                )
            }
            EncodeError::FieldTooLong(n) => write!(f, "field of {n} bytes exceeds 65535"),
            EncodeError::VarIntOutOfRange(v) => {
                write!(f, "value {v} exceeds the variable byte integer maximum")
            }
            EncodeError::PacketTooLarge(n) => {
                write!(f, "remaining length {n} exceeds 268435455")
            }
            EncodeError::NotInVersion { what, version } => {
                write!(f, "{what} cannot be expressed in {version}")
            }
            EncodeError::PacketIdMismatch => {
                f.write_str("PUBLISH packet identifier must be present iff QoS > 0")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}
