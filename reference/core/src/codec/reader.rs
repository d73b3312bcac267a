//! [`Reader`]: a bounded cursor over a packet's bytes, so no decode can read past its length.
//!
//! A packet body is decoded from a reader holding exactly Remaining Length bytes; each nested
//! length-prefixed region (properties, strings) is split off with [`Reader::take`] or
//! [`Reader::sub`]. Running out of bytes is [`Malformed::UnexpectedEnd`] (the Remaining Length or
//! a Property Length is too short for the fields), and bytes left over when a decode is done are
//! [`Malformed::TrailingBytes`] (see [`Reader::expect_empty`]).

use super::data::check_utf8;
use super::error::{DecodeError, Malformed};

/// A cursor over a byte slice that never reads past its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub const fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte has been read.
    pub const fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not yet read, without consuming them.
    pub const fn peek_rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Consumes and returns the next `n` bytes.
    ///
    /// # Errors
    /// [`Malformed::UnexpectedEnd`] if fewer than `n` bytes remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(Malformed::UnexpectedEnd.into());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Consumes the next `n` bytes and returns a reader bounded to them.
    ///
    /// # Errors
    /// [`Malformed::UnexpectedEnd`] if fewer than `n` bytes remain.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, DecodeError> {
        self.take(n).map(Reader::new)
    }

    /// Consumes and returns every remaining byte.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Checks that every byte has been read.
    ///
    /// # Errors
    /// [`Malformed::TrailingBytes`] if any remain: the Remaining Length (or Property Length) was
    /// longer than the fields it announced.
    pub fn expect_empty(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Malformed::TrailingBytes.into())
        }
    }

    /// A Byte.
    ///
    /// # Errors
    /// [`Malformed::UnexpectedEnd`].
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        match self.take(1)? {
            [b] => Ok(*b),
            _ => Err(Malformed::UnexpectedEnd.into()),
        }
    }

    /// A Two Byte Integer (big-endian).
    ///
    /// # Errors
    /// [`Malformed::UnexpectedEnd`].
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        match self.take(2)? {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(Malformed::UnexpectedEnd.into()),
        }
    }

    /// A Four Byte Integer (big-endian).
    ///
    /// # Errors
    /// [`Malformed::UnexpectedEnd`].
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        match self.take(4)? {
            [a, b, c, d] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => Err(Malformed::UnexpectedEnd.into()),
        }
    }

    /// A Variable Byte Integer.
    ///
    /// # Errors
    /// [`Malformed::VarIntNonMinimal`] for a non-minimal encoding ([MQTT-1.5.5-1] (5.0));
    /// [`Malformed::VarIntTooLong`] for a fifth byte; [`Malformed::UnexpectedEnd`].
    pub fn vbi(&mut self) -> Result<u32, DecodeError> {
        match decode_vbi(self.buf)? {
            Some((value, len)) => {
                self.take(len)?;
                Ok(value)
            }
            None => Err(Malformed::UnexpectedEnd.into()),
        }
    }

    /// A UTF-8 Encoded String: a Two Byte length, then that many bytes of checked UTF-8.
    ///
    /// # Errors
    /// See [`check_utf8`](super::data::check_utf8); [`Malformed::UnexpectedEnd`].
    pub fn utf8(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.u16()?;
        check_utf8(self.take(usize::from(len))?)
    }

    /// Binary Data: a Two Byte length, then that many bytes.
    ///
    /// # Errors
    /// [`Malformed::UnexpectedEnd`].
    pub fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 String Pair: two UTF-8 Encoded Strings ([MQTT-1.5.7-1] (5.0)).
    ///
    /// # Errors
    /// As [`Reader::utf8`].
    pub fn utf8_pair(&mut self) -> Result<(&'a str, &'a str), DecodeError> {
        let name = self.utf8()?;
        let value = self.utf8()?;
        Ok((name, value))
    }
}

/// Decodes a Variable Byte Integer at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` ends before the last byte of the integer (more input needed),
/// `Ok(Some((value, bytes_used)))` otherwise.
///
/// # Errors
/// [`Malformed::VarIntTooLong`] when the fourth byte still has its continuation bit set (a
/// five-byte integer); [`Malformed::VarIntNonMinimal`] when the last byte of a multi-byte integer
/// is 0, i.e. fewer bytes would do ([MQTT-1.5.5-1] (5.0); 3.1.1 §2.2.3 has the same rule without an id).
pub fn decode_vbi(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..4usize {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // [MQTT-1.5.5-1] minimal VBI encoding: a trailing zero byte adds nothing.
            if i > 0 && byte == 0 {
                return Err(Malformed::VarIntNonMinimal.into());
            }
            return Ok(Some((value, i + 1)));
        }
    }
    // A Variable Byte Integer is at most four bytes (max 268,435,455).
    Err(Malformed::VarIntTooLong.into())
}
