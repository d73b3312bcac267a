//! The transcript: a timestamped record of everything a [`RawClient`](crate::RawClient) sent,
//! received and noticed, with the bytes in hex and a one-line decoding. It is the evidence a
//! failed scenario puts in its report, so [`Transcript::render`] is plain text meant to be read.

use std::fmt::Write as _;
use std::time::Duration;

/// Which way an entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Bytes we wrote.
    Sent,
    /// A frame we read.
    Received,
    /// Something that happened without bytes: a close, a reset, a timeout, a quiet period.
    Note,
}

impl Direction {
    fn arrow(self) -> &'static str {
        match self {
            Direction::Sent => "->",
            Direction::Received => "<-",
            Direction::Note => "--",
        }
    }
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since the client was created.
    pub at: Duration,
    /// Sent, received, or a note.
    pub direction: Direction,
    /// The bytes (empty for a note).
    pub bytes: Vec<u8>,
    /// One-line decoding (or the note's text).
    pub decoded: String,
}

/// Everything one client saw, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    label: String,
    entries: Vec<Entry>,
}

/// Bytes shown per hex line, and at most this many lines per entry.
const HEX_PER_LINE: usize = 32;
const HEX_MAX_LINES: usize = 16;

impl Transcript {
    /// An empty transcript for the client called `label`.
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            entries: Vec::new(),
        }
    }

    /// The label every line carries.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Appends an entry.
    pub fn push(&mut self, at: Duration, direction: Direction, bytes: &[u8], decoded: String) {
        self.entries.push(Entry {
            at,
            direction,
            bytes: bytes.to_vec(),
            decoded,
        });
    }

    /// Appends a note.
    pub fn note(&mut self, at: Duration, text: impl Into<String>) {
        self.push(at, Direction::Note, &[], text.into());
    }

    /// Plain text, one entry per line (`+0.012s  c1 -> CONNECT(...)`), each followed by its
    /// bytes in hex on indented lines (32 per line; long frames are cut after 512 bytes, saying
    /// how many were left out).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let _ = writeln!(
                out,
                "+{}.{:03}s  {} {} {}",
                e.at.as_secs(),
                e.at.subsec_millis(),
                self.label,
                e.direction.arrow(),
                e.decoded
            );
            out.push_str(&hex_block(&e.bytes));
        }
        out
    }
}

/// Indented hex lines for `bytes` (nothing for no bytes).
pub(crate) fn hex_block(bytes: &[u8]) -> String {
    let mut out = String::new();
    let shown = bytes.len().min(HEX_PER_LINE * HEX_MAX_LINES);
    for chunk in bytes[..shown].chunks(HEX_PER_LINE) {
        out.push_str("        ");
        out.push_str(&hex(chunk));
        out.push('\n');
    }
    if shown < bytes.len() {
        let _ = writeln!(out, "        ... ({} more bytes)", bytes.len() - shown);
    }
    out
}

/// `bytes` as space-separated lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lines() {
        let mut t = Transcript::new("c1");
        t.push(
            Duration::from_millis(12),
            Direction::Sent,
            &[0xc0, 0x00],
            "PINGREQ".into(),
        );
        t.push(
            Duration::from_millis(1_034),
            Direction::Received,
            &[0xd0, 0x00],
            "PINGRESP".into(),
        );
        t.note(
            Duration::from_millis(2_500),
            "connection closed by peer (EOF)",
        );
        assert_eq!(
            t.render(),
            "+0.012s  c1 -> PINGREQ\n\
             \x20       c0 00\n\
             +1.034s  c1 <- PINGRESP\n\
             \x20       d0 00\n\
             +2.500s  c1 -- connection closed by peer (EOF)\n"
        );
    }

    #[test]
    fn long_frames_wrap_and_cut() {
        let bytes: Vec<u8> = (0..=255).cycle().take(600).collect();
        let block = hex_block(&bytes);
        assert_eq!(block.lines().count(), 17);
        assert!(block
            .lines()
            .next()
            .unwrap()
            .starts_with("        00 01 02"));
        assert_eq!(block.lines().last().unwrap(), "        ... (88 more bytes)");
    }
}
