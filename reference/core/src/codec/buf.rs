//! Owned packets (with `alloc`): [`PacketBuf`], one validated encoded packet that hands out a
//! borrowed [`Packet`] view, and [`StreamDecoder`], which splits a byte stream into them.
//!
//! Why a validated frame rather than an owned mirror of every packet struct: the views already
//! have every field public, so a broker or test client changes a field on the view and encodes
//! it again (`let mut p = buf.view(); ...; p.encode_to_vec(v)`), and one definition per packet
//! is kept. Storing the encoded bytes is also what a broker wants for queued and retained
//! messages: forwarding them is a copy.

use alloc::vec::Vec;

use super::{decode, DecodeError, Decoded, EncodeError, Packet, PacketType, ProtocolVersion};

/// One whole, validated, encoded packet.
#[derive(Clone, PartialEq, Eq)]
pub struct PacketBuf {
    bytes: Vec<u8>,
    version: ProtocolVersion,
    packet_type: PacketType,
}

impl PacketBuf {
    /// Validates `bytes` as exactly one packet of `version` and takes ownership of them.
    ///
    /// # Errors
    /// The decode error; a short input is [`Malformed::UnexpectedEnd`](super::Malformed) and
    /// extra bytes after the packet [`Malformed::TrailingBytes`](super::Malformed).
    pub fn new(bytes: Vec<u8>, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_type = match decode(&bytes, version, u32::MAX)? {
            Decoded::Complete { value, consumed } if consumed == bytes.len() => value.packet_type(),
            Decoded::Complete { .. } => return Err(super::Malformed::TrailingBytes.into()),
            Decoded::Incomplete(_) => return Err(super::Malformed::UnexpectedEnd.into()),
        };
        Ok(PacketBuf {
            bytes,
            version,
            packet_type,
        })
    }

    /// Encodes `packet` and validates the result (so a packet a conforming receiver would
    /// refuse is an error here, not a `PacketBuf`).
    ///
    /// # Errors
    /// The encode error, or the decode error of the encoded bytes.
    pub fn from_packet(
        packet: &Packet<'_>,
        version: ProtocolVersion,
    ) -> Result<Self, PacketBufError> {
        let bytes = packet
            .encode_to_vec(version)
            .map_err(PacketBufError::Encode)?;
        PacketBuf::new(bytes, version).map_err(PacketBufError::Decode)
    }

    /// The packet, as a borrowed view.
    pub fn view(&self) -> Packet<'_> {
        match decode(&self.bytes, self.version, u32::MAX) {
            Ok(Decoded::Complete { value, .. }) => value,
            // The bytes were validated by `new` and are immutable since.
            _ => unreachable!("PacketBuf holds a packet validated at construction"),
        }
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The version the packet was validated for (for CONNECT, the version it asks for is
    /// [`Connect::version`](super::Connect)).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }
}

impl core::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.view().fmt(f)
    }
}

/// Why [`PacketBuf::from_packet`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketBufError {
    /// The packet could not be encoded.
    Encode(EncodeError),
    /// The encoded packet is not valid.
    Decode(DecodeError),
}

impl core::fmt::Display for PacketBufError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PacketBufError::Encode(e) => write!(f, "cannot encode packet: {e}"),
            PacketBufError::Decode(e) => write!(f, "encoded packet is invalid: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PacketBufError {}

/// Splits a byte stream into [`PacketBuf`]s: push bytes as they arrive, pull whole packets.
///
/// The Maximum Packet Size is checked from each fixed header before its body is buffered into
/// a packet. Internal buffering is bounded by what the caller pushes; after an error the stream
/// cannot be resynchronised (MQTT has no framing recovery) and the connection must be closed.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    buf: Vec<u8>,
    start: usize,
    version: ProtocolVersion,
    max_packet_size: u32,
}

impl StreamDecoder {
    /// A decoder for `version` refusing packets larger than `max_packet_size`.
    pub fn new(version: ProtocolVersion, max_packet_size: u32) -> Self {
        StreamDecoder {
            buf: Vec::new(),
            start: 0,
            version,
            max_packet_size,
        }
    }

    /// Changes the version (after CONNECT was decoded) or the limit.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// Changes the Maximum Packet Size.
    pub fn set_max_packet_size(&mut self, max_packet_size: u32) {
        self.max_packet_size = max_packet_size;
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as packets.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole packet, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// The decode error of the next packet.
    pub fn next_packet(&mut self) -> Result<Option<PacketBuf>, DecodeError> {
        let pending = self.buf.get(self.start..).unwrap_or(&[]);
        let (consumed, packet_type) = match decode(pending, self.version, self.max_packet_size)? {
            Decoded::Complete { value, consumed } => (consumed, value.packet_type()),
            Decoded::Incomplete(_) => {
                // Compact so the buffer does not grow without bound across packets.
                if self.start > 0 {
                    self.buf.drain(..self.start);
                    self.start = 0;
                }
                return Ok(None);
            }
        };
        let bytes = pending.get(..consumed).unwrap_or(&[]).to_vec();
        self.start += consumed;
        // A CONNECT is validated in its own version; later packets in the connection's.
        Ok(Some(PacketBuf {
            bytes,
            version: self.version,
            packet_type,
        }))
    }
}
