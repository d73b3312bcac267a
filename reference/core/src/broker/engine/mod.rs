//! [`Broker`]: the engine itself. See the [module documentation](super) for the contract.
//!
//! - `flow`: backpressure from subscriber queues to publishers, and pausing peers that do not
//!   read (what an acknowledgement promises, and how the engine keeps it).
//! - `retained`: the retained-message index, its limits, and paced delivery on SUBSCRIBE.
//! - `input`: framing bytes into packets and dispatching them.
//! - `connect`: CONNECT, enhanced authentication, DISCONNECT, sessions and wills.
//! - `publish`: PUBLISH and acknowledgements in, routing to matching sessions.
//! - `subscribe`: SUBSCRIBE and UNSUBSCRIBE.
//! - `deliver`: session queues and sending from them within the client's limits.
//! - `conn`: what the engine keeps per connection.
//! - `lifecycle`: how connections and sessions end (wills, expiry), timers, and restoring
//!   from a durable store.
//! - `outgoing`: encoding into each connection's buffer; deliveries as a shared body and a
//!   small per-receiver header.
//!
//! This file holds the state and the `handle_*` / `poll_*` API.

mod conn;
mod connect;
mod deliver;
mod flow;
mod input;
mod lifecycle;
mod outgoing;
mod publish;
mod retained;
mod subscribe;

use conn::{Conn, State, Will};
use lifecycle::WillFate;
use outgoing::{send_delivery, send_on, Delivered};
use subscribe::split_share;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use super::auth::{Access, Authenticator, Authorizer, NoAuth, Subject};
use super::config::Config;
use super::storage::{MemoryStorage, Message, SessionKey, Storage, SubOpts};
use crate::codec::{self, PacketBuf, ProtocolVersion, ReasonCode};
use crate::rng::SplitMix64;
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

impl Output {
    /// The connection it concerns.
    #[must_use]
    pub fn conn(&self) -> ConnectionId {
        match self {
            Output::Transmit { conn, .. }
            | Output::Close { conn }
            | Output::Pause { conn }
            | Output::Resume { conn } => *conn,
        }
    }
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
        version: ProtocolVersion,
        /// Whether an existing session was resumed.
        session_present: bool,
    },
    /// A connection ended.
    Closed {
        /// The connection.
        conn: ConnectionId,
        /// The reason code the broker ended it with (in DISCONNECT or CONNACK; also recorded
        /// for 3.1.1 clients, which are not sent one), or `None` when it was not the broker's
        /// decision to close or nothing was wrong.
        code: Option<ReasonCode>,
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
    /// Messages for a session were dropped, for `reason`. Rate-limited per session and reason:
    /// the first drop is reported at once, later ones at most once per [`DROP_REPORT_MS`] of
    /// the core's time, each report carrying the drops since the previous one. Drops after the
    /// last report are carried by the next one, or reported when the session's connection ends
    /// or the session goes; [`Session::dropped`] always has the exact total.
    Dropped {
        /// The session.
        client_id: String,
        /// Why.
        reason: DropReason,
        /// Messages dropped since the previous report for this session (at least 1).
        dropped: u64,
        /// Messages dropped over the session's life, for any reason ([`Session::dropped`]).
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

/// Why a message for a session was dropped: only what the protocol lets a server drop, or
/// what the configuration asked for (see `flow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// The session's queue was full: a QoS 0 message (at most once allows it), or a QoS 1/2
    /// one for a session without a connection under `queue_overflow = drop-oldest / drop-new`.
    QueueFull,
    /// Its Message Expiry Interval passed before it could be sent ([MQTT-3.3.2-5] (5.0)).
    Expired,
    /// Larger than the client's Maximum Packet Size ([MQTT-3.1.2-25] (5.0)).
    TooLargeForClient,
}

impl DropReason {
    /// A few words for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "session queue full (max_queued_messages / max_queued_bytes)",
            DropReason::Expired => "message expired before it could be sent",
            DropReason::TooLargeForClient => "larger than the client's Maximum Packet Size",
        }
    }
}

/// Least time between two [`Event::Dropped`] for one session and reason, in milliseconds.
pub const DROP_REPORT_MS: u64 = 1000;

