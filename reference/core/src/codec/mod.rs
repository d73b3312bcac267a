//! The MQTT codec: every control packet of MQTT 3.1.1 and 5.0, decoded into borrowed views and
//! encoded into `&mut [u8]`, with the protocol version as a parameter (one codec, not two).
//!
//! # Decoding
//! [`decode`] takes the bytes received so far, the connection's [`ProtocolVersion`] and the
//! Maximum Packet Size, and returns
//! - `Ok(Decoded::Complete { value: packet, consumed })`: one packet, borrowing from the input,
//!   and the number of bytes it took (drop them from the buffer once done with the packet);
//! - `Ok(Decoded::Incomplete(n))`: not a whole packet yet; at least `n` more bytes are needed
//!   (exactly `n` once the fixed header is complete). Not an error;
//! - `Err(DecodeError)`: the bytes are not a valid packet; [`DecodeError::reason_code`] gives
//!   the reason code to answer with.
//!
//! The fixed header is checked from its first byte (packet type, reserved flags), and the
//! Maximum Packet Size from the fixed header alone, before the body is waited for, read or
//! anything allocated. The body is read through a bounded [`Reader`] holding exactly Remaining
//! Length bytes, and must be used up exactly.
//!
//! CONNECT carries its own protocol version: it decodes the same whatever `version` is passed,
//! and [`Connect::version`] tells what the client asked for. A server that has not seen a
//! CONNECT yet can pass either version.
//!
//! With `alloc`, [`PacketBuf`] owns one validated packet and [`StreamDecoder`] splits a byte
//! stream into them.
//!
//! # Encoding
//! Build a packet view (all fields are public; lists are [`Seq`]s built from slices), then call
//! [`Packet::encode`] (or `encode` on the packet struct) with an output buffer, or
//! `encode_to_vec` with `alloc`. `encoded_len` gives the exact size first. Encoding checks only
//! what can be represented (lengths, ranges, the version's features), so a test client can
//! build packets a conforming peer must refuse.
//!
//! # Layout
//! - [`version`]: [`ProtocolVersion`], [`QoS`].
//! - [`data`], [`reader`], [`writer`]: data representation (VBI, strings, binary) and the
//!   bounded reader / checked writer.
//! - [`header`]: [`PacketType`], [`FixedHeader`].
//! - [`reason`]: [`ReasonCode`] and which packets may carry each.
//! - [`property`]: [`Property`], [`PropertyId`], [`Properties`], the allowed-in table and checks.
//! - [`seq`]: [`Seq`], the decoded-or-slice list type.
//! - [`error`]: [`DecodeError`] (by cause) and [`EncodeError`].
//! - one module per packet: [`connect`] ... [`auth`]; PUBACK, PUBREC, PUBREL and PUBCOMP share
//!   their layout through [`pub_response`].
//! - `buf` (with `alloc`): [`PacketBuf`], [`StreamDecoder`].

pub mod data;
pub mod error;
pub mod header;
pub mod property;
pub mod reader;
pub mod reason;
pub mod seq;
pub mod version;
pub mod writer;

pub mod auth;
pub mod connack;
pub mod connect;
pub mod disconnect;
pub mod pingreq;
pub mod pingresp;
pub mod pub_response;
pub mod puback;
pub mod pubcomp;
pub mod publish;
pub mod pubrec;
pub mod pubrel;
pub mod suback;
pub mod subscribe;
pub mod unsuback;
pub mod unsubscribe;

#[cfg(feature = "alloc")]
mod buf;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(any(test, feature = "test-vectors"))]
pub mod vectors;

pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use data::{check_utf8, has_discouraged_code_points, vbi_len, VBI_MAX};
pub use disconnect::Disconnect;
pub use error::{DecodeError, EncodeError, Malformed, ProtocolViolation};
pub use header::{FixedHeader, PacketType};
pub use pingreq::PingReq;
pub use pingresp::PingResp;
pub use property::{Properties, Property, PropertyContext, PropertyId, PropertyType};
pub use puback::PubAck;
pub use pubcomp::PubComp;
pub use publish::Publish;
pub use pubrec::PubRec;
pub use pubrel::PubRel;
pub use reader::Reader;
pub use reason::ReasonCode;
pub use seq::{Seq, SeqItem, SeqIter};
pub use suback::SubAck;
pub use subscribe::{RetainHandling, Subscribe, Subscription, SubscriptionOptions};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;
pub use version::{ProtocolVersion, QoS};
pub use writer::Writer;

#[cfg(feature = "alloc")]
pub use buf::{PacketBuf, PacketBufError, StreamDecoder};

/// The outcome of a decode that did not fail: a whole value, or a request for more input.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole value.
    Complete {
        /// The decoded value (a packet, or a fixed header).
        value: T,
        /// Bytes of input it took.
        consumed: usize,
    },
    /// The input ends before the value does: at least this many more bytes are needed (exactly
    /// this many once the fixed header is complete).
    Incomplete(usize),
}

impl<T> Decoded<T> {
    /// The value, if complete.
    pub fn complete(self) -> Option<(T, usize)> {
        match self {
            Decoded::Complete { value, consumed } => Some((value, consumed)),
            Decoded::Incomplete(_) => None,
        }
    }
}

/// The body (variable header and payload) codec of one packet type. Implemented by every packet
/// struct; [`Packet`] dispatches to it.
pub trait PacketBody<'a>: Sized {
    /// The packet type.
    const TYPE: PacketType;

    /// The fixed header flag nibble this packet is sent with.
    fn flags(&self) -> u8 {
        Self::TYPE.required_flags().unwrap_or(0)
    }

    /// Decodes the body from a reader holding exactly Remaining Length bytes. `flags` were
    /// already checked by [`FixedHeader::decode`]. The caller checks the reader is used up.
    ///
    /// # Errors
    /// Whatever makes the body invalid.
    fn decode_body(
        flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError>;

    /// The Remaining Length this packet encodes to.
    ///
    /// # Errors
    /// When the packet cannot be represented in `version`.
    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError>;

    /// Writes the body.
    ///
    /// # Errors
    /// When the packet cannot be represented in `version`, or the buffer is full.
    fn encode_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError>;
}

/// Total encoded size of a body with the fixed header around it.
fn framed_len(body: usize) -> Result<usize, EncodeError> {
    let rl = u32::try_from(body).map_err(|_| EncodeError::PacketTooLarge(body))?;
    let vl = vbi_len(rl).ok_or(EncodeError::PacketTooLarge(body))?;
    Ok(1 + vl + body)
}

fn encode_framed<'a, B: PacketBody<'a>>(
    body: &B,
    version: ProtocolVersion,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if !B::TYPE.exists_in(version) {
        return Err(EncodeError::NotInVersion {
            what: B::TYPE.name(),
            version,
        });
    }
    let body_len = body.body_len(version)?;
    let total = framed_len(body_len)?;
    if total > out.len() {
        return Err(EncodeError::BufferTooSmall {
            needed: total,
            available: out.len(),
        });
    }
    let mut w = Writer::new(out);
    w.put_u8(((B::TYPE as u8) << 4) | (body.flags() & 0x0F))?;
    // `framed_len` checked the body fits a Variable Byte Integer.
    w.put_vbi(u32::try_from(body_len).map_err(|_| EncodeError::PacketTooLarge(body_len))?)?;
    body.encode_body(&mut w, version)?;
    Ok(w.position())
}

