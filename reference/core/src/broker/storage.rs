//! Storage of broker state: sessions (with their subscriptions, queued and in-flight messages)
//! and retained messages, behind the [`Storage`] trait; [`MemoryStorage`] keeps it in memory.
//!
//! The engine keeps its own subscription index (a [`TopicTrie`](crate::topic::TopicTrie)) built
//! from the sessions' subscription lists, so a store only has to hold records, never answer
//! topic queries. Everything is in `BTreeMap`s so iteration order, and with it behaviour, is
//! deterministic.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::ProtocolVersion;
use crate::time::Instant;

/// Shared payload bytes: one copy for every subscriber a message goes to. `Arc` where the target
/// has pointer-sized atomics (so a driver can move the engine between threads), `Rc` on targets
/// without them (riscv32imc), where there are no threads to move to.
#[cfg(target_has_atomic = "ptr")]
pub type Payload = alloc::sync::Arc<[u8]>;
/// Shared payload bytes (see the atomic-target definition).
#[cfg(not(target_has_atomic = "ptr"))]
pub type Payload = alloc::rc::Rc<[u8]>;

/// The options a session subscribed with (SUBSCRIBE's Subscription Options, 5.0 §3.8.3.1;
/// 3.1.1 has only the QoS), as the session keeps them: the granted QoS, not the requested one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOpts {
    /// Maximum QoS of what the subscription delivers.
    pub qos: u8,
    /// No Local: not back to the publisher's own connection ([MQTT-3.8.3-3] (5.0)).
    pub no_local: bool,
    /// Retain As Published ([MQTT-3.3.1-12], [MQTT-3.3.1-13] (5.0)).
    pub retain_as_published: bool,
    /// Retain Handling: 0 send retained at subscribe, 1 only if the subscription is new, 2 never.
    pub retain_handling: u8,
}

/// The properties a message carries from its publisher to its subscribers (5.0 §3.3.2.3):
/// what is forwarded unchanged. The others are the broker's business per delivery (message
/// expiry left, subscription identifiers, topic alias) and are not stored with the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProps {
    /// Payload Format Indicator.
    pub payload_format: Option<u8>,
    /// Message Expiry Interval of a will not yet published (seconds); the engine turns it
    /// into [`Message::expires_at`] when it publishes the will. `None` for other messages.
    pub message_expiry: Option<u32>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic.
    pub response_topic: Option<String>,
    /// Correlation Data.
    pub correlation_data: Option<Vec<u8>>,
    /// User Properties, in order.
    pub user: Vec<(String, String)>,
}

/// Shared ownership: `Arc` or `Rc`, as for [`Payload`].
#[cfg(target_has_atomic = "ptr")]
type Shared<T> = alloc::sync::Arc<T>;
/// Shared ownership (see the atomic-target definition).
#[cfg(not(target_has_atomic = "ptr"))]
type Shared<T> = alloc::rc::Rc<T>;

/// A [`Message`] shared by every session it is queued for: one allocation per message, not a
/// copy of its topic and properties per subscriber. It also holds the message's forwarded
/// properties already encoded the way MQTT 5.0 writes them, so that a delivery to a thousand
/// subscribers encodes them once, not a thousand times: every delivery appends these bytes
/// after its own few properties (see the engine's `outgoing`). Dereferences to the message.
#[derive(Clone)]
pub struct SharedMessage(Shared<Forwarded>);

/// What a [`SharedMessage`] shares.
struct Forwarded {
    msg: Message,
    /// [`MessageProps::encode_forwarded`] of `msg.props`.
    props: Vec<u8>,
}

impl SharedMessage {
    /// Shares `msg`, encoding its forwarded properties once.
    pub fn new(msg: Message) -> Self {
        let props = msg.props.encode_forwarded();
        SharedMessage(Shared::new(Forwarded { msg, props }))
    }

    /// The forwarded properties as MQTT 5.0 encodes them, without the Property Length:
    /// [`MessageProps::encode_forwarded`].
    pub fn forwarded_properties(&self) -> &[u8] {
        &self.0.props
    }
}

impl core::ops::Deref for SharedMessage {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.0.msg
    }
}

impl core::fmt::Debug for SharedMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.msg.fmt(f)
    }
}

impl PartialEq for SharedMessage {
    fn eq(&self, other: &Self) -> bool {
        // The encoded properties follow from the message.
        self.0.msg == other.0.msg
    }
}

impl Eq for SharedMessage {}

