//! The MQTT client session as a sans-IO state machine (model: quinn-proto's `Connection`).
//!
//! A [`ClientSession`] is the client side of one MQTT session: it outlives network connections,
//! so messages in flight survive a reconnect. It does no I/O and reads no clock. A driver
//! (`mqttref-client` on tokio, the simulator on turmoil, an embedded loop) does this:
//!
//! 1. open a transport, then call [`ClientSession::connect`];
//! 2. feed every received byte to [`ClientSession::handle_bytes`];
//! 3. after every input or command, drain the outputs, in this order:
//!    [`poll_transmit`](ClientSession::poll_transmit) (write what it gives, in order),
//!    [`poll_event`](ClientSession::poll_event) until `None` (acting on an event may queue more
//!    to send, e.g. [`auth_continue`](ClientSession::auth_continue): then transmit again),
//!    [`poll_timeout`](ClientSession::poll_timeout) (arm one timer; when it fires, call
//!    [`handle_timeout`](ClientSession::handle_timeout));
//! 4. when [`is_closing`](ClientSession::is_closing) says so (after writing what
//!    `poll_transmit` gave), close the transport; whenever the transport is gone, for whatever
//!    reason, call [`handle_connection_lost`](ClientSession::handle_connection_lost). Then go to 1
//!    to reconnect, or stop.
//!
//! Commands ([`publish`](ClientSession::publish), [`subscribe`](ClientSession::subscribe),
//! [`unsubscribe`](ClientSession::unsubscribe), [`disconnect`](ClientSession::disconnect)) may
//! be given at any time; what cannot be sent yet is queued and sent once connected. Each returns
//! a [`RequestId`] that its completion event carries.
//!
//! # What the session decides
//! - Packet Identifiers (module `packet_id`): never one in flight twice.
//! - QoS 1 and 2 in both directions. Outgoing: PUBLISH → PUBACK, or PUBLISH → PUBREC → PUBREL →
//!   PUBCOMP, completed by [`Event::PublishComplete`]. Incoming: QoS 1 is acknowledged at once;
//!   QoS 2 is delivered to the application on the first PUBLISH (method A of MQTT 5.0 §4.3.3:
//!   the identifier is stored and PUBREC sent) and never again until the server's PUBREL
//!   releases the identifier, so a resent PUBLISH with DUP is acknowledged but not delivered:
//!   exactly once.
//! - Session resume: on a CONNACK with Session Present, unacknowledged PUBLISHes are resent
//!   with DUP set and PUBRELs are resent, with their original identifiers, in their original
//!   order ([MQTT-4.4.0-1] (5.0) / [MQTT-4.4.0-1] (3.1.1)). Without Session Present the server
//!   has nothing: the session state is discarded ([MQTT-3.2.2-5] (5.0)), which here means
//!   messages the server never acknowledged go back to the queue as new messages (the
//!   application still wants them sent), messages the server already accepted (PUBREC
//!   received) complete, the incoming QoS 2 state is dropped, and (if configured) the
//!   subscriptions the server acknowledged are subscribed again.
//! - The server's Receive Maximum (MQTT 5.0 §4.9): at most that many QoS 1 and 2 PUBLISHes
//!   unacknowledged; the rest wait in a bounded queue. The client's own Receive Maximum is
//!   enforced on the server (0x93).
//! - Topic aliases: incoming aliases are resolved (and checked against the Topic Alias Maximum
//!   the client sent, 0x94); outgoing aliases are optional ([`ClientConfig::outbound_topic_aliases`]).
//! - Keep alive: a PINGREQ when nothing was sent, or nothing was received, for the keep alive
//!   interval (or the Server Keep Alive), so a client that keeps sending still finds out about
//!   a dead server-to-client direction; the connection is considered dead when nothing is
//!   received for [`ClientConfig::ping_timeout_ms`] after a PINGREQ (5.0 / 3.1.1 §3.1.2.10:
//!   no PINGRESP within a reasonable time), and when no CONNACK comes within
//!   [`ClientConfig::connect_timeout_ms`].
//! - Server limits from CONNACK: Maximum QoS, Retain Available and Maximum Packet Size are checked
//!   before a PUBLISH is sent; a message that breaks them completes with the reason code the
//!   server would have used, without being sent.

mod packet_id;
mod types;

#[cfg(test)]
mod tests;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::codec::{
    self, Auth, ConnAck, Connect, DecodeError, Decoded, Disconnect, EncodeError, Packet, PingReq,
    Properties, Property, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS,
    ReasonCode, SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe,
};
use crate::time::Instant;
use crate::topic::{validate_topic_filter, validate_topic_name, TopicError};

use packet_id::PacketIds;
pub use types::{
    AckProperties, ConnAckInfo, Message, OutgoingMessage, PublishProperties, SubscribeFilter,
    SubscribeProperties, UserProperty, Will,
};

/// How the session connects and behaves. Read at every [`ClientSession::connect`]; change it
/// between connections with [`ClientSession::config_mut`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Client Identifier; empty asks the server to assign one (the assigned one is then kept
    /// here, so a reconnect resumes the same session).
    pub client_id: String,
    /// Keep Alive, seconds; 0 turns keep alive off.
    pub keep_alive: u16,
    /// Clean Start (5.0) / Clean Session (3.1.1) of the first connection. Reconnects of a 5.0
    /// session always ask to resume (Clean Start 0); the Session Expiry Interval decides whether
    /// there is anything to resume. 3.1.1 reconnects use this value again.
    pub clean_start: bool,
    /// Session Expiry Interval, seconds (5.0). `None`: 0, the session ends with the connection.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum the client accepts (5.0); `None`: 65,535.
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size the client accepts (5.0; also enforced on 3.1.1 input).
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum: incoming aliases the client accepts (5.0); 0: none.
    pub topic_alias_maximum: u16,
    /// Request Response Information (5.0).
    pub request_response_information: bool,
    /// Request Problem Information (5.0); `None` leaves the server default (true).
    pub request_problem_information: Option<bool>,
    /// User Properties of CONNECT (5.0).
    pub user_properties: Vec<UserProperty>,
    /// User Name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Vec<u8>>,
    /// Will Message.
    pub will: Option<Will>,
    /// Authentication Method for enhanced authentication (5.0).
    pub authentication_method: Option<String>,
    /// Initial Authentication Data (5.0).
    pub authentication_data: Option<Vec<u8>>,
    /// Use topic aliases on outgoing PUBLISHes when the server allows them (5.0).
    pub outbound_topic_aliases: bool,
    /// Subscribe again to what the server had acknowledged when a reconnect finds no session.
    pub restore_subscriptions: bool,
    /// How long to wait for CONNACK (and the authentication exchange), milliseconds.
    pub connect_timeout_ms: u64,
    /// How long after a PINGREQ the connection may stay silent before it is considered dead,
    /// milliseconds; `None`: the keep alive interval.
    pub ping_timeout_ms: Option<u64>,
    /// Bound on publishes waiting to be sent (beyond the server's Receive Maximum or while
    /// disconnected); [`ClientSession::publish`] fails with [`CommandError::QueueFull`] beyond.
    pub max_queued: usize,
}

