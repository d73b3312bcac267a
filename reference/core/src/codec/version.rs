//! Protocol version and Quality of Service: the two small enums every packet needs.

use core::fmt;

/// The MQTT protocol version a connection speaks, as carried by the CONNECT Protocol Level byte.
///
/// The codec is one codec with the version as a parameter: every encode and decode function
/// takes the connection's version, except the decoding of CONNECT, which carries its own.
///
/// Protocol level 3 (MQTT 3.1, protocol name `MQIsdp`) is recognised only so that a CONNECT with
/// it is rejected with [`DecodeError::UnsupportedProtocolVersion`](super::DecodeError).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1, protocol level 4.
    V3_1_1,
    /// MQTT 5.0, protocol level 5.
    V5,
}

impl ProtocolVersion {
    /// The Protocol Level byte of CONNECT for this version.
    pub const fn level(self) -> u8 {
        match self {
            ProtocolVersion::V3_1_1 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// The version for a Protocol Level byte; `None` for any level this codec does not speak
    /// (including 3, MQTT 3.1).
    pub const fn from_level(level: u8) -> Option<Self> {
        match level {
            4 => Some(ProtocolVersion::V3_1_1),
            5 => Some(ProtocolVersion::V5),
            _ => None,
        }
    }

    /// Whether packets of this version carry properties and reason codes (5.0 only).
    pub const fn has_properties(self) -> bool {
        matches!(self, ProtocolVersion::V5)
    }

    /// Whether this is MQTT 5.0 (reason codes in acknowledgements, AUTH, DISCONNECT from the
    /// server): the same as [`has_properties`](Self::has_properties), for code that asks
    /// about the version rather than about properties.
    pub const fn is_v5(self) -> bool {
        matches!(self, ProtocolVersion::V5)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolVersion::V3_1_1 => "MQTT 3.1.1",
            ProtocolVersion::V5 => "MQTT 5.0",
        })
    }
}

/// Quality of Service level of a PUBLISH, a Will Message or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: at most once.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once.
    AtLeastOnce = 1,
    /// QoS 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for its two-bit value; `None` for 3, which every packet treats as an error.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// The numeric value, 0 to 2.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}
