//! [`Broker`]: the engine itself. See the [module documentation](super) for the contract.
//!
//! - `flow`: backpressure from subscriber queues to publishers, and pausing peers that do not
//!   read (what an acknowledgement promises, and how the engine keeps it).
//! - `retained`: the retained-message index, its limits, and paced delivery on SUBSCRIBE.

mod flow;
mod retained;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::auth::{AuthDecision, AuthRequest, Authenticator, NoAuth};
use super::config::{Config, DollarPublish, QueueOverflow};
use super::rng::SplitMix64;
use super::storage::{
    InFlight, MemoryStorage, Message, OutState, Queued, Session, Storage, Subscription,
};
use super::wire::{self, kind, Packet, Props, Publish, SubOpts, Version};
use crate::codec::{self, DecodeError, Decoded, ProtocolVersion};
use crate::time::Instant;
use crate::topic::{self, TopicTree, TopicTrie};

/// Identifies one network connection; chosen by the driver, never reused while it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write `data` to the connection, in order, then report it with
    /// [`Broker::handle_written`].
    Transmit {
        /// The connection.
        conn: ConnectionId,
        /// Bytes to write.
        data: Vec<u8>,
    },
    /// Write everything transmitted before, then close the connection. The engine has already
    /// forgotten it; later input for it is ignored.
    Close {
        /// The connection.
        conn: ConnectionId,
    },
    /// Stop reading the connection until [`Output::Resume`]: its publishes are held back by
    /// full subscriber queues, or its replies are not being written (see `engine/flow.rs`).
    /// Bytes already read may still be given to [`Broker::handle_bytes`]; they are kept.
    Pause {
        /// The connection.
        conn: ConnectionId,
    },
    /// Read the connection again.
    Resume {
        /// The connection.
        conn: ConnectionId,
    },
}

/// Things worth logging; the engine's behaviour does not depend on whether they are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A CONNECT was accepted.
    Connected {
        /// The connection.
        conn: ConnectionId,
        /// Client identifier (assigned or given).
        client_id: String,
        /// Protocol version.
        version: Version,
        /// Whether an existing session was resumed.
        session_present: bool,
    },
    /// A connection ended.
    Closed {
        /// The connection.
        conn: ConnectionId,
        /// Why, in a few words.
        reason: String,
    },
    /// A retained message was not stored: `max_retained` or `max_retained_bytes` was reached
    /// and its topic had none yet. A 5.0 QoS 1/2 publisher was told (0x97) and the message not
    /// forwarded; otherwise it was forwarded without being stored.
    RetainedRefused {
        /// Its topic.
        topic: String,
        /// The publisher (`None` for a will whose client is gone).
        client_id: Option<String>,
    },
    /// A session's queue was full (`max_queued_messages` or `max_queued_bytes`) and messages
    /// were dropped (see `enqueue` for which). Rate-limited per session: the first drop is
    /// reported at once, later ones at most once per [`DROP_REPORT_MS`] of the core's time, each
    /// report carrying the drops since the previous one. Drops after the last report are
    /// carried by the next one, or reported when the session's connection ends or the session
    /// goes; [`Session::dropped`] always has the exact total.
    QueueFull {
        /// The session whose queue overflowed.
        client_id: String,
        /// Messages dropped since the previous report for this session (at least 1).
        dropped: u64,
        /// Messages dropped over the session's life ([`Session::dropped`]).
        total: u64,
        /// QoS of the most recently dropped message (a QoS 1/2 drop is a lost guarantee).
        qos: u8,
    },
    /// A session without a connection was discarded because a QoS 1/2 message arrived for its
    /// full queue ([`QueueOverflow::DiscardSession`]); its client will see Session Present 0.
    SessionDiscarded {
        /// The session's client identifier.
        client_id: String,
        /// Messages that were in its queue.
        queued: usize,
    },
}

/// Least time between two [`Event::QueueFull`] for one session, in milliseconds.
pub const DROP_REPORT_MS: u64 = 1000;

/// Rate limit of [`Event::QueueFull`] for one session.
#[derive(Debug, Clone, Copy)]
struct DropReport {
    /// When the last report was emitted (`None`: never).
    at: Option<Instant>,
    /// Drops since then.
    pending: u64,
    /// QoS of the last of them.
    qos: u8,
}

/// The will of a connected client.
#[derive(Debug, Clone)]
struct Will {
    msg: Message,
    delay: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for CONNECT until the deadline.
    AwaitConnect(Instant),
    /// Enhanced authentication in progress (AUTH exchanges before CONNACK), until the deadline.
    Authenticating(Instant),
    Connected,
}

/// Per-connection state.
#[derive(Debug)]
struct Conn {
    state: State,
    /// Version of the CONNECT; 3.1.1 until one arrives (only used for encoding after CONNECT).
    version: Version,
    client_id: String,
    /// Bytes received and not yet a whole packet; bounded by the maximum packet size.
    inbuf: Vec<u8>,
    /// Keep alive in ms (0: none), and when the last packet arrived.
    keep_alive_ms: u64,
    last_rx: Instant,
    /// The client's Receive Maximum and Maximum Packet Size.
    recv_max: u16,
    max_packet: u32,
    /// Inbound topic aliases.
    aliases: BTreeMap<u16, String>,
    /// The client's Topic Alias Maximum, and the outbound aliases set up on this connection.
    alias_max_out: u16,
    out_aliases: BTreeMap<String, u16>,
    /// Boxed: most connections have none, and a `Message` is large.
    will: Option<Box<Will>>,
    /// Bytes handed to the driver and not reported written.
    unwritten: usize,
    /// Session Expiry Interval from CONNECT (for the DISCONNECT rule [MQTT-3.14.2-2]).
    connect_expiry: u32,
    /// Authentication Method of CONNECT, for AUTH exchanges.
    auth_method: Option<String>,
    /// The CONNECT waiting for enhanced authentication to finish.
    pending_connect: Option<alloc::boxed::Box<wire::Connect>>,
    /// Acknowledgements of its PUBLISHes withheld while subscriber queues are full, in arrival
    /// order (see `flow`).
    held: VecDeque<flow::HeldAck>,
    /// Whether the driver was told to stop reading it ([`Output::Pause`]); its input is kept
    /// unparsed meanwhile.
    paused: bool,
    /// When it last took a delivery off our hands: bytes written, or an acknowledgement of
    /// an outbound QoS 1/2 message. A subscriber that holds publishers back and makes no
    /// progress for `slow_subscriber_timeout_ms` is cut off (`flow`).
    last_progress: Instant,
}

impl Conn {
    fn new(now: Instant, deadline: Instant) -> Self {
        Conn {
            state: State::AwaitConnect(deadline),
            version: Version::V311,
            client_id: String::new(),
            inbuf: Vec::new(),
            keep_alive_ms: 0,
            last_rx: now,
            recv_max: u16::MAX,
            max_packet: u32::MAX,
            aliases: BTreeMap::new(),
            alias_max_out: 0,
            out_aliases: BTreeMap::new(),
            will: None,
            unwritten: 0,
            connect_expiry: 0,
            auth_method: None,
            pending_connect: None,
            held: VecDeque::new(),
            paused: false,
            last_progress: now,
        }
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        // [MQTT-3.1.2-22] (5.0) / [MQTT-3.1.2-24] (3.1.1): one and a half keep alive periods.
        (self.keep_alive_ms > 0).then(|| {
            self.last_rx
                .add_millis(self.keep_alive_ms + self.keep_alive_ms / 2)
        })
    }
}

/// A subscription as the trie holds it: who, with which options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubEntry {
    client: String,
    share: Option<String>,
    opts: SubOpts,
    id: Option<u32>,
}

/// What a client is owed for one message, merged over its matching subscriptions.
#[derive(Debug, Default)]
struct Target {
    qos: u8,
    rap: bool,
    ids: Vec<u32>,
}

/// How a connection ends, which decides what happens to its will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WillFate {
    /// Abnormal end, or DISCONNECT 0x04: publish (after the delay).
    Publish,
    /// Normal DISCONNECT: delete it ([MQTT-3.1.2-10] (5.0) / [MQTT-3.1.2-10] (3.1.1)).
    Discard,
}

const PROTOCOL_MAX_PACKET: u32 = 268_435_460;

