//! What the engine keeps for one connection: where it is in the CONNECT handshake, the
//! client's limits and topic aliases, its will, and the accounting of bytes handed to the
//! driver and not yet written (replies apart from deliveries, see `flow`).
//!
//! Enforces: the keep alive grace of one and a half periods ([MQTT-3.1.2-22] (5.0) /
//! [MQTT-3.1.2-24] (3.1.1)); everything else here is state the other modules act on.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use super::super::storage::{Message, SessionKey};
use super::{flow, SharedStr};
use crate::codec::{PacketBuf, ProtocolVersion};
use crate::time::Instant;

/// The will of a connected client.
#[derive(Debug, Clone)]
pub(super) struct Will {
    pub(super) msg: Message,
    pub(super) delay: u32,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Waiting for CONNECT until the deadline.
    AwaitConnect(Instant),
    /// Enhanced authentication in progress (AUTH exchanges before CONNACK), until the deadline.
    Authenticating(Instant),
    /// CONNACK sent: a client session.
    Connected,
}

/// Per-connection state.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) state: State,
    /// Version of the CONNECT; 3.1.1 until one arrives (only used for encoding after CONNECT).
    pub(super) version: ProtocolVersion,
    pub(super) client_id: SharedStr,
    /// Its session's key, once connected: the hot paths find the session by it.
    pub(super) session: Option<SessionKey>,
    /// Bytes received and not yet a whole packet; bounded by the maximum packet size.
    pub(super) inbuf: Vec<u8>,
    /// Keep alive in ms (0: none), and when the last packet arrived.
    pub(super) keep_alive_ms: u64,
    pub(super) last_rx: Instant,
    /// The client's Receive Maximum and Maximum Packet Size.
    pub(super) recv_max: u16,
    pub(super) max_packet: u32,
    /// The client's Topic Alias Maximum (the aliases themselves are in [`Rare`]).
    pub(super) alias_max_out: u16,
    /// Boxed: most connections have none, and a `Message` is large.
    pub(super) will: Option<Box<Will>>,
    /// What most connections never have (topic aliases, enhanced authentication, a user
    /// name), boxed: inline it cost every idle connection about 130 bytes.
    pub(super) rare: Option<Box<Rare>>,
    /// Its entry in [`Broker::tx`] while it has bytes to go out this step.
    pub(super) tx_slot: Option<u32>,
    /// Bytes handed to the driver and not reported written.
    pub(super) unwritten: usize,
    /// What the unwritten bytes are, oldest first: (bytes, whether they are replies rather
    /// than deliveries), runs of one kind merged. Writes complete in order, so this tells how
    /// many unwritten bytes are replies: a peer that sends without reading its replies is
    /// paused on those alone (see `flow`).
    pub(super) unwritten_runs: VecDeque<(usize, bool)>,
    /// Unwritten bytes that are replies (the `true` runs).
    pub(super) unwritten_replies: usize,
    /// Session Expiry Interval from CONNECT (for the DISCONNECT rule [MQTT-3.14.2-2]).
    pub(super) connect_expiry: u32,
    /// Acknowledgements of its PUBLISHes withheld while subscriber queues are full, in arrival
    /// order (see `flow`).
    pub(super) held: VecDeque<flow::HeldAck>,
    /// Whether the driver was told to stop reading it ([`Output::Pause`]); its input is kept
    /// unparsed meanwhile.
    pub(super) paused: bool,
    /// When it last took a delivery off our hands: bytes written, or an acknowledgement of
    /// an outbound QoS 1/2 message. A subscriber that holds publishers back and makes no
    /// progress for `slow_subscriber_timeout_ms` is cut off (`flow`).
    pub(super) last_progress: Instant,
}

impl Conn {
    pub(super) fn new(now: Instant, deadline: Instant) -> Self {
        Conn {
            state: State::AwaitConnect(deadline),
            version: ProtocolVersion::V3_1_1,
            client_id: SharedStr::from(""),
            session: None,
            inbuf: Vec::new(),
            keep_alive_ms: 0,
            last_rx: now,
            recv_max: u16::MAX,
            max_packet: u32::MAX,
            alias_max_out: 0,
            will: None,
            rare: None,
            tx_slot: None,
            unwritten: 0,
            unwritten_runs: VecDeque::new(),
            unwritten_replies: 0,
            connect_expiry: 0,
            held: VecDeque::new(),
            paused: false,
            last_progress: now,
        }
    }