impl MessageProps {
    /// The properties forwarded unchanged (everything but `message_expiry`), encoded as MQTT
    /// 5.0 writes a property list, without its Property Length: by ascending identifier, the
    /// User Properties last and in their order.
    ///
    /// Their values came from decoded packets, so they fit the wire's limits; should one not
    /// (an engine bug), the properties are left out rather than a malformed packet sent (and
    /// debug builds panic).
    pub fn encode_forwarded(&self) -> Vec<u8> {
        use crate::codec::{Properties, Property, ProtocolVersion, Writer};
        let mut list = Vec::new();
        if let Some(x) = self.payload_format {
            list.push(Property::PayloadFormatIndicator(x));
        }
        if let Some(x) = &self.content_type {
            list.push(Property::ContentType(x));
        }
        if let Some(x) = &self.response_topic {
            list.push(Property::ResponseTopic(x));
        }
        if let Some(x) = &self.correlation_data {
            list.push(Property::CorrelationData(x));
        }
        for (k, v) in &self.user {
            list.push(Property::UserProperty((k, v)));
        }
        if list.is_empty() {
            return Vec::new();
        }
        let props = Properties::Slice(&list);
        let encoded = props.encoded_len(ProtocolVersion::V5).and_then(|n| {
            let mut out = alloc::vec![0u8; n];
            props.write(&mut Writer::new(&mut out), ProtocolVersion::V5)?;
            Ok(out)
        });
        match encoded {
            Ok(out) => out,
            Err(e) => {
                debug_assert!(false, "unencodable message properties: {e} ({self:?})");
                Vec::new()
            }
        }
    }
}

/// An application message as the broker stores and forwards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload, shared between every subscriber it goes to.
    pub payload: Payload,
    /// QoS it was published with.
    pub qos: u8,
    /// RETAIN flag it was published with.
    pub retain: bool,
    /// Properties forwarded unchanged: payload format, content type, response topic,
    /// correlation data, user properties (in order). Message expiry is recomputed on delivery.
    pub props: MessageProps,
    /// When it expires, from the Message Expiry Interval.
    pub expires_at: Option<Instant>,
    /// Client id of the publisher (for No Local).
    pub publisher: Option<String>,
}

impl Message {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// Bytes counted against queue limits.
    pub fn cost(&self) -> usize {
        self.payload.len() + self.topic.len()
    }
}

/// One subscription of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    /// Options from SUBSCRIBE.
    pub opts: SubOpts,
    /// Subscription Identifier, if any.
    pub id: Option<u32>,
}

/// A message waiting to be sent to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The message, shared with every other session it was queued for.
    pub msg: SharedMessage,
    /// Delivery QoS.
    pub qos: u8,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription identifiers to send.
    pub sub_ids: Vec<u32>,
}

/// A retained message owed to a session for a new subscription, not yet in its queue: retained
/// messages are moved into the queue as it has room, so a subscription matching 100,000 of
/// them gets every one without the queue ever overflowing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedPending {
    /// The retained message's topic.
    pub topic: String,
    /// Its version when the subscription was made (the engine's counter): a message replaced
    /// or deleted since is not sent (its successor was delivered as a live message).
    pub version: u64,
    /// The subscription's granted QoS.
    pub qos: u8,
    /// The subscription's identifier, if any.
    pub sub_id: Option<u32>,
}

/// Where an outbound QoS 1/2 message is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    Qos1Sent,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    Qos2Sent,
    /// PUBREL sent, waiting for PUBCOMP.
    Released,
}

/// An outbound message holding a packet identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// What was sent.
    pub item: Queued,
    /// Handshake state.
    pub state: OutState,
    /// Order it was first sent in, for resending in the same order.
    pub seq: u64,
}

/// Everything the server keeps for one client identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Client identifier.
    pub client_id: String,
    /// Protocol version of the last connection.
    pub version: ProtocolVersion,
    /// Session Expiry Interval in seconds (`u32::MAX`: never).
    pub expiry_interval: u32,
    /// Subscriptions by full filter (including any `$share/{name}/` prefix).
    pub subscriptions: BTreeMap<String, Subscription>,
    /// Outbound messages with a packet identifier, by identifier.
    pub inflight: BTreeMap<u16, InFlight>,
    /// Next packet identifier to try.
    pub next_pid: u16,
    /// Sequence counter for `InFlight::seq`.
    pub next_seq: u64,
    /// Messages waiting for the connection or for room in the in-flight window.
    pub queue: VecDeque<Queued>,
    /// Bytes in `queue`, by [`Message::cost`].
    pub queue_bytes: usize,
    /// Inbound QoS 2 packet identifiers received and not yet released ([MQTT-4.3.3-10]).
    pub inbound_qos2: BTreeSet<u16>,
    /// Retained messages owed for new subscriptions, moved into `queue` as it has room.
    pub retained_backlog: VecDeque<RetainedPending>,
    /// Messages dropped because a queue limit was hit (for diagnostics).
    pub dropped: u64,
    /// User Name of the session's last connection: whose read permission the
    /// [`Authorizer`](super::Authorizer) checks for deliveries, also while it is offline.
    pub user: Option<String>,
}

