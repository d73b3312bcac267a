//! `mqttref-core`: the sans-IO protocol core of the MQTT reference implementation.
//!
//! No I/O, no clock, no global randomness: every input carries the time it happened and every
//! output is a value the caller acts on. The same code builds for servers, microcontrollers
//! (`#![no_std]`, without `alloc`) and wasm.
//!
//! # Layout
//! - [`codec`]: the MQTT 3.1.1 and 5.0 codec, one codec with the version as a parameter:
//!   every control packet as a borrowed view ([`codec::Packet`]), incremental bounded decoding
//!   ([`codec::decode`]), encoding into `&mut [u8]`, properties, reason codes, typed errors
//!   mapped to reason codes; owned packets ([`codec::PacketBuf`]) with `alloc`.
//!   `codec::vectors` (feature `test-vectors`): the golden packets and malformed inputs the host
//!   tests and the embedded runner (`cargo xtask qemu`) share, with non-panicking checks.
//! - [`topic`]: topic name and filter validation, `$share/` parsing, matching, the subscription trie;
//!   `topic::vectors` (feature `test-vectors`): the shared name, filter and matching cases.
//! - [`broker`] (`alloc`): the sans-IO broker engine: sessions, subscriptions, retained messages.
//! - [`time`]: the core's millisecond [`time::Instant`], supplied by drivers.
//! - [`rng`]: the seeded PRNG every random choice of the project comes from.
//! - [`client`] (`alloc`): the sans-IO client session: packet identifiers, QoS 1/2 flows both
//!   ways, session resume, Receive Maximum, topic aliases, keep alive.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod topic;

pub mod codec;

#[cfg(feature = "alloc")]
pub mod broker;
pub mod rng;
pub mod time;

#[cfg(feature = "alloc")]
pub mod client;