impl ClientConfig {
    /// A configuration with the defaults: clean start, 60 s keep alive, no session expiry.
    pub fn new(version: ProtocolVersion, client_id: impl Into<String>) -> Self {
        ClientConfig {
            version,
            client_id: client_id.into(),
            keep_alive: 60,
            clean_start: true,
            session_expiry_interval: None,
            receive_maximum: None,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            request_response_information: false,
            request_problem_information: None,
            user_properties: Vec::new(),
            username: None,
            password: None,
            will: None,
            authentication_method: None,
            authentication_data: None,
            outbound_topic_aliases: false,
            restore_subscriptions: true,
            connect_timeout_ms: 30_000,
            ping_timeout_ms: None,
            max_queued: 10_000,
        }
    }
}

/// Names a command; its completion event carries the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Why a command was refused (nothing was queued).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The topic name of a PUBLISH is not valid.
    InvalidTopic(TopicError),
    /// A topic filter of a SUBSCRIBE or UNSUBSCRIBE is not valid.
    InvalidFilter(TopicError),
    /// A SUBSCRIBE or UNSUBSCRIBE without any filter ([MQTT-3.8.3-2] (5.0), [MQTT-3.10.3-2] (5.0)).
    NoFilters,
    /// The packet cannot be encoded (a field too long, a value out of range).
    Encode(EncodeError),
    /// The publish queue is at [`ClientConfig::max_queued`].
    QueueFull,
    /// All 65,535 Packet Identifiers are in use.
    NoPacketIdentifier,
    /// The command needs a live connection (enhanced authentication) or the session is closing.
    NotConnected,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::InvalidTopic(e) => write!(f, "invalid topic name: {e}"),
            CommandError::InvalidFilter(e) => write!(f, "invalid topic filter: {e}"),
            CommandError::NoFilters => f.write_str("no topic filter given"),
            CommandError::Encode(e) => write!(f, "cannot encode: {e}"),
            CommandError::QueueFull => f.write_str("publish queue full"),
            CommandError::NoPacketIdentifier => f.write_str("all packet identifiers in use"),
            CommandError::NotConnected => f.write_str("not connected"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CommandError {}

/// Why a connection ended (the session itself goes on until the driver drops it).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The transport closed or failed without a DISCONNECT.
    TransportClosed,
    /// The server refused the connection in CONNACK.
    Refused {
        /// The CONNACK reason code (3.1.1 return codes mapped to their 5.0 equivalent).
        reason_code: ReasonCode,
        /// Reason String, User Properties, Server Reference ... from the CONNACK.
        connack: ConnAckInfo,
    },
    /// The server sent DISCONNECT (5.0).
    Server {
        /// Its reason code.
        reason_code: ReasonCode,
        /// Its Reason String and User Properties.
        properties: AckProperties,
        /// Its Server Reference, if any.
        server_reference: Option<String>,
    },
    /// The server broke the protocol; the client sent DISCONNECT with this code (5.0) and closed.
    ProtocolError {
        /// The reason code sent.
        reason_code: ReasonCode,
        /// What was wrong.
        detail: ProtocolErrorDetail,
    },
    /// No CONNACK within [`ClientConfig::connect_timeout_ms`].
    ConnectTimeout,
    /// Nothing received within [`ClientConfig::ping_timeout_ms`] after a PINGREQ.
    KeepAliveTimeout,
    /// The application asked for it ([`ClientSession::disconnect`]).
    Local {
        /// The reason code sent.
        reason_code: ReasonCode,
    },
}

/// What the server did wrong, for [`DisconnectReason::ProtocolError`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolErrorDetail {
    /// Bytes that do not decode.
    Decode(DecodeError),
    /// A packet the client does not accept in this state (e.g. anything before CONNACK).
    UnexpectedPacket(codec::PacketType),
    /// Session Present set in answer to a Clean Start ([MQTT-3.2.2-4] (5.0)).
    SessionPresentOnCleanStart,
    /// More unacknowledged QoS 1 and 2 PUBLISHes than the client's Receive Maximum
    /// ([MQTT-3.3.4-9] (5.0)).
    ReceiveMaximumExceeded,
    /// A Topic Alias above the client's Topic Alias Maximum, or an unknown alias with an empty
    /// topic ([MQTT-3.3.2-9] (5.0), §3.3.2.3.4).
    TopicAlias(u16),
    /// AUTH without an authentication exchange going on, or with another method.
    UnexpectedAuth,
}

/// What the session tells its driver and application.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK with Success: the connection is up. `session_present` is inside.
    Connected(ConnAckInfo),
    /// An Application Message (already acknowledged or being acknowledged as its QoS requires).
    Message(Message),
    /// An outgoing publish finished: for QoS 0 when handed to the transport, for QoS 1 on PUBACK,
    /// for QoS 2 on PUBCOMP (or on a PUBREC with an error code). A reason code of 0x80 or above
    /// is a failure (possibly decided locally: 0x9B QoS not supported, 0x9A Retain not supported,
    /// 0x95 Packet too large).
    PublishComplete {
        /// The id [`ClientSession::publish`] returned.
        id: RequestId,
        /// The reason code (Success on 3.1.1).
        reason_code: ReasonCode,
        /// Reason String and User Properties of the acknowledgement.
        properties: AckProperties,
    },
    /// SUBACK for a [`ClientSession::subscribe`].
    SubscribeComplete {
        /// The id `subscribe` returned.
        id: RequestId,
        /// One per filter, in order: Granted QoS 0-2 or an error.
        reason_codes: Vec<ReasonCode>,
        /// Reason String and User Properties.
        properties: AckProperties,
    },
    /// UNSUBACK for a [`ClientSession::unsubscribe`].
    UnsubscribeComplete {
        /// The id `unsubscribe` returned.
        id: RequestId,
        /// One per filter (all Success on 3.1.1, which has none).
        reason_codes: Vec<ReasonCode>,
        /// Reason String and User Properties.
        properties: AckProperties,
    },
    /// The server continues an enhanced authentication (AUTH 0x18): answer with
    /// [`ClientSession::auth_continue`].
    AuthChallenge {
        /// Authentication Method.
        method: String,
        /// Authentication Data.
        data: Option<Vec<u8>>,
    },
    /// A re-authentication finished (AUTH 0x00 after [`ClientSession::reauthenticate`]).
    Reauthenticated {
        /// Authentication Data of the AUTH 0x00 (e.g. SCRAM's server-final).
        data: Option<Vec<u8>>,
    },
    /// The connection ended. In-flight messages stay in the session for the next connection.
    Disconnected(DisconnectReason),
}

/// Connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No transport.
    Idle,
    /// CONNECT sent, waiting for CONNACK (maybe exchanging AUTH).
    Connecting,
    /// CONNACK Success received.
    Connected,
    /// The connection is over: flush the transmit buffer, then the driver closes.
    Closing,
}

/// Where an outgoing QoS 1 or 2 PUBLISH is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    Qos1Sent,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    Qos2Sent,
    /// QoS 2, PUBREC received and PUBREL sent, waiting for PUBCOMP.
    Released,
}

