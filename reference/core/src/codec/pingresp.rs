//! PINGRESP: the server's answer to PINGREQ (MQTT 5.0 §3.13, 3.1.1 §3.13).
//!
//! No variable header, no payload: Remaining Length 0, flags 0. A non-zero Remaining Length is
//! trailing bytes (malformed).

use super::error::{DecodeError, EncodeError};
use super::header::PacketType;
use super::reader::Reader;
use super::version::ProtocolVersion;
use super::writer::Writer;
use super::PacketBody;

/// A PINGRESP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PingResp;

impl<'a> PacketBody<'a> for PingResp {
    const TYPE: PacketType = PacketType::PingResp;

    fn decode_body(
        _flags: u8,
        _r: &mut Reader<'a>,
        _version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        Ok(PingResp)
    }

    fn body_len(&self, _version: ProtocolVersion) -> Result<usize, EncodeError> {
        Ok(0)
    }

    fn encode_body(
        &self,
        _w: &mut Writer<'_>,
        _version: ProtocolVersion,
    ) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl PingResp {
    /// The encoded packet: two bytes.
    pub const BYTES: [u8; 2] = [(PacketType::PingResp as u8) << 4, 0x00];

    /// Encodes the packet into `out`; returns the bytes written (2).
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`].
    pub fn encode(&self, version: ProtocolVersion, out: &mut [u8]) -> Result<usize, EncodeError> {
        super::Packet::PingResp(*self).encode(version, out)
    }
}

impl From<PingResp> for super::Packet<'_> {
    fn from(p: PingResp) -> Self {
        super::Packet::PingResp(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, golden};
    use crate::codec::{Malformed, Packet};

    #[test]
    fn golden_both_versions() {
        let bytes = super::super::vectors::PINGRESP_GOLDEN_BOTH_VERSIONS;
        assert_eq!(bytes, PingResp::BYTES);
        golden(bytes, ProtocolVersion::V3_1_1, Packet::PingResp(PingResp));
        golden(bytes, ProtocolVersion::V5, Packet::PingResp(PingResp));
    }

    #[test]
    fn remaining_length_too_long_is_malformed() {
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            assert_eq!(
                decode_err(&[0xD0, 0x01, 0x00], v),
                DecodeError::Malformed(Malformed::TrailingBytes)
            );
        }
    }
}
