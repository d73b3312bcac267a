//! [`Config`]: every limit and policy of the engine, each with a default.
//!
//! The engine is bounded by these numbers alone: a client that never reads, publishes too fast or
//! subscribes to everything can use at most `max_queued_messages` / `max_queued_bytes` of queue,
//! `max_inflight` unacknowledged messages and `max_outbound_bytes` of bytes handed to the driver
//! but not yet written.

use alloc::string::String;
use alloc::vec::Vec;

/// What to do with a client PUBLISH to a topic starting with `$` (reserved for the server,
/// MQTT 5.0 §4.7.2). In TOML: `"not-authorized"`, `"drop"`, `"allow"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum DollarPublish {
    /// Do not forward; QoS 1/2 are acknowledged with 0x87 Not authorized (5.0) or a plain
    /// acknowledgement (3.1.1, which has no way to say no).
    NotAuthorized,
    /// Do not forward; acknowledge as if it succeeded.
    Drop,
    /// Treat it like any other topic (forward to `$...` subscribers; wildcard-first filters
    /// still do not match it). For tests that need traffic on `$` topics.
    Allow,
}

/// What happens when a QoS 1/2 message arrives for a full queue (`max_queued_messages` or
/// `max_queued_bytes`) of a session that has no connection. (A connected session's queue never
/// loses a QoS 1/2 message: its publishers are held back instead; see `engine/flow.rs`.)
/// In TOML: `"discard-session"`, `"drop-oldest"`, `"drop-new"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum QueueOverflow {
    /// End the session (5.0 §4.1.1: stored state may be discarded by a policy). The client
    /// sees Session Present 0 when it returns; no session that exists misses an acknowledged
    /// message. The default.
    DiscardSession,
    /// Drop the oldest queued messages to make room. Loses acknowledged messages: off by
    /// default; every drop is counted and reported.
    DropOldest,
    /// Drop the new message. Loses acknowledged messages: off by default; every drop is
    /// counted and reported.
    DropNew,
}

/// Redirect every client elsewhere (MQTT 5.0 §4.11): CONNACK 0x9C / 0x9D with Server Reference.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Redirect {
    /// The Server Reference sent to the client.
    pub reference: String,
    /// `true`: 0x9D Server moved; `false`: 0x9C Use another server.
    #[cfg_attr(feature = "serde", serde(default))]
    pub permanent: bool,
}