/// The broker engine: every session, subscription, retained message and connection.
///
/// Inputs are the `handle_*` methods, each with the current time; outputs are read with
/// [`poll_output`](Broker::poll_output) (bytes and closes, in order) and
/// [`poll_event`](Broker::poll_event) (for logging), and the next timer with
/// [`poll_timeout`](Broker::poll_timeout). After any input, drain `poll_output` and re-read
/// `poll_timeout`.
pub struct Broker<S: Storage = MemoryStorage> {
    config: Config,
    rng: SplitMix64,
    auth: Box<dyn Authenticator + Send>,
    store: S,
    conns: BTreeMap<ConnectionId, Conn>,
    /// Which connection a client id is on.
    online: BTreeMap<String, ConnectionId>,
    /// Subscription index over every session's subscriptions (inner filter for shared ones).
    subs: TopicTrie<SubEntry>,
    /// Index of the store's retained messages: topic → (version, bytes). See `retained`.
    retained: TopicTree<(u64, usize)>,
    /// Version given to the next retained message stored.
    retained_version: u64,
    /// Bytes (topic + payload) of the retained messages stored.
    retained_bytes: usize,
    /// Rotation counter per (share name, inner filter).
    share_next: BTreeMap<(String, String), u64>,
    /// Offline sessions with a finite expiry, and when they expire.
    expiries: BTreeMap<String, Instant>,
    /// Wills waiting for their delay, by client id.
    pending_wills: BTreeMap<String, (Instant, Message)>,
    out: VecDeque<Output>,
    events: VecDeque<Event>,
    /// Rate limit of [`Event::QueueFull`], per session with queue drops since it connected.
    drop_reports: BTreeMap<String, DropReport>,
    /// Connections holding back an acknowledgement because of each session's full queue.
    blocked_on: BTreeMap<String, BTreeSet<ConnectionId>>,
    /// Connections with work a release made possible (see `flow::settle`).
    wake: BTreeSet<ConnectionId>,
    /// Connections in the Connected state.
    connected: usize,
    /// Lower bound of every deadline (see `poll_timeout`).
    timer: Option<Instant>,
    /// Planted bugs (test-only, see `faults`), and how many QoS 2 duplicates were planted.
    #[cfg(feature = "fault-injection")]
    faults: (super::faults::Faults, u32),
}

impl Broker<MemoryStorage> {
    /// An engine with in-memory storage and no authentication.
    pub fn new(config: Config) -> Self {
        Self::with_parts(config, MemoryStorage::new(), Box::new(NoAuth))
    }
}

impl<S: Storage> Broker<S> {
    /// An engine over `store`, authenticating with `auth`.
    pub fn with_parts(config: Config, store: S, auth: Box<dyn Authenticator + Send>) -> Self {
        let mut b = Broker {
            rng: SplitMix64::new(config.seed),
            config,
            auth,
            store,
            conns: BTreeMap::new(),
            online: BTreeMap::new(),
            subs: TopicTrie::new(),
            retained: TopicTree::new(),
            retained_version: 0,
            retained_bytes: 0,
            share_next: BTreeMap::new(),
            expiries: BTreeMap::new(),
            pending_wills: BTreeMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            drop_reports: BTreeMap::new(),
            blocked_on: BTreeMap::new(),
            wake: BTreeSet::new(),
            connected: 0,
            timer: None,
            #[cfg(feature = "fault-injection")]
            faults: (super::faults::thread_faults(), 0),
        };
        b.index_retained();
        b
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn storage(&self) -> &S {
        &self.store
    }

    /// Open connections (connected or waiting for CONNECT).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The keep alive in effect on `conn` in ms (0: none, or no CONNACK yet); `None` for an
    /// unknown connection. Drivers bound their writes by it.
    pub fn keep_alive_ms(&self, conn: ConnectionId) -> Option<u64> {
        self.conns.get(&conn).map(|c| c.keep_alive_ms)
    }

    /// Number of subscriptions in the index.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    // ---- inputs ----

    /// A new network connection was accepted. It must send CONNECT within
    /// `connect_timeout_ms`.
    ///
    /// Connections that have not finished CONNECT are capped separately from connected clients
    /// ([`Config::max_awaiting_connect`]): at the cap the one waiting longest is closed, so
    /// sockets that never send anything cannot keep real clients out.
    pub fn handle_connect(&mut self, conn: ConnectionId, now: Instant) {
        if self.conns.len() - self.connected >= self.config.max_awaiting_connect {
            let oldest = self
                .conns
                .iter()
                .filter_map(|(id, c)| match c.state {
                    State::AwaitConnect(d) | State::Authenticating(d) => Some((d, *id)),
                    State::Connected => None,
                })
                .min();
            if let Some((_, old)) = oldest {
                self.close(
                    old,
                    now,
                    WillFate::Discard,
                    "evicted: too many connections awaiting CONNECT",
                );
            }
        }
        let deadline = now.add_millis(self.config.connect_timeout_ms);
        self.conns.insert(conn, Conn::new(now, deadline));
        self.arm(deadline);
    }

    /// Bytes arrived on `conn`. While the connection is paused ([`Output::Pause`]) they are
    /// kept and parsed once it resumes.
    pub fn handle_bytes(&mut self, conn: ConnectionId, now: Instant, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.inbuf.extend_from_slice(data);
        c.last_rx = now;
        if !c.paused {
            self.process_input(conn, now);
        }
        self.settle(now);
    }

    /// Parses and handles the whole packets in `conn`'s input buffer, until it is empty, holds
    /// only part of a packet, or the connection pauses or ends.
    fn process_input(&mut self, conn: ConnectionId, now: Instant) {
        let mut start = 0;
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.paused {
                break;
            }
            // Before CONNECT the version is unknown; only CONNECT is accepted then, whose
            // header reads the same in both versions.
            let version = match c.state {
                State::Connected => c.version.into(),
                State::AwaitConnect(_) | State::Authenticating(_) => ProtocolVersion::V5,
            };
            let buf = &c.inbuf[start..];
            let h = match codec::FixedHeader::decode(buf, version) {
                Ok(Decoded::Complete { value, .. }) => value,
                Ok(Decoded::Incomplete(_)) => break,
                Err(e) => {
                    self.fail(conn, now, e.reason_code().as_u8(), &format!("{e}"));
                    return;
                }
            };
            // [MQTT-3.2.2-15] (5.0): a packet over our Maximum Packet Size is refused from its fixed
            // header, before it is buffered: DISCONNECT 0x95 (5.0 §4.13).
            if h.packet_len() > u64::from(self.config.max_packet_size) {
                self.fail(conn, now, 0x95, "packet too large");
                return;
            }
            let total = usize::try_from(h.packet_len()).unwrap_or(usize::MAX);
            if buf.len() < total {
                break;
            }
            let body = buf[h.header_len..total].to_vec();
            start += total;
            self.handle_packet(conn, now, &h, &body);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inbuf.drain(..start);
        }
        self.update_pause(conn, now);
    }

