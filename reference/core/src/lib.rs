//! `mqttref-core`: the sans-IO protocol core of the MQTT reference implementation.
//!
//! No I/O, no clock, no global randomness: every input carries the time it happened and every
//! output is a value the caller acts on. The same code builds for servers, microcontrollers
//! (`#![no_std]`, without `alloc`) and wasm.
//!
//! # Layout
//! (filled in as modules land)

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;
