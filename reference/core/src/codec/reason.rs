//! Reason codes (MQTT 5.0 §2.4, Table 2-6) and which packets may carry each.
//!
//! One [`ReasonCode`] enum for every packet: value 0x00 has three names in the spec (Success,
//! Normal disconnection, Granted QoS 0) and is one variant here, [`ReasonCode::Success`], with
//! the other names as associated constants. MQTT 3.1.1 has no reason codes, but its CONNACK
//! return codes and SUBACK return codes map onto 5.0 ones (see
//! [`ReasonCode::from_connack_return_code`]), so that packets are one type for both versions.

use core::fmt;

use super::header::PacketType;

/// An MQTT 5.0 reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ReasonCode {
    /// 0x00 Success (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH); also Normal disconnection (DISCONNECT) and Granted QoS 0 (SUBACK).
    Success = 0x00,
    /// 0x01 Granted QoS 1.
    GrantedQoS1 = 0x01,
    /// 0x02 Granted QoS 2.
    GrantedQoS2 = 0x02,
    /// 0x04 Disconnect with Will Message.
    DisconnectWithWillMessage = 0x04,
    /// 0x10 No matching subscribers.
    NoMatchingSubscribers = 0x10,
    /// 0x11 No subscription existed.
    NoSubscriptionExisted = 0x11,
    /// 0x18 Continue authentication.
    ContinueAuthentication = 0x18,
    /// 0x19 Re-authenticate.
    ReAuthenticate = 0x19,
    /// 0x80 Unspecified error.
    UnspecifiedError = 0x80,
    /// 0x81 Malformed Packet.
    MalformedPacket = 0x81,
    /// 0x82 Protocol Error.
    ProtocolError = 0x82,
    /// 0x83 Implementation specific error.
    ImplementationSpecificError = 0x83,
    /// 0x84 Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84,
    /// 0x85 Client Identifier not valid.
    ClientIdentifierNotValid = 0x85,
    /// 0x86 Bad User Name or Password.
    BadUserNameOrPassword = 0x86,
    /// 0x87 Not authorized.
    NotAuthorized = 0x87,
    /// 0x88 Server unavailable.
    ServerUnavailable = 0x88,
    /// 0x89 Server busy.
    ServerBusy = 0x89,
    /// 0x8A Banned.
    Banned = 0x8A,
    /// 0x8B Server shutting down.
    ServerShuttingDown = 0x8B,
    /// 0x8C Bad authentication method.
    BadAuthenticationMethod = 0x8C,
    /// 0x8D Keep Alive timeout.
    KeepAliveTimeout = 0x8D,
    /// 0x8E Session taken over.
    SessionTakenOver = 0x8E,
    /// 0x8F Topic Filter invalid.
    TopicFilterInvalid = 0x8F,
    /// 0x90 Topic Name invalid.
    TopicNameInvalid = 0x90,
    /// 0x91 Packet Identifier in use.
    PacketIdentifierInUse = 0x91,
    /// 0x92 Packet Identifier not found.
    PacketIdentifierNotFound = 0x92,
    /// 0x93 Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93,
    /// 0x94 Topic Alias invalid.
    TopicAliasInvalid = 0x94,
    /// 0x95 Packet too large.
    PacketTooLarge = 0x95,
    /// 0x96 Message rate too high.
    MessageRateTooHigh = 0x96,
    /// 0x97 Quota exceeded.
    QuotaExceeded = 0x97,
    /// 0x98 Administrative action.
    AdministrativeAction = 0x98,
    /// 0x99 Payload format invalid.
    PayloadFormatInvalid = 0x99,
    /// 0x9A Retain not supported.
    RetainNotSupported = 0x9A,
    /// 0x9B QoS not supported.
    QoSNotSupported = 0x9B,
    /// 0x9C Use another server.
    UseAnotherServer = 0x9C,
    /// 0x9D Server moved.
    ServerMoved = 0x9D,
    /// 0x9E Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E,
    /// 0x9F Connection rate exceeded.
    ConnectionRateExceeded = 0x9F,
    /// 0xA0 Maximum connect time.
    MaximumConnectTime = 0xA0,
    /// 0xA1 Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1,
    /// 0xA2 Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2,
}

