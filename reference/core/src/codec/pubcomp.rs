//! PUBCOMP: answers a PUBREL, QoS 2 step 3 (MQTT 5.0 §3.7, 3.1.1 §3.7).
//!
//! The layout is shared with the other publish responses: see
//! [`pub_response`](super::pub_response).

use super::header::PacketType;
use super::pub_response::pub_response_packet;

pub_response_packet!(
    /// A PUBCOMP packet: answers a PUBREL, QoS 2 step 3 (MQTT 5.0 §3.7, 3.1.1 §3.7).
    PubComp,
    PacketType::PubComp
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, decodes_to, golden};
    use crate::codec::{
        DecodeError, EncodeError, Packet, Properties, Property, ProtocolVersion, ProtocolViolation,
        ReasonCode,
    };

    #[test]
    fn golden_v311() {
        let bytes = super::super::vectors::PUBCOMP_GOLDEN_V311;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::PubComp(PubComp::new(7)),
        );
    }

    #[test]
    fn golden_v5_short_form_success() {
        let bytes = super::super::vectors::PUBCOMP_GOLDEN_V5_SHORT_FORM_SUCCESS;
        golden(bytes, ProtocolVersion::V5, Packet::PubComp(PubComp::new(7)));
    }

    #[test]
    fn golden_v5_reason_code_only() {
        let bytes = super::super::vectors::PUBCOMP_GOLDEN_V5_REASON_CODE_ONLY;
        let p = PubComp {
            reason_code: ReasonCode::PacketIdentifierNotFound,
            ..PubComp::new(7)
        };
        golden(bytes, ProtocolVersion::V5, Packet::PubComp(p));
        // The same with an explicit Property Length 0 decodes to the same packet.
        decodes_to(
            &[0x70, 0x04, 0x00, 0x07, 0x92, 0x00],
            ProtocolVersion::V5,
            Packet::PubComp(p),
        );
        // Success with Property Length 0 equals the short form.
        decodes_to(
            &[0x70, 0x04, 0x00, 0x07, 0x00, 0x00],
            ProtocolVersion::V5,
            Packet::PubComp(PubComp::new(7)),
        );
    }

    #[test]
    fn golden_v5_with_reason_string() {
        let props = [Property::ReasonString("no")];
        let bytes = super::super::vectors::PUBCOMP_GOLDEN_V5_WITH_REASON_STRING;
        let p = PubComp {
            properties: Properties::from(&props),
            ..PubComp::new(7)
        };
        golden(bytes, ProtocolVersion::V5, Packet::PubComp(p));
    }

    #[test]
    fn v311_cannot_carry_reason_codes() {
        let p = PubComp {
            reason_code: ReasonCode::PacketIdentifierNotFound,
            ..PubComp::new(7)
        };
        assert!(matches!(
            p.encoded_len(ProtocolVersion::V3_1_1),
            Err(EncodeError::NotInVersion { .. })
        ));
        // A third byte in 3.1.1 is a Remaining Length longer than the packet: malformed.
        assert_eq!(
            decode_err(&[0x70, 0x03, 0x00, 0x07, 0x00], ProtocolVersion::V3_1_1),
            DecodeError::Malformed(crate::codec::Malformed::TrailingBytes)
        );
    }

    #[test]
    fn packet_identifier_zero_is_protocol_error() {
        // [MQTT-2.2.1-5] (5.0) / [MQTT-2.3.1-6] (3.1.1): the identifier answers a PUBLISH, never 0.
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let e = decode_err(&[0x70, 0x02, 0x00, 0x00], v);
            assert_eq!(
                e,
                DecodeError::Protocol(ProtocolViolation::PacketIdentifierZero)
            );
            assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
        }
    }
}
