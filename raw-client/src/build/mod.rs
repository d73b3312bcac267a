//! Byte-level packet builders: valid MQTT packets with any field overridden, and malformed ones.
//!
//! These write bytes directly and never go through the core's encoder, because the point is to
//! produce what an encoder refuses to: reserved bits set, lengths that lie, non-minimal Variable
//! Byte Integers, invalid UTF-8, duplicate or misplaced properties, QoS 3, packet identifier 0.
//!
//! Three layers, from raw to convenient:
//!
//! - primitives: [`Writer`] (two-byte integer, Variable Byte Integer minimal or padded, length
//!   prefixed strings of arbitrary raw bytes, binary data, property lists), [`vbi`],
//!   [`vbi_padded`], [`header_byte`], and [`Property`] with the identifiers in [`prop`];
//! - packet builders ([`Connect`], [`Publish`], [`Puback`], [`Pubrec`], [`Pubrel`], [`Pubcomp`],
//!   [`Subscribe`], [`Unsubscribe`], [`Pingreq`], [`Disconnect`], [`Auth`], and [`Custom`] for any
//!   type nibble), each with valid defaults for its protocol version and every field settable;
//!   all share the fixed-header overrides `flags_override`, `remaining_length_override`,
//!   `remaining_length_padded`, `remaining_length_raw` and `append_body`, and (5.0) `property`,
//!   `properties` and `properties_length_override`;
//! - [`malformed`]: one function per common malformation, each documented with the statement it
//!   violates.
//!
//! Properties are written only for 5.0 builders (3.1.1 has no property fields); to put stray
//! bytes into a 3.1.1 packet use `append_body`. Strings and binary fields take `impl AsRef<[u8]>`
//! so a `&str` and arbitrary invalid bytes are written the same way.

pub mod malformed;
mod packets;
pub mod prop;

pub use packets::{
    Ack, Auth, Connack, Connect, Custom, Disconnect, Pingreq, Puback, Pubcomp, Publish, Pubrec,
    Pubrel, Suback, Subscribe, Unsubscribe, Will,
};
pub use prop::{PropValue, Property};

/// Control packet type numbers (the high nibble of the first byte).
pub mod packet_type {
    /// Reserved (forbidden) type 0.
    pub const RESERVED: u8 = 0;
    /// CONNECT.
    pub const CONNECT: u8 = 1;
    /// CONNACK.
    pub const CONNACK: u8 = 2;
    /// PUBLISH.
    pub const PUBLISH: u8 = 3;
    /// PUBACK.
    pub const PUBACK: u8 = 4;
    /// PUBREC.
    pub const PUBREC: u8 = 5;
    /// PUBREL.
    pub const PUBREL: u8 = 6;
    /// PUBCOMP.
    pub const PUBCOMP: u8 = 7;
    /// SUBSCRIBE.
    pub const SUBSCRIBE: u8 = 8;
    /// SUBACK.
    pub const SUBACK: u8 = 9;
    /// UNSUBSCRIBE.
    pub const UNSUBSCRIBE: u8 = 10;
    /// UNSUBACK.
    pub const UNSUBACK: u8 = 11;
    /// PINGREQ.
    pub const PINGREQ: u8 = 12;
    /// PINGRESP.
    pub const PINGRESP: u8 = 13;
    /// DISCONNECT.
    pub const DISCONNECT: u8 = 14;
    /// AUTH (5.0; reserved in 3.1.1).
    pub const AUTH: u8 = 15;
}

/// The first byte of a packet: `packet_type` in the high nibble, `flags` (any value, masked to 4
/// bits) in the low one.
pub fn header_byte(packet_type: u8, flags: u8) -> u8 {
    (packet_type << 4) | (flags & 0x0f)
}

/// `n` as a minimal Variable Byte Integer. Values above 268 435 455 (the 4-byte maximum) still
/// encode, in 5 bytes: that is itself a malformation, and sometimes the one wanted.
pub fn vbi(n: u64) -> Vec<u8> {
    vbi_padded(n, 1)
}

/// `n` as a Variable Byte Integer at least `width` bytes long: the minimal encoding, padded with
/// zero-valued continuation digits (`vbi_padded(5, 2)` is `85 00`). A non-minimal encoding is a
/// malformation [MQTT-1.5.5-1]; `width` 5 gives the over-long form every decoder must reject.
/// A `width` below the minimal length gives the minimal encoding.
pub fn vbi_padded(n: u64, width: usize) -> Vec<u8> {
    let mut digits = Vec::new();
    let mut rest = n;
    loop {
        digits.push((rest % 128) as u8);
        rest /= 128;
        if rest == 0 {
            break;
        }
    }
    while digits.len() < width {
        digits.push(0);
    }
    let last = digits.len() - 1;
    for d in &mut digits[..last] {
        *d |= 0x80;
    }
    digits
}