/// Adds `encoded_len`, `encode` and `encode_to_vec` to a packet struct.
macro_rules! packet_encode_methods {
    ($ty:ident) => {
        impl<'a> $ty<'a> {
            /// Size of the whole encoded packet (fixed header included) in `version`.
            ///
            /// # Errors
            /// When the packet cannot be represented in `version`.
            pub fn encoded_len(
                &self,
                version: $crate::codec::ProtocolVersion,
            ) -> Result<usize, $crate::codec::EncodeError> {
                $crate::codec::Packet::from(*self).encoded_len(version)
            }

            /// Encodes the whole packet into `out`; returns the bytes written.
            ///
            /// # Errors
            /// [`EncodeError::BufferTooSmall`]($crate::codec::EncodeError::BufferTooSmall) or
            /// when the packet cannot be represented in `version`.
            pub fn encode(
                &self,
                version: $crate::codec::ProtocolVersion,
                out: &mut [u8],
            ) -> Result<usize, $crate::codec::EncodeError> {
                $crate::codec::Packet::from(*self).encode(version, out)
            }

            /// Encodes the whole packet into a new vector.
            ///
            /// # Errors
            /// When the packet cannot be represented in `version`.
            #[cfg(feature = "alloc")]
            pub fn encode_to_vec(
                &self,
                version: $crate::codec::ProtocolVersion,
            ) -> Result<alloc::vec::Vec<u8>, $crate::codec::EncodeError> {
                $crate::codec::Packet::from(*self).encode_to_vec(version)
            }
        }

        impl<'a> From<$ty<'a>> for $crate::codec::Packet<'a> {
            fn from(p: $ty<'a>) -> Self {
                $crate::codec::Packet::$ty(p)
            }
        }
    };
}
pub(crate) use packet_encode_methods;

