//! [`Writer`]: a cursor over a caller-given `&mut [u8]` that reports a full buffer as an error.
//!
//! Encoders compute the packet's length first and check it against the buffer, so a full buffer
//! is reported before anything is written; the checks here are the second line of defence that
//! keeps encoding panic-free.

use super::data::{vbi_len, MAX_STRING_LEN, VBI_MAX};
use super::error::EncodeError;

/// Writes MQTT data types into a borrowed byte buffer.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Appends raw bytes.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`].
    pub fn put_slice(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let available = self.buf.len();
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(EncodeError::BufferTooSmall {
                needed: usize::MAX,
                available,
            })?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall {
                needed: end,
                available,
            })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// A Byte.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`].
    pub fn put_u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.put_slice(&[v])
    }

    /// A Two Byte Integer.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`].
    pub fn put_u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.put_slice(&v.to_be_bytes())
    }

    /// A Four Byte Integer.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`].
    pub fn put_u32(&mut self, v: u32) -> Result<(), EncodeError> {
        self.put_slice(&v.to_be_bytes())
    }

    /// A Variable Byte Integer in its minimal encoding ([MQTT-1.5.5-1] (5.0)).
    ///
    /// # Errors
    /// [`EncodeError::VarIntOutOfRange`] above 268,435,455; [`EncodeError::BufferTooSmall`].
    pub fn put_vbi(&mut self, v: u32) -> Result<(), EncodeError> {
        if v > VBI_MAX {
            return Err(EncodeError::VarIntOutOfRange(v));
        }
        let mut bytes = [0u8; 4];
        let mut n = 0;
        let mut x = v;
        for slot in bytes.iter_mut() {
            let mut b = (x & 0x7F) as u8;
            x >>= 7;
            if x > 0 {
                b |= 0x80;
            }
            *slot = b;
            n += 1;
            if x == 0 {
                break;
            }
        }
        self.put_slice(bytes.get(..n).unwrap_or(&[]))
    }

    /// Binary Data: Two Byte length then the bytes.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] over 65,535 bytes; [`EncodeError::BufferTooSmall`].
    pub fn put_binary(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::FieldTooLong(bytes.len()))?;
        self.put_u16(len)?;
        self.put_slice(bytes)
    }

    /// A UTF-8 Encoded String. The string is written as given (a `&str` is well-formed UTF-8
    /// already); U+0000 is not checked here, so a test client can send it on purpose.
    ///
    /// # Errors
    /// [`EncodeError::FieldTooLong`] over 65,535 bytes; [`EncodeError::BufferTooSmall`].
    pub fn put_utf8(&mut self, s: &str) -> Result<(), EncodeError> {
        self.put_binary(s.as_bytes())
    }
}

/// Encoded length of Binary Data or a UTF-8 Encoded String holding `len` bytes.
///
/// # Errors
/// [`EncodeError::FieldTooLong`] over 65,535 bytes.
pub const fn prefixed_len(len: usize) -> Result<usize, EncodeError> {
    if len > MAX_STRING_LEN {
        Err(EncodeError::FieldTooLong(len))
    } else {
        Ok(len + 2)
    }
}

/// Encoded length of a Variable Byte Integer.
///
/// # Errors
/// [`EncodeError::VarIntOutOfRange`] above 268,435,455.
pub const fn vbi_encoded_len(v: u32) -> Result<usize, EncodeError> {
    match vbi_len(v) {
        Some(n) => Ok(n),
        None => Err(EncodeError::VarIntOutOfRange(v)),
    }
}
