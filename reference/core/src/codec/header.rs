//! The fixed header: packet type, flags and Remaining Length (MQTT 5.0 §2.1, 3.1.1 §2.2).
//!
//! Everything that can be judged from the fixed header is judged here, as soon as the bytes are
//! there and before the body is looked at: a reserved packet type, reserved flag bits, PUBLISH
//! QoS 3 and DUP with QoS 0, and a malformed Remaining Length. The Maximum Packet Size is then
//! checked by [`decode`](super::decode) from the header alone.

use core::fmt;

use super::error::{DecodeError, Malformed};
use super::reader::decode_vbi;
use super::version::ProtocolVersion;
use super::Decoded;

/// The MQTT Control Packet type, the high nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PacketType {
    /// CONNECT (1), client to server.
    Connect = 1,
    /// CONNACK (2), server to client.
    ConnAck = 2,
    /// PUBLISH (3), both directions.
    Publish = 3,
    /// PUBACK (4).
    PubAck = 4,
    /// PUBREC (5).
    PubRec = 5,
    /// PUBREL (6).
    PubRel = 6,
    /// PUBCOMP (7).
    PubComp = 7,
    /// SUBSCRIBE (8), client to server.
    Subscribe = 8,
    /// SUBACK (9), server to client.
    SubAck = 9,
    /// UNSUBSCRIBE (10), client to server.
    Unsubscribe = 10,
    /// UNSUBACK (11), server to client.
    UnsubAck = 11,
    /// PINGREQ (12), client to server.
    PingReq = 12,
    /// PINGRESP (13), server to client.
    PingResp = 13,
    /// DISCONNECT (14); client to server only in 3.1.1.
    Disconnect = 14,
    /// AUTH (15), MQTT 5.0 only (reserved in 3.1.1).
    Auth = 15,
}

impl PacketType {
    /// Every packet type, in numeric order.
    pub const ALL: [PacketType; 15] = [
        PacketType::Connect,
        PacketType::ConnAck,
        PacketType::Publish,
        PacketType::PubAck,
        PacketType::PubRec,
        PacketType::PubRel,
        PacketType::PubComp,
        PacketType::Subscribe,
        PacketType::SubAck,
        PacketType::Unsubscribe,
        PacketType::UnsubAck,
        PacketType::PingReq,
        PacketType::PingResp,
        PacketType::Disconnect,
        PacketType::Auth,
    ];

    /// The packet type for a high-nibble value; `None` for 0 (reserved) or anything over 15.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// Whether the packet type exists in `version` (AUTH is 5.0 only).
    pub const fn exists_in(self, version: ProtocolVersion) -> bool {
        !matches!((self, version), (PacketType::Auth, ProtocolVersion::V3_1_1))
    }

    /// The value the four flag bits must have, or `None` for PUBLISH, whose flags carry
    /// DUP, QoS and RETAIN.
    ///
    /// [MQTT-2.1.3-1] (5.0) / [MQTT-2.2.2-1] (3.1.1): reserved flag bits have fixed values:
    /// 0b0010 for PUBREL ([MQTT-3.6.1-1] (both)), SUBSCRIBE ([MQTT-3.8.1-1] (both)) and UNSUBSCRIBE
    /// ([MQTT-3.10.1-1] (both)), 0 for every other packet.
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }

    /// The packet's name as the spec writes it, e.g. `"PUBLISH"`.
    pub const fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded and checked fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte; already checked against the packet type's rules.
    pub flags: u8,
    /// The Remaining Length: bytes after the fixed header.
    pub remaining_length: u32,
    /// Bytes the fixed header itself takes (2 to 5).
    pub header_len: usize,
}

impl FixedHeader {
    /// Size of the whole packet: fixed header plus Remaining Length. This is the size the
    /// Maximum Packet Size limits (MQTT 5.0 §3.1.2.11.4).
    pub fn packet_len(&self) -> u64 {
        self.header_len as u64 + u64::from(self.remaining_length)
    }

    /// Decodes and checks a fixed header at the start of `buf`.
    ///
    /// The packet type and flags are checked from the first byte, before the Remaining Length
    /// is complete. `Decoded::Incomplete(n)`: at least `n` more bytes are needed.
    ///
    /// # Errors
    /// [`Malformed::ReservedPacketType`] (type 0, or AUTH in 3.1.1), [`Malformed::InvalidFlags`],
    /// [`Malformed::PublishQoS3`], [`Malformed::PublishDupWithQoS0`], and the Variable Byte
    /// Integer errors.
    pub fn decode(
        buf: &[u8],
        version: ProtocolVersion,
    ) -> Result<Decoded<FixedHeader>, DecodeError> {
        let Some(&first) = buf.first() else {
            // The shortest packet is two bytes (PINGREQ).
            return Ok(Decoded::Incomplete(2));
        };
        let type_bits = first >> 4;
        let flags = first & 0x0F;
        let packet_type = match PacketType::from_u8(type_bits) {
            Some(t) if t.exists_in(version) => t,
            // Type 0 is reserved (both versions); 15 is reserved in 3.1.1.
            _ => return Err(Malformed::ReservedPacketType(type_bits).into()),
        };
        check_flags(packet_type, flags)?;
        match decode_vbi(buf.get(1..).unwrap_or(&[]))? {
            None => Ok(Decoded::Incomplete(1)),
            Some((remaining_length, n)) => Ok(Decoded::Complete {
                value: FixedHeader {
                    packet_type,
                    flags,
                    remaining_length,
                    header_len: 1 + n,
                },
                consumed: 1 + n,
            }),
        }
    }
}

/// Checks the flag nibble of `packet_type`.
fn check_flags(packet_type: PacketType, flags: u8) -> Result<(), DecodeError> {
    match packet_type.required_flags() {
        Some(required) => {
            // [MQTT-2.1.3-1] (5.0) / [MQTT-2.2.2-1] and [MQTT-2.2.2-2] (3.1.1): reserved flag
            // bits must hold their listed value; anything else is malformed.
            if flags != required {
                return Err(Malformed::InvalidFlags { packet_type, flags }.into());
            }
        }
        None => {
            let qos = (flags >> 1) & 0b11;
            // [MQTT-3.3.1-4] (5.0) / [MQTT-3.3.1-4] (3.1.1): both QoS bits set is malformed.
            if qos == 3 {
                return Err(Malformed::PublishQoS3.into());
            }
            // [MQTT-3.3.1-2] (5.0) / [MQTT-3.3.1-2] (3.1.1): DUP must be 0 for QoS 0.
            if qos == 0 && flags & 0b1000 != 0 {
                return Err(Malformed::PublishDupWithQoS0.into());
            }
        }
    }
    Ok(())
}