/// Any MQTT control packet, as a borrowed view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT.
    Connect(Connect<'a>),
    /// CONNACK.
    ConnAck(ConnAck<'a>),
    /// PUBLISH.
    Publish(Publish<'a>),
    /// PUBACK.
    PubAck(PubAck<'a>),
    /// PUBREC.
    PubRec(PubRec<'a>),
    /// PUBREL.
    PubRel(PubRel<'a>),
    /// PUBCOMP.
    PubComp(PubComp<'a>),
    /// SUBSCRIBE.
    Subscribe(Subscribe<'a>),
    /// SUBACK.
    SubAck(SubAck<'a>),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK.
    UnsubAck(UnsubAck<'a>),
    /// PINGREQ.
    PingReq(PingReq),
    /// PINGRESP.
    PingResp(PingResp),
    /// DISCONNECT.
    Disconnect(Disconnect<'a>),
    /// AUTH (5.0 only).
    Auth(Auth<'a>),
}

/// Runs `$e` with `$b` bound to the packet struct inside `$p`.
macro_rules! dispatch {
    ($p:expr, $b:ident => $e:expr) => {
        match $p {
            Packet::Connect($b) => $e,
            Packet::ConnAck($b) => $e,
            Packet::Publish($b) => $e,
            Packet::PubAck($b) => $e,
            Packet::PubRec($b) => $e,
            Packet::PubRel($b) => $e,
            Packet::PubComp($b) => $e,
            Packet::Subscribe($b) => $e,
            Packet::SubAck($b) => $e,
            Packet::Unsubscribe($b) => $e,
            Packet::UnsubAck($b) => $e,
            Packet::PingReq($b) => $e,
            Packet::PingResp($b) => $e,
            Packet::Disconnect($b) => $e,
            Packet::Auth($b) => $e,
        }
    };
}

impl<'a> Packet<'a> {
    /// Decodes one packet from the start of `buf`. See the [module documentation](self).
    ///
    /// # Errors
    /// See [`DecodeError`].
    pub fn decode(
        buf: &'a [u8],
        version: ProtocolVersion,
        max_packet_size: u32,
    ) -> Result<Decoded<Packet<'a>>, DecodeError> {
        decode(buf, version, max_packet_size)
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        fn ty<'a, B: PacketBody<'a>>(_: &B) -> PacketType {
            B::TYPE
        }
        dispatch!(self, b => ty(b))
    }

    /// Size of the whole encoded packet (fixed header included) in `version`.
    ///
    /// # Errors
    /// When the packet cannot be represented in `version`.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !self.packet_type().exists_in(version) {
            return Err(EncodeError::NotInVersion {
                what: self.packet_type().name(),
                version,
            });
        }
        dispatch!(self, b => framed_len(b.body_len(version)?))
    }

    /// Encodes the whole packet into `out`; returns the bytes written.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] or when the packet cannot be represented in `version`.
    pub fn encode(&self, version: ProtocolVersion, out: &mut [u8]) -> Result<usize, EncodeError> {
        dispatch!(self, b => encode_framed(b, version, out))
    }

    /// Encodes the whole packet into a new vector.
    ///
    /// # Errors
    /// When the packet cannot be represented in `version`.
    #[cfg(feature = "alloc")]
    pub fn encode_to_vec(
        &self,
        version: ProtocolVersion,
    ) -> Result<alloc::vec::Vec<u8>, EncodeError> {
        let mut v = alloc::vec![0u8; self.encoded_len(version)?];
        let n = self.encode(version, &mut v)?;
        v.truncate(n);
        Ok(v)
    }
}

/// Decodes one packet from the start of `buf`. See the [module documentation](self).
///
/// `max_packet_size` is the largest whole packet (fixed header included) accepted; pass
/// `u32::MAX` for no limit beyond the protocol's own.
///
/// # Errors
/// See [`DecodeError`].
pub fn decode(
    buf: &[u8],
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Decoded<Packet<'_>>, DecodeError> {
    let header = match FixedHeader::decode(buf, version)? {
        Decoded::Complete { value, .. } => value,
        Decoded::Incomplete(n) => return Ok(Decoded::Incomplete(n)),
    };
    let size = header.packet_len();
    // Maximum Packet Size (5.0 §3.1.2.11.4, §3.2.2.3.6): judged from the fixed header, before
    // the body is waited for or read.
    if size > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge {
            size,
            maximum: max_packet_size,
        });
    }
    // `size` is at most 5 + 268,435,455, which fits any usize this crate builds for (>= 32 bits).
    let total = usize::try_from(size).map_err(|_| DecodeError::PacketTooLarge {
        size,
        maximum: max_packet_size,
    })?;
    let Some(frame) = buf.get(..total) else {
        return Ok(Decoded::Incomplete(total - buf.len()));
    };
    let body = frame.get(header.header_len..).unwrap_or(&[]);
    let packet = decode_body(header.packet_type, header.flags, body, version)?;
    Ok(Decoded::Complete {
        value: packet,
        consumed: total,
    })
}

/// Decodes a packet body of a known type; `body` must be exactly the Remaining Length bytes.
///
/// # Errors
/// See [`DecodeError`].
pub fn decode_body(
    packet_type: PacketType,
    flags: u8,
    body: &[u8],
    version: ProtocolVersion,
) -> Result<Packet<'_>, DecodeError> {
    fn go<'a, B: PacketBody<'a>>(
        flags: u8,
        body: &'a [u8],
        version: ProtocolVersion,
    ) -> Result<B, DecodeError> {
        let mut r = Reader::new(body);
        let p = B::decode_body(flags, &mut r, version)?;
        // The Remaining Length must match the fields exactly: trailing bytes are malformed.
        r.expect_empty()?;
        Ok(p)
    }
    Ok(match packet_type {
        PacketType::Connect => Packet::Connect(go(flags, body, version)?),
        PacketType::ConnAck => Packet::ConnAck(go(flags, body, version)?),
        PacketType::Publish => Packet::Publish(go(flags, body, version)?),
        PacketType::PubAck => Packet::PubAck(go(flags, body, version)?),
        PacketType::PubRec => Packet::PubRec(go(flags, body, version)?),
        PacketType::PubRel => Packet::PubRel(go(flags, body, version)?),
        PacketType::PubComp => Packet::PubComp(go(flags, body, version)?),
        PacketType::Subscribe => Packet::Subscribe(go(flags, body, version)?),
        PacketType::SubAck => Packet::SubAck(go(flags, body, version)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(go(flags, body, version)?),
        PacketType::UnsubAck => Packet::UnsubAck(go(flags, body, version)?),
        PacketType::PingReq => Packet::PingReq(go(flags, body, version)?),
        PacketType::PingResp => Packet::PingResp(go(flags, body, version)?),
        PacketType::Disconnect => Packet::Disconnect(go(flags, body, version)?),
        PacketType::Auth => Packet::Auth(go(flags, body, version)?),
    })
}

/// Reads a packet identifier that must be non-zero ([MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-1]
/// (3.1.1)).
pub(crate) fn read_packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(ProtocolViolation::PacketIdentifierZero.into()),
        id => Ok(id),
    }
}

/// Reads a reason code and checks `packet_type` may carry it.
pub(crate) fn read_reason_code(
    r: &mut Reader<'_>,
    packet_type: PacketType,
) -> Result<ReasonCode, DecodeError> {
    let b = r.u8()?;
    let code = ReasonCode::from_u8(b).ok_or(Malformed::UnknownReasonCode(b))?;
    check_reason_code(code, packet_type)?;
    Ok(code)
}

/// Checks `packet_type` may carry `code` (MQTT 5.0 Table 2-6).
pub(crate) fn check_reason_code(
    code: ReasonCode,
    packet_type: PacketType,
) -> Result<(), DecodeError> {
    if code.allowed_in(packet_type) {
        Ok(())
    } else {
        Err(ProtocolViolation::ReasonCodeNotAllowed { code, packet_type }.into())
    }
}

/// Fails with [`EncodeError::NotInVersion`] when a 3.1.1 packet has properties.
pub(crate) fn no_properties_in_v3(
    props: &Properties<'_>,
    version: ProtocolVersion,
) -> Result<(), EncodeError> {
    if version == ProtocolVersion::V3_1_1 && !props.is_empty() {
        Err(EncodeError::NotInVersion {
            what: "properties",
            version,
        })
    } else {
        Ok(())
    }
}

/// Helpers for the byte-annotated golden tests in every packet module.
#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Checks that `bytes` decodes to exactly `expected` in `version`, and that `expected`
    /// encodes back to exactly `bytes` (with the right `encoded_len`).
    pub fn golden(bytes: &[u8], version: ProtocolVersion, expected: Packet<'_>) {
        let decoded = decode(bytes, version, u32::MAX).expect("golden bytes decode");
        assert_eq!(
            decoded,
            Decoded::Complete {
                value: expected,
                consumed: bytes.len()
            }
        );
        assert_eq!(expected.encoded_len(version), Ok(bytes.len()));
        let mut out = [0u8; 1024];
        let n = expected
            .encode(version, &mut out)
            .expect("golden packet encodes");
        assert_eq!(out.get(..n), Some(bytes), "encoding of {expected:?}");
        // Every strict prefix is incomplete, never an error or a packet.
        for cut in 0..bytes.len() {
            match decode(&bytes[..cut], version, u32::MAX) {
                Ok(Decoded::Incomplete(n)) => assert!(n >= 1 && n <= bytes.len() - cut),
                other => panic!("prefix of {cut} bytes gave {other:?}"),
            }
        }
    }

    /// Checks that `bytes` decode only to equal `expected` (a non-canonical but valid form).
    pub fn decodes_to(bytes: &[u8], version: ProtocolVersion, expected: Packet<'_>) {
        let decoded = decode(bytes, version, u32::MAX).expect("bytes decode");
        assert_eq!(
            decoded,
            Decoded::Complete {
                value: expected,
                consumed: bytes.len()
            }
        );
    }

    /// The error decoding `bytes` gives.
    pub fn decode_err(bytes: &[u8], version: ProtocolVersion) -> DecodeError {
        match decode(bytes, version, u32::MAX) {
            Err(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
