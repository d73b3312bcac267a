//! The transcript: a timestamped record of everything a [`RawClient`](crate::RawClient) sent,
//! received and noticed, with the bytes in hex and a one-line decoding. It is the evidence a
//! failed scenario puts in its report, so [`Transcript::render`] is plain text meant to be read.

use std::collections::VecDeque;
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

/// Everything one client saw, in order (or, once [`Transcript::limit`] is set, its first and
/// last entries and how many were left out between them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    label: String,
    entries: Vec<Entry>,
    /// `(head, tail)`: keep the first `head` entries in `entries`, then only the last `tail` in
    /// `tail`. `None`: keep everything.
    limit: Option<(usize, usize)>,
    tail: VecDeque<Entry>,
    /// Entries dropped between `entries` and `tail`.
    left_out: usize,
}

/// Bytes shown per hex line, and at most this many lines per entry.
const HEX_PER_LINE: usize = 32;
const HEX_MAX_LINES: usize = 16;

impl Transcript {
    /// An empty transcript for the client called `label`.
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            ..Self::default()
        }
    }

    /// Keeps only the first `head` and the last `tail` entries from now on, counting the ones
    /// left out between them: for a client that exchanges tens of thousands of packets (a
    /// packet identifier wrap), whose whole record would be megabytes of evidence nobody reads.
    pub fn limit(&mut self, head: usize, tail: usize) {
        self.limit = Some((head, tail));
    }

    /// How many entries [`Transcript::limit`] has left out.
    pub fn left_out(&self) -> usize {
        self.left_out
    }

    /// The label every line carries.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The entries, oldest first (with a [`Transcript::limit`]: the first ones only; see
    /// [`Transcript::last_entries`]).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// With a [`Transcript::limit`], the last entries kept after the ones left out (empty
    /// until the first `head` are taken).
    pub fn last_entries(&self) -> impl Iterator<Item = &Entry> {
        self.tail.iter()
    }

    /// Appends an entry.
    pub fn push(&mut self, at: Duration, direction: Direction, bytes: &[u8], decoded: String) {
        let entry = Entry {
            at,
            direction,
            bytes: bytes.to_vec(),
            decoded,
        };
        match self.limit {
            Some((head, tail)) if self.entries.len() >= head => {
                if tail == 0 {
                    self.left_out += 1;
                    return;
                }
                if self.tail.len() == tail {
                    self.tail.pop_front();
                    self.left_out += 1;
                }
                self.tail.push_back(entry);
            }
            _ => self.entries.push(entry),
        }
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
        let line = |out: &mut String, e: &Entry| {
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
        };
        for e in &self.entries {
            line(&mut out, e);
        }
        if self.left_out > 0 {
            let _ = writeln!(
                out,
                "          {} ... {} entries left out ...",
                self.label, self.left_out
            );
        }
        for e in &self.tail {
            line(&mut out, e);
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
    fn limit_keeps_head_and_tail() {
        let mut t = Transcript::new("c");
        t.limit(2, 2);
        for i in 0..7u64 {
            t.note(Duration::from_millis(i), format!("n{i}"));
        }
        assert_eq!(t.left_out(), 3);
        assert_eq!(
            t.render(),
            "+0.000s  c -- n0\n\
             +0.001s  c -- n1\n\
             \x20         c ... 3 entries left out ...\n\
             +0.005s  c -- n5\n\
             +0.006s  c -- n6\n"
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
