//! The `alloc` run: a heap from linked_list_allocator, and the cases for the core's alloc-only parts
//! — owned packets ([`PacketBuf`]), the stream decoder that splits a byte stream into them
//! ([`StreamDecoder`]), and the subscription trie ([`TopicTrie`]) — driven by the same vectors.

extern crate alloc;

use crate::Tally;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use linked_list_allocator::LockedHeap;
use mqttref_core::codec::{vectors::GOLDEN, PacketBuf, ProtocolVersion, StreamDecoder};
use mqttref_core::topic::{vectors::MATCHES, TopicTrie};
use static_cell::StaticCell;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Heap size: the largest case (every golden packet of one version in one stream, plus the
/// packets it returns) needs a few KiB; the board has 4 MiB of RAM.
const HEAP_SIZE: usize = 64 * 1024;

/// The heap's memory, handed out once.
static MEMORY: StaticCell<[MaybeUninit<u8>; HEAP_SIZE]> = StaticCell::new();

/// Gives the allocator its memory. Called once, first thing in `main`.
pub fn init() {
    let memory = MEMORY.init([MaybeUninit::uninit(); HEAP_SIZE]);
    HEAP.lock().init_from_slice(memory);
}

/// Runs the alloc-only cases.
pub fn run(tally: &mut Tally) {
    for case in GOLDEN {
        tally.record(
            "packet_buf",
            case.name,
            packet_buf(case.bytes, case.version),
        );
    }
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for chunk in [1, 7, 64] {
            let name = format_args!("{version}, {chunk}-byte chunks");
            tally.record("stream_decoder", name, stream(version, chunk));
        }
    }
    for case in MATCHES {
        let name = format_args!("{}({:?}, {:?})", case.test, case.filter, case.name);
        tally.record("trie", name, trie(case.filter, case.name, case.matches));
    }
}

/// A golden packet owned: it validates and keeps exactly its bytes.
fn packet_buf(bytes: &[u8], version: ProtocolVersion) -> Result<(), &'static str> {
    let buf = PacketBuf::new(bytes.to_vec(), version).map_err(|_| "PacketBuf::new refused it")?;
    if buf.as_bytes() != bytes {
        return Err("PacketBuf holds different bytes");
    }
    if buf.view().encoded_len(version) != Ok(bytes.len()) {
        return Err("the owned view has a different encoded length");
    }
    Ok(())
}

/// Every golden packet of `version` in one stream, pushed `chunk` bytes at a time, comes out
/// as the same packets, in order, with nothing left over.
fn stream(version: ProtocolVersion, chunk: usize) -> Result<(), &'static str> {
    // CONNECT carries its own version; the others are decoded in the stream's version.
    let cases: Vec<&[u8]> = GOLDEN
        .iter()
        .filter(|c| c.version == version)
        .map(|c| c.bytes)
        .collect();
    let all: Vec<u8> = cases.concat();
    let mut decoder = StreamDecoder::new(version, u32::MAX);
    let mut got: Vec<PacketBuf> = Vec::new();
    for piece in all.chunks(chunk) {
        decoder.push(piece);
        while let Some(packet) = decoder.next_packet().map_err(|_| "a decode error")? {
            got.push(packet);
        }
    }
    if decoder.buffered() != 0 {
        return Err("bytes left over");
    }
    if got.len() != cases.len() {
        return Err("a different number of packets");
    }
    if got.iter().zip(&cases).any(|(p, c)| p.as_bytes() != *c) {
        return Err("a packet with different bytes");
    }
    Ok(())
}

/// The trie gives the same answer as `matches` for one filter and one name.
fn trie(filter: &str, name: &str, expected: bool) -> Result<(), &'static str> {
    let mut trie = TopicTrie::new();
    trie.insert(filter, ())
        .map_err(|_| "the trie refused the filter")?;
    let mut hits = 0;
    trie.matches(name, |_, ()| hits += 1);
    match (hits, expected) {
        (1, true) | (0, false) => Ok(()),
        (0, true) => Err("the trie does not match"),
        (1, false) => Err("the trie matches"),
        _ => Err("the trie matched more than once"),
    }
}
