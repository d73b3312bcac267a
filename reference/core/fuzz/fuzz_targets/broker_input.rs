//! The broker engine driven by arbitrary input: a sequence of driver calls over a few
//! connections, with every output drained after each. It must never panic.
//!
//! Input format (so seeds can be written by hand; see `README.md`):
//! - byte 0: the configuration. Bit 0: small limits (packet size, queues, in-flight window,
//!   unwritten bytes) so that flow control and overflow paths run; bit 1: outbound topic
//!   aliases; bits 2-3: the queue overflow policy.
//! - then operations, each one byte `op` and its arguments. `op >> 4` picks the connection
//!   slot (modulo [`SLOTS`]), `op & 0x0f` the call:
//!   - `0`: `handle_connect` (if the slot has no open connection; each gets a fresh id);
//!   - `1`: `handle_bytes`; next byte `n`, then `n` bytes of data (fewer at the end of input);
//!   - `2`: `handle_written` of `8 * next byte` bytes, at most what is unwritten;
//!   - `3`: `handle_written` of everything unwritten;
//!   - `4`: `handle_close`;
//!   - `5`: time passes by `100 ms * next byte`, then `handle_timeout`;
//!   - `6`: time passes by `next byte` seconds, then `handle_timeout`;
//!   - `7`: time jumps to `poll_timeout()` (if later), then `handle_timeout`;
//!   - anything else: as `1`.
//!
//! The harness keeps the driver's side of the contract: ids are not reused while open, time
//! never goes back, `handle_written` never reports more than was transmitted, and a connection
//! the engine closed gets no more input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqttref_core::broker::{Broker, Config, ConnectionId, Output, QueueOverflow};
use mqttref_core::time::Instant;

/// Connections open at once, at most.
const SLOTS: usize = 3;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The open connection in this slot.
    conn: Option<ConnectionId>,
    /// Bytes transmitted to it and not yet reported written.
    unwritten: usize,
}

struct Driver {
    broker: Broker,
    now: Instant,
    slots: [Slot; SLOTS],
    next_id: u64,
}

impl Driver {
    /// Acts on every output and reads every event, checking they concern known connections.
    fn drain(&mut self) {
        while let Some(out) = self.broker.poll_output() {
            match out {
                Output::Transmit { conn, data } => {
                    let slot = self.slot_of(conn);
                    self.slots[slot].unwritten += data.len();
                }
                Output::Close { conn } => {
                    let slot = self.slot_of(conn);
                    self.slots[slot] = Slot::default();
                }
                Output::Pause { conn } | Output::Resume { conn } => {
                    self.slot_of(conn);
                }
            }
        }
        while let Some(event) = self.broker.poll_event() {
            let _ = format!("{event:?}");
        }
    }

    /// The slot holding `conn`: the engine speaks only of connections that are open.
    fn slot_of(&self, conn: ConnectionId) -> usize {
        self.slots
            .iter()
            .position(|s| s.conn == Some(conn))
            .unwrap_or_else(|| panic!("output for {conn:?}, which is not open"))
    }

    /// Time passes (never backwards), then the engine's timers run.
    fn advance(&mut self, ms: u64) {
        self.now = self.now.add_millis(ms);
        self.broker.handle_timeout(self.now);
    }
}

fn config(flags: u8) -> Config {
    let mut config = Config::default();
    if flags & 1 != 0 {
        config.max_packet_size = 512;
        config.receive_maximum = 2;
        config.max_inflight = 2;
        config.max_queued_messages = 4;
        config.max_queued_bytes = 256;
        config.max_outbound_bytes = 128;
        config.topic_alias_maximum = 2;
        config.max_sessions = 4;
    }
    config.outbound_topic_aliases = flags & 2 != 0;
    config.queue_overflow = match (flags >> 2) & 3 {
        1 => QueueOverflow::DropOldest,
        2 => QueueOverflow::DropNew,
        _ => QueueOverflow::DiscardSession,
    };
    config
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut input)) = data.split_first() else {
        return;
    };
    let mut d = Driver {
        broker: Broker::new(config(flags)),
        now: Instant::ZERO,
        slots: [Slot::default(); SLOTS],
        next_id: 0,
    };
    let arg = |input: &mut &[u8]| -> u8 {
        let (&b, rest) = input.split_first().unwrap_or((&0, &[]));
        *input = rest;
        b
    };
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        let slot = usize::from(op >> 4) % SLOTS;
        let open = d.slots[slot].conn;
        match op & 0x0f {
            0 => {
                if open.is_none() {
                    let conn = ConnectionId(d.next_id);
                    d.next_id += 1;
                    d.slots[slot].conn = Some(conn);
                    d.broker.handle_connect(conn, d.now);
                }
            }
            2 | 3 => {
                let n = if op & 0x0f == 2 {
                    8 * usize::from(arg(&mut input))
                } else {
                    usize::MAX
                };
                if let Some(conn) = open {
                    let n = n.min(d.slots[slot].unwritten);
                    d.slots[slot].unwritten -= n;
                    d.broker.handle_written(conn, d.now, n);
                }
            }
            4 => {
                if let Some(conn) = open {
                    d.slots[slot] = Slot::default();
                    d.broker.handle_close(conn, d.now);
                }
            }
            5 => {
                let ms = 100 * u64::from(arg(&mut input));
                d.advance(ms);
            }
            6 => {
                let ms = 1000 * u64::from(arg(&mut input));
                d.advance(ms);
            }
            7 => {
                let ms = d.broker.poll_timeout().map_or(0, |t| t.millis_since(d.now));
                d.advance(ms);
            }
            _ => {
                let n = usize::from(arg(&mut input)).min(input.len());
                let (bytes, rest) = input.split_at(n);
                input = rest;
                if let Some(conn) = open {
                    d.broker.handle_bytes(conn, d.now, bytes);
                }
            }
        }
        d.drain();
    }
    d.broker.shutdown(d.now);
    d.drain();
});