impl ReasonCode {
    /// 0x00 under its DISCONNECT name.
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode::Success;
    /// 0x00 under its SUBACK name.
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode::Success;

    /// Every reason code, in numeric order.
    pub const ALL: [ReasonCode; 43] = [
        ReasonCode::Success,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::DisconnectWithWillMessage,
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::NoSubscriptionExisted,
        ReasonCode::ContinueAuthentication,
        ReasonCode::ReAuthenticate,
        ReasonCode::UnspecifiedError,
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
        ReasonCode::ImplementationSpecificError,
        ReasonCode::UnsupportedProtocolVersion,
        ReasonCode::ClientIdentifierNotValid,
        ReasonCode::BadUserNameOrPassword,
        ReasonCode::NotAuthorized,
        ReasonCode::ServerUnavailable,
        ReasonCode::ServerBusy,
        ReasonCode::Banned,
        ReasonCode::ServerShuttingDown,
        ReasonCode::BadAuthenticationMethod,
        ReasonCode::KeepAliveTimeout,
        ReasonCode::SessionTakenOver,
        ReasonCode::TopicFilterInvalid,
        ReasonCode::TopicNameInvalid,
        ReasonCode::PacketIdentifierInUse,
        ReasonCode::PacketIdentifierNotFound,
        ReasonCode::ReceiveMaximumExceeded,
        ReasonCode::TopicAliasInvalid,
        ReasonCode::PacketTooLarge,
        ReasonCode::MessageRateTooHigh,
        ReasonCode::QuotaExceeded,
        ReasonCode::AdministrativeAction,
        ReasonCode::PayloadFormatInvalid,
        ReasonCode::RetainNotSupported,
        ReasonCode::QoSNotSupported,
        ReasonCode::UseAnotherServer,
        ReasonCode::ServerMoved,
        ReasonCode::SharedSubscriptionsNotSupported,
        ReasonCode::ConnectionRateExceeded,
        ReasonCode::MaximumConnectTime,
        ReasonCode::SubscriptionIdentifiersNotSupported,
        ReasonCode::WildcardSubscriptionsNotSupported,
    ];

