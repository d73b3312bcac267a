//! PINGREQ: the client's keep-alive probe (MQTT 5.0 §3.12, 3.1.1 §3.12).
//!
//! No variable header, no payload: Remaining Length 0, flags 0. A non-zero Remaining Length is
//! trailing bytes (malformed).

use super::error::{DecodeError, EncodeError};
use super::header::PacketType;
use super::reader::Reader;
use super::version::ProtocolVersion;
use super::writer::Writer;
use super::PacketBody;

/// A PINGREQ packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PingReq;

impl<'a> PacketBody<'a> for PingReq {
    const TYPE: PacketType = PacketType::PingReq;

    fn decode_body(
        _flags: u8,
        _r: &mut Reader<'a>,
        _version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        Ok(PingReq)
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

impl PingReq {
    /// The encoded packet: two bytes.
    pub const BYTES: [u8; 2] = [(PacketType::PingReq as u8) << 4, 0x00];

    /// Encodes the packet into `out`; returns the bytes written (2).
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`].
    pub fn encode(&self, version: ProtocolVersion, out: &mut [u8]) -> Result<usize, EncodeError> {
        super::Packet::PingReq(*self).encode(version, out)
    }
}

impl From<PingReq> for super::Packet<'_> {
    fn from(p: PingReq) -> Self {
        super::Packet::PingReq(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_err, golden};
    use crate::codec::{Malformed, Packet};

    #[test]
    fn golden_both_versions() {
        let bytes = super::super::vectors::PINGREQ_GOLDEN_BOTH_VERSIONS;
        assert_eq!(bytes, PingReq::BYTES);
        golden(bytes, ProtocolVersion::V3_1_1, Packet::PingReq(PingReq));
        golden(bytes, ProtocolVersion::V5, Packet::PingReq(PingReq));
    }

    #[test]
    fn remaining_length_too_long_is_malformed() {
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            assert_eq!(
                decode_err(&[0xC0, 0x01, 0x00], v),
                DecodeError::Malformed(Malformed::TrailingBytes)
            );
        }
    }
}