/// A growable byte buffer with the MQTT primitive encodings. Every method appends and returns
/// `&mut Self`, so bodies read as a sequence of fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Two Byte Integer, big-endian.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Four Byte Integer, big-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Variable Byte Integer, minimal.
    pub fn vbi(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&vbi(v));
        self
    }

    /// Variable Byte Integer padded to at least `width` bytes (see [`vbi_padded`]).
    pub fn vbi_padded(&mut self, v: u64, width: usize) -> &mut Self {
        self.buf.extend_from_slice(&vbi_padded(v, width));
        self
    }

    /// Bytes as they are, no length prefix.
    pub fn raw(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.buf.extend_from_slice(bytes.as_ref());
        self
    }

    /// UTF-8 Encoded String: two-byte length then the bytes, which are *not* checked, so
    /// invalid UTF-8, surrogate encodings (`ED A0 80`) and U+0000 are written as given. Input
    /// longer than 65 535 bytes gets its length truncated to 16 bits (a malformation); use
    /// [`Writer::string_with_len`] for a deliberate mismatch.
    pub fn string(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        let bytes = bytes.as_ref();
        self.string_with_len(bytes.len() as u16, bytes)
    }

    /// A length prefix that need not match the bytes that follow.
    pub fn string_with_len(&mut self, len: u16, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.u16(len).raw(bytes)
    }

    /// Binary Data: same wire form as a string (two-byte length, bytes).
    pub fn binary(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.string(bytes)
    }

    /// One property: identifier (as a Variable Byte Integer) then its value.
    pub fn property(&mut self, p: &Property) -> &mut Self {
        self.vbi(u64::from(p.id));
        match &p.value {
            PropValue::Byte(v) => self.u8(*v),
            PropValue::TwoByte(v) => self.u16(*v),
            PropValue::FourByte(v) => self.u32(*v),
            PropValue::Vbi(v) => self.vbi(u64::from(*v)),
            PropValue::Utf8(s) => self.string(s),
            PropValue::Binary(b) => self.binary(b),
            PropValue::Pair(k, v) => self.string(k).string(v),
            PropValue::Raw(b) => self.raw(b),
        }
    }

    /// A property block: length (the true one unless `len_override`), then the properties in
    /// the order given, duplicates and all.
    pub fn properties(&mut self, list: &[Property], len_override: Option<u32>) -> &mut Self {
        let mut inner = Writer::new();
        for p in list {
            inner.property(p);
        }
        let len = len_override.map_or(inner.buf.len() as u64, u64::from);
        self.vbi(len).raw(inner.buf)
    }

    /// Bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// How the fixed header's Remaining Length is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RemainingLength {
    /// The true length, minimal encoding.
    #[default]
    Exact,
    /// This value (minimal encoding) whatever the body's length: too short or too long.
    Value(u32),
    /// The true length, padded to this many bytes (non-minimal, or 5 bytes).
    Padded(usize),
    /// These bytes in place of the length field.
    Raw(Vec<u8>),
}

/// What every builder shares: fixed-header overrides, extra body bytes, and (5.0) properties.
#[derive(Clone, Debug, Default)]
pub(crate) struct Common {
    pub(crate) flags: Option<u8>,
    pub(crate) remaining_length: RemainingLength,
    pub(crate) append: Vec<u8>,
    pub(crate) properties: Vec<Property>,
    pub(crate) properties_len: Option<u32>,
}

impl Common {
    /// Whether a (5.0) property block must be written even if the packet could omit it.
    pub(crate) fn has_properties(&self) -> bool {
        !self.properties.is_empty() || self.properties_len.is_some()
    }

    /// Writes the property block.
    pub(crate) fn write_properties(&self, w: &mut Writer) {
        w.properties(&self.properties, self.properties_len);
    }

    /// The shared last step of every builder: fixed header (type, flags unless overridden,
    /// remaining length as configured) + body + appended bytes.
    pub(crate) fn finish(&self, packet_type: u8, default_flags: u8, body: Writer) -> Vec<u8> {
        let mut body = body.into_bytes();
        body.extend_from_slice(&self.append);
        let len = body.len() as u64;
        let mut out = Vec::with_capacity(body.len() + 5);
        out.push(header_byte(
            packet_type,
            self.flags.unwrap_or(default_flags),
        ));
        match &self.remaining_length {
            RemainingLength::Exact => out.extend_from_slice(&vbi(len)),
            RemainingLength::Value(v) => out.extend_from_slice(&vbi(u64::from(*v))),
            RemainingLength::Padded(width) => out.extend_from_slice(&vbi_padded(len, *width)),
            RemainingLength::Raw(bytes) => out.extend_from_slice(bytes),
        }
        out.extend_from_slice(&body);
        out
    }
}