    /// The driver wrote `n` bytes of earlier transmits to `conn`; more deliveries may follow.
    pub fn handle_written(&mut self, conn: ConnectionId, now: Instant, n: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.unwritten = c.unwritten.saturating_sub(n);
            if n > 0 {
                c.last_progress = now;
            }
            self.flush(conn, now);
            self.update_pause(conn, now);
        }
        self.settle(now);
    }

    /// The peer closed `conn`, or reading or writing it failed. An abnormal end: the will is
    /// published.
    pub fn handle_close(&mut self, conn: ConnectionId, now: Instant) {
        if self.conns.contains_key(&conn) {
            self.close_quiet(conn, now, WillFate::Publish, "closed by peer");
        }
        self.settle(now);
    }

    /// Time has passed: keep alive and CONNECT deadlines, will delays, session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cut_off_slow_subscribers(now);
        let mut expired = Vec::new();
        for (id, c) in &self.conns {
            match c.state {
                State::AwaitConnect(d) | State::Authenticating(d) if d <= now => {
                    expired.push((*id, false))
                }
                State::Connected if c.keep_alive_deadline().is_some_and(|d| d <= now) => {
                    expired.push((*id, true))
                }
                _ => {}
            }
        }
        for (id, connected) in expired {
            if connected {
                // 5.0 §4.13: DISCONNECT 0x8D Keep Alive timeout, then close; the will goes out.
                self.fail(id, now, 0x8D, "keep alive timeout");
            } else {
                self.close(id, now, WillFate::Discard, "no CONNECT in time");
            }
        }
        let due: Vec<String> = self
            .pending_wills
            .iter()
            .filter(|(_, (t, _))| *t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for client in due {
            if let Some((_, msg)) = self.pending_wills.remove(&client) {
                self.route(msg, now);
            }
        }
        let gone: Vec<String> = self
            .expiries
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for client in gone {
            // [MQTT-3.1.2-8] (5.0): a will still waiting goes out when the session ends.
            if let Some((_, msg)) = self.pending_wills.remove(&client) {
                self.route(msg, now);
            }
            self.drop_session(&client);
        }
        self.settle(now);
        self.timer = self.next_deadline();
    }

    /// Ends every connection: DISCONNECT 0x8B Server shutting down to 5.0 clients, then close.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            self.fail(id, now, 0x8B, "server shutting down");
        }
    }

    // ---- outputs ----

    /// The next thing to do: bytes to write or a connection to close.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next event to log.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Broker::handle_timeout) should next be called.
    ///
    /// Cheap: a cached lower bound of every deadline, recomputed by `handle_timeout`. It may be
    /// early (traffic pushes keep alive deadlines later, closed connections leave), never late;
    /// an early call to `handle_timeout` does nothing but recompute it.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Whether a topic name (or a subscription's filter, taken literally) is in
    /// [`Config::denied_topics`].
    fn denied(&self, topic_or_filter: &str) -> bool {
        self.config
            .denied_topics
            .iter()
            .any(|d| d == topic_or_filter || topic::matches(d, topic_or_filter))
    }

    /// Raises no deadline, only brings the timer forward to `t`.
    fn arm(&mut self, t: Instant) {
        self.timer = Some(self.timer.map_or(t, |x| x.min(t)));
    }

    /// The earliest deadline of all, by a full scan.
    fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(|c| match c.state {
            State::AwaitConnect(d) | State::Authenticating(d) => Some(d),
            State::Connected => c.keep_alive_deadline(),
        });
        let wills = self.pending_wills.values().map(|(t, _)| *t);
        let sessions = self.expiries.values().copied();
        conns
            .chain(wills)
            .chain(sessions)
            .chain(self.next_slow_deadline())
            .min()
    }

    // ---- internals ----

    fn send(&mut self, conn: ConnectionId, packet: &Packet) {
        if let Some(c) = self.conns.get_mut(&conn) {
            send_on(&mut self.out, conn, c, packet);
        }
    }

    /// A protocol failure: DISCONNECT (5.0, after CONNACK) with `code`, then close; the will is
    /// published. Before CONNACK, or for 3.1.1, just close.
    fn fail(&mut self, conn: ConnectionId, now: Instant, code: u8, why: &str) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.state == State::Connected && c.version.is_v5() {
            // [MQTT-3.14.2-1]: a DISCONNECT Reason Code. A decode error can carry one that only
            // CONNACK has (0x84 from a second CONNECT with another protocol level): that is a
            // Protocol Error here.
            let allowed = codec::ReasonCode::from_u8(code)
                .is_some_and(|r| r.allowed_in(codec::PacketType::Disconnect));
            let code = if allowed { code } else { 0x82 };
            self.send(
                conn,
                &Packet::Disconnect {
                    code,
                    props: Props::default(),
                },
            );
        }
        self.close(conn, now, WillFate::Publish, why);
    }

    fn close(&mut self, conn: ConnectionId, now: Instant, fate: WillFate, why: &str) {
        self.close_quiet(conn, now, fate, why);
        self.out.push_back(Output::Close { conn });
    }

    /// Forgets `conn`, deals with its will and session. Does not emit `Output::Close` (the
    /// peer is already gone) — `close` does.
    fn close_quiet(&mut self, conn: ConnectionId, now: Instant, fate: WillFate, why: &str) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.events.push_back(Event::Closed {
            conn,
            reason: String::from(why),
        });
        if c.state != State::Connected {
            return;
        }
        self.connected -= 1;
        if self.online.get(&c.client_id) == Some(&conn) {
            self.online.remove(&c.client_id);
            self.final_drop_report(&c.client_id);
            // Without a connection it holds nobody back (see `flow`).
            self.queue_drained(&c.client_id);
        }
        let expiry = self
            .store
            .session(&c.client_id)
            .map_or(0, |s| s.expiry_interval);
        if let (Some(w), WillFate::Publish) = (c.will, fate) {
            if w.delay == 0 || expiry == 0 {
                self.route(w.msg, now);
            } else {
                let at = now.add_secs(u64::from(w.delay.min(expiry)));
                self.pending_wills.insert(c.client_id.clone(), (at, w.msg));
                self.arm(at);
            }
        }
        if expiry == 0 {
            // [MQTT-3.1.2-23] (5.0) / [MQTT-3.1.2-6] (3.1.1): the session ends with the connection.
            self.drop_session(&c.client_id);
        } else if expiry != u32::MAX {
            let at = now.add_secs(u64::from(expiry));
            self.expiries.insert(c.client_id.clone(), at);
            self.arm(at);
        }
    }

    fn drop_session(&mut self, client: &str) {
        self.expiries.remove(client);
        self.final_drop_report(client);
        self.queue_drained(client);
        if let Some(s) = self.store.remove_session(client) {
            for filter in s.subscriptions.keys() {
                let (inner, share) = split_share(filter);
                self.subs
                    .remove(inner, |e| e.client == client && e.share.as_deref() == share);
            }
        }
    }

    fn handle_packet(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        h: &codec::FixedHeader,
        body: &[u8],
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if let State::AwaitConnect(_) = c.state {
            if h.packet_type != codec::PacketType::Connect {
                // [MQTT-3.1.0-1]: the first packet must be CONNECT.
                self.close(conn, now, WillFate::Discard, "first packet not CONNECT");
                return;
            }
            match wire::decode_with_codec(h, body, Version::V5) {
                Ok(Packet::Connect(connect)) => self.on_connect(conn, now, connect),
                Ok(_) => self.close(conn, now, WillFate::Discard, "first packet not CONNECT"),
                Err(DecodeError::UnsupportedProtocolVersion { .. }) => {
                    // [MQTT-3.1.2-2] (3.1.1) / 5.0 §3.1.2.2: CONNACK return code 0x01 in the
                    // 3.1.1 form, which a client of any version can read, then close.
                    let p = Packet::ConnAck {
                        session_present: false,
                        code: 0x84,
                        props: Props::default(),
                    };
                    let data = wire::encode(&p, Version::V311);
                    self.out.push_back(Output::Transmit { conn, data });
                    self.close(conn, now, WillFate::Discard, "unsupported protocol version");
                }
                Err(e) => {
                    if wire::connect_version(body) == Some(Version::V5) {
                        // [MQTT-4.13.1-1] 5.0 §4.13: a bad CONNECT may be answered with
                        // CONNACK and the error's reason code before closing.
                        let code = e.reason_code().as_u8();
                        let p = Packet::ConnAck {
                            session_present: false,
                            code,
                            props: Props::default(),
                        };
                        self.out.push_back(Output::Transmit {
                            conn,
                            data: wire::encode(&p, Version::V5),
                        });
                    }
                    self.close(conn, now, WillFate::Discard, &format!("{e}"));
                }
            }
            return;
        }
        let authenticating = matches!(c.state, State::Authenticating(_));
        let packet = match wire::decode_with_codec(h, body, c.version) {
            Ok(p) => p,
            Err(e) => {
                if authenticating {
                    let code = e.reason_code().as_u8();
                    self.refuse(conn, now, Version::V5, code, Props::default());
                } else {
                    self.fail(conn, now, e.reason_code().as_u8(), &format!("{e}"));
                }
                return;
            }
        };
        if authenticating {
            match packet {
                Packet::Auth { code, props } => self.on_auth(conn, now, code, &props),
                Packet::Disconnect { .. } => self.close(
                    conn,
                    now,
                    WillFate::Discard,
                    "DISCONNECT during authentication",
                ),
                // [MQTT-3.1.2-30]: only AUTH or DISCONNECT until CONNACK.
                _ => self.refuse(conn, now, Version::V5, 0x82, Props::default()),
            }
            return;
        }
        match packet {
            Packet::Publish(p) => self.on_publish(conn, now, p),
            Packet::Ack {
                kind: k, pid, code, ..
            } => self.on_ack(conn, now, k, pid, code),
            Packet::Subscribe {
                pid,
                props,
                filters,
            } => self.on_subscribe(conn, now, pid, &props, filters),
            Packet::Unsubscribe { pid, filters, .. } => self.on_unsubscribe(conn, pid, filters),
            Packet::PingReq => self.send(conn, &Packet::PingResp),
            Packet::Disconnect { code, props } => self.on_disconnect(conn, now, code, &props),
            Packet::Auth { code, props } => self.on_auth(conn, now, code, &props),
            _ => self.fail(conn, now, 0x82, "unexpected packet"),
        }
    }

    /// Refuses a CONNECT: CONNACK with `code` (5.0) or its 3.1.1 return code, then close.
    fn refuse(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        version: Version,
        code: u8,
        props: Props,
    ) {
        let code = if !version.is_v5() {
            v311_refusal(code)
        } else if codec::ReasonCode::from_u8(code)
            .is_some_and(|r| r.is_error() && r.allowed_in(codec::PacketType::ConnAck))
        {
            code
        } else {
            // A decode error during enhanced authentication can carry a code CONNACK cannot
            // (0x8F from a SUBSCRIBE): a Protocol Error, then.
            0x82
        };
        let p = Packet::ConnAck {
            session_present: false,
            code,
            props,
        };
        self.out.push_back(Output::Transmit {
            conn,
            data: wire::encode(&p, version),
        });
        self.close(conn, now, WillFate::Discard, "CONNECT refused");
    }

    fn on_connect(&mut self, conn: ConnectionId, now: Instant, connect: wire::Connect) {
        let v = connect.version;
        let v5 = v.is_v5();
        let cfg = &self.config;
        if let Some(r) = &cfg.redirect {
            // 5.0 §4.11: Server redirection.
            let props = Props {
                server_reference: v5.then(|| r.reference.clone()),
                ..Props::default()
            };
            let code = if r.permanent { 0x9D } else { 0x9C };
            self.refuse(conn, now, v, code, props);
            return;
        }
        // Authentication (5.0 §4.12): the authenticator decides; the default has no methods,
        // so any Authentication Method gets 0x8C ([MQTT-4.12.0-1]).
        let method = if v5 {
            connect.props.auth_method.clone()
        } else {
            None
        };
        let decision = self.auth.authenticate(&AuthRequest {
            client_id: &connect.client_id,
            username: connect.username.as_deref(),
            password: connect.password.as_deref(),
            method: method.as_deref(),
            data: connect.props.auth_data.as_deref(),
        });
        let auth_data = match decision {
            AuthDecision::Deny(code) => {
                self.refuse(conn, now, v, code, Props::default());
                return;
            }
            AuthDecision::Continue(data) => {
                let Some(method) = method else {
                    // Continue makes no sense without a method: treat as a refusal.
                    self.refuse(conn, now, v, 0x87, Props::default());
                    return;
                };
                let props = Props {
                    auth_method: Some(method.clone()),
                    auth_data: Some(data),
                    ..Props::default()
                };
                if let Some(c) = self.conns.get_mut(&conn) {
                    let deadline = match c.state {
                        State::AwaitConnect(d) => d,
                        _ => now.add_millis(self.config.connect_timeout_ms),
                    };
                    c.state = State::Authenticating(deadline);
                    c.version = v;
                    c.auth_method = Some(method);
                    c.pending_connect = Some(alloc::boxed::Box::new(connect));
                }
                self.send(conn, &Packet::Auth { code: 0x18, props });
                return;
            }
            AuthDecision::Allow(data) => data,
        };
        self.accept_connect(conn, now, connect, method.map(|m| (m, auth_data)));
    }

    /// An AUTH from the client: during CONNECT (0x18) or a re-authentication (0x19, then 0x18).
    fn on_auth(&mut self, conn: ConnectionId, now: Instant, code: u8, props: &Props) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let connected = c.state == State::Connected;
        let Some(method) = c.auth_method.clone() else {
            // [MQTT-4.12.0-7]: no AUTH without an Authentication Method in CONNECT.
            self.fail(conn, now, 0x82, "AUTH without authentication method");
            return;
        };
        // [MQTT-4.12.0-5]: the same method throughout; 0x18 or (connected) 0x19.
        let code_ok = code == 0x18 || (connected && code == 0x19);
        if props.auth_method.as_deref() != Some(method.as_str()) || !code_ok {
            if connected {
                self.fail(conn, now, 0x82, "bad AUTH");
            } else {
                self.refuse(conn, now, Version::V5, 0x82, Props::default());
            }
            return;
        }
        let client = c.client_id.clone();
        let decision = self
            .auth
            .continue_auth(&client, &method, props.auth_data.as_deref());
        match (decision, connected) {
            (AuthDecision::Continue(data), _) => {
                let p = Props {
                    auth_method: Some(method),
                    auth_data: Some(data),
                    ..Props::default()
                };
                self.send(
                    conn,
                    &Packet::Auth {
                        code: 0x18,
                        props: p,
                    },
                );
            }
            (AuthDecision::Allow(data), true) => {
                let p = Props {
                    auth_method: Some(method),
                    auth_data: data,
                    ..Props::default()
                };
                self.send(
                    conn,
                    &Packet::Auth {
                        code: 0x00,
                        props: p,
                    },
                );
            }
            (AuthDecision::Allow(data), false) => {
                let Some(connect) = self
                    .conns
                    .get_mut(&conn)
                    .and_then(|c| c.pending_connect.take())
                else {
                    return;
                };
                self.accept_connect(conn, now, *connect, Some((method, data)));
            }
            (AuthDecision::Deny(code), true) => {
                self.fail(conn, now, code, "re-authentication failed")
            }
            (AuthDecision::Deny(code), false) => {
                self.refuse(conn, now, Version::V5, code, Props::default())
            }
        }
    }

    /// Finishes a CONNECT that passed authentication: session, keep alive, CONNACK, resends.
    fn accept_connect(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        connect: wire::Connect,
        auth: Option<(String, Option<Vec<u8>>)>,
    ) {
        let v = connect.version;
        let v5 = v.is_v5();
        let cfg = &self.config;
        if let Some(w) = &connect.will {
            if topic::validate_topic_name(&w.topic).is_err() {
                self.refuse(conn, now, v, 0x90, Props::default());
                return;
            }
            if w.qos > cfg.maximum_qos {
                self.refuse(conn, now, v, 0x9B, Props::default()); // [MQTT-3.2.2-12]
                return;
            }
            if w.retain && !cfg.retain_available {
                self.refuse(conn, now, v, 0x9A, Props::default()); // [MQTT-3.2.2-13]
                return;
            }
            // The will is a PUBLISH the client makes in advance: the same topic policy applies
            // (a will on a denied topic, or spoofing a `$` system topic, would otherwise pass).
            // Refused at CONNECT with 0x87 Not authorized (3.1.1: return code 5), rather than
            // silently dropped later, so the client knows its will would never be published.
            let dollar =
                topic::is_system_topic(&w.topic) && cfg.dollar_publish != DollarPublish::Allow;
            if dollar || self.denied(&w.topic) {
                self.refuse(conn, now, v, 0x87, Props::default());
                return;
            }
        }
        if self.connected >= cfg.max_connections {
            self.refuse(conn, now, v, 0x97, Props::default());
            return;
        }
        // Client identifier: [MQTT-3.1.3-6] (5.0) assign one for an empty id; 3.1.1 only with
        // Clean Session 1 ([MQTT-3.1.3-8] (3.1.1): otherwise return code 0x02).
        let mut assigned = None;
        let client_id = if connect.client_id.is_empty() {
            if !v5 && !connect.clean_start {
                self.refuse(conn, now, v, 0x85, Props::default());
                return;
            }
            // Unique among live sessions ([MQTT-3.1.3-6]: "a unique ClientID").
            let mut id = format!("mqttref-{:016x}", self.rng.next_u64());
            while self.store.session(&id).is_some() || self.online.contains_key(&id) {
                id = format!("mqttref-{:016x}", self.rng.next_u64());
            }
            assigned = Some(id.clone());
            id
        } else {
            connect.client_id.clone()
        };
        let cfg = &self.config;
        let requested_expiry = if v5 {
            connect.props.session_expiry.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            cfg.v311_session_expiry
        };
        let expiry = requested_expiry.min(cfg.max_session_expiry);

        // Session takeover: [MQTT-3.1.4-3] DISCONNECT 0x8E to the old 5.0 connection, close it.
        if let Some(old) = self.online.get(&client_id).copied() {
            if self.conns.get(&old).is_some_and(|c| c.version.is_v5()) {
                self.send(
                    old,
                    &Packet::Disconnect {
                        code: 0x8E,
                        props: Props::default(),
                    },
                );
            }
            self.close(old, now, WillFate::Publish, "session taken over");
        }
        // A will waiting for its delay: a new connection cancels it ([MQTT-3.1.3-9]), unless
        // the session ends now (Clean Start), which publishes it.
        if let Some((_, msg)) = self.pending_wills.remove(&client_id) {
            if connect.clean_start {
                self.route(msg, now);
            }
        }
        let existing = self.store.session(&client_id).is_some();
        if !existing && self.store.session_count() >= self.config.max_sessions {
            // A new session past the cap: 0x97 Quota exceeded (3.1.1: return code 3, Server
            // unavailable). Resuming or replacing an existing one is always allowed.
            self.refuse(conn, now, v, 0x97, Props::default());
            return;
        }
        let session_present = if connect.clean_start || !existing {
            // [MQTT-3.1.2-4] (5.0) / [MQTT-3.1.2-6] (3.1.1): discard any existing session.
            self.drop_session(&client_id);
            self.store
                .put_session(Session::new(client_id.clone(), v, expiry));
            false
        } else {
            // [MQTT-3.2.2-3] (5.0) / [MQTT-3.2.2-2] (3.1.1): resumed session, Session Present 1.
            self.expiries.remove(&client_id);
            if let Some(s) = self.store.session_mut(&client_id) {
                s.expiry_interval = expiry;
                s.version = v;
            }
            self.store.session_updated(&client_id);
            true
        };

        // Keep alive, clamped to the configured bounds ([MQTT-3.2.2-21] (5.0): the client must
        // use the Server Keep Alive we send).
        let cfg = &self.config;
        let mut ka = connect.keep_alive;
        if v5 {
            if let Some(s) = cfg.server_keep_alive {
                ka = s;
            } else if ka == 0 || ka > cfg.max_keep_alive {
                if cfg.max_keep_alive != u16::MAX {
                    ka = cfg.max_keep_alive;
                }
            } else if ka < cfg.min_keep_alive {
                ka = cfg.min_keep_alive;
            }
        }
        let will = connect.will.map(|w| {
            let props = Props {
                payload_format: w.props.payload_format,
                content_type: w.props.content_type,
                response_topic: w.props.response_topic,
                correlation_data: w.props.correlation_data,
                user: w.props.user,
                ..Props::default()
            };
            Will {
                delay: w.props.will_delay.unwrap_or(0),
                msg: Message {
                    topic: w.topic,
                    payload: w.payload.into(),
                    qos: w.qos,
                    retain: w.retain,
                    // The Message Expiry Interval runs from publication (5.0 §3.1.3.2.4):
                    // `route` starts it.
                    expires_at: None,
                    props: Props {
                        message_expiry: w.props.message_expiry,
                        ..props
                    },
                    publisher: Some(client_id.clone()),
                },
            }
        });

        let mut props = Props::default();
        if v5 {
            if expiry != requested_expiry {
                props.session_expiry = Some(expiry);
            }
            if cfg.receive_maximum != u16::MAX {
                props.receive_maximum = Some(cfg.receive_maximum);
            }
            if cfg.maximum_qos < 2 {
                props.maximum_qos = Some(cfg.maximum_qos);
            }
            if !cfg.retain_available {
                props.retain_available = Some(0);
            }
            if cfg.max_packet_size < PROTOCOL_MAX_PACKET {
                props.maximum_packet_size = Some(cfg.max_packet_size);
            }
            props.assigned_client_id = assigned;
            if cfg.topic_alias_maximum > 0 {
                props.topic_alias_maximum = Some(cfg.topic_alias_maximum);
            }
            if !cfg.wildcard_subscriptions {
                props.wildcard_available = Some(0);
            }
            if !cfg.subscription_identifiers {
                props.sub_ids_available = Some(0);
            }
            if !cfg.shared_subscriptions {
                props.shared_available = Some(0);
            }
            if ka != connect.keep_alive {
                props.server_keep_alive = Some(ka);
            }
            if let Some((method, data)) = &auth {
                // [MQTT-4.12.0-5]: a successful CONNACK carries the Authentication Method.
                props.auth_method = Some(method.clone());
                props.auth_data.clone_from(data);
            }
            if connect.props.request_response_info == Some(1) {
                props.response_info = cfg
                    .response_information
                    .as_ref()
                    .map(|r| format!("{r}{client_id}"));
            }
        }
        // The connection is there: this runs while handling one of its packets.
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.state = State::Connected;
        c.version = v;
        c.client_id = client_id.clone();
        c.keep_alive_ms = u64::from(ka) * 1000;
        c.recv_max = connect.props.receive_maximum.unwrap_or(u16::MAX);
        c.max_packet = connect.props.maximum_packet_size.unwrap_or(u32::MAX);
        c.alias_max_out = connect.props.topic_alias_maximum.unwrap_or(0);
        c.will = will.map(Box::new);
        c.connect_expiry = expiry;
        c.auth_method = auth.map(|(m, _)| m);
        if let Some(d) = c.keep_alive_deadline() {
            self.arm(d);
        }
        self.connected += 1;
        self.online.insert(client_id.clone(), conn);
        self.send(
            conn,
            &Packet::ConnAck {
                session_present,
                code: 0,
                props,
            },
        );
        self.events.push_back(Event::Connected {
            conn,
            client_id: client_id.clone(),
            version: v,
            session_present,
        });

        // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (DUP=1) and PUBREL, in original order.
        if session_present {
            let mut resend: Vec<(u64, u16, OutState, Queued)> = self
                .store
                .session(&client_id)
                .map(|s| {
                    s.inflight
                        .iter()
                        .map(|(pid, f)| (f.seq, *pid, f.state, f.item.clone()))
                        .collect()
                })
                .unwrap_or_default();
            resend.sort_by_key(|r| r.0);
            #[cfg(feature = "fault-injection")]
            if self.faults.0.drop_qos1_on_resume {
                // Planted bug: forget the oldest unacknowledged QoS 1 message.
                if let Some(i) = resend.iter().position(|r| r.2 == OutState::Qos1Sent) {
                    let pid = resend.remove(i).1;
                    if let Some(s) = self.store.session_mut(&client_id) {
                        s.inflight.remove(&pid);
                    }
                }
            }
            for (_, pid, state, item) in resend {
                let p = match state {
                    OutState::Released => Packet::Ack {
                        kind: kind::PUBREL,
                        pid,
                        code: 0,
                        props: Props::default(),
                    },
                    _ => Packet::Publish(publish_for(&item, pid, true, now)),
                };
                self.send(conn, &p);
            }
        }
        self.flush(conn, now);
    }

    fn on_disconnect(&mut self, conn: ConnectionId, now: Instant, code: u8, props: &Props) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if let Some(e) = props.session_expiry {
            // 5.0 §3.14.2.2.2: a Session Expiry Interval of 0 at CONNECT cannot become non-zero at
            // DISCONNECT (a Protocol Error).
            if c.connect_expiry == 0 && e != 0 {
                self.fail(conn, now, 0x82, "session expiry set on DISCONNECT after 0");
                return;
            }
            let e = e.min(self.config.max_session_expiry);
            if let Some(s) = self.store.session_mut(&c.client_id) {
                s.expiry_interval = e;
            }
            self.store.session_updated(&c.client_id);
        }
        // Only 0x00 Normal disconnection deletes the will ([MQTT-3.14.4-3], [MQTT-3.1.2-10]);
        // 0x04 Disconnect with Will Message and the error codes leave it to be published, as
        // 5.0 §3.1.2.5 words it. (3.1.1 DISCONNECT has no code: always 0x00.)
        let fate = if code == 0x00 {
            WillFate::Discard
        } else {
            WillFate::Publish
        };
        self.close(conn, now, fate, "DISCONNECT");
    }

    fn on_publish(&mut self, conn: ConnectionId, now: Instant, mut p: Publish) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let v5 = c.version.is_v5();
        if !p.props.subscription_ids.is_empty() {
            // [MQTT-3.3.4-6]: only the server sends Subscription Identifiers (the codec allows
            // the property in PUBLISH, which goes both ways).
            self.fail(conn, now, 0x82, "Subscription Identifier from a client");
            return;
        }
        if p.qos > self.config.maximum_qos {
            self.fail(conn, now, 0x9B, "QoS not supported"); // [MQTT-3.2.2-11]
            return;
        }
        if p.retain && !self.config.retain_available {
            self.fail(conn, now, 0x9A, "retain not supported"); // [MQTT-3.2.2-14]
            return;
        }
        if let Some(alias) = p.props.topic_alias.take() {
            if alias == 0 || alias > self.config.topic_alias_maximum {
                self.fail(conn, now, 0x94, "topic alias invalid"); // [MQTT-3.3.2-9], [MQTT-3.3.2-10]
                return;
            }
            if p.topic.is_empty() {
                match c.aliases.get(&alias) {
                    Some(t) => p.topic = t.clone(),
                    None => {
                        self.fail(conn, now, 0x82, "unknown topic alias");
                        return;
                    }
                }
            } else {
                c.aliases.insert(alias, p.topic.clone());
            }
        }
        if topic::validate_topic_name(&p.topic).is_err() {
            // [MQTT-3.3.2-2]: no wildcards in a topic name; 0x90 Topic Name invalid.
            self.fail(
                conn,
                now,
                if p.topic.is_empty() { 0x82 } else { 0x90 },
                "topic name invalid",
            );
            return;
        }
        let client = c.client_id.clone();
        if p.qos > 0 {
            let Some(s) = self.store.session(&client) else {
                return;
            };
            if p.qos == 2 && s.inbound_qos2.contains(&p.pid) {
                // [MQTT-4.3.3-10]: already received; acknowledge again, do not forward again.
                // A PUBREC still withheld for it will come in its turn.
                if !self.pubrec_held(conn, p.pid) {
                    self.send(
                        conn,
                        &Packet::Ack {
                            kind: kind::PUBREC,
                            pid: p.pid,
                            code: 0,
                            props: Props::default(),
                        },
                    );
                }
                return;
            }
            // 5.0 §3.3.4: more unacknowledged QoS 1/2 PUBLISHes than our Receive Maximum (the
            // client's obligation, [MQTT-3.3.4-7]) is DISCONNECT 0x93. QoS 1 counts while its
            // PUBACK is withheld (`flow`); 3.1.1 has no such quota (it is paused instead), only
            // the bound on unreleased QoS 2.
            let held = if v5 { self.held_qos1(conn) } else { 0 };
            if s.inbound_qos2.len() + held >= usize::from(self.config.receive_maximum) {
                self.fail(conn, now, 0x93, "receive maximum exceeded");
                return;
            }
        }
        let mut blockers = Vec::new();
        let code = if p.props.payload_format == Some(1) && core::str::from_utf8(&p.payload).is_err()
        {
            0x99 // Payload format invalid (a MAY; the message is not forwarded).
        } else if topic::is_system_topic(&p.topic)
            && self.config.dollar_publish != DollarPublish::Allow
        {
            match self.config.dollar_publish {
                DollarPublish::NotAuthorized if v5 => 0x87,
                _ => 0,
            }
        } else if self.denied(&p.topic) {
            // Not authorized: 0x87 to 5.0 clients; 3.1.1 has no way to say it, so the
            // message is acknowledged and dropped.
            if v5 {
                0x87
            } else {
                0
            }
        } else if v5 && p.qos > 0 && p.retain && !self.retained_fits(&p.topic, p.payload.len()) {
            // The retained store is full: refused visibly, 0x97 Quota exceeded, not forwarded
            // (a 3.1.1 or QoS 0 publisher cannot be told: forwarded, not stored, reported).
            0x97
        } else {
            let props = Props {
                payload_format: p.props.payload_format,
                content_type: p.props.content_type,
                response_topic: p.props.response_topic,
                correlation_data: p.props.correlation_data,
                user: p.props.user,
                ..Props::default()
            };
            let msg = Message {
                topic: p.topic,
                payload: p.payload,
                qos: p.qos,
                retain: p.retain,
                expires_at: p.props.message_expiry.map(|e| now.add_secs(u64::from(e))),
                props,
                publisher: Some(client.clone()),
            };
            let routed = self.route(msg, now);
            blockers = routed.blockers;
            if routed.matched || !v5 {
                0
            } else {
                0x10 // No matching subscribers.
            }
        };
        if p.qos == 2 && code < 0x80 {
            if let Some(s) = self.store.session_mut(&client) {
                s.inbound_qos2.insert(p.pid);
            }
            self.store.session_updated(&client);
        }
        if p.qos > 0 {
            // PUBACK / PUBREC now, or once full subscriber queues drain (`flow`).
            self.acknowledge(conn, now, p.pid, p.qos, code, blockers);
        }
    }

    fn on_ack(&mut self, conn: ConnectionId, now: Instant, k: u8, pid: u16, code: u8) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if k != kind::PUBREL {
            c.last_progress = now;
        }
        let v5 = c.version.is_v5();
        let client = c.client_id.clone();
        let Some(s) = self.store.session_mut(&client) else {
            return;
        };
        let reply = match k {
            kind::PUBACK => {
                if s.inflight
                    .get(&pid)
                    .is_some_and(|f| f.state == OutState::Qos1Sent)
                {
                    s.inflight.remove(&pid);
                }
                None
            }
            kind::PUBREC => match s.inflight.get_mut(&pid) {
                Some(f) if f.state == OutState::Qos2Sent || f.state == OutState::Released => {
                    if code >= 0x80 {
                        // 5.0 §4.3.3: an error PUBREC ends the exchange.
                        s.inflight.remove(&pid);
                        None
                    } else {
                        f.state = OutState::Released;
                        Some(Packet::Ack {
                            kind: kind::PUBREL,
                            pid,
                            code: 0,
                            props: Props::default(),
                        })
                    }
                }
                _ => v5.then(|| Packet::Ack {
                    kind: kind::PUBREL,
                    pid,
                    code: 0x92,
                    props: Props::default(),
                }),
            },
            kind::PUBCOMP => {
                if s.inflight
                    .get(&pid)
                    .is_some_and(|f| f.state == OutState::Released)
                {
                    s.inflight.remove(&pid);
                }
                None
            }
            _ => {
                // PUBREL: [MQTT-4.3.3-11] release the packet identifier, answer PUBCOMP.
                let found = s.inbound_qos2.remove(&pid);
                let code = if found || !v5 { 0 } else { 0x92 };
                Some(Packet::Ack {
                    kind: kind::PUBCOMP,
                    pid,
                    code,
                    props: Props::default(),
                })
            }
        };
        self.store.session_updated(&client);
        if let Some(p) = reply {
            self.send(conn, &p);
        }
        self.flush(conn, now);
    }

    fn on_subscribe(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        pid: u16,
        props: &Props,
        filters: Vec<(String, SubOpts)>,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let v5 = c.version.is_v5();
        let client = c.client_id.clone();
        let sub_id = props.subscription_ids.first().copied();
        if sub_id.is_some() && !self.config.subscription_identifiers {
            self.fail(conn, now, 0xA1, "subscription identifiers not supported");
            return;
        }
        let mut codes = Vec::with_capacity(filters.len());
        let mut retained_for: Vec<(String, u8, Option<u32>)> = Vec::new();
        for (filter, opts) in filters {
            let (inner, share) = match topic::parse_shared(&filter) {
                Ok(Some(s)) => (String::from(s.filter), Some(String::from(s.share_name))),
                Ok(None) => (filter.clone(), None),
                Err(_) => {
                    codes.push(if v5 { 0x8F } else { 0x80 });
                    continue;
                }
            };
            let code = if topic::validate_topic_filter(&inner).is_err() {
                0x8F // [MQTT-3.8.3-1], 0x8F Topic Filter invalid.
            } else if self.denied(&inner) {
                0x87 // Not authorized.
            } else if share.is_some() && !self.config.shared_subscriptions {
                0x9E
            } else if !self.config.wildcard_subscriptions && inner.contains(['+', '#']) {
                0xA2
            } else {
                0
            };
            if code != 0 {
                codes.push(if v5 { code } else { 0x80 });
                continue;
            }
            if share.is_some() && opts.no_local {
                self.fail(conn, now, 0x82, "No Local on a shared subscription"); // [MQTT-3.8.3-4]
                return;
            }
            let granted = opts.qos.min(self.config.maximum_qos);
            let opts = SubOpts {
                qos: granted,
                ..opts
            };
            let Some(s) = self.store.session_mut(&client) else {
                return;
            };
            // [MQTT-3.8.4-3]: an identical filter replaces the existing subscription.
            let existed = s
                .subscriptions
                .insert(filter.clone(), Subscription { opts, id: sub_id })
                .is_some();
            self.store.session_updated(&client);
            self.subs
                .remove(&inner, |e| e.client == client && e.share == share);
            let entry = SubEntry {
                client: client.clone(),
                share: share.clone(),
                opts,
                id: sub_id,
            };
            if self.subs.insert(&inner, entry).is_err() {
                codes.push(if v5 { 0x8F } else { 0x80 });
                continue;
            }
            codes.push(granted);
            // [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11] (5.0) Retain Handling; no
            // retained messages for shared subscriptions (5.0 §4.8.2).
            let send = share.is_none()
                && (opts.retain_handling == 0 || (opts.retain_handling == 1 && !existed));
            if send {
                retained_for.push((inner, granted, sub_id));
            }
        }
        self.send(
            conn,
            &Packet::SubAck {
                pid,
                props: Props::default(),
                codes,
            },
        );
        for (filter, granted, id) in retained_for {
            self.owe_retained(&client, &filter, granted, id);
        }
        self.flush(conn, now);
    }

    fn on_unsubscribe(&mut self, conn: ConnectionId, pid: u16, filters: Vec<String>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let client = c.client_id.clone();
        let mut codes = Vec::new();
        for filter in filters {
            let existed = self
                .store
                .session_mut(&client)
                .is_some_and(|s| s.subscriptions.remove(&filter).is_some());
            if existed {
                let (inner, share) = split_share(&filter);
                self.subs
                    .remove(inner, |e| e.client == client && e.share.as_deref() == share);
            }
            // [MQTT-3.11.3-1], [MQTT-3.11.3-2]: one code per filter, in order; 0x11 No
            // subscription existed.
            codes.push(if existed { 0 } else { 0x11 });
        }
        self.store.session_updated(&client);
        self.send(
            conn,
            &Packet::UnsubAck {
                pid,
                props: Props::default(),
                codes,
            },
        );
    }

    /// Forwards `msg` to every matching subscription; returns whether any matched and which
    /// connected sessions' queues it left full (see `flow`). Stores or deletes the retained
    /// message first.
    fn route(&mut self, mut msg: Message, now: Instant) -> Routed {
        if msg.expires_at.is_none() {
            // A will carries its interval until it is published.
            if let Some(e) = msg.props.message_expiry.take() {
                msg.expires_at = Some(now.add_secs(u64::from(e)));
            }
        }
        if msg.expired(now) {
            return Routed::default();
        }
        if msg.retain {
            self.store_retained(&msg);
        }
        let mut plain: BTreeMap<String, Target> = BTreeMap::new();
        let mut shared: BTreeMap<(String, String), Vec<SubEntry>> = BTreeMap::new();
        self.subs.matches(&msg.topic, |filter, e| {
            if let Some(group) = &e.share {
                shared
                    .entry((group.clone(), String::from(filter)))
                    .or_default()
                    .push(e.clone());
                return;
            }
            // [MQTT-3.8.3-3]: No Local — not back to the publisher's own subscription.
            if e.opts.no_local && msg.publisher.as_deref() == Some(e.client.as_str()) {
                return;
            }
            // [MQTT-3.3.4-2]: overlapping subscriptions: one copy with the highest QoS and
            // every subscription identifier.
            let t = plain.entry(e.client.clone()).or_default();
            t.qos = t.qos.max(e.opts.qos);
            t.rap |= e.opts.retain_as_published;
            if let Some(id) = e.id {
                t.ids.push(id);
            }
        });
        let mut matched = !plain.is_empty();
        for (key, members) in shared {
            // One member per group, rotating from a seeded start; online members first.
            let online: Vec<&SubEntry> = members
                .iter()
                .filter(|m| self.online.contains_key(&m.client))
                .collect();
            let pool: Vec<&SubEntry> = if online.is_empty() {
                members.iter().collect()
            } else {
                online
            };
            let rng = &mut self.rng;
            let n = self.share_next.entry(key).or_insert_with(|| rng.next_u64());
            let pick = pool[(*n % pool.len() as u64) as usize].clone();
            *n = n.wrapping_add(1);
            matched = true;
            let t = plain.entry(pick.client.clone()).or_default();
            t.qos = t.qos.max(pick.opts.qos);
            t.rap |= pick.opts.retain_as_published;
            if let Some(id) = pick.id {
                t.ids.push(id);
            }
        }
        let mut blockers = Vec::new();
        for (client, t) in plain {
            let Some(v) = self.store.session(&client).map(|s| s.version) else {
                continue;
            };
            let item = Queued {
                qos: msg.qos.min(t.qos), // [MQTT-3.8.4-8]: downgrade to the granted QoS.
                // [MQTT-3.3.1-12], [MQTT-3.3.1-13] (5.0) Retain As Published; 3.1.1 clears it
                // ([MQTT-3.3.1-9] (3.1.1)).
                retain: v.is_v5() && t.rap && msg.retain,
                sub_ids: t.ids,
                msg: msg.clone(),
            };
            let online = self.online.get(&client).copied();
            if online.is_none() && item.qos == 0 && !self.config.queue_qos0_offline {
                continue;
            }
            let qos = item.qos;
            self.enqueue(&client, item, now);
            if let Some(conn) = online {
                self.flush(conn, now);
                if qos > 0 && self.blocking(&client) {
                    blockers.push(client);
                }
            }
        }
        Routed { matched, blockers }
    }

    /// Adds to a session's queue. A full queue first loses its oldest QoS 0 message, and a new
    /// QoS 0 message is dropped when there is none. A QoS 1/2 message is never dropped for a
    /// connected session (its publisher is held back instead, see `flow`); for one without a
    /// connection [`Config::queue_overflow`] decides. Every drop is counted in
    /// [`Session::dropped`] and reported with [`Event::QueueFull`].
    fn enqueue(&mut self, client: &str, item: Queued, now: Instant) {
        let online = self.online.contains_key(client);
        let cfg = &self.config;
        let (max_n, max_b) = (cfg.max_queued_messages, cfg.max_queued_bytes);
        let policy = cfg.queue_overflow;
        let Some(s) = self.store.session_mut(client) else {
            return;
        };
        let cost = item.msg.cost();
        let over = |s: &Session| s.queue.len() >= max_n || s.queue_bytes + cost > max_b;
        // Drops made by this call, and the QoS of the last one.
        let mut dropped = 0u64;
        let mut last_qos = item.qos;
        while over(s) {
            let Some(i) = s.queue.iter().position(|q| q.qos == 0) else {
                break;
            };
            if let Some(q) = s.queue.remove(i) {
                s.queue_bytes -= q.msg.cost();
            }
            dropped += 1;
            last_qos = 0;
        }
        let mut push = true;
        let mut discard = false;
        if over(s) {
            if item.qos == 0 {
                push = false;
            } else if !online {
                match policy {
                    QueueOverflow::DiscardSession => {
                        push = false;
                        discard = true;
                    }
                    QueueOverflow::DropNew => push = false,
                    QueueOverflow::DropOldest => {
                        while over(s) {
                            let Some(q) = s.queue.pop_front() else {
                                break;
                            };
                            s.queue_bytes -= q.msg.cost();
                            last_qos = q.qos;
                            dropped += 1;
                        }
                    }
                }
            }
            if !push && !discard {
                dropped += 1;
                last_qos = item.qos;
            }
        }
        if push {
            s.queue_bytes += cost;
            s.queue.push_back(item);
        }
        s.dropped += dropped;
        let total = s.dropped;
        let queued = s.queue.len();
        if discard {
            self.events.push_back(Event::SessionDiscarded {
                client_id: String::from(client),
                queued,
            });
            self.drop_session(client);
            return;
        }
        if push || dropped > 0 {
            self.store.session_updated(client);
        }
        if dropped > 0 {
            self.report_drops(client, dropped, total, last_qos, now);
        }
    }

    /// Emits [`Event::QueueFull`] for `client` unless one was emitted less than
    /// [`DROP_REPORT_MS`] ago, in which case the drops wait for the next report.
    fn report_drops(&mut self, client: &str, n: u64, total: u64, qos: u8, now: Instant) {
        let r = self
            .drop_reports
            .entry(String::from(client))
            .or_insert(DropReport {
                at: None,
                pending: 0,
                qos,
            });
        r.pending += n;
        r.qos = qos;
        if r.at.is_none_or(|at| now.millis_since(at) >= DROP_REPORT_MS) {
            self.events.push_back(Event::QueueFull {
                client_id: String::from(client),
                dropped: r.pending,
                total,
                qos,
            });
            r.at = Some(now);
            r.pending = 0;
        }
    }

    /// Reports `client`'s drops not reported yet, and forgets its rate limit. Called when its
    /// connection ends or the session goes, so a burst shorter than [`DROP_REPORT_MS`] is not
    /// left at "1 dropped" in the log.
    fn final_drop_report(&mut self, client: &str) {
        let Some(r) = self.drop_reports.remove(client) else {
            return;
        };
        if r.pending > 0 {
            let total = self.store.session(client).map_or(0, |s| s.dropped);
            self.events.push_back(Event::QueueFull {
                client_id: String::from(client),
                dropped: r.pending,
                total,
                qos: r.qos,
            });
        }
    }

    /// Moves queued messages of `conn`'s session to the wire while the client's in-flight
    /// window and the connection's unwritten-bytes budget allow.
    fn flush(&mut self, conn: ConnectionId, now: Instant) {
        loop {
            self.refill_retained(conn, now);
            if !self.flush_queue(conn, now) {
                break;
            }
        }
    }

    /// Sends from the queue (see [`flush`](Self::flush)); returns whether it emptied the queue
    /// with retained messages still owed, so a refill could send more now.
    fn flush_queue(&mut self, conn: ConnectionId, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if c.state != State::Connected {
            return false;
        }
        let Some(s) = self.store.session_mut(&c.client_id) else {
            return false;
        };
        let window = usize::from(c.recv_max.min(self.config.max_inflight));
        while let Some(front) = s.queue.front() {
            if front.msg.expired(now) {
                // [MQTT-3.3.2-5]: an expired message is not delivered.
                if let Some(q) = s.queue.pop_front() {
                    s.queue_bytes -= q.msg.cost();
                }
                continue;
            }
            if c.unwritten >= self.config.max_outbound_bytes {
                break;
            }
            // [MQTT-3.3.4-9]: no more than Receive Maximum unacknowledged QoS 1/2 PUBLISH.
            if front.qos > 0 && s.inflight.len() >= window {
                break;
            }
            let Some(item) = s.queue.pop_front() else {
                break;
            };
            s.queue_bytes -= item.msg.cost();
            #[cfg(feature = "fault-injection")]
            if self.faults.0.duplicate_qos2 && item.qos == 2 && self.faults.1 == 0 {
                // Planted bug: the first QoS 2 delivery goes out twice.
                self.faults.1 += 1;
                s.queue.push_front(item.clone());
                s.queue_bytes += item.msg.cost();
            }
            let pid = if item.qos > 0 { next_pid(s) } else { 0 };
            let mut p = publish_for(&item, pid, false, now);
            // Outbound Topic Alias (5.0 §3.3.2.3.4), if enabled and the client accepts them:
            // reuse a known alias (empty topic), or set up a new one while there is room
            // ([MQTT-3.1.2-26]: never above the client's Topic Alias Maximum).
            let mut new_alias = None;
            if self.config.outbound_topic_aliases && c.alias_max_out > 0 {
                if let Some(a) = c.out_aliases.get(&p.topic) {
                    p.props.topic_alias = Some(*a);
                    p.topic.clear();
                } else if c.out_aliases.len() < usize::from(c.alias_max_out) {
                    let a = u16::try_from(c.out_aliases.len() + 1).unwrap_or(u16::MAX);
                    p.props.topic_alias = Some(a);
                    new_alias = Some(a);
                }
            }
            if wire::publish_len(&p, c.version) > c.max_packet as usize {
                // [MQTT-3.1.2-25] (5.0): too large for the client; discard it for this client.
                s.dropped += 1;
                continue;
            }
            if let Some(a) = new_alias {
                // Only now: a discarded PUBLISH must not leave an alias the client never saw.
                c.out_aliases.insert(p.topic.clone(), a);
            }
            if item.qos > 0 {
                // [MQTT-2.2.1-4]: the identifier stays taken until the handshake completes.
                let state = if item.qos == 1 {
                    OutState::Qos1Sent
                } else {
                    OutState::Qos2Sent
                };
                let seq = s.next_seq;
                s.next_seq += 1;
                s.inflight.insert(pid, InFlight { item, state, seq });
            }
            send_on(&mut self.out, conn, c, &Packet::Publish(p));
        }
        let drained = !flow::queue_full(s, &self.config);
        let more = s.queue.is_empty() && !s.retained_backlog.is_empty();
        self.store.session_updated(&c.client_id);
        if drained {
            // `flow::queue_drained`, with `c` still borrowed.
            if let Some(waiting) = self.blocked_on.remove(&c.client_id) {
                self.wake.extend(waiting);
            }
        }
        more
    }
}