impl Session {
    /// A fresh session.
    pub fn new(client_id: String, version: ProtocolVersion, expiry_interval: u32) -> Self {
        Session {
            client_id,
            version,
            expiry_interval,
            subscriptions: BTreeMap::new(),
            inflight: BTreeMap::new(),
            next_pid: 1,
            next_seq: 0,
            queue: VecDeque::new(),
            queue_bytes: 0,
            inbound_qos2: BTreeSet::new(),
            retained_backlog: VecDeque::new(),
            dropped: 0,
            user: None,
        }
    }
}

/// A handle to a stored session, for lookups without comparing client identifiers: the engine
/// keeps one per connection and uses it on every delivery. It stays valid while the session is
/// stored (replacing a session with [`Storage::put_session`] keeps it); once the session is
/// removed, lookups by it find nothing, even if its slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionKey {
    /// Where the store keeps the session.
    pub slot: u32,
    /// Which occupant of `slot`: a store changes it whenever the slot is emptied.
    pub generation: u32,
}

/// Where sessions and retained messages live.
///
/// The engine changes a session in place through [`Storage::session_mut`] and then calls
/// [`Storage::session_updated`] (once per input, after the change): the in-memory store ignores
/// the call, a persistent store writes the session back there. Retained messages are written
/// with [`Storage::set_retained`] directly.
pub trait Storage {
    /// The session of `client_id`.
    fn session(&self, client_id: &str) -> Option<&Session>;
    /// The session of `client_id`, mutable.
    fn session_mut(&mut self, client_id: &str) -> Option<&mut Session>;
    /// Stores (or replaces) a session.
    fn put_session(&mut self, session: Session);
    /// Removes and returns a session.
    fn remove_session(&mut self, client_id: &str) -> Option<Session>;
    /// The handle of `client_id`'s session (see [`SessionKey`]).
    fn session_key(&self, client_id: &str) -> Option<SessionKey>;
    /// The session `key` stands for, if it is still stored.
    fn session_by_key(&self, key: SessionKey) -> Option<&Session>;
    /// The session `key` stands for, mutable, if it is still stored.
    fn session_by_key_mut(&mut self, key: SessionKey) -> Option<&mut Session>;
    /// Called after the engine changed a session through [`Storage::session_mut`].
    fn session_updated(&mut self, _client_id: &str) {}
    /// Number of sessions stored.
    fn session_count(&self) -> usize;
    /// The retained message of `topic`.
    fn retained(&self, topic: &str) -> Option<&Message>;
    /// Stores a retained message, or deletes it with `None`.
    fn set_retained(&mut self, topic: &str, msg: Option<Message>);
    /// Number of retained messages.
    fn retained_count(&self) -> usize;
    /// Calls `f` on every retained message, in topic order.
    fn for_each_retained(&self, f: &mut dyn FnMut(&Message));

    // The engine's timers that outlive a connection, for a store that survives a restart
    // (the in-memory one ignores them: the engine keeps its own copy, and nothing outlives
    // the process). [`Broker::restore`](super::Broker::restore) reads them back.

    /// Client ids of every stored session, in order (for [`Broker::restore`](super::Broker::restore)).
    fn session_ids(&self) -> Vec<String>;
    /// `client_id`'s session, offline, ends at `at`; `None`: it has no such deadline (online,
    /// gone, or never expires).
    fn set_session_deadline(&mut self, _client_id: &str, _at: Option<Instant>) {}
    /// `client_id`'s will waits until `at` (the will delay); `None`: it has none waiting.
    fn set_pending_will(&mut self, _client_id: &str, _will: Option<(Instant, &Message)>) {}
    /// `client_id` is connected with this will (its delay in seconds), to be published if the
    /// broker dies with the connection open; `None`: no connection with a will.
    fn set_live_will(&mut self, _client_id: &str, _will: Option<(u32, &Message)>) {}
    /// Wills of connections that were open when an earlier run ended: client id, delay,
    /// message.
    fn saved_live_wills(&self) -> Vec<(String, u32, Message)> {
        Vec::new()
    }
    /// Session deadlines stored by an earlier run, by client id.
    fn saved_session_deadlines(&self) -> Vec<(String, Instant)> {
        Vec::new()
    }
    /// Wills waiting for their delay stored by an earlier run: client id, when, message.
    fn saved_pending_wills(&self) -> Vec<(String, Instant, Message)> {
        Vec::new()
    }
}

