//! The broker engine, sans-IO: every session, subscription, retained message and connection of
//! an MQTT server, driven by inputs that carry the time and read through `poll_*` outputs.
//!
//! # Contract
//! The driver owns the sockets and the clock and gives each accepted connection a
//! [`ConnectionId`]. It calls:
//! - [`Broker::handle_connect`] when a connection is accepted;
//! - [`Broker::handle_bytes`] with whatever bytes arrived (any split; framing is the engine's);
//! - [`Broker::handle_written`] after writing bytes the engine gave it (this is the flow control
//!   that keeps a subscriber that never reads from growing memory: past
//!   [`Config::max_outbound_bytes`] unwritten, deliveries wait in the session queue);
//! - [`Broker::handle_close`] when the peer closed or the socket failed;
//! - [`Broker::handle_timeout`] when the instant from [`Broker::poll_timeout`] is reached.
//!
//! After each call it drains [`Broker::poll_output`] — [`Output::Transmit`] (write these bytes,
//! in order), [`Output::Close`] (write what was queued before, then close), [`Output::Pause`]
//! and [`Output::Resume`] (stop and restart reading a connection: backpressure) — and re-arms
//! its timer from [`Broker::poll_timeout`]. [`Broker::poll_event`] gives log-worthy events.
//!
//! # Determinism
//! No clock, no global RNG ([`Config::seed`] drives assigned client ids and the rotation of
//! shared subscriptions), only ordered maps: the same inputs give the same outputs, which the
//! simulator's replays depend on.
//!
//! # Protocol
//! MQTT 3.1.1 and 5.0 clients share sessions, subscriptions and retained messages; a message is
//! encoded for each receiver in its own version. Each file of `engine/` says which statements
//! it enforces, and the code names them where it does.
//!
//! # Layout
//! - [`engine`](Broker): the state machine, one file per concern, each opening with what it
//!   enforces: `engine/mod.rs` (state, inputs and outputs, framing, dispatch, timers, how
//!   connections and sessions end), `connect`, `publish`, `subscribe`, `deliver`, `flow`
//!   (backpressure), `retained`.
//! - [`Config`]: limits and policies, each with a default.
//! - [`Storage`], [`MemoryStorage`]: sessions and retained messages.
//! - [`Authenticator`]: who may connect; [`Authorizer`]: what they may publish, subscribe to
//!   and receive.
//! - Packets in and out are the codec's views ([`crate::codec::Packet`]): the engine decodes
//!   each packet once and reads it in place, and encodes its replies and deliveries straight
//!   into the connection's transmit buffer. What outlives the input is engine state:
//!   [`Message`] (with [`Payload`] and [`MessageProps`]), [`Subscription`] (with [`SubOpts`]).
//! - `testwire` (tests, and the `test-support` feature): a test client's owned packet model,
//!   for harnesses that play clients against the engine; the engine does not use it.

mod auth;
mod config;
mod engine;
#[cfg(feature = "fault-injection")]
pub mod faults;
mod storage;
#[cfg(any(test, feature = "test-support"))]
pub mod testwire;

#[cfg(test)]
mod tests;

pub use auth::{Access, AuthDecision, AuthRequest, Authenticator, Authorizer, NoAuth, Subject};
pub use config::{Config, DollarPublish, QueueOverflow, Redirect};
pub use engine::{Broker, ConnectionId, DropReason, Event, Output, DROP_REPORT_MS};
pub use storage::{
    InFlight, MemoryStorage, Message, MessageProps, OutState, Payload, Queued, RetainedPending,
    Session, SessionKey, SharedMessage, Storage, SubOpts, Subscription,
};
