//! [`Seq`]: a list inside a packet that is either still-encoded validated bytes (from decode,
//! iterated lazily, no allocation) or a caller-given slice (to encode).
//!
//! Properties, SUBSCRIBE's subscriptions, UNSUBSCRIBE's filters and the reason codes of SUBACK
//! and UNSUBACK are all `Seq`s. Two `Seq`s are equal when they yield the same items, whichever
//! form each is in, so `decode(encode(p)) == p` holds for a packet built from slices.

use core::fmt;

use super::error::{DecodeError, EncodeError};
use super::reader::Reader;
use super::version::ProtocolVersion;
use super::writer::Writer;

/// An item of a [`Seq`]: it knows how to read and write itself.
pub trait SeqItem<'a>: Copy {
    /// Reads one item. Decoders validate the whole sequence once; this is also used to iterate.
    ///
    /// # Errors
    /// Whatever makes the item malformed.
    fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, DecodeError>;
    /// Bytes the item takes on the wire.
    ///
    /// # Errors
    /// When the item cannot be represented.
    fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError>;
    /// Writes the item.
    ///
    /// # Errors
    /// When the item cannot be represented, or the buffer is full.
    fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError>;
}

/// Validated encoded items, as found in a decoded packet. Only the codec creates these.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Encoded<'a> {
    bytes: &'a [u8],
    version: ProtocolVersion,
}

impl<'a> Encoded<'a> {
    /// Wraps bytes the caller has validated as a sequence of items for `version`.
    pub(crate) const fn new(bytes: &'a [u8], version: ProtocolVersion) -> Self {
        Encoded { bytes, version }
    }

    /// The encoded bytes, as received.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl fmt::Debug for Encoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Encoded({} bytes)", self.bytes.len())
    }
}

/// A list of `T`: decoded bytes or a caller's slice. See the module documentation.
#[derive(Clone, Copy)]
pub enum Seq<'a, T> {
    /// Validated bytes from a decoded packet, iterated lazily.
    Encoded(Encoded<'a>),
    /// Items given by the caller (to encode).
    Slice(&'a [T]),
}

impl<T> Default for Seq<'_, T> {
    fn default() -> Self {
        Seq::Slice(&[])
    }
}

impl<'a, T: SeqItem<'a>> Seq<'a, T> {
    /// An empty sequence.
    pub const fn empty() -> Self {
        Seq::Slice(&[])
    }

    /// Iterates over the items.
    pub fn iter(&self) -> SeqIter<'a, T> {
        match *self {
            Seq::Encoded(e) => SeqIter::Encoded(Reader::new(e.bytes), e.version),
            Seq::Slice(s) => SeqIter::Slice(s.iter()),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        match self {
            Seq::Encoded(e) => e.bytes.is_empty(),
            Seq::Slice(s) => s.is_empty(),
        }
    }

    /// Number of items (counts by iterating for the encoded form).
    pub fn len(&self) -> usize {
        match self {
            Seq::Encoded(_) => self.iter().count(),
            Seq::Slice(s) => s.len(),
        }
    }

    /// Bytes the items take on the wire in `version`.
    ///
    /// # Errors
    /// When an item cannot be represented.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        match self {
            Seq::Encoded(e) if e.version == version => Ok(e.bytes.len()),
            _ => self.iter().try_fold(0usize, |acc, item| {
                acc.checked_add(item.encoded_len(version)?)
                    .ok_or(EncodeError::PacketTooLarge(usize::MAX))
            }),
        }
    }

    /// Writes every item.
    ///
    /// # Errors
    /// When an item cannot be represented, or the buffer is full.
    pub fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), EncodeError> {
        match self {
            Seq::Encoded(e) if e.version == version => w.put_slice(e.bytes),
            _ => self.iter().try_for_each(|item| item.write(w, version)),
        }
    }
}

impl<'a, T> From<&'a [T]> for Seq<'a, T> {
    fn from(s: &'a [T]) -> Self {
        Seq::Slice(s)
    }
}

impl<'a, T, const N: usize> From<&'a [T; N]> for Seq<'a, T> {
    fn from(s: &'a [T; N]) -> Self {
        Seq::Slice(s)
    }
}

#[cfg(feature = "alloc")]
impl<'a, T> From<&'a alloc::vec::Vec<T>> for Seq<'a, T> {
    fn from(s: &'a alloc::vec::Vec<T>) -> Self {
        Seq::Slice(s)
    }
}

impl<'a, T: SeqItem<'a> + PartialEq> PartialEq for Seq<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, T: SeqItem<'a> + Eq> Eq for Seq<'a, T> {}

impl<'a, T: SeqItem<'a> + fmt::Debug> fmt::Debug for Seq<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: SeqItem<'a>> IntoIterator for Seq<'a, T> {
    type Item = T;
    type IntoIter = SeqIter<'a, T>;
    fn into_iter(self) -> SeqIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: SeqItem<'a>> IntoIterator for &Seq<'a, T> {
    type Item = T;
    type IntoIter = SeqIter<'a, T>;
    fn into_iter(self) -> SeqIter<'a, T> {
        self.iter()
    }
}

/// Iterator over a [`Seq`].
#[derive(Debug, Clone)]
pub enum SeqIter<'a, T> {
    /// Over encoded bytes.
    #[doc(hidden)]
    Encoded(Reader<'a>, ProtocolVersion),
    /// Over a slice.
    #[doc(hidden)]
    Slice(core::slice::Iter<'a, T>),
}

impl<'a, T: SeqItem<'a>> Iterator for SeqIter<'a, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self {
            SeqIter::Encoded(r, version) => {
                if r.is_empty() {
                    return None;
                }
                match T::read(r, *version) {
                    Ok(item) => Some(item),
                    // Unreachable for bytes the decoder validated; stop rather than loop.
                    Err(_) => {
                        *r = Reader::new(&[]);
                        None
                    }
                }
            }
            SeqIter::Slice(it) => it.next().copied(),
        }
    }
}

/// Reads every item of `bytes`, checking each with `check`, and wraps them as a [`Seq`].
pub(crate) fn validate<'a, T: SeqItem<'a>>(
    bytes: &'a [u8],
    version: ProtocolVersion,
    mut check: impl FnMut(T) -> Result<(), DecodeError>,
) -> Result<Seq<'a, T>, DecodeError> {
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        check(T::read(&mut r, version)?)?;
    }
    Ok(Seq::Encoded(Encoded::new(bytes, version)))
}
