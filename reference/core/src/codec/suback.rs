//! SUBACK: the server's answer to SUBSCRIBE (MQTT 5.0 §3.9, 3.1.1 §3.9).
//!
//! Layout: Packet Identifier; Properties (5.0: Reason String, User Property); one reason code
//! per Topic Filter of the SUBSCRIBE, in order ([MQTT-3.9.3-1] (5.0) / [MQTT-3.9.3-1] (3.1.1)).
//!
//! Checked on decode: packet identifier 0, each code is a SUBACK reason code ([MQTT-3.9.3-2]
//! (5.0): Protocol Error otherwise) or, in 3.1.1, one of 0x00, 0x01, 0x02, 0x80
//! ([MQTT-3.9.3-2] (3.1.1): the others are reserved, so malformed).

use super::error::{DecodeError, EncodeError, Malformed};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, PropertyContext,
};
use super::reader::Reader;
use super::reason::ReasonCode;
use super::seq::{Seq, SeqItem};
use super::version::ProtocolVersion;
use super::writer::Writer;
use super::{
    check_reason_code, no_properties_in_v3, packet_encode_methods, read_packet_id, PacketBody,
};

/// A reason code in a SUBACK or UNSUBACK payload: one byte.
impl<'a> SeqItem<'a> for ReasonCode {
    fn read(r: &mut Reader<'a>, _version: ProtocolVersion) -> Result<Self, DecodeError> {
        let b = r.u8()?;
        ReasonCode::from_u8(b).ok_or(Malformed::UnknownReasonCode(b).into())
    }

    fn encoded_len(&self, _version: ProtocolVersion) -> Result<usize, EncodeError> {
        Ok(1)
    }

    fn write(&self, w: &mut Writer<'_>, _version: ProtocolVersion) -> Result<(), EncodeError> {
        w.put_u8(self.as_u8())
    }
}

/// A SUBACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: u16,
    /// Properties (5.0).
    pub properties: Properties<'a>,
    /// One reason code (3.1.1: return code) per subscription.
    pub reason_codes: Seq<'a, ReasonCode>,
}

impl<'a> SubAck<'a> {
    /// A SUBACK without properties.
    pub fn new(packet_id: u16, reason_codes: &'a [ReasonCode]) -> Self {
        SubAck {
            packet_id,
            properties: Properties::empty(),
            reason_codes: Seq::Slice(reason_codes),
        }
    }
}

impl<'a> PacketBody<'a> for SubAck<'a> {
    const TYPE: PacketType = PacketType::SubAck;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = match version {
            ProtocolVersion::V5 => read_properties(r, PropertyContext::Packet(PacketType::SubAck))?,
            ProtocolVersion::V3_1_1 => Properties::empty(),
        };
        let reason_codes =
            super::seq::validate(r.rest(), version, |rc: ReasonCode| match version {
                // [MQTT-3.9.3-2] (5.0): one of the Subscribe Reason Codes.
                ProtocolVersion::V5 => check_reason_code(rc, PacketType::SubAck),
                // [MQTT-3.9.3-2] (3.1.1): only 0x00, 0x01, 0x02 and 0x80.
                ProtocolVersion::V3_1_1 if rc.is_v3_suback_code() => Ok(()),
                ProtocolVersion::V3_1_1 => Err(Malformed::UnknownReasonCode(rc.as_u8()).into()),
            })?;
        Ok(SubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        if version == ProtocolVersion::V3_1_1
            && !self.reason_codes.iter().all(ReasonCode::is_v3_suback_code)
        {
            return Err(EncodeError::NotInVersion {
                what: "this SUBACK reason code",
                version,
            });
        }
        let props = match version {
            ProtocolVersion::V5 => properties_len(&self.properties)?,
            ProtocolVersion::V3_1_1 => 0,
        };
        Ok(2 + props + self.reason_codes.encoded_len(version)?)
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        w.put_u16(self.packet_id)?;
        if version == ProtocolVersion::V5 {
            write_properties(&self.properties, w)?;
        }
        self.reason_codes.write(w, version)
    }
}

packet_encode_methods!(SubAck);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, golden};
    use crate::codec::{Packet, Property, ProtocolViolation};

    #[test]
    fn golden_v311() {
        let codes = [
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ];
        let bytes = super::super::vectors::SUBACK_GOLDEN_V311;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::SubAck(SubAck::new(1, &codes)),
        );
    }

    #[test]
    fn golden_v5() {
        let codes = [
            ReasonCode::GrantedQoS1,
            ReasonCode::SharedSubscriptionsNotSupported,
        ];
        let props = [Property::ReasonString("x")];
        let bytes = super::super::vectors::SUBACK_GOLDEN_V5;
        let p = SubAck {
            properties: Properties::from(&props),
            ..SubAck::new(2, &codes)
        };
        golden(bytes, ProtocolVersion::V5, Packet::SubAck(p));
    }

    #[test]
    fn v311_return_codes_limited() {
        // [MQTT-3.9.3-2] (3.1.1): only 0x00, 0x01, 0x02, 0x80.
        let e = decode_err(&[0x90, 0x03, 0x00, 0x01, 0x87], ProtocolVersion::V3_1_1);
        assert_eq!(
            e,
            DecodeError::Malformed(Malformed::UnknownReasonCode(0x87))
        );
        let codes = [ReasonCode::NotAuthorized];
        assert!(matches!(
            SubAck::new(1, &codes).encoded_len(ProtocolVersion::V3_1_1),
            Err(EncodeError::NotInVersion { .. })
        ));
    }

    #[test]
    fn v5_reason_code_not_allowed() {
        // [MQTT-3.9.3-2] (5.0): 0x10 No matching subscribers is not a SUBACK code.
        let e = decode_err(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x10], ProtocolVersion::V5);
        assert_eq!(
            e,
            DecodeError::Protocol(ProtocolViolation::ReasonCodeNotAllowed {
                code: ReasonCode::NoMatchingSubscribers,
                packet_type: PacketType::SubAck
            })
        );
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
}
