//! PUBACK: acknowledges a QoS 1 PUBLISH (MQTT 5.0 §3.4, 3.1.1 §3.4).
//!
//! The layout is shared with the other publish responses: see
//! [`pub_response`](super::pub_response).

use super::header::PacketType;
use super::pub_response::pub_response_packet;

pub_response_packet!(
    /// A PUBACK packet: acknowledges a QoS 1 PUBLISH (MQTT 5.0 §3.4, 3.1.1 §3.4).
    PubAck,
    PacketType::PubAck
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
        let bytes = super::super::vectors::PUBACK_GOLDEN_V311;
        golden(
            bytes,
            ProtocolVersion::V3_1_1,
            Packet::PubAck(PubAck::new(7)),
        );
    }

    #[test]
    fn golden_v5_short_form_success() {
        let bytes = super::super::vectors::PUBACK_GOLDEN_V5_SHORT_FORM_SUCCESS;
        golden(bytes, ProtocolVersion::V5, Packet::PubAck(PubAck::new(7)));
    }

    #[test]
    fn golden_v5_reason_code_only() {
        let bytes = super::super::vectors::PUBACK_GOLDEN_V5_REASON_CODE_ONLY;
        let p = PubAck {
            reason_code: ReasonCode::NoMatchingSubscribers,
            ..PubAck::new(7)
        };
        golden(bytes, ProtocolVersion::V5, Packet::PubAck(p));
        // The same with an explicit Property Length 0 decodes to the same packet.
        decodes_to(
            &[0x40, 0x04, 0x00, 0x07, 0x10, 0x00],
            ProtocolVersion::V5,
            Packet::PubAck(p),
        );
        // Success with Property Length 0 equals the short form.
        decodes_to(
            &[0x40, 0x04, 0x00, 0x07, 0x00, 0x00],
            ProtocolVersion::V5,
            Packet::PubAck(PubAck::new(7)),
        );
    }

    #[test]
    fn golden_v5_with_reason_string() {
        let props = [Property::ReasonString("no")];
        let bytes = super::super::vectors::PUBACK_GOLDEN_V5_WITH_REASON_STRING;
        let p = PubAck {
            properties: Properties::from(&props),
            ..PubAck::new(7)
        };
        golden(bytes, ProtocolVersion::V5, Packet::PubAck(p));
    }

    #[test]
    fn v311_cannot_carry_reason_codes() {
        let p = PubAck {
            reason_code: ReasonCode::NoMatchingSubscribers,
            ..PubAck::new(7)
        };
        assert!(matches!(
            p.encoded_len(ProtocolVersion::V3_1_1),
            Err(EncodeError::NotInVersion { .. })
        ));
        // A third byte in 3.1.1 is a Remaining Length longer than the packet: malformed.
        assert_eq!(
            decode_err(&[0x40, 0x03, 0x00, 0x07, 0x00], ProtocolVersion::V3_1_1),
            DecodeError::Malformed(crate::codec::Malformed::TrailingBytes)
        );
    }

    #[test]
    fn packet_identifier_zero_is_protocol_error() {
        // [MQTT-2.2.1-5] (5.0) / [MQTT-2.3.1-6] (3.1.1): the identifier answers a PUBLISH, never 0.
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let e = decode_err(&[0x40, 0x02, 0x00, 0x00], v);
            assert_eq!(
                e,
                DecodeError::Protocol(ProtocolViolation::PacketIdentifierZero)
            );
            assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
        }
    }
}
