//! UNSUBACK: the server's answer to UNSUBSCRIBE (MQTT 5.0 §3.11, 3.1.1 §3.11).
//!
//! Layout: Packet Identifier; in 5.0 Properties (Reason String, User Property) and one reason
//! code per Topic Filter of the UNSUBSCRIBE ([MQTT-3.11.3-1] (5.0)). In 3.1.1 the packet is the
//! identifier alone, decoded with no reason codes.
//!
//! Checked on decode: packet identifier 0, each code is an Unsubscribe Reason Code
//! ([MQTT-3.11.3-2] (5.0)).

use super::error::{DecodeError, EncodeError};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, PropertyContext,
};
use super::reader::Reader;
use super::reason::ReasonCode;
use super::seq::Seq;
use super::version::ProtocolVersion;
use super::writer::Writer;
use super::{
    check_reason_code, no_properties_in_v3, packet_encode_methods, read_packet_id, PacketBody,
};

/// An UNSUBACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsubAck<'a> {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties<'a>,
    /// One reason code per Topic Filter (5.0); empty in 3.1.1.
    pub reason_codes: Seq<'a, ReasonCode>,
}

impl<'a> UnsubAck<'a> {
    /// An UNSUBACK without properties.
    pub fn new(packet_id: u16, reason_codes: &'a [ReasonCode]) -> Self {
        UnsubAck {
            packet_id,
            properties: Properties::empty(),
            reason_codes: Seq::Slice(reason_codes),
        }
    }
}

impl<'a> PacketBody<'a> for UnsubAck<'a> {
    const TYPE: PacketType = PacketType::UnsubAck;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        if version == ProtocolVersion::V3_1_1 {
            // Anything after the identifier is trailing bytes, reported by the caller.
            return Ok(UnsubAck {
                packet_id,
                properties: Properties::empty(),
                reason_codes: Seq::empty(),
            });
        }
        let properties = read_properties(r, PropertyContext::Packet(PacketType::UnsubAck))?;
        // [MQTT-3.11.3-2] (5.0): one of the Unsubscribe Reason Codes.
        let reason_codes = super::seq::validate(r.rest(), version, |rc: ReasonCode| {
            check_reason_code(rc, PacketType::UnsubAck)
        })?;
        Ok(UnsubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        check_v3(self, version)?;
        Ok(match version {
            ProtocolVersion::V5 => {
                2 + properties_len(&self.properties)? + self.reason_codes.encoded_len(version)?
            }
            ProtocolVersion::V3_1_1 => 2,
        })
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        check_v3(self, version)?;
        w.put_u16(self.packet_id)?;
        if version == ProtocolVersion::V5 {
            write_properties(&self.properties, w)?;
            self.reason_codes.write(w, version)?;
        }
        Ok(())
    }
}

fn check_v3(p: &UnsubAck<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
    no_properties_in_v3(&p.properties, version)?;
    if version == ProtocolVersion::V3_1_1 && !p.reason_codes.is_empty() {
        return Err(EncodeError::NotInVersion {
            what: "UNSUBACK reason codes",
            version,
        });
    }
    Ok(())
}

packet_encode_methods!(UnsubAck);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, golden};
    use crate::codec::{DecodeError, Malformed, Packet, ProtocolViolation};

    #[test]
    fn golden_v311() {
        let bytes = super::super::vectors::UNSUBACK_GOLDEN_V311;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::UnsubAck(UnsubAck::new(3, &[])),
        );
        assert_eq!(
            decode_err(&[0xB0, 0x03, 0x00, 0x03, 0x00], ProtocolVersion::V3_1_1),
            DecodeError::Malformed(Malformed::TrailingBytes)
        );
    }

    #[test]
    fn golden_v5() {
        let codes = [ReasonCode::Success, ReasonCode::NoSubscriptionExisted];
        let bytes = super::super::vectors::UNSUBACK_GOLDEN_V5;
        golden(
            bytes,
            ProtocolVersion::V5,
            Packet::UnsubAck(UnsubAck::new(3, &codes)),
        );
    }

    #[test]
    fn v5_reason_code_not_allowed() {
        // [MQTT-3.11.3-2] (5.0): Granted QoS 1 is not an UNSUBACK code.
        let e = decode_err(&[0xB0, 0x04, 0x00, 0x03, 0x00, 0x01], ProtocolVersion::V5);
        assert_eq!(
            e,
            DecodeError::Protocol(ProtocolViolation::ReasonCodeNotAllowed {
                code: ReasonCode::GrantedQoS1,
                packet_type: PacketType::UnsubAck
            })
        );
    }
}