/// What [`Broker::route`] did with a message.
#[derive(Debug, Default)]
struct Routed {
    /// Whether any subscription matched.
    matched: bool,
    /// Connected sessions whose queues the message left full: its publisher's acknowledgement
    /// waits for them (see `flow`).
    blockers: Vec<String>,
}

/// Queues `packet` for `conn`, appended to the last transmit when that is for `conn` too: a
/// burst of replies (a PINGREQ flood, a fan-out) is one buffer, not one allocation per packet.
fn send_on(out: &mut VecDeque<Output>, conn: ConnectionId, c: &mut Conn, packet: &Packet) {
    let data = wire::encode(packet, c.version);
    c.unwritten += data.len();
    if let Some(Output::Transmit {
        conn: last,
        data: buf,
    }) = out.back_mut()
    {
        if *last == conn {
            buf.extend_from_slice(&data);
            return;
        }
    }
    out.push_back(Output::Transmit { conn, data });
}

/// A packet identifier not in use by an in-flight message ([MQTT-2.2.1-4] (5.0) /
/// [MQTT-2.3.1-4] (3.1.1)).
fn next_pid(s: &mut Session) -> u16 {
    loop {
        let pid = s.next_pid;
        s.next_pid = if pid == u16::MAX { 1 } else { pid + 1 };
        if pid != 0 && !s.inflight.contains_key(&pid) {
            return pid;
        }
    }
}