/// [`Storage`] in memory: sessions in slots (a [`SessionKey`] is a slot and its generation)
/// indexed by client identifier, retained messages in a `BTreeMap`.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    /// Each slot's generation and occupant. Boxed: the slots grow by doubling, and an empty
    /// slot of a 216-byte session cost as much as a full one (with 10,000 sessions, about 140
    /// bytes of slack per session inline, 8 boxed).
    slots: Vec<(u32, Option<Box<Session>>)>,
    /// Empty slots, reused last-freed first.
    free: Vec<u32>,
    /// The slot of each client identifier's session.
    index: BTreeMap<String, u32>,
    retained: BTreeMap<String, Message>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for MemoryStorage {
    fn session(&self, client_id: &str) -> Option<&Session> {
        let slot = *self.index.get(client_id)?;
        self.slots.get(slot as usize)?.1.as_deref()
    }
    fn session_mut(&mut self, client_id: &str) -> Option<&mut Session> {
        let slot = *self.index.get(client_id)?;
        self.slots.get_mut(slot as usize)?.1.as_deref_mut()
    }
    fn put_session(&mut self, session: Session) {
        if let Some(&slot) = self.index.get(session.client_id.as_str()) {
            if let Some(entry) = self.slots.get_mut(slot as usize) {
                entry.1 = Some(Box::new(session));
                return;
            }
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push((0, None));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(session.client_id.clone(), slot);
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            entry.1 = Some(Box::new(session));
        }
    }
    fn remove_session(&mut self, client_id: &str) -> Option<Session> {
        let slot = self.index.remove(client_id)?;
        let entry = self.slots.get_mut(slot as usize)?;
        // Keys to the session that leaves no longer find anything here.
        entry.0 = entry.0.wrapping_add(1);
        self.free.push(slot);
        entry.1.take().map(|s| *s)
    }
    fn session_count(&self) -> usize {
        self.index.len()
    }
    fn session_key(&self, client_id: &str) -> Option<SessionKey> {
        let slot = *self.index.get(client_id)?;
        let generation = self.slots.get(slot as usize)?.0;
        Some(SessionKey { slot, generation })
    }
    fn session_by_key(&self, key: SessionKey) -> Option<&Session> {
        match self.slots.get(key.slot as usize)? {
            (g, s) if *g == key.generation => s.as_deref(),
            _ => None,
        }
    }
    fn session_by_key_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        match self.slots.get_mut(key.slot as usize)? {
            (g, s) if *g == key.generation => s.as_deref_mut(),
            _ => None,
        }
    }
    fn retained(&self, topic: &str) -> Option<&Message> {
        self.retained.get(topic)
    }
    fn set_retained(&mut self, topic: &str, msg: Option<Message>) {
        match msg {
            Some(m) => {
                self.retained.insert(String::from(topic), m);
            }
            None => {
                self.retained.remove(topic);
            }
        }
    }
    fn retained_count(&self) -> usize {
        self.retained.len()
    }
    fn for_each_retained(&self, f: &mut dyn FnMut(&Message)) {
        for m in self.retained.values() {
            f(m);
        }
    }
    fn session_ids(&self) -> Vec<String> {
        self.index.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> Session {
        Session::new(String::from(id), ProtocolVersion::V5, 0)
    }

    /// A key finds its session while it is stored, through replacement; once it is removed
    /// the key finds nothing, even when its slot holds another client's session.
    #[test]
    fn session_keys_never_reach_another_session() {
        let mut m = MemoryStorage::new();
        m.put_session(session("a"));
        let a = m.session_key("a").expect("stored");
        let mut again = session("a");
        again.expiry_interval = 7;
        m.put_session(again);
        assert_eq!(m.session_by_key(a).map(|s| s.expiry_interval), Some(7));
        assert!(m.remove_session("a").is_some());
        assert!(m.session_by_key(a).is_none());
        m.put_session(session("b"));
        let b = m.session_key("b").expect("stored");
        assert_eq!(b.slot, a.slot, "the slot is reused");
        assert!(m.session_by_key(a).is_none());
        assert!(m.session_by_key_mut(a).is_none());
        assert_eq!(m.session_by_key(b).map(|s| s.client_id.as_str()), Some("b"));
        assert_eq!(m.session_count(), 1);
        assert!(m.session_key("a").is_none());
    }
}