/// Engine configuration: every limit and policy, in one place. With the `serde` feature it
/// deserializes with these field names, every field optional (its default below); the
/// broker's TOML file is this plus the driver's own keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(default))]
pub struct Config {
    /// Seed of the engine's PRNG (assigned client ids, shared-subscription rotation).
    pub seed: u64,
    /// Connections that may be in the CONNECTED state at once; beyond it CONNACK 0x97 (5.0) /
    /// return code 3 (3.1.1). The driver also caps sockets with a semaphore.
    pub max_connections: usize,
    /// Time a new connection has to send CONNECT before it is closed (ms).
    pub connect_timeout_ms: u64,
    /// Connections that have not completed CONNECT (and any enhanced authentication) at once,
    /// counted apart from `max_connections`; a new one past it closes the one that has waited
    /// longest, so silent sockets cannot keep real clients out.
    pub max_awaiting_connect: usize,
    /// Largest packet accepted from clients (bytes); sent as Maximum Packet Size when below the
    /// protocol maximum. Also bounds the per-connection input buffer.
    pub max_packet_size: u32,
    /// Our Receive Maximum: QoS 2 messages a client may have unreleased at once; more is
    /// DISCONNECT 0x93.
    pub receive_maximum: u16,
    /// Outbound QoS 1/2 messages in flight per session, further capped by the client's Receive
    /// Maximum.
    pub max_inflight: u16,
    /// Messages queued per session (offline, or over the in-flight window). At this many a
    /// connected session holds back the publishers that send to it; a session without a
    /// connection is handled by `queue_overflow`. QoS 0 messages are dropped first.
    pub max_queued_messages: usize,
    /// Payload and topic bytes queued per session; as `max_queued_messages`.
    pub max_queued_bytes: usize,
    /// A QoS 1/2 message for the full queue of a session without a connection.
    pub queue_overflow: QueueOverflow,
    /// How long a publisher's acknowledgement may be withheld because a connected subscriber's
    /// queue is full (ms); then that subscriber is disconnected with 0x97 Quota exceeded, so
    /// one stuck subscriber cannot stall every publisher. 0: never.
    pub slow_subscriber_timeout_ms: u64,
    /// Client identifiers never cut off by `slow_subscriber_timeout_ms`: their full queues
    /// hold publishers back for as long as it takes. The broker's bridges put their local
    /// sessions here, so that a remote outage slows local publishers instead of ending the
    /// bridge's session (and, by `queue_overflow`, the acknowledged messages queued in it).
    pub slow_subscriber_exempt: Vec<String>,
    /// Whether QoS 0 messages are queued for a disconnected persistent session.
    pub queue_qos0_offline: bool,
    /// Bytes handed to the driver and not yet reported written ([`Broker::handle_written`]),
    /// per connection, above which deliveries wait in the session queue. Past twice this
    /// (replies to a peer that sends but does not read) the connection is not read until no
    /// more than this is unwritten.
    ///
    /// [`Broker::handle_written`]: super::Broker::handle_written
    pub max_outbound_bytes: usize,
    /// Topic Alias Maximum offered to clients (0: no aliases).
    pub topic_alias_maximum: u16,
    /// Whether deliveries to 5.0 clients that accept Topic Aliases use them (first come, first
    /// aliased, up to the client's maximum; no replacement).
    pub outbound_topic_aliases: bool,
    /// Smallest keep alive accepted (seconds); a smaller non-zero one is raised (5.0 via Server
    /// Keep Alive; 3.1.1 clients are held to their own value).
    pub min_keep_alive: u16,
    /// Largest keep alive accepted (seconds); 0 from a client counts as infinite.
    pub max_keep_alive: u16,
    /// Server Keep Alive imposed on every 5.0 client, if set.
    pub server_keep_alive: Option<u16>,
    /// Cap on the Session Expiry Interval a client asks for (seconds).
    pub max_session_expiry: u32,
    /// Session Expiry Interval given to 3.1.1 clients with Clean Session 0 (seconds;
    /// `u32::MAX` is never). 3.1.1 has no expiry of its own; a finite default keeps client ids
    /// that never come back (a fuzzer, a decommissioned device) from holding memory forever.
    pub v311_session_expiry: u32,
    /// Sessions stored at once, with or without a connection; a CONNECT that would create one
    /// more is refused with 0x97 Quota exceeded (3.1.1: return code 3). Resuming an existing
    /// session is never refused by it.
    pub max_sessions: usize,
    /// Maximum QoS the server supports (0, 1, 2).
    pub maximum_qos: u8,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Whether wildcard subscriptions are allowed.
    pub wildcard_subscriptions: bool,
    /// Whether subscription identifiers are supported.
    pub subscription_identifiers: bool,
    /// Whether shared subscriptions are supported.
    pub shared_subscriptions: bool,
    /// Policy for client publishes to `$` topics.
    pub dollar_publish: DollarPublish,
    /// Response Information returned when a client sets Request Response Information; the
    /// client id is appended.
    pub response_information: Option<String>,
    /// Redirect every client (Server Reference), if set.
    pub redirect: Option<Redirect>,
    /// Most retained messages stored. A new retained topic past it (or past
    /// `max_retained_bytes`) is not stored: a 5.0 QoS 1/2 publisher gets 0x97 Quota exceeded
    /// and the message is not forwarded; otherwise it is forwarded, not stored, and reported
    /// ([`Event::RetainedRefused`](super::Event::RetainedRefused)).
    pub max_retained: usize,
    /// Most bytes (topic + payload) of retained messages stored; as `max_retained`.
    pub max_retained_bytes: usize,
    /// Topic filters no client may publish to or subscribe to: a PUBLISH whose topic matches
    /// one gets 0x87 Not authorized (5.0; 3.1.1 is acknowledged and dropped), a SUBSCRIBE whose
    /// filter equals or (taken literally) matches one gets 0x87 / 0x80. The simplest possible
    /// authorization, enough for a conformance target's `refused_topic`.
    pub denied_topics: Vec<String>,
    /// Planted bugs for the simulator's auditor tests (feature `fault-injection` only; never
    /// read from a configuration file).
    #[cfg(feature = "fault-injection")]
    #[cfg_attr(feature = "serde", serde(skip))]
    pub faults: super::faults::Faults,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0x6d71_7474_7265_6621,
            max_connections: 10_000,
            connect_timeout_ms: 10_000,
            max_awaiting_connect: 1024,
            max_packet_size: 1024 * 1024,
            receive_maximum: 1024,
            max_inflight: 256,
            max_queued_messages: 1000,
            max_queued_bytes: 16 * 1024 * 1024,
            queue_overflow: QueueOverflow::DiscardSession,
            slow_subscriber_timeout_ms: 10_000,
            slow_subscriber_exempt: Vec::new(),
            queue_qos0_offline: false,
            max_outbound_bytes: 4 * 1024 * 1024,
            topic_alias_maximum: 64,
            outbound_topic_aliases: false,
            min_keep_alive: 0,
            max_keep_alive: u16::MAX,
            server_keep_alive: None,
            max_session_expiry: u32::MAX,
            v311_session_expiry: 7 * 24 * 3600,
            max_sessions: 100_000,
            maximum_qos: 2,
            retain_available: true,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            dollar_publish: DollarPublish::NotAuthorized,
            response_information: None,
            redirect: None,
            max_retained: 100_000,
            max_retained_bytes: 256 * 1024 * 1024,
            denied_topics: Vec::new(),
            #[cfg(feature = "fault-injection")]
            faults: super::faults::Faults::default(),
        }
    }
}