/// The PUBLISH that delivers `item`.
fn publish_for(item: &Queued, pid: u16, dup: bool, now: Instant) -> Publish {
    let mut props = item.msg.props.clone();
    props.subscription_ids.clone_from(&item.sub_ids);
    // [MQTT-3.3.2-6]: forward the remaining lifetime.
    props.message_expiry = item.msg.expires_at.map(|t| {
        u32::try_from(t.millis_since(now).div_ceil(1000))
            .unwrap_or(u32::MAX)
            .max(1)
    });
    Publish {
        dup,
        qos: item.qos,
        retain: item.retain,
        topic: item.msg.topic.clone(),
        pid,
        props,
        payload: item.msg.payload.clone(),
    }
}

/// Splits a stored filter into (inner filter, share name).
fn split_share(filter: &str) -> (&str, Option<&str>) {
    match topic::parse_shared(filter) {
        Ok(Some(s)) => (s.filter, Some(s.share_name)),
        _ => (filter, None),
    }
}

/// The 5.0 reason code with a 3.1.1 CONNACK return code (3.1.1 §3.2.2.3) closest to `code`;
/// the codec writes its return code.
fn v311_refusal(code: u8) -> u8 {
    match code {
        0 | 0x84..=0x87 => code,
        0x8C => 0x87, // bad authentication method → not authorized
        _ => 0x88,    // → 3, server unavailable
    }
}
