//! AUTH: extended authentication exchange, MQTT 5.0 only (§3.15). Packet type 15 is reserved
//! in 3.1.1, so it is refused there by the fixed-header decoder and by the encoder.
//!
//! Layout: an optional Authenticate Reason Code and optional Properties (Authentication Method,
//! Authentication Data, Reason String, User Property); Remaining Length 0 means Success with no
//! properties. A Remaining Length of 1 (reason code, no Property Length) is accepted on decode,
//! as for DISCONNECT. Flags 0 ([MQTT-3.15.1-1] (5.0)).
//!
//! Checked on decode: the reason code is an Authenticate Reason Code ([MQTT-3.15.2-1] (5.0)).

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

/// A AUTH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// The reason code.
    pub reason_code: ReasonCode,
    /// Properties.
    pub properties: Properties<'a>,
}

impl<'a> Auth<'a> {
    /// An AUTH with `reason_code` and no properties.
    pub const fn new(reason_code: ReasonCode) -> Self {
        Auth {
            reason_code,
            properties: Properties::Slice(&[]),
        }
    }
}

impl<'a> PacketBody<'a> for Auth<'a> {
    const TYPE: PacketType = PacketType::Auth;

    fn decode_body(
        _flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        if version == ProtocolVersion::V3_1_1 || r.is_empty() {
            // Remaining Length 0: Success / Normal disconnection, no properties. In 3.1.1 any
            // byte here is trailing bytes, reported by the caller.
            return Ok(Auth {
                reason_code: ReasonCode::Success,
                properties: Properties::empty(),
            });
        }
        // [MQTT-3.15.2-1] (5.0): one of the Authenticate Reason Codes.
        let reason_code = read_reason_code(r, PacketType::Auth)?;
        if r.is_empty() {
            return Ok(Auth {
                reason_code,
                properties: Properties::empty(),
            });
        }
        let properties = read_properties(r, PropertyContext::Packet(PacketType::Auth))?;
        Ok(Auth {
            reason_code,
            properties,
        })
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        check_v3(self, version)?;
        Ok(match version {
            ProtocolVersion::V3_1_1 => 0,
            _ if self.reason_code == ReasonCode::Success && self.properties.is_empty() => 0,
            _ => 1 + properties_len(&self.properties)?,
        })
    }

    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        check_v3(self, version)?;
        if version == ProtocolVersion::V5
            && (self.reason_code != ReasonCode::Success || !self.properties.is_empty())
        {
            w.put_u8(self.reason_code.as_u8())?;
            write_properties(&self.properties, w)?;
        }
        Ok(())
    }
}

fn check_v3(p: &Auth<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
    no_properties_in_v3(&p.properties, version)?;
    if version == ProtocolVersion::V3_1_1 && p.reason_code != ReasonCode::Success {
        return Err(EncodeError::NotInVersion {
            what: "a reason code",
            version,
        });
    }
    Ok(())
}

packet_encode_methods!(Auth);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, golden};
    use crate::codec::{Malformed, Packet, Property};

    #[test]
    fn golden_v5() {
        golden(
            &[0xF0, 0x00],
            ProtocolVersion::V5,
            Packet::Auth(Auth::new(ReasonCode::Success)),
        );
        let props = [
            Property::AuthenticationMethod("m"),
            Property::AuthenticationData(&[1, 2]),
        ];
        let bytes = super::super::vectors::AUTH_GOLDEN_V5;
        let a = Auth {
            properties: Properties::from(&props),
            ..Auth::new(ReasonCode::ContinueAuthentication)
        };
        golden(bytes, ProtocolVersion::V5, Packet::Auth(a));
    }

    #[test]
    fn auth_does_not_exist_in_v311() {
        assert_eq!(
            decode_err(&[0xF0, 0x00], ProtocolVersion::V3_1_1),
            DecodeError::Malformed(Malformed::ReservedPacketType(15))
        );
        let mut out = [0u8; 4];
        assert!(matches!(
            Auth::new(ReasonCode::Success).encode(ProtocolVersion::V3_1_1, &mut out),
            Err(EncodeError::NotInVersion { .. })
        ));
    }

    #[test]
    fn reason_code_not_allowed() {
        // [MQTT-3.15.2-1] (5.0): only 0x00, 0x18, 0x19.
        let e = decode_err(&[0xF0, 0x02, 0x80, 0x00], ProtocolVersion::V5);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
}
