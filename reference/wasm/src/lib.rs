//! `mqttref-wasm`: MQTT in the browser and in Node, over the same sans-IO core as the
//! reference broker and client.
//!
//! - [`hub::Hub`]: the core's broker engine behind in-memory links (target-free, tested on the
//!   host).
//! - On `wasm32` (the `js` module): `InPageBroker`, the hub in a page, with clients attached
//!   over `MessagePort`s, its clock from `performance.now()` and its timer from `setTimeout`;
//!   and `MqttClient`, a Promise-based client over any `MessagePort` (the in-page broker's, or
//!   a port another tab or worker serves). Errors are rejected Promises carrying an `Error`
//!   whose `name` is `MqttError` and whose `kind` says what went wrong; a panic hook reports
//!   any panic on the console instead of leaving a bare `unreachable` trap.

#![forbid(unsafe_code)]

extern crate alloc;

pub mod hub;

#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
pub use js::{InPageBroker, MqttClient};