/// An outgoing message with its id.
#[derive(Debug, Clone)]
struct Queued {
    id: RequestId,
    msg: OutgoingMessage,
}

/// An outgoing QoS 1 or 2 PUBLISH that has a packet identifier.
#[derive(Debug, Clone)]
struct InFlight {
    id: RequestId,
    /// Order of first transmission; resends follow it.
    seq: u64,
    msg: OutgoingMessage,
    stage: Stage,
}

/// A SUBSCRIBE or UNSUBSCRIBE waiting for its acknowledgement.
#[derive(Debug, Clone)]
struct PendingRequest {
    id: RequestId,
    /// Issued by the session itself (subscription restore): no event.
    internal: bool,
    kind: RequestKind,
}

#[derive(Debug, Clone)]
enum RequestKind {
    Subscribe(Vec<SubscribeFilter>, SubscribeProperties),
    Unsubscribe(Vec<String>, Vec<UserProperty>),
}

/// The client side of an MQTT session. See the [module documentation](self).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,

    // --- Per connection. ---
    /// Received bytes not yet forming a whole packet.
    inbuf: Vec<u8>,
    /// Encoded packets not yet handed to the driver.
    outbuf: Vec<u8>,
    /// When bytes were last handed to the driver: the keep alive counts from here.
    last_sent: Instant,
    /// When a whole packet was last received: a busy client that only sends would otherwise
    /// never notice that the server-to-client direction is dead (see `handle_timeout`).
    last_received: Instant,
    /// When a PINGREQ went out without anything received since.
    ping_sent: Option<Instant>,
    /// When `connect` was called: the connect timeout counts from here.
    connect_started: Instant,
    /// Limits from this connection's CONNACK.
    server: ConnAckInfo,
    /// Keep alive in effect (Server Keep Alive or ours), milliseconds; 0 is off.
    keep_alive_ms: u64,
    /// Incoming topic aliases of this connection.
    inbound_aliases: BTreeMap<u16, String>,
    /// Outgoing topic aliases of this connection.
    outbound_aliases: BTreeMap<String, u16>,
    /// A `Disconnected` event was already emitted for this connection.
    disconnect_reported: bool,
    /// A re-authentication is going on.
    reauthenticating: bool,

    // --- Session state, kept across connections. ---
    /// Some connection got a CONNACK Success already (the session has state to resume).
    has_connected: bool,
    ids: PacketIds,
    next_request: u64,
    next_seq: u64,
    /// Publishes not yet sent (QoS 0 included).
    queued: VecDeque<Queued>,
    /// Outgoing QoS 1 and 2 PUBLISHes by packet identifier.
    inflight: BTreeMap<u16, InFlight>,
    /// Incoming QoS 2 packet identifiers: PUBREC sent, PUBREL not yet received.
    incoming_qos2: BTreeSet<u16>,
    /// SUBSCRIBE and UNSUBSCRIBE by packet identifier.
    requests: BTreeMap<u16, PendingRequest>,
    /// What the server acknowledged, by filter, for restoring after a session loss.
    subscriptions: BTreeMap<String, (SubscribeFilter, SubscribeProperties)>,
    events: VecDeque<Event>,
}