/// Methods every builder has (it must have a `common: Common` field).
macro_rules! common_methods {
    () => {
        /// Replaces the fixed header's flag bits (low nibble of the first byte).
        pub fn flags_override(mut self, flags: u8) -> Self {
            self.common.flags = Some(flags);
            self
        }

        /// Writes this Remaining Length whatever the body's true length (too short, too long).
        pub fn remaining_length_override(mut self, n: u32) -> Self {
            self.common.remaining_length = $crate::build::RemainingLength::Value(n);
            self
        }

        /// Writes the true Remaining Length padded to `width` bytes (non-minimal; 5 is over-long).
        pub fn remaining_length_padded(mut self, width: usize) -> Self {
            self.common.remaining_length = $crate::build::RemainingLength::Padded(width);
            self
        }

        /// Writes these bytes in place of the Remaining Length field.
        pub fn remaining_length_raw(mut self, bytes: impl Into<Vec<u8>>) -> Self {
            self.common.remaining_length = $crate::build::RemainingLength::Raw(bytes.into());
            self
        }

        /// Appends bytes after the last field (counted in the Remaining Length).
        pub fn append_body(mut self, bytes: impl AsRef<[u8]>) -> Self {
            self.common.append.extend_from_slice(bytes.as_ref());
            self
        }
    };
}

/// Property methods of the builders whose 5.0 form has a property block.
macro_rules! property_methods {
    () => {
        /// Adds a property (5.0 only; ignored for 3.1.1). Order is kept; duplicates and
        /// properties not allowed in this packet are written as given.
        pub fn property(mut self, p: $crate::build::Property) -> Self {
            self.common.properties.push(p);
            self
        }

        /// Adds several properties, in order.
        pub fn properties(mut self, ps: impl IntoIterator<Item = $crate::build::Property>) -> Self {
            self.common.properties.extend(ps);
            self
        }

        /// Writes this Property Length whatever the properties' true length (5.0 only).
        pub fn properties_length_override(mut self, n: u32) -> Self {
            self.common.properties_len = Some(n);
            self
        }
    };
}

pub(crate) use common_methods;
pub(crate) use property_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vbi_minimal_and_padded() {
        assert_eq!(vbi(0), [0x00]);
        assert_eq!(vbi(127), [0x7f]);
        assert_eq!(vbi(128), [0x80, 0x01]);
        assert_eq!(vbi(16_383), [0xff, 0x7f]);
        assert_eq!(vbi(16_384), [0x80, 0x80, 0x01]);
        assert_eq!(vbi(268_435_455), [0xff, 0xff, 0xff, 0x7f]);
        // One past the maximum: five bytes.
        assert_eq!(vbi(268_435_456), [0x80, 0x80, 0x80, 0x80, 0x01]);
        // Non-minimal: 5 in two bytes, 0 in five.
        assert_eq!(vbi_padded(5, 2), [0x85, 0x00]);
        assert_eq!(vbi_padded(0, 5), [0x80, 0x80, 0x80, 0x80, 0x00]);
        // Width below the minimal length: minimal.
        assert_eq!(vbi_padded(200, 1), [0xc8, 0x01]);
    }

    #[test]
    fn writer_primitives() {
        let mut w = Writer::new();
        w.u8(0xab)
            .u16(0x0102)
            .u32(0x0304_0506)
            .string("hé")
            .string([0xed, 0xa0, 0x80]) // surrogate U+D800, raw
            .string_with_len(9, "x")
            .binary([0x00]);
        assert_eq!(
            w.as_bytes(),
            [
                0xab, // u8
                0x01, 0x02, // u16
                0x03, 0x04, 0x05, 0x06, // u32
                0x00, 0x03, b'h', 0xc3, 0xa9, // "hé"
                0x00, 0x03, 0xed, 0xa0, 0x80, // surrogate
                0x00, 0x09, b'x', // lying length
                0x00, 0x01, 0x00, // binary
            ]
        );
    }

    #[test]
    fn property_block_keeps_order_and_duplicates() {
        let mut w = Writer::new();
        w.properties(
            &[
                prop::session_expiry_interval(10),
                prop::session_expiry_interval(20),
                prop::user_property("k", "v"),
                Property::raw(0x7f, [0xde, 0xad]),
            ],
            None,
        );
        assert_eq!(
            w.as_bytes(),
            [
                0x14, // property length 20
                0x11, 0, 0, 0, 10, // session expiry 10
                0x11, 0, 0, 0, 20, // again: duplicate
                0x26, 0, 1, b'k', 0, 1, b'v', // user property
                0x7f, 0xde, 0xad, // unknown id, raw value
            ]
        );
        let mut w = Writer::new();
        w.properties(&[], Some(3));
        assert_eq!(w.as_bytes(), [0x03]);
    }
}
