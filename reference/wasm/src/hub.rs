//! [`Hub`]: the core's broker engine with in-memory links instead of sockets. Target-free, so
//! the host tests drive it exactly as the page does.
//!
//! An in-page link has no socket buffer to fill: bytes handed out are written at once (the
//! engine hears [`Broker::handle_written`] immediately), and the peer's bytes are always
//! read. The engine's [`Output::Pause`] therefore only asks to stop reading, which the engine
//! allows to be ignored ("bytes already read may still be given"): a publisher is held back by
//! the engine's withheld acknowledgements, not by the link.

use alloc::vec::Vec;

use mqttref_core::broker::{Broker, Config, ConnectionId, Output};
use mqttref_core::time::Instant;

/// What the hub's driver must pass on after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubOutput {
    /// Bytes for the client on this link, in order.
    Data(ConnectionId, Vec<u8>),
    /// The broker closed this link (after the data before it); it is forgotten.
    Closed(ConnectionId),
}

/// An in-memory MQTT broker: the core's engine, memory-only storage, a seeded RNG.
pub struct Hub {
    broker: Broker,
    next: u64,
}

impl Hub {
    /// A broker with the engine's default limits; `seed` drives its random choices
    /// (assigned client identifiers, shared-subscription rotation).
    pub fn new(seed: u64) -> Self {
        let config = Config {
            seed,
            ..Config::default()
        };
        Hub {
            broker: Broker::new(config),
            next: 0,
        }
    }

    /// A new link; the client on it sends CONNECT first.
    pub fn attach(&mut self, now: Instant) -> ConnectionId {
        let conn = ConnectionId(self.next);
        self.next += 1;
        self.broker.handle_connect(conn, now);
        conn
    }

    /// Bytes from the client on `conn` (any split).
    pub fn input(&mut self, conn: ConnectionId, now: Instant, data: &[u8]) -> Vec<HubOutput> {
        self.broker.handle_bytes(conn, now, data);
        self.drain(now)
    }

    /// The client side of `conn` went away.
    pub fn detach(&mut self, conn: ConnectionId, now: Instant) -> Vec<HubOutput> {
        self.broker.handle_close(conn, now);
        self.drain(now)
    }

    /// The time [`Hub::next_timeout`] gave has come.
    pub fn timeout(&mut self, now: Instant) -> Vec<HubOutput> {
        self.broker.handle_timeout(now);
        self.drain(now)
    }

    /// When [`Hub::timeout`] is due next, if at all.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.broker.poll_timeout()
    }

    /// Open links.
    pub fn connection_count(&self) -> usize {
        self.broker.connection_count()
    }

    fn drain(&mut self, now: Instant) -> Vec<HubOutput> {
        let mut out = Vec::new();
        while let Some(o) = self.broker.poll_output() {
            match o {
                Output::Transmit { conn, data } => {
                    // Handed over in full: written, as far as the engine's flow control goes.
                    self.broker.handle_written(conn, now, data.len());
                    match out.last_mut() {
                        Some(HubOutput::Data(c, d)) if *c == conn => d.extend_from_slice(&data),
                        _ => out.push(HubOutput::Data(conn, data)),
                    }
                }
                Output::Close { conn } => out.push(HubOutput::Closed(conn)),
                // See the module documentation: in-page links are always read.
                Output::Pause { .. } | Output::Resume { .. } => {}
            }
        }
        // Events are for logs; the page has none yet, and undrained they would pile up.
        while self.broker.poll_event().is_some() {}
        out
    }
}

#[cfg(test)]
mod tests;
