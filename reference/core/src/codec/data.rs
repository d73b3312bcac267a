//! Data representation (MQTT 5.0 §1.5, 3.1.1 §1.5): Variable Byte Integers, UTF-8 Encoded
//! Strings, Binary Data and UTF-8 String Pairs, checked the way the spec requires.
//!
//! The reading side lives in [`Reader`](super::Reader) and the writing side in
//! [`Writer`](super::Writer); this module holds the rules they share.
//!
//! # Which characters a UTF-8 Encoded String may hold
//! Rejected (the spec says MUST): ill-formed UTF-8 and encoded surrogates U+D800..U+DFFF
//! ([MQTT-1.5.4-1] (5.0) / [MQTT-1.5.3-1] (3.1.1)), and U+0000 ([MQTT-1.5.4-2] (5.0) /
//! [MQTT-1.5.3-2] (3.1.1)). A BOM (0xEF 0xBB 0xBF) is kept as U+FEFF, never stripped
//! ([MQTT-1.5.4-3] (5.0) / [MQTT-1.5.3-3] (3.1.1)): the codec hands out the bytes as they came.
//!
//! Accepted: the control characters U+0001..U+001F and U+007F..U+009F and the Unicode
//! non-characters. The spec says a receiver MAY close the connection on them; the codec leaves
//! that policy to its caller, who can detect them with [`has_discouraged_code_points`].

use super::error::{DecodeError, Malformed};

/// The largest value a Variable Byte Integer can hold: 268,435,455 (four bytes).
pub const VBI_MAX: u32 = 268_435_455;

/// The longest UTF-8 Encoded String or Binary Data: its length prefix is a `u16`.
pub const MAX_STRING_LEN: usize = 65_535;

/// Number of bytes the Variable Byte Integer encoding of `value` takes (1 to 4), or `None` when
/// `value` exceeds [`VBI_MAX`].
pub const fn vbi_len(value: u32) -> Option<usize> {
    match value {
        0..=127 => Some(1),
        128..=16_383 => Some(2),
        16_384..=2_097_151 => Some(3),
        2_097_152..=VBI_MAX => Some(4),
        _ => None,
    }
}

/// Checks a UTF-8 Encoded String's bytes and returns them as `&str`.
///
/// # Errors
/// [`Malformed::Surrogate`] for an encoded U+D800..U+DFFF, [`Malformed::InvalidUtf8`] for any
/// other ill-formed sequence, [`Malformed::NullCharacter`] for U+0000.
pub fn check_utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    match core::str::from_utf8(bytes) {
        Ok(s) => {
            // [MQTT-1.5.4-2] (5.0) / [MQTT-1.5.3-2] (3.1.1): no U+0000.
            if bytes.contains(&0) {
                return Err(Malformed::NullCharacter.into());
            }
            // [MQTT-1.5.4-3] (5.0) / [MQTT-1.5.3-3] (3.1.1): a BOM stays in the string.
            Ok(s)
        }
        Err(e) => {
            // [MQTT-1.5.4-1] (5.0) / [MQTT-1.5.3-1] (3.1.1): well-formed UTF-8, no surrogates.
            // `from_utf8` already rejects surrogates (0xED 0xA0..=0xBF); name them precisely.
            let at = e.valid_up_to();
            let surrogate = matches!(
                (bytes.get(at), bytes.get(at + 1)),
                (Some(0xED), Some(0xA0..=0xBF))
            );
            Err(if surrogate {
                Malformed::Surrogate.into()
            } else {
                Malformed::InvalidUtf8.into()
            })
        }
    }
}

/// Whether `s` holds a code point the spec allows but discourages: the control characters
/// U+0001..U+001F and U+007F..U+009F, or a Unicode non-character (U+FDD0..U+FDEF and the last
/// two code points of every plane). MQTT 5.0 §1.5.4: a receiver MAY close the connection on
/// these; the codec accepts them and leaves that decision to the caller.
pub fn has_discouraged_code_points(s: &str) -> bool {
    s.chars().any(|c| {
        let c = c as u32;
        (0x01..=0x1F).contains(&c)
            || (0x7F..=0x9F).contains(&c)
            || (0xFDD0..=0xFDEF).contains(&c)
            || (c & 0xFFFE) == 0xFFFE
    })
}