impl ClientSession {
    /// A session that is not connected yet.
    pub fn new(config: ClientConfig) -> Self {
        ClientSession {
            config,
            state: State::Idle,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            last_sent: Instant::ZERO,
            last_received: Instant::ZERO,
            ping_sent: None,
            connect_started: Instant::ZERO,
            server: ConnAckInfo::defaults(false, ReasonCode::Success),
            keep_alive_ms: 0,
            inbound_aliases: BTreeMap::new(),
            outbound_aliases: BTreeMap::new(),
            disconnect_reported: false,
            reauthenticating: false,
            has_connected: false,
            ids: PacketIds::default(),
            next_request: 0,
            next_seq: 0,
            queued: VecDeque::new(),
            inflight: BTreeMap::new(),
            incoming_qos2: BTreeSet::new(),
            requests: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    // ----- Getters. -----

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The configuration, to change between connections (e.g. fresh authentication data).
    pub fn config_mut(&mut self) -> &mut ClientConfig {
        &mut self.config
    }

    /// Whether a CONNACK Success was received on the current connection.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the connection is over and the driver should close the transport once it has
    /// written everything [`poll_transmit`](Self::poll_transmit) gives.
    pub fn is_closing(&self) -> bool {
        self.state == State::Closing
    }

    /// Whether there is no connection (before `connect`, after `handle_connection_lost`).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// The CONNACK of the current (or last) connection.
    pub fn server_info(&self) -> &ConnAckInfo {
        &self.server
    }

    /// The keep alive in effect on this connection (the Server Keep Alive, or ours),
    /// milliseconds; 0 when off or before the first CONNACK.
    #[must_use]
    pub fn keep_alive_ms(&self) -> u64 {
        self.keep_alive_ms
    }

    /// Outgoing QoS 1 and 2 PUBLISHes not yet completely acknowledged.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Publishes waiting to be sent.
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Incoming QoS 2 messages delivered but not yet released by PUBREL.
    pub fn incoming_qos2_len(&self) -> usize {
        self.incoming_qos2.len()
    }

    /// Whether any outgoing work is unfinished: queued or in-flight publishes, or SUBSCRIBE /
    /// UNSUBSCRIBE without their acknowledgement.
    pub fn has_pending_work(&self) -> bool {
        !self.queued.is_empty()
            || !self.inflight.is_empty()
            || self.requests.values().any(|r| !r.internal)
    }

    // ----- Commands. -----

    /// Starts a connection on a fresh transport: queues CONNECT. Does nothing unless idle.
    pub fn connect(&mut self, now: Instant) {
        if self.state != State::Idle {
            return;
        }
        self.inbuf.clear();
        self.outbuf.clear();
        self.inbound_aliases.clear();
        self.outbound_aliases.clear();
        self.ping_sent = None;
        self.disconnect_reported = false;
        self.reauthenticating = false;
        self.connect_started = now;
        self.last_sent = now;
        self.last_received = now;
        self.state = State::Connecting;
        let clean_start = match self.config.version {
            // A 5.0 reconnect asks to resume; Session Expiry decides whether anything is kept.
            ProtocolVersion::V5 => self.config.clean_start && !self.has_connected,
            ProtocolVersion::V3_1_1 => self.config.clean_start,
        };
        let c = &self.config;
        let mut props: Vec<Property<'_>> = Vec::new();
        if let Some(v) = c.session_expiry_interval {
            props.push(Property::SessionExpiryInterval(v));
        }
        if let Some(v) = c.receive_maximum {
            props.push(Property::ReceiveMaximum(v.max(1)));
        }
        if let Some(v) = c.maximum_packet_size {
            props.push(Property::MaximumPacketSize(v.max(1)));
        }
        if c.topic_alias_maximum > 0 {
            props.push(Property::TopicAliasMaximum(c.topic_alias_maximum));
        }
        if c.request_response_information {
            props.push(Property::RequestResponseInformation(1));
        }
        if let Some(v) = c.request_problem_information {
            props.push(Property::RequestProblemInformation(u8::from(v)));
        }
        for (k, v) in &c.user_properties {
            props.push(Property::UserProperty((k, v)));
        }
        if let Some(m) = &c.authentication_method {
            props.push(Property::AuthenticationMethod(m));
            if let Some(d) = &c.authentication_data {
                props.push(Property::AuthenticationData(d));
            }
        }
        let mut will_props: Vec<Property<'_>> = Vec::new();
        let will = c.will.as_ref().map(|w| {
            if let Some(d) = w.delay_interval {
                will_props.push(Property::WillDelayInterval(d));
            }
            w.properties.push_to(&mut will_props);
            (w.topic.as_str(), w.payload.as_slice(), w.qos, w.retain)
        });
        let is_v5 = c.version == ProtocolVersion::V5;
        let connect = Connect {
            version: c.version,
            clean_start,
            keep_alive: c.keep_alive,
            properties: if is_v5 {
                Properties::Slice(&props)
            } else {
                Properties::empty()
            },
            client_id: &c.client_id,
            will: will.map(|(topic, payload, qos, retain)| codec::Will {
                qos,
                retain,
                properties: if is_v5 {
                    Properties::Slice(&will_props)
                } else {
                    Properties::empty()
                },
                topic,
                payload,
            }),
            username: c.username.as_deref(),
            password: c.password.as_deref(),
        };
        let version = c.version;
        if let Err(e) = emit(&mut self.outbuf, version, Packet::Connect(connect)) {
            // The configuration cannot be encoded (a field over 65,535 bytes): no connection.
            let _ = e;
            self.state = State::Closing;
            self.report(DisconnectReason::Local {
                reason_code: ReasonCode::ImplementationSpecificError,
            });
        }
    }

    /// Queues an Application Message. It is sent once connected and within the server's
    /// Receive Maximum; [`Event::PublishComplete`] with the returned id says how it ended.
    ///
    /// # Errors
    /// An invalid topic name, an unencodable message, or a full queue; nothing is queued then.
    pub fn publish(&mut self, msg: OutgoingMessage) -> Result<RequestId, CommandError> {
        validate_topic_name(&msg.topic).map_err(CommandError::InvalidTopic)?;
        if self.queued.len() >= self.config.max_queued {
            return Err(CommandError::QueueFull);
        }
        // Check now that it encodes, so that sending it later cannot fail for that reason.
        let mut props = Vec::new();
        msg.properties.push_to(&mut props);
        let packet = Publish {
            dup: false,
            qos: msg.qos,
            retain: msg.retain,
            topic: &msg.topic,
            packet_id: (msg.qos != QoS::AtMostOnce).then_some(1),
            properties: self.v5_props(&props),
            payload: &msg.payload,
        };
        packet
            .encoded_len(self.config.version)
            .map_err(CommandError::Encode)?;
        let id = self.next_id();
        self.queued.push_back(Queued { id, msg });
        self.pump();
        Ok(id)
    }

    /// Subscribes to `filters`. Sent at once if connected, else on connection;
    /// [`Event::SubscribeComplete`] carries the SUBACK.
    ///
    /// # Errors
    /// No filter, an invalid filter, or no free packet identifier.
    pub fn subscribe(
        &mut self,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<RequestId, CommandError> {
        if filters.is_empty() {
            return Err(CommandError::NoFilters);
        }
        for f in &filters {
            validate_topic_filter(&f.filter).map_err(CommandError::InvalidFilter)?;
        }
        let id = self.next_id();
        self.add_request(id, false, RequestKind::Subscribe(filters, properties))?;
        Ok(id)
    }

    /// Unsubscribes from `filters`; [`Event::UnsubscribeComplete`] carries the UNSUBACK.
    ///
    /// # Errors
    /// No filter, an invalid filter, or no free packet identifier.
    pub fn unsubscribe(
        &mut self,
        filters: Vec<String>,
        user_properties: Vec<UserProperty>,
    ) -> Result<RequestId, CommandError> {
        if filters.is_empty() {
            return Err(CommandError::NoFilters);
        }
        for f in &filters {
            validate_topic_filter(f).map_err(CommandError::InvalidFilter)?;
        }
        let id = self.next_id();
        self.add_request(
            id,
            false,
            RequestKind::Unsubscribe(filters, user_properties),
        )?;
        Ok(id)
    }

    /// Ends the connection: queues DISCONNECT with `reason_code` (0x00 normal, 0x04 with Will
    /// Message; the code is not sent on 3.1.1) and the optional Session Expiry Interval update,
    /// then closes. In-flight messages stay in the session.
    pub fn disconnect(
        &mut self,
        reason_code: ReasonCode,
        session_expiry_interval: Option<u32>,
        properties: AckProperties,
    ) {
        match self.state {
            State::Connected | State::Connecting => {
                if self.state == State::Connected {
                    let mut props = Vec::new();
                    if let Some(v) = session_expiry_interval {
                        props.push(Property::SessionExpiryInterval(v));
                    }
                    if let Some(r) = &properties.reason_string {
                        props.push(Property::ReasonString(r));
                    }
                    for (k, v) in &properties.user_properties {
                        props.push(Property::UserProperty((k, v)));
                    }
                    let d = Disconnect {
                        reason_code: if self.is_v5() {
                            reason_code
                        } else {
                            ReasonCode::Success
                        },
                        properties: self.v5_props(&props),
                    };
                    let version = self.config.version;
                    let _ = emit(&mut self.outbuf, version, Packet::Disconnect(d));
                }
                self.state = State::Closing;
                self.report(DisconnectReason::Local { reason_code });
            }
            State::Idle | State::Closing => {}
        }
    }

    /// Answers an [`Event::AuthChallenge`] with AUTH 0x18 and `data`.
    ///
    /// # Errors
    /// [`CommandError::NotConnected`] without a connection or an authentication method.
    pub fn auth_continue(&mut self, data: Option<Vec<u8>>) -> Result<(), CommandError> {
        self.send_auth(ReasonCode::ContinueAuthentication, data)
    }

    /// Starts a re-authentication (AUTH 0x19) with `data` (5.0, after an enhanced
    /// authentication at connect).
    ///
    /// # Errors
    /// [`CommandError::NotConnected`] unless connected with an authentication method.
    pub fn reauthenticate(&mut self, data: Option<Vec<u8>>) -> Result<(), CommandError> {
        if self.state != State::Connected {
            return Err(CommandError::NotConnected);
        }
        self.reauthenticating = true;
        self.send_auth(ReasonCode::ReAuthenticate, data)
    }

    // ----- Inputs. -----

    /// Bytes received on the transport.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if !matches!(self.state, State::Connecting | State::Connected) {
            return;
        }
        self.inbuf.extend_from_slice(data);
        let buf = core::mem::take(&mut self.inbuf);
        let max = self.config.maximum_packet_size.unwrap_or(u32::MAX);
        let mut pos = 0;
        while matches!(self.state, State::Connecting | State::Connected) {
            let rest = buf.get(pos..).unwrap_or(&[]);
            match codec::decode(rest, self.config.version, max) {
                Ok(Decoded::Complete { value, consumed }) => {
                    pos += consumed;
                    // Anything received shows the connection is alive.
                    self.ping_sent = None;
                    self.last_received = now;
                    self.handle_packet(now, value);
                }
                Ok(Decoded::Incomplete(_)) => break,
                Err(e) => {
                    self.protocol_error(e.reason_code(), ProtocolErrorDetail::Decode(e));
                    break;
                }
            }
        }
        let mut buf = buf;
        if self.state == State::Closing {
            buf.clear();
        } else {
            buf.drain(..pos.min(buf.len()));
        }
        // Keep whatever arrived meanwhile (nothing: `handle_packet` does not read input).
        self.inbuf = buf;
        self.pump();
    }

    /// The transport is gone (closed by either side, failed, or closed by the driver after
    /// [`is_closing`](Self::is_closing)). Emits [`Event::Disconnected`] unless already emitted
    /// for this connection; the session is then idle and may [`connect`](Self::connect) again.
    pub fn handle_connection_lost(&mut self, _now: Instant) {
        if self.state == State::Idle {
            return;
        }
        self.report(DisconnectReason::TransportClosed);
        self.state = State::Idle;
        self.inbuf.clear();
        self.outbuf.clear();
        self.reauthenticating = false;
    }

    /// The time [`poll_timeout`](Self::poll_timeout) gave has come (or passed).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Connecting => {
                if now
                    >= self
                        .connect_started
                        .add_millis(self.config.connect_timeout_ms)
                {
                    self.state = State::Closing;
                    self.report(DisconnectReason::ConnectTimeout);
                }
            }
            State::Connected => {
                if let Some(sent) = self.ping_sent {
                    if now >= sent.add_millis(self.ping_timeout()) {
                        // [MQTT-3.1.2-?] 5.0 §3.12.4: no PINGRESP in a reasonable time: close.
                        self.state = State::Closing;
                        self.outbuf.clear();
                        self.report(DisconnectReason::KeepAliveTimeout);
                        return;
                    }
                }
                if self.keep_alive_ms > 0 && self.ping_sent.is_none() && now >= self.ping_due() {
                    // [MQTT-3.1.2-20] (5.0) / [MQTT-3.1.2-23] (3.1.1): something must be sent
                    // within the keep alive; with nothing else to send, PINGREQ. A PINGREQ is
                    // also due when nothing was *received* for the keep alive, however busy
                    // the client is sending: "the Client can send PINGREQ at any time ... to
                    // determine that the network and the Server are available" (5.0 §3.12,
                    // 3.1.1 §3.12), and if no PINGRESP (nor anything else) follows within
                    // the ping timeout the connection is dead (5.0 §3.1.2.10 / 3.1.1
                    // §3.1.2.10: "the Client SHOULD close the Network Connection" when no
                    // PINGRESP comes within a reasonable amount of time). Without this a
                    // client that keeps publishing over a connection whose server-to-client
                    // direction is dead never pings, so never finds out.
                    let version = self.config.version;
                    let _ = emit(&mut self.outbuf, version, Packet::PingReq(PingReq));
                    self.ping_sent = Some(now);
                }
            }
            State::Idle | State::Closing => {}
        }
    }

    // ----- Outputs. -----

    /// Appends the bytes to send to `buf`; returns whether there were any. Write them in order.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        if self.outbuf.is_empty() {
            return false;
        }
        buf.append(&mut self.outbuf);
        self.last_sent = now;
        true
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if at all.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Connecting => Some(
                self.connect_started
                    .add_millis(self.config.connect_timeout_ms),
            ),
            State::Connected => {
                let ping = self.ping_sent.map(|s| s.add_millis(self.ping_timeout()));
                let keep_alive =
                    (self.keep_alive_ms > 0 && self.ping_sent.is_none()).then(|| self.ping_due());
                match (ping, keep_alive) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::Idle | State::Closing => None,
        }
    }

    // ----- Internals. -----

    fn is_v5(&self) -> bool {
        self.config.version == ProtocolVersion::V5
    }

    /// `props` on 5.0, nothing on 3.1.1.
    fn v5_props<'a>(&self, props: &'a [Property<'a>]) -> Properties<'a> {
        if self.is_v5() {
            Properties::Slice(props)
        } else {
            Properties::empty()
        }
    }

    fn next_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// When a PINGREQ is due: keep alive after the last packet sent or the last packet
    /// received, whichever is older.
    fn ping_due(&self) -> Instant {
        self.last_sent
            .min(self.last_received)
            .add_millis(self.keep_alive_ms)
    }

    fn ping_timeout(&self) -> u64 {
        self.config
            .ping_timeout_ms
            .unwrap_or(self.keep_alive_ms)
            .max(1)
    }

    fn report(&mut self, reason: DisconnectReason) {
        if !self.disconnect_reported {
            self.disconnect_reported = true;
            self.events.push_back(Event::Disconnected(reason));
        }
    }

    /// The server broke the protocol: DISCONNECT with `code` (5.0), then close.
    fn protocol_error(&mut self, code: ReasonCode, detail: ProtocolErrorDetail) {
        if self.is_v5() && code.allowed_in(codec::PacketType::Disconnect) {
            let version = self.config.version;
            let d = Disconnect {
                reason_code: code,
                properties: Properties::empty(),
            };
            let _ = emit(&mut self.outbuf, version, Packet::Disconnect(d));
        }
        self.state = State::Closing;
        self.report(DisconnectReason::ProtocolError {
            reason_code: code,
            detail,
        });
    }

    fn send_auth(&mut self, code: ReasonCode, data: Option<Vec<u8>>) -> Result<(), CommandError> {
        if !matches!(self.state, State::Connecting | State::Connected) || !self.is_v5() {
            return Err(CommandError::NotConnected);
        }
        let Some(method) = self.config.authentication_method.as_deref() else {
            return Err(CommandError::NotConnected);
        };
        let mut props = alloc::vec![Property::AuthenticationMethod(method)];
        if let Some(d) = &data {
            props.push(Property::AuthenticationData(d));
        }
        let auth = Auth {
            reason_code: code,
            properties: Properties::Slice(&props),
        };
        emit(&mut self.outbuf, self.config.version, Packet::Auth(auth))
            .map_err(CommandError::Encode)
    }

    fn add_request(
        &mut self,
        id: RequestId,
        internal: bool,
        kind: RequestKind,
    ) -> Result<(), CommandError> {
        let packet_id = self
            .ids
            .allocate()
            .ok_or(CommandError::NoPacketIdentifier)?;
        let req = PendingRequest { id, internal, kind };
        if self.state == State::Connected {
            if let Err(e) = self.send_request(packet_id, &req) {
                self.ids.release(packet_id);
                return Err(CommandError::Encode(e));
            }
        }
        self.requests.insert(packet_id, req);
        Ok(())
    }

    fn send_request(&mut self, packet_id: u16, req: &PendingRequest) -> Result<(), EncodeError> {
        let version = self.config.version;
        let is_v5 = self.is_v5();
        match &req.kind {
            RequestKind::Subscribe(filters, p) => {
                let subs: Vec<Subscription<'_>> = filters
                    .iter()
                    .map(|f| Subscription {
                        filter: &f.filter,
                        options: f.options,
                    })
                    .collect();
                let mut props = Vec::new();
                if let Some(v) = p.subscription_identifier {
                    props.push(Property::SubscriptionIdentifier(v));
                }
                for (k, v) in &p.user_properties {
                    props.push(Property::UserProperty((k, v)));
                }
                let mut packet = Subscribe::new(packet_id, &subs);
                if is_v5 {
                    packet.properties = Properties::Slice(&props);
                }
                emit(&mut self.outbuf, version, Packet::Subscribe(packet))
            }
            RequestKind::Unsubscribe(filters, user) => {
                let fs: Vec<&str> = filters.iter().map(String::as_str).collect();
                let props: Vec<Property<'_>> = user
                    .iter()
                    .map(|(k, v)| Property::UserProperty((k, v)))
                    .collect();
                let mut packet = Unsubscribe::new(packet_id, &fs);
                if is_v5 {
                    packet.properties = Properties::Slice(&props);
                }
                emit(&mut self.outbuf, version, Packet::Unsubscribe(packet))
            }
        }
    }

    /// Sends queued publishes while connected and within the server's Receive Maximum.
    fn pump(&mut self) {
        while self.state == State::Connected {
            let Some(front) = self.queued.front() else {
                break;
            };
            let qos = front.msg.qos;
            // Local checks against what the server announced.
            let refusal = if qos > self.server.maximum_qos {
                // [MQTT-3.2.2-11] (5.0): no PUBLISH above the server's Maximum QoS.
                Some(ReasonCode::QoSNotSupported)
            } else if front.msg.retain && !self.server.retain_available {
                // [MQTT-3.2.2-14] (5.0): no retained PUBLISH when Retain Available is 0.
                Some(ReasonCode::RetainNotSupported)
            } else {
                None
            };
            if let Some(reason_code) = refusal {
                let q = self.queued.pop_front();
                if let Some(q) = q {
                    self.events.push_back(Event::PublishComplete {
                        id: q.id,
                        reason_code,
                        properties: AckProperties::default(),
                    });
                }
                continue;
            }
            if qos != QoS::AtMostOnce
                && self.inflight.len() >= usize::from(self.server.receive_maximum)
            {
                // [MQTT-4.9.0-2] (5.0): the send quota is used up; wait for an acknowledgement.
                break;
            }
            let packet_id = if qos == QoS::AtMostOnce {
                None
            } else {
                match self.ids.allocate() {
                    Some(id) => Some(id),
                    None => break,
                }
            };
            let Some(q) = self.queued.pop_front() else {
                break;
            };
            match self.send_publish(&q.msg, packet_id, false, true) {
                Ok(()) => {}
                Err(reason_code) => {
                    if let Some(pid) = packet_id {
                        self.ids.release(pid);
                    }
                    self.events.push_back(Event::PublishComplete {
                        id: q.id,
                        reason_code,
                        properties: AckProperties::default(),
                    });
                    continue;
                }
            }
            match packet_id {
                None => self.events.push_back(Event::PublishComplete {
                    id: q.id,
                    reason_code: ReasonCode::Success,
                    properties: AckProperties::default(),
                }),
                Some(pid) => {
                    self.next_seq += 1;
                    let stage = if qos == QoS::AtLeastOnce {
                        Stage::Qos1Sent
                    } else {
                        Stage::Qos2Sent
                    };
                    self.inflight.insert(
                        pid,
                        InFlight {
                            id: q.id,
                            seq: self.next_seq,
                            msg: q.msg,
                            stage,
                        },
                    );
                }
            }
        }
    }

    /// Encodes one PUBLISH. `alias` allows an outgoing topic alias (not on resends: aliases do
    /// not outlive their connection). Fails with the reason code to complete the publish with.
    fn send_publish(
        &mut self,
        msg: &OutgoingMessage,
        packet_id: Option<u16>,
        dup: bool,
        alias: bool,
    ) -> Result<(), ReasonCode> {
        let mut props = Vec::new();
        msg.properties.push_to(&mut props);
        let mut topic = msg.topic.as_str();
        if alias
            && self.is_v5()
            && self.config.outbound_topic_aliases
            && self.server.topic_alias_maximum > 0
        {
            if let Some(&a) = self.outbound_aliases.get(&msg.topic) {
                props.push(Property::TopicAlias(a));
                topic = "";
            } else if self.outbound_aliases.len() < usize::from(self.server.topic_alias_maximum) {
                // [MQTT-3.3.2-11] (5.0): never above the server's Topic Alias Maximum.
                let a = u16::try_from(self.outbound_aliases.len() + 1).unwrap_or(u16::MAX);
                self.outbound_aliases.insert(msg.topic.clone(), a);
                props.push(Property::TopicAlias(a));
            }
        }
        let packet = Publish {
            dup,
            qos: msg.qos,
            retain: msg.retain,
            topic,
            packet_id,
            properties: self.v5_props(&props),
            payload: &msg.payload,
        };
        let version = self.config.version;
        let len = packet
            .encoded_len(version)
            .map_err(|_| ReasonCode::ImplementationSpecificError)?;
        if let Some(max) = self.server.maximum_packet_size {
            // [MQTT-3.1.2-24] (5.0): nothing larger than the server's Maximum Packet Size.
            if len as u64 > u64::from(max) {
                return Err(ReasonCode::PacketTooLarge);
            }
        }
        emit(&mut self.outbuf, version, Packet::Publish(packet))
            .map_err(|_| ReasonCode::ImplementationSpecificError)
    }

    fn send_ack(&mut self, packet: Packet<'_>) {
        let version = self.config.version;
        let _ = emit(&mut self.outbuf, version, packet);
    }

    fn handle_packet(&mut self, now: Instant, packet: Packet<'_>) {
        if self.state == State::Connecting {
            match packet {
                Packet::ConnAck(c) => self.handle_connack(now, c),
                Packet::Auth(a) => self.handle_auth(a),
                // 5.0 §3.2: the server sends nothing but CONNACK (or AUTH) first; a DISCONNECT
                // is tolerated as the server's way of refusing.
                Packet::Disconnect(d) => self.handle_disconnect(d),
                other => self.protocol_error(
                    ReasonCode::ProtocolError,
                    ProtocolErrorDetail::UnexpectedPacket(other.packet_type()),
                ),
            }
            return;
        }
        match packet {
            Packet::Publish(p) => self.handle_publish(p),
            Packet::PubAck(a) => self.handle_puback(a),
            Packet::PubRec(r) => self.handle_pubrec(r),
            Packet::PubRel(r) => self.handle_pubrel(r),
            Packet::PubComp(c) => self.handle_pubcomp(c),
            Packet::SubAck(s) => self.handle_suback(s),
            Packet::UnsubAck(u) => self.handle_unsuback(u),
            Packet::PingResp(_) => {}
            Packet::Disconnect(d) => self.handle_disconnect(d),
            Packet::Auth(a) => self.handle_auth(a),
            other @ (Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq(_)) => self.protocol_error(
                ReasonCode::ProtocolError,
                ProtocolErrorDetail::UnexpectedPacket(other.packet_type()),
            ),
        }
    }

    fn handle_connack(&mut self, now: Instant, c: ConnAck<'_>) {
        let info = ConnAckInfo::from_properties(c.session_present, c.reason_code, &c.properties);
        if c.reason_code.is_error() {
            // The server closes the connection after a refusal ([MQTT-3.2.2-7] (5.0)).
            self.state = State::Closing;
            self.report(DisconnectReason::Refused {
                reason_code: c.reason_code,
                connack: info.clone(),
            });
            self.server = info;
            return;
        }
        let sent_clean = match self.config.version {
            ProtocolVersion::V5 => self.config.clean_start && !self.has_connected,
            ProtocolVersion::V3_1_1 => self.config.clean_start,
        };
        if sent_clean && c.session_present {
            // [MQTT-3.2.2-2] (5.0): Session Present must be 0 after Clean Start 1; the client
            // closes (5.0 §3.2.2.1.1, [MQTT-3.2.2-4] (5.0)).
            self.protocol_error(
                ReasonCode::ProtocolError,
                ProtocolErrorDetail::SessionPresentOnCleanStart,
            );
            return;
        }
        if let Some(assigned) = &info.assigned_client_identifier {
            // Keep it so a reconnect resumes this session.
            self.config.client_id.clone_from(assigned);
        }
        self.keep_alive_ms =
            u64::from(info.server_keep_alive.unwrap_or(self.config.keep_alive)) * 1000;
        self.server = info;
        self.state = State::Connected;
        self.last_sent = now;
        self.last_received = now;
        if c.session_present {
            self.resend_inflight();
        } else {
            self.discard_session_state();
        }
        // SUBSCRIBE and UNSUBSCRIBE not yet acknowledged: send again (or for the first time).
        let pending: Vec<(u16, PendingRequest)> =
            self.requests.iter().map(|(k, v)| (*k, v.clone())).collect();
        for (packet_id, req) in &pending {
            let _ = self.send_request(*packet_id, req);
        }
        if !c.session_present && self.has_connected && self.config.restore_subscriptions {
            self.restore_subscriptions(&pending);
        }
        self.has_connected = true;
        self.events.push_back(Event::Connected(self.server.clone()));
        self.pump();
    }

    /// [MQTT-4.4.0-1] (5.0) / [MQTT-4.4.0-1] (3.1.1): resend unacknowledged PUBLISH (with DUP,
    /// [MQTT-3.3.1-1] (5.0)) and PUBREL with their original identifiers, in original order.
    fn resend_inflight(&mut self) {
        let mut order: Vec<(u64, u16)> =
            self.inflight.iter().map(|(pid, f)| (f.seq, *pid)).collect();
        order.sort_unstable();
        for (_, pid) in order {
            let Some(f) = self.inflight.get(&pid) else {
                continue;
            };
            match f.stage {
                Stage::Qos1Sent | Stage::Qos2Sent => {
                    let msg = f.msg.clone();
                    // A resend that no longer fits the server's limits is still sent: the
                    // server accepted it once.
                    let _ = self.send_publish(&msg, Some(pid), true, false);
                }
                Stage::Released => self.send_ack(Packet::PubRel(PubRel::new(pid))),
            }
        }
    }

    /// [MQTT-3.2.2-5] (5.0): no session on the server: drop the session state (see the module
    /// documentation for what happens to each part).
    fn discard_session_state(&mut self) {
        self.incoming_qos2.clear();
        let mut back: Vec<(u64, Queued)> = Vec::new();
        let inflight = core::mem::take(&mut self.inflight);
        for (pid, f) in inflight {
            self.ids.release(pid);
            match f.stage {
                Stage::Qos1Sent | Stage::Qos2Sent => back.push((
                    f.seq,
                    Queued {
                        id: f.id,
                        msg: f.msg,
                    },
                )),
                Stage::Released => self.events.push_back(Event::PublishComplete {
                    id: f.id,
                    reason_code: ReasonCode::Success,
                    properties: AckProperties::default(),
                }),
            }
        }
        back.sort_by_key(|(seq, _)| *seq);
        for (_, q) in back.into_iter().rev() {
            self.queued.push_front(q);
        }
    }

    fn restore_subscriptions(&mut self, pending: &[(u16, PendingRequest)]) {
        let already: BTreeSet<&str> = pending
            .iter()
            .filter_map(|(_, r)| match &r.kind {
                RequestKind::Subscribe(fs, _) => Some(fs.iter().map(|f| f.filter.as_str())),
                RequestKind::Unsubscribe(..) => None,
            })
            .flatten()
            .collect();
        let restore: Vec<(SubscribeFilter, SubscribeProperties)> = self
            .subscriptions
            .values()
            .filter(|(f, _)| !already.contains(f.filter.as_str()))
            .cloned()
            .collect();
        for (filter, props) in restore {
            let id = self.next_id();
            let _ = self.add_request(id, true, RequestKind::Subscribe(alloc::vec![filter], props));
        }
    }

    fn handle_publish(&mut self, p: Publish<'_>) {
        // Resolve the topic alias.
        let mut topic: String = p.topic.into();
        if let Some(alias) = p.topic_alias() {
            if alias > self.config.topic_alias_maximum {
                // [MQTT-3.3.2-9] (5.0): above the client's Topic Alias Maximum: 0x94.
                self.protocol_error(
                    ReasonCode::TopicAliasInvalid,
                    ProtocolErrorDetail::TopicAlias(alias),
                );
                return;
            }
            if topic.is_empty() {
                match self.inbound_aliases.get(&alias) {
                    Some(t) => topic.clone_from(t),
                    None => {
                        // 5.0 §3.3.2.3.4: an unknown alias with an empty topic is a Protocol Error.
                        self.protocol_error(
                            ReasonCode::ProtocolError,
                            ProtocolErrorDetail::TopicAlias(alias),
                        );
                        return;
                    }
                }
            } else {
                self.inbound_aliases.insert(alias, topic.clone());
            }
        }
        let message = |topic: String| Message {
            topic,
            payload: p.payload.to_vec(),
            qos: p.qos,
            retain: p.retain,
            dup: p.dup,
            packet_id: p.packet_id,
            properties: PublishProperties::from_properties(&p.properties),
        };
        match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) | (_, None) => {
                self.events.push_back(Event::Message(message(topic)))
            }
            (QoS::AtLeastOnce, Some(pid)) => {
                self.events.push_back(Event::Message(message(topic)));
                // [MQTT-4.3.2-4] (5.0): PUBACK with the PUBLISH's identifier.
                self.send_ack(Packet::PubAck(PubAck::new(pid)));
            }
            (QoS::ExactlyOnce, Some(pid)) => {
                if !self.incoming_qos2.contains(&pid) {
                    let limit = usize::from(self.config.receive_maximum.unwrap_or(u16::MAX));
                    if self.incoming_qos2.len() >= limit {
                        // [MQTT-3.3.4-9] (5.0): the server exceeded the client's Receive Maximum.
                        self.protocol_error(
                            ReasonCode::ReceiveMaximumExceeded,
                            ProtocolErrorDetail::ReceiveMaximumExceeded,
                        );
                        return;
                    }
                    self.incoming_qos2.insert(pid);
                    self.events.push_back(Event::Message(message(topic)));
                }
                // [MQTT-4.3.3-9] (5.0): a PUBLISH with the same identifier before PUBREL is
                // acknowledged again but not delivered again.
                self.send_ack(Packet::PubRec(PubRec::new(pid)));
            }
        }
    }

    fn handle_puback(&mut self, a: PubAck<'_>) {
        match self.inflight.get(&a.packet_id) {
            Some(f) if f.stage == Stage::Qos1Sent => {
                self.complete(a.packet_id, a.reason_code, &a.properties);
            }
            // An acknowledgement for nothing in flight (a late duplicate): ignored.
            _ => {}
        }
    }

    fn handle_pubrec(&mut self, r: PubRec<'_>) {
        match self.inflight.get_mut(&r.packet_id) {
            Some(f) if f.stage == Stage::Qos2Sent || f.stage == Stage::Released => {
                if r.reason_code.is_error() {
                    // 5.0 §4.3.3: a PUBREC with an error ends the flow; the identifier is free.
                    self.complete(r.packet_id, r.reason_code, &r.properties);
                } else {
                    f.stage = Stage::Released;
                    // [MQTT-4.3.3-4] (5.0): PUBREL with the PUBREC's identifier.
                    self.send_ack(Packet::PubRel(PubRel::new(r.packet_id)));
                }
            }
            _ => {
                // 5.0 §4.3.3: PUBREL with Packet Identifier not found.
                let mut rel = PubRel::new(r.packet_id);
                if self.is_v5() {
                    rel.reason_code = ReasonCode::PacketIdentifierNotFound;
                }
                self.send_ack(Packet::PubRel(rel));
            }
        }
    }

    fn handle_pubcomp(&mut self, c: PubComp<'_>) {
        if matches!(self.inflight.get(&c.packet_id), Some(f) if f.stage == Stage::Released) {
            self.complete(c.packet_id, c.reason_code, &c.properties);
        }
    }

    fn handle_pubrel(&mut self, r: PubRel<'_>) {
        let known = self.incoming_qos2.remove(&r.packet_id);
        let mut comp = PubComp::new(r.packet_id);
        if !known && self.is_v5() {
            comp.reason_code = ReasonCode::PacketIdentifierNotFound;
        }
        // [MQTT-4.3.3-11] (5.0): PUBCOMP with the PUBREL's identifier.
        self.send_ack(Packet::PubComp(comp));
    }

    /// Ends the flow of the in-flight PUBLISH `packet_id`.
    fn complete(&mut self, packet_id: u16, reason_code: ReasonCode, props: &Properties<'_>) {
        if let Some(f) = self.inflight.remove(&packet_id) {
            self.ids.release(packet_id);
            self.events.push_back(Event::PublishComplete {
                id: f.id,
                reason_code,
                properties: AckProperties::from_properties(props),
            });
        }
    }

    fn handle_suback(&mut self, s: SubAck<'_>) {
        let Some(req) = self.requests.get(&s.packet_id) else {
            return;
        };
        let RequestKind::Subscribe(filters, props) = &req.kind else {
            return;
        };
        let codes: Vec<ReasonCode> = s.reason_codes.iter().collect();
        for (f, code) in filters.iter().zip(&codes) {
            if !code.is_error() {
                self.subscriptions
                    .insert(f.filter.clone(), (f.clone(), props.clone()));
            }
        }
        let Some(req) = self.requests.remove(&s.packet_id) else {
            return;
        };
        self.ids.release(s.packet_id);
        if !req.internal {
            self.events.push_back(Event::SubscribeComplete {
                id: req.id,
                reason_codes: codes,
                properties: AckProperties::from_properties(&s.properties),
            });
        }
    }

    fn handle_unsuback(&mut self, u: UnsubAck<'_>) {
        let Some(req) = self.requests.get(&u.packet_id) else {
            return;
        };
        let RequestKind::Unsubscribe(filters, _) = &req.kind else {
            return;
        };
        for f in filters {
            self.subscriptions.remove(f);
        }
        let n = filters.len();
        let Some(req) = self.requests.remove(&u.packet_id) else {
            return;
        };
        self.ids.release(u.packet_id);
        let mut codes: Vec<ReasonCode> = u.reason_codes.iter().collect();
        if codes.is_empty() {
            // 3.1.1 UNSUBACK has no reason codes.
            codes = alloc::vec![ReasonCode::Success; n];
        }
        self.events.push_back(Event::UnsubscribeComplete {
            id: req.id,
            reason_codes: codes,
            properties: AckProperties::from_properties(&u.properties),
        });
    }

    fn handle_disconnect(&mut self, d: Disconnect<'_>) {
        let server_reference = d.properties.iter().find_map(|p| match p {
            Property::ServerReference(s) => Some(String::from(s)),
            _ => None,
        });
        self.state = State::Closing;
        self.outbuf.clear();
        self.report(DisconnectReason::Server {
            reason_code: d.reason_code,
            properties: AckProperties::from_properties(&d.properties),
            server_reference,
        });
    }

    fn handle_auth(&mut self, a: Auth<'_>) {
        let mut method = None;
        let mut data = None;
        for p in a.properties.iter() {
            match p {
                Property::AuthenticationMethod(m) => method = Some(m),
                Property::AuthenticationData(d) => data = Some(d.to_vec()),
                _ => {}
            }
        }
        let ours = self.config.authentication_method.as_deref();
        if ours.is_none() || method != ours {
            // 5.0 §4.12: AUTH only within an exchange the client started, with its method.
            self.protocol_error(
                ReasonCode::ProtocolError,
                ProtocolErrorDetail::UnexpectedAuth,
            );
            return;
        }
        match a.reason_code {
            ReasonCode::ContinueAuthentication => self.events.push_back(Event::AuthChallenge {
                method: method.map(String::from).unwrap_or_default(),
                data,
            }),
            ReasonCode::Success if self.reauthenticating => {
                self.reauthenticating = false;
                self.events.push_back(Event::Reauthenticated { data });
            }
            _ => self.protocol_error(
                ReasonCode::ProtocolError,
                ProtocolErrorDetail::UnexpectedAuth,
            ),
        }
    }
}

/// Encodes `packet` at the end of `out`.
fn emit(
    out: &mut Vec<u8>,
    version: ProtocolVersion,
    packet: Packet<'_>,
) -> Result<(), EncodeError> {
    let len = packet.encoded_len(version)?;
    let start = out.len();
    out.resize(start + len, 0);
    match packet.encode(version, out.get_mut(start..).unwrap_or(&mut [])) {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}
