//! Finding frame boundaries in a byte stream from the fixed header alone.
//!
//! The core's fixed-header decoder judges the flags before it reads the length, so it refuses to
//! frame exactly the malformed packets a conformance test wants to look at. Framing here needs
//! only the first byte and the Remaining Length, so any peer output with a readable length is cut
//! into frames, and the core then decodes (or refuses) each frame on its own.

/// What the start of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A whole frame of this many bytes.
    Frame(usize),
    /// Not enough bytes yet.
    Incomplete,
    /// The Remaining Length has a continuation bit on its fourth byte: no frame boundary can be
    /// found, the rest of the stream cannot be framed.
    BadLength,
}

/// Looks for one frame at the start of `buf`.
pub(crate) fn scan(buf: &[u8]) -> Scan {
    if buf.is_empty() {
        return Scan::Incomplete;
    }
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Scan::Incomplete;
        };
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let total = 2 + i + len;
            return if buf.len() >= total {
                Scan::Frame(total)
            } else {
                Scan::Incomplete
            };
        }
    }
    Scan::BadLength
}

/// The whole frame's length as announced by a complete fixed header, even if the body has not
/// arrived yet (used to refuse an oversized frame early).
pub(crate) fn announced_len(buf: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    for i in 0..4 {
        let b = *buf.get(1 + i)?;
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(2 + i + len);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(scan(&[]), Scan::Incomplete);
        assert_eq!(scan(&[0xc0]), Scan::Incomplete);
        assert_eq!(scan(&[0xc0, 0x00]), Scan::Frame(2));
        assert_eq!(scan(&[0xd0, 0x00, 0xd0]), Scan::Frame(2));
        assert_eq!(scan(&[0x20, 0x03, 0x00, 0x00]), Scan::Incomplete);
        assert_eq!(scan(&[0x20, 0x03, 0x00, 0x00, 0x00]), Scan::Frame(5));
        // Non-minimal length 0 in two bytes: still framed (the core judges it).
        assert_eq!(scan(&[0x20, 0x80, 0x00]), Scan::Frame(3));
        assert_eq!(scan(&[0x30, 0x80, 0x01]), Scan::Incomplete);
        assert_eq!(scan(&[0x30, 0x80, 0x80, 0x80]), Scan::Incomplete);
        assert_eq!(scan(&[0x30, 0x80, 0x80, 0x80, 0x80]), Scan::BadLength);
        assert_eq!(announced_len(&[0x30, 0x80, 0x01]), Some(131));
        assert_eq!(announced_len(&[0x30, 0x80]), None);
    }
}
