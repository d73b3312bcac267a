//! CONNACK: the server's answer to CONNECT (MQTT 5.0 §3.2, 3.1.1 §3.2).
//!
//! Layout: Connect Acknowledge Flags (bit 0 Session Present, bits 7-1 reserved), then the Connect
//! Reason Code (5.0) or Connect Return Code (3.1.1), then Properties (5.0).
//!
//! One struct for both versions: a 3.1.1 return code is represented by the 5.0 reason code with
//! the same meaning (see [`ReasonCode::from_connack_return_code`]); encoding a reason code 3.1.1
//! cannot express is [`EncodeError::NotInVersion`].

use super::error::{DecodeError, EncodeError, Malformed, ProtocolViolation};
use super::header::PacketType;
use super::property::{
    properties_len, read_properties, write_properties, Properties, PropertyContext,
};
use super::reader::Reader;
use super::reason::ReasonCode;
use super::version::ProtocolVersion;
use super::writer::Writer;
use super::{check_reason_code, no_properties_in_v3, packet_encode_methods, PacketBody};

/// A CONNACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck<'a> {
    /// Session Present.
    pub session_present: bool,
    /// Connect Reason Code (5.0), or the 3.1.1 return code as its 5.0 equivalent.
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties<'a>,
}

impl<'a> ConnAck<'a> {
    /// A CONNACK with `reason_code`, no session present, no properties.
    pub const fn new(reason_code: ReasonCode) -> Self {
        ConnAck {
            session_present: false,
            reason_code,
            properties: Properties::Slice(&[]),
        }
    }
}

impl<'a> PacketBody<'a> for ConnAck<'a> {
    const TYPE: PacketType = PacketType::ConnAck;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let ack_flags = r.u8()?;
        // [MQTT-3.2.2-1] (5.0); 3.1.1 §3.2.2.1: bits 7-1 are reserved and must be 0.
        if ack_flags & 0xFE != 0 {
            return Err(Malformed::ConnAckReservedFlags(ack_flags).into());
        }
        let session_present = ack_flags & 1 != 0;
        let code = r.u8()?;
        let reason_code = match version {
            ProtocolVersion::V5 => {
                let rc = ReasonCode::from_u8(code).ok_or(Malformed::UnknownReasonCode(code))?;
                // [MQTT-3.2.2-8] (5.0): one of the Connect Reason Codes.
                check_reason_code(rc, PacketType::ConnAck)?;
                rc
            }
            // 3.1.1 §3.2.2.3: return codes 6-255 are reserved.
            ProtocolVersion::V3_1_1 => ReasonCode::from_connack_return_code(code)
                .ok_or(Malformed::UnknownReasonCode(code))?,
        };
        // [MQTT-3.2.2-6] (5.0) / [MQTT-3.2.2-4] (3.1.1): Session Present is 0 with an error.
        if session_present && reason_code != ReasonCode::Success {
            return Err(ProtocolViolation::SessionPresentWithError.into());
        }
        let properties = match version {
            ProtocolVersion::V5 => {
                read_properties(r, PropertyContext::Packet(PacketType::ConnAck))?
            }
            ProtocolVersion::V3_1_1 => Properties::empty(),
        };
        Ok(ConnAck {
            session_present,
            reason_code,
            properties,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        Ok(match version {
            ProtocolVersion::V5 => 2 + properties_len(&self.properties)?,
            ProtocolVersion::V3_1_1 => {
                self.reason_code
                    .to_connack_return_code()
                    .ok_or(EncodeError::NotInVersion {
                        what: "this CONNACK reason code",
                        version,
                    })?;
                2
            }
        })
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        no_properties_in_v3(&self.properties, version)?;
        w.put_u8(u8::from(self.session_present))?;
        match version {
            ProtocolVersion::V5 => {
                w.put_u8(self.reason_code.as_u8())?;
                write_properties(&self.properties, w)
            }
            ProtocolVersion::V3_1_1 => {
                let code =
                    self.reason_code
                        .to_connack_return_code()
                        .ok_or(EncodeError::NotInVersion {
                            what: "this CONNACK reason code",
                            version,
                        })?;
                w.put_u8(code)
            }
        }
    }
}

packet_encode_methods!(ConnAck);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::golden;
    use crate::codec::{Packet, Property};

    #[test]
    fn golden_v311_accepted_session_present() {
        let bytes = super::super::vectors::CONNACK_GOLDEN_V311_ACCEPTED_SESSION_PRESENT;
        let c = ConnAck {
            session_present: true,
            ..ConnAck::new(ReasonCode::Success)
        };
        golden(bytes, ProtocolVersion::V3_1_1, Packet::ConnAck(c));
    }

    #[test]
    fn golden_v311_return_codes_map_to_reason_codes() {
        for (rc, reason) in [
            (1, ReasonCode::UnsupportedProtocolVersion),
            (2, ReasonCode::ClientIdentifierNotValid),
            (3, ReasonCode::ServerUnavailable),
            (4, ReasonCode::BadUserNameOrPassword),
            (5, ReasonCode::NotAuthorized),
        ] {
            let bytes = [
                0x20, // CONNACK
                0x02, // Remaining Length 2
                0x00, // no Session Present
                rc,   // 3.1.1 return code
            ];
            golden(
                &bytes,
                ProtocolVersion::V3_1_1,
                Packet::ConnAck(ConnAck::new(reason)),
            );
        }
        let c = ConnAck::new(ReasonCode::Banned);
        assert!(matches!(
            c.encoded_len(ProtocolVersion::V3_1_1),
            Err(EncodeError::NotInVersion { .. })
        ));
        let mut out = [0u8; 8];
        assert!(matches!(
            c.encode(ProtocolVersion::V3_1_1, &mut out),
            Err(EncodeError::NotInVersion { .. })
        ));
    }

    #[test]
    fn golden_v5_with_properties() {
        let props = [
            Property::MaximumQoS(1),
            Property::AssignedClientIdentifier("id"),
            Property::UserProperty(("k", "v")),
        ];
        let bytes = super::super::vectors::CONNACK_GOLDEN_V5_WITH_PROPERTIES;
        let c = ConnAck {
            properties: Properties::from(&props),
            ..ConnAck::new(ReasonCode::Success)
        };
        golden(bytes, ProtocolVersion::V5, Packet::ConnAck(c));
    }

    #[test]
    fn golden_v5_refused() {
        let bytes = super::super::vectors::CONNACK_GOLDEN_V5_REFUSED;
        golden(
            bytes,
            ProtocolVersion::V5,
            Packet::ConnAck(ConnAck::new(ReasonCode::UnsupportedProtocolVersion)),
        );
    }
}