    /// Records `n` bytes handed to the driver; `reply`: not a delivery.
    pub(super) fn queued_for_write(&mut self, n: usize, reply: bool) {
        if reply {
            self.unwritten_replies += n;
        }
        match self.unwritten_runs.back_mut() {
            Some((len, kind)) if *kind == reply => *len += n,
            _ => self.unwritten_runs.push_back((n, reply)),
        }
    }

    /// The driver wrote `n` more bytes, oldest first.
    pub(super) fn written(&mut self, mut n: usize) {
        while n > 0 {
            let Some((len, reply)) = self.unwritten_runs.front_mut() else {
                break;
            };
            let k = n.min(*len);
            *len -= k;
            n -= k;
            if *reply {
                self.unwritten_replies -= k;
            }
            if *len == 0 {
                self.unwritten_runs.pop_front();
            }
        }
        if self.unwritten_runs.is_empty() {
            // All written: an idle connection keeps no buffer (one per connection adds up).
            self.unwritten_runs = VecDeque::new();
        }
    }

    pub(super) fn keep_alive_deadline(&self) -> Option<Instant> {
        // [MQTT-3.1.2-22] (5.0) / [MQTT-3.1.2-24] (3.1.1): one and a half keep alive periods.
        (self.keep_alive_ms > 0).then(|| {
            self.last_rx
                .add_millis(self.keep_alive_ms + self.keep_alive_ms / 2)
        })
    }
}

/// The part of [`Conn`] most connections never use.
#[derive(Debug, Default)]
pub(super) struct Rare {
    /// Inbound topic aliases.
    pub(super) aliases: BTreeMap<u16, String>,
    /// The outbound aliases set up on this connection (at most the client's Topic Alias
    /// Maximum, [`Conn::alias_max_out`]).
    pub(super) out_aliases: BTreeMap<String, u16>,
    /// Authentication Method of CONNECT, for AUTH exchanges.
    pub(super) auth_method: Option<String>,
    /// User Name of the accepted CONNECT: the `Authorizer`'s subject.
    pub(super) username: Option<String>,
    /// The CONNECT waiting for enhanced authentication to finish, as the bytes it arrived in
    /// (validated; [`PacketBuf::view`] gives it back), not a copy of its fields: it is only
    /// read again when the exchange succeeds.
    pub(super) pending_connect: Option<PacketBuf>,
}

impl Conn {
    /// Its [`Rare`] part, created on first use.
    pub(super) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// User Name of the accepted CONNECT.
    pub(super) fn username(&self) -> Option<&str> {
        self.rare.as_ref()?.username.as_deref()
    }

    /// Authentication Method of CONNECT.
    pub(super) fn auth_method(&self) -> Option<&str> {
        self.rare.as_ref()?.auth_method.as_deref()
    }

    /// The topic of inbound Topic Alias `alias`.
    pub(super) fn inbound_alias(&self, alias: u16) -> Option<&String> {
        self.rare.as_ref()?.aliases.get(&alias)
    }

    /// The outbound Topic Alias set up for `topic`.
    pub(super) fn out_alias(&self, topic: &str) -> Option<u16> {
        self.rare.as_ref()?.out_aliases.get(topic).copied()
    }

    /// Outbound Topic Aliases set up so far.
    pub(super) fn out_alias_count(&self) -> usize {
        self.rare.as_ref().map_or(0, |r| r.out_aliases.len())
    }
}

#[cfg(test)]
mod tests {
    /// What every connection costs the engine while idle (boxed, see `Broker::conns`): the
    /// rarely used state stays in [`super::Rare`]. It was 344 bytes with that inline.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn conn_is_small() {
        let size = core::mem::size_of::<super::Conn>();
        assert!(size <= 224, "{size} bytes");
    }
}