/// Rate limit of [`Event::Dropped`] for one session and reason.
#[derive(Debug, Clone, Copy)]
struct DropReport {
    /// When the last report was emitted (`None`: never).
    at: Option<Instant>,
    /// Drops since then.
    pending: u64,
    /// QoS of the last of them.
    qos: u8,
}

/// A client identifier held by many holders (subscriptions, the connection, the online index):
/// cloned without copying.
#[cfg(target_has_atomic = "ptr")]
type SharedStr = alloc::sync::Arc<str>;
/// A client identifier held by many subscriptions (see the atomic-target definition).
#[cfg(not(target_has_atomic = "ptr"))]
type SharedStr = alloc::rc::Rc<str>;

/// A subscription as the trie holds it: who, with which options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubEntry {
    /// Shared with the rest of its client's entries: routing clones it for every message.
    client: SharedStr,
    /// Its client's session: routing finds the session and its connection by this, without
    /// comparing client ids. Valid while the entry exists (`drop_session` removes the entries
    /// before the session goes).
    session: SessionKey,
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
    /// What clients may do with topics; `None`: everything (the checks cost nothing then).
    authz: Option<Box<dyn Authorizer + Send>>,
    store: S,
    /// Boxed: a B-tree keeps its values in its nodes, at most 11 per node and about 7 on
    /// average, so inline a `Conn` cost half again its size in every idle connection.
    conns: BTreeMap<ConnectionId, Box<Conn>>,
    /// Which connection a client id is on.
    online: BTreeMap<SharedStr, ConnectionId>,
    /// The same, by session key (routing's view of `online`).
    online_keys: BTreeMap<SessionKey, ConnectionId>,
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
    /// Bytes for each connection that has any this step, in the order they were first
    /// queued: every packet for a connection is appended to its one buffer (a fan-out step
    /// that reaches a thousand subscribers many times over makes a thousand buffers, not one
    /// per delivery), and [`poll_output`](Broker::poll_output) hands them out as transmits.
    tx: Vec<(ConnectionId, Vec<u8>)>,
    events: VecDeque<Event>,
    /// Rate limit of [`Event::QueueFull`], per session with queue drops since it connected.
    drop_reports: BTreeMap<(String, DropReason), DropReport>,
    /// Connections holding back an acknowledgement because of each session's full queue.
    blocked_on: BTreeMap<String, BTreeSet<ConnectionId>>,
    /// Connections with work a release made possible (see `flow::settle`).
    wake: BTreeSet<ConnectionId>,
    /// Connections in the Connected state.
    connected: usize,
    /// Lower bound of every deadline (see `poll_timeout`).
    timer: Option<Instant>,
    /// How many QoS 2 duplicates [`Config::faults`] planted so far (test-only).
    #[cfg(feature = "fault-injection")]
    planted_duplicates: u32,
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
            authz: None,
            store,
            conns: BTreeMap::new(),
            online: BTreeMap::new(),
            online_keys: BTreeMap::new(),
            subs: TopicTrie::new(),
            retained: TopicTree::new(),
            retained_version: 0,
            retained_bytes: 0,
            share_next: BTreeMap::new(),
            expiries: BTreeMap::new(),
            pending_wills: BTreeMap::new(),
            out: VecDeque::new(),
            tx: Vec::new(),
            events: VecDeque::new(),
            drop_reports: BTreeMap::new(),
            blocked_on: BTreeMap::new(),
            wake: BTreeSet::new(),
            connected: 0,
            timer: None,
            #[cfg(feature = "fault-injection")]
            planted_duplicates: 0,
        };
        b.index_retained();
        b
    }

    /// Checks every PUBLISH, SUBSCRIBE filter, delivery and will against `authz` from now on.
    pub fn set_authorizer(&mut self, authz: Box<dyn Authorizer + Send>) {
        self.authz = Some(authz);
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

    /// The store, mutable: for a driver that persists what each step changed (see
    /// `mqttref-broker`'s file store). Changing sessions behind the engine's back is not
    /// supported.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.store
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
        self.conns.insert(conn, Box::new(Conn::new(now, deadline)));
        self.arm(deadline);
    }

    /// Bytes arrived on `conn`. While the connection is paused ([`Output::Pause`]) they are
    /// kept and parsed once it resumes.
    ///
    /// Whole packets are handled straight from `data`; only a packet cut off at its end (or
    /// input that arrives while paused) is copied into the connection's buffer.
    pub fn handle_bytes(&mut self, conn: ConnectionId, now: Instant, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_rx = now;
        if c.paused || !c.inbuf.is_empty() {
            c.inbuf.extend_from_slice(data);
            if !c.paused {
                self.process_input(conn, now);
            }
        } else {
            let used = self.parse_packets(conn, now, data);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.inbuf.extend_from_slice(&data[used..]);
            }
            self.update_pause(conn, now);
        }
        self.settle(now);
    }

    /// The driver wrote `n` bytes of earlier transmits to `conn`; more deliveries may follow.
    pub fn handle_written(&mut self, conn: ConnectionId, now: Instant, n: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.unwritten = c.unwritten.saturating_sub(n);
            c.written(n);
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
    ///
    /// What it sent before closing and the engine had not parsed yet (it was paused) is
    /// handled first: a DISCONNECT in it makes the end normal, a PUBLISH in it is forwarded.
    pub fn handle_close(&mut self, conn: ConnectionId, now: Instant) {
        let mark = self.out.len();
        while let Some(c) = self.conns.get_mut(&conn) {
            let before = c.inbuf.len();
            if before == 0 {
                break;
            }
            // Nothing more can arrive, and nothing can be written: stop holding it back.
            c.paused = false;
            self.process_input(conn, now);
            if self
                .conns
                .get(&conn)
                .is_none_or(|c| c.inbuf.len() == before)
            {
                break; // ended by what it sent, or only part of a packet left
            }
        }
        if self.conns.contains_key(&conn) {
            self.close_quiet(conn, now, WillFate::Publish, None, "closed by peer");
        }
        // Its answers to what it sent last (a PINGRESP, a PUBACK, a DISCONNECT and close) have
        // nowhere to go: the driver speaks only of open connections.
        if self.out.len() > mark {
            let tail = self.out.split_off(mark);
            self.out
                .extend(tail.into_iter().filter(|o| o.conn() != conn));
        }
        self.settle(now);
    }

    /// Time has passed: keep alive and CONNECT deadlines, will delays, session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cut_off_slow_subscribers(now);
        self.expire_connections(now);
        self.publish_due_wills(now);
        self.expire_sessions(now);
        self.settle(now);
        self.timer = self.next_deadline();
    }

    /// Ends every connection: DISCONNECT 0x8B Server shutting down to 5.0 clients, then close.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            self.fail(
                id,
                now,
                ReasonCode::ServerShuttingDown,
                "server shutting down",
            );
        }
    }

    // ---- outputs ----

    /// The next thing to do: bytes to write or a connection to close.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if !self.tx.is_empty() {
            let mut tx = core::mem::take(&mut self.tx);
            for (conn, data) in tx.drain(..) {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.tx_slot = None;
                }
                if !data.is_empty() {
                    self.out.push_back(Output::Transmit { conn, data });
                }
            }
            // Kept: its capacity serves the next step.
            self.tx = tx;
        }
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

    /// Whether the [`Authorizer`] (if any) lets `client_id` / `username` do `access` on `topic`.
    fn allowed(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.authz.as_ref().is_none_or(|a| {
            a.authorize(
                &Subject {
                    client_id,
                    username,
                },
                topic,
                access,
            )
        })
    }

    /// [`allowed`](Self::allowed) for the client on `conn`.
    fn conn_allowed(&self, conn: ConnectionId, topic: &str, access: Access) -> bool {
        if self.authz.is_none() {
            return true;
        }
        self.conns
            .get(&conn)
            .is_some_and(|c| self.allowed(&c.client_id, c.username(), topic, access))
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

    /// Encodes `packet` once, for `conn`'s version, into its pending transmit (see
    /// [`send_on`]). The engine builds each packet for the receiver's version: no properties or
    /// reason codes for 3.1.1.
    fn send_packet(&mut self, conn: ConnectionId, packet: &codec::Packet<'_>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            send_on(&mut self.tx, conn, c, packet);
        }
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