    /// The reason code for a byte; `None` for a value the spec does not define.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x00 => ReasonCode::Success,
            0x01 => ReasonCode::GrantedQoS1,
            0x02 => ReasonCode::GrantedQoS2,
            0x04 => ReasonCode::DisconnectWithWillMessage,
            0x10 => ReasonCode::NoMatchingSubscribers,
            0x11 => ReasonCode::NoSubscriptionExisted,
            0x18 => ReasonCode::ContinueAuthentication,
            0x19 => ReasonCode::ReAuthenticate,
            0x80 => ReasonCode::UnspecifiedError,
            0x81 => ReasonCode::MalformedPacket,
            0x82 => ReasonCode::ProtocolError,
            0x83 => ReasonCode::ImplementationSpecificError,
            0x84 => ReasonCode::UnsupportedProtocolVersion,
            0x85 => ReasonCode::ClientIdentifierNotValid,
            0x86 => ReasonCode::BadUserNameOrPassword,
            0x87 => ReasonCode::NotAuthorized,
            0x88 => ReasonCode::ServerUnavailable,
            0x89 => ReasonCode::ServerBusy,
            0x8A => ReasonCode::Banned,
            0x8B => ReasonCode::ServerShuttingDown,
            0x8C => ReasonCode::BadAuthenticationMethod,
            0x8D => ReasonCode::KeepAliveTimeout,
            0x8E => ReasonCode::SessionTakenOver,
            0x8F => ReasonCode::TopicFilterInvalid,
            0x90 => ReasonCode::TopicNameInvalid,
            0x91 => ReasonCode::PacketIdentifierInUse,
            0x92 => ReasonCode::PacketIdentifierNotFound,
            0x93 => ReasonCode::ReceiveMaximumExceeded,
            0x94 => ReasonCode::TopicAliasInvalid,
            0x95 => ReasonCode::PacketTooLarge,
            0x96 => ReasonCode::MessageRateTooHigh,
            0x97 => ReasonCode::QuotaExceeded,
            0x98 => ReasonCode::AdministrativeAction,
            0x99 => ReasonCode::PayloadFormatInvalid,
            0x9A => ReasonCode::RetainNotSupported,
            0x9B => ReasonCode::QoSNotSupported,
            0x9C => ReasonCode::UseAnotherServer,
            0x9D => ReasonCode::ServerMoved,
            0x9E => ReasonCode::SharedSubscriptionsNotSupported,
            0x9F => ReasonCode::ConnectionRateExceeded,
            0xA0 => ReasonCode::MaximumConnectTime,
            0xA1 => ReasonCode::SubscriptionIdentifiersNotSupported,
            0xA2 => ReasonCode::WildcardSubscriptionsNotSupported,
            _ => return None,
        })
    }

    /// The byte value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether the code reports a failure (0x80 and above).
    pub const fn is_error(self) -> bool {
        self.as_u8() >= 0x80
    }

    /// Whether a packet of type `packet_type` may carry this reason code (MQTT 5.0 Table 2-6).
    /// Packets without reason codes (CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
    /// PINGRESP) allow none.
    pub const fn allowed_in(self, packet_type: PacketType) -> bool {
        use PacketType as P;
        match self {
            ReasonCode::Success => matches!(
                packet_type,
                P::ConnAck
                    | P::PubAck
                    | P::PubRec
                    | P::PubRel
                    | P::PubComp
                    | P::UnsubAck
                    | P::Auth
                    | P::Disconnect
                    | P::SubAck
            ),
            ReasonCode::GrantedQoS1 => matches!(packet_type, P::SubAck),
            ReasonCode::GrantedQoS2 => matches!(packet_type, P::SubAck),
            ReasonCode::DisconnectWithWillMessage => matches!(packet_type, P::Disconnect),
            ReasonCode::NoMatchingSubscribers => matches!(packet_type, P::PubAck | P::PubRec),
            ReasonCode::NoSubscriptionExisted => matches!(packet_type, P::UnsubAck),
            ReasonCode::ContinueAuthentication => matches!(packet_type, P::Auth),
            ReasonCode::ReAuthenticate => matches!(packet_type, P::Auth),
            ReasonCode::UnspecifiedError => matches!(
                packet_type,
                P::ConnAck | P::PubAck | P::PubRec | P::SubAck | P::UnsubAck | P::Disconnect
            ),
            ReasonCode::MalformedPacket => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::ProtocolError => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::ImplementationSpecificError => matches!(
                packet_type,
                P::ConnAck | P::PubAck | P::PubRec | P::SubAck | P::UnsubAck | P::Disconnect
            ),
            ReasonCode::UnsupportedProtocolVersion => matches!(packet_type, P::ConnAck),
            ReasonCode::ClientIdentifierNotValid => matches!(packet_type, P::ConnAck),
            ReasonCode::BadUserNameOrPassword => matches!(packet_type, P::ConnAck),
            ReasonCode::NotAuthorized => matches!(
                packet_type,
                P::ConnAck | P::PubAck | P::PubRec | P::SubAck | P::UnsubAck | P::Disconnect
            ),
            ReasonCode::ServerUnavailable => matches!(packet_type, P::ConnAck),
            ReasonCode::ServerBusy => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::Banned => matches!(packet_type, P::ConnAck),
            ReasonCode::ServerShuttingDown => matches!(packet_type, P::Disconnect),
            ReasonCode::BadAuthenticationMethod => {
                matches!(packet_type, P::ConnAck | P::Disconnect)
            }
            ReasonCode::KeepAliveTimeout => matches!(packet_type, P::Disconnect),
            ReasonCode::SessionTakenOver => matches!(packet_type, P::Disconnect),
            ReasonCode::TopicFilterInvalid => {
                matches!(packet_type, P::SubAck | P::UnsubAck | P::Disconnect)
            }
            ReasonCode::TopicNameInvalid => matches!(
                packet_type,
                P::ConnAck | P::PubAck | P::PubRec | P::Disconnect
            ),
            ReasonCode::PacketIdentifierInUse => {
                matches!(packet_type, P::PubAck | P::PubRec | P::SubAck | P::UnsubAck)
            }
            ReasonCode::PacketIdentifierNotFound => matches!(packet_type, P::PubRel | P::PubComp),
            ReasonCode::ReceiveMaximumExceeded => matches!(packet_type, P::Disconnect),
            ReasonCode::TopicAliasInvalid => matches!(packet_type, P::Disconnect),
            ReasonCode::PacketTooLarge => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::MessageRateTooHigh => matches!(packet_type, P::Disconnect),
            ReasonCode::QuotaExceeded => matches!(
                packet_type,
                P::ConnAck | P::PubAck | P::PubRec | P::SubAck | P::Disconnect
            ),
            ReasonCode::AdministrativeAction => matches!(packet_type, P::Disconnect),
            ReasonCode::PayloadFormatInvalid => matches!(
                packet_type,
                P::ConnAck | P::PubAck | P::PubRec | P::Disconnect
            ),
            ReasonCode::RetainNotSupported => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::QoSNotSupported => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::UseAnotherServer => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::ServerMoved => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::SharedSubscriptionsNotSupported => {
                matches!(packet_type, P::SubAck | P::Disconnect)
            }
            ReasonCode::ConnectionRateExceeded => matches!(packet_type, P::ConnAck | P::Disconnect),
            ReasonCode::MaximumConnectTime => matches!(packet_type, P::Disconnect),
            ReasonCode::SubscriptionIdentifiersNotSupported => {
                matches!(packet_type, P::SubAck | P::Disconnect)
            }
            ReasonCode::WildcardSubscriptionsNotSupported => {
                matches!(packet_type, P::SubAck | P::Disconnect)
            }
        }
    }

    /// The name the spec gives this code (for 0x00, "Success").
    pub const fn name(self) -> &'static str {
        match self {
            ReasonCode::Success => "Success",
            ReasonCode::GrantedQoS1 => "Granted QoS 1",
            ReasonCode::GrantedQoS2 => "Granted QoS 2",
            ReasonCode::DisconnectWithWillMessage => "Disconnect with Will Message",
            ReasonCode::NoMatchingSubscribers => "No matching subscribers",
            ReasonCode::NoSubscriptionExisted => "No subscription existed",
            ReasonCode::ContinueAuthentication => "Continue authentication",
            ReasonCode::ReAuthenticate => "Re-authenticate",
            ReasonCode::UnspecifiedError => "Unspecified error",
            ReasonCode::MalformedPacket => "Malformed Packet",
            ReasonCode::ProtocolError => "Protocol Error",
            ReasonCode::ImplementationSpecificError => "Implementation specific error",
            ReasonCode::UnsupportedProtocolVersion => "Unsupported Protocol Version",
            ReasonCode::ClientIdentifierNotValid => "Client Identifier not valid",
            ReasonCode::BadUserNameOrPassword => "Bad User Name or Password",
            ReasonCode::NotAuthorized => "Not authorized",
            ReasonCode::ServerUnavailable => "Server unavailable",
            ReasonCode::ServerBusy => "Server busy",
            ReasonCode::Banned => "Banned",
            ReasonCode::ServerShuttingDown => "Server shutting down",
            ReasonCode::BadAuthenticationMethod => "Bad authentication method",
            ReasonCode::KeepAliveTimeout => "Keep Alive timeout",
            ReasonCode::SessionTakenOver => "Session taken over",
            ReasonCode::TopicFilterInvalid => "Topic Filter invalid",
            ReasonCode::TopicNameInvalid => "Topic Name invalid",
            ReasonCode::PacketIdentifierInUse => "Packet Identifier in use",
            ReasonCode::PacketIdentifierNotFound => "Packet Identifier not found",
            ReasonCode::ReceiveMaximumExceeded => "Receive Maximum exceeded",
            ReasonCode::TopicAliasInvalid => "Topic Alias invalid",
            ReasonCode::PacketTooLarge => "Packet too large",
            ReasonCode::MessageRateTooHigh => "Message rate too high",
            ReasonCode::QuotaExceeded => "Quota exceeded",
            ReasonCode::AdministrativeAction => "Administrative action",
            ReasonCode::PayloadFormatInvalid => "Payload format invalid",
            ReasonCode::RetainNotSupported => "Retain not supported",
            ReasonCode::QoSNotSupported => "QoS not supported",
            ReasonCode::UseAnotherServer => "Use another server",
            ReasonCode::ServerMoved => "Server moved",
            ReasonCode::SharedSubscriptionsNotSupported => "Shared Subscriptions not supported",
            ReasonCode::ConnectionRateExceeded => "Connection rate exceeded",
            ReasonCode::MaximumConnectTime => "Maximum connect time",
            ReasonCode::SubscriptionIdentifiersNotSupported => {
                "Subscription Identifiers not supported"
            }
            ReasonCode::WildcardSubscriptionsNotSupported => "Wildcard Subscriptions not supported",
        }
    }

    /// MQTT 3.1.1 CONNACK return code (§3.2.2.3) as the matching 5.0 reason code: 0 Success,
    /// 1 Unsupported Protocol Version, 2 Client Identifier not valid, 3 Server unavailable,
    /// 4 Bad User Name or Password, 5 Not authorized. `None` for 6..=255 (reserved).
    pub const fn from_connack_return_code(v: u8) -> Option<Self> {
        Some(match v {
            0 => ReasonCode::Success,
            1 => ReasonCode::UnsupportedProtocolVersion,
            2 => ReasonCode::ClientIdentifierNotValid,
            3 => ReasonCode::ServerUnavailable,
            4 => ReasonCode::BadUserNameOrPassword,
            5 => ReasonCode::NotAuthorized,
            _ => return None,
        })
    }

    /// The MQTT 3.1.1 CONNACK return code for this reason code, the inverse of
    /// [`ReasonCode::from_connack_return_code`]; `None` if 3.1.1 has no equivalent.
    pub const fn to_connack_return_code(self) -> Option<u8> {
        Some(match self {
            ReasonCode::Success => 0,
            ReasonCode::UnsupportedProtocolVersion => 1,
            ReasonCode::ClientIdentifierNotValid => 2,
            ReasonCode::ServerUnavailable => 3,
            ReasonCode::BadUserNameOrPassword => 4,
            ReasonCode::NotAuthorized => 5,
            _ => return None,
        })
    }

    /// Whether this code is one of the MQTT 3.1.1 SUBACK return codes, which share their values
    /// with 5.0: 0x00, 0x01, 0x02 and 0x80 ([MQTT-3.9.3-2] (3.1.1)).
    pub const fn is_v3_suback_code(self) -> bool {
        matches!(
            self,
            ReasonCode::Success
                | ReasonCode::GrantedQoS1
                | ReasonCode::GrantedQoS2
                | ReasonCode::UnspecifiedError
        )
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} {}", self.as_u8(), self.name())
    }
}
