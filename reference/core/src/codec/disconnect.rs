//! DISCONNECT: the last packet on a connection (MQTT 5.0 §3.14, 3.1.1 §3.14).
//!
//! Layout in 5.0: an optional Disconnect Reason Code and optional Properties (Session Expiry
//! Interval, Reason String, Server Reference, User Property); Remaining Length 0 means Normal
//! disconnection (0x00) with no properties, and the encoder picks that short form. In 3.1.1 the
//! body is empty (flags 0: [MQTT-3.14.1-1] (3.1.1)).
//!
//! Checked on decode: the reason code is a Disconnect Reason Code (MQTT 5.0 §3.14.2.1).
//! Direction rules (e.g. Session Expiry Interval sent by a server) are the session's business.

use super::error::{DecodeError, EncodeError};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, PropertyContext,
};
use super::reader::Reader;
use super::reason::ReasonCode;
use super::version::ProtocolVersion;
use super::writer::Writer;
use super::{no_properties_in_v3, packet_encode_methods, read_reason_code, PacketBody};

/// A DISCONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// The reason code.
    pub reason_code: ReasonCode,
    /// Properties.
    pub properties: Properties<'a>,
}

impl<'a> Disconnect<'a> {
    /// A Normal disconnection (0x00) without properties.
    pub const fn new() -> Self {
        Disconnect {
            reason_code: ReasonCode::Success,
            properties: Properties::Slice(&[]),
        }
    }
}

impl<'a> PacketBody<'a> for Disconnect<'a> {
    const TYPE: PacketType = PacketType::Disconnect;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        if version == ProtocolVersion::V3_1_1 || r.is_empty() {
            // Remaining Length 0: Success / Normal disconnection, no properties. In 3.1.1 any
            // byte here is trailing bytes, reported by the caller.
            return Ok(Disconnect {
                reason_code: ReasonCode::Success,
                properties: Properties::empty(),
            });
        }
        // [MQTT-3.14.2-1] (5.0): one of the Disconnect Reason Codes.
        let reason_code = read_reason_code(r, PacketType::Disconnect)?;
        if r.is_empty() {
            return Ok(Disconnect {
                reason_code,
                properties: Properties::empty(),
            });
        }
        let properties = read_properties(r, PropertyContext::Packet(PacketType::Disconnect))?;
        Ok(Disconnect {
            reason_code,
            properties,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        check_v3(self, version)?;
        Ok(match version {
            ProtocolVersion::V3_1_1 => 0,
            _ if self.reason_code == ReasonCode::Success && self.properties.is_empty() => 0,
            // 5.0 §3.14.2.2: with Remaining Length 1 the Property Length is absent.
            _ if self.properties.is_empty() => 1,
            _ => 1 + properties_len(&self.properties)?,
        })
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        check_v3(self, version)?;
        if version == ProtocolVersion::V5
            && (self.reason_code != ReasonCode::Success || !self.properties.is_empty())
        {
            w.put_u8(self.reason_code.as_u8())?;
            if !self.properties.is_empty() {
                write_properties(&self.properties, w)?;
            }
        }
        Ok(())
    }
}

fn check_v3(p: &Disconnect<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
    no_properties_in_v3(&p.properties, version)?;
    if version == ProtocolVersion::V3_1_1 && p.reason_code != ReasonCode::Success {
        return Err(EncodeError::NotInVersion {
            what: "a reason code",
            version,
        });
    }
    Ok(())
}

packet_encode_methods!(Disconnect);

impl Default for Disconnect<'_> {
    fn default() -> Self {
        Disconnect::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, decodes_to, golden};
    use crate::codec::{Packet, Property, ProtocolViolation};

    #[test]
    fn golden_v311() {
        let bytes = super::super::vectors::DISCONNECT_GOLDEN_V311;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::Disconnect(Disconnect::new()),
        );
    }

    #[test]
    fn golden_v5_forms() {
        // Remaining Length 0: Normal disconnection.
        golden(
            &[0xE0, 0x00],
            ProtocolVersion::V5,
            Packet::Disconnect(Disconnect::new()),
        );
        let bytes = super::super::vectors::DISCONNECT_GOLDEN_V5_FORMS;
        let d = Disconnect {
            reason_code: ReasonCode::DisconnectWithWillMessage,
            ..Disconnect::new()
        };
        golden(bytes, ProtocolVersion::V5, Packet::Disconnect(d));
        decodes_to(
            &[0xE0, 0x02, 0x04, 0x00],
            ProtocolVersion::V5,
            Packet::Disconnect(d),
        );
        let props = [Property::SessionExpiryInterval(0)];
        let bytes = super::super::vectors::DISCONNECT_GOLDEN_V5_FORMS_2;
        let d = Disconnect {
            properties: Properties::from(&props),
            ..Disconnect::new()
        };
        golden(bytes, ProtocolVersion::V5, Packet::Disconnect(d));
    }

    #[test]
    fn reason_code_not_allowed() {
        // [MQTT-3.14.2-1] (5.0): 0x84 Unsupported Protocol Version is CONNACK only.
        let e = decode_err(&[0xE0, 0x01, 0x84], ProtocolVersion::V5);
        assert_eq!(
            e,
            DecodeError::Protocol(ProtocolViolation::ReasonCodeNotAllowed {
                code: ReasonCode::UnsupportedProtocolVersion,
                packet_type: PacketType::Disconnect
            })
        );
    }
}
