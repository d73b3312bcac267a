//! Retained messages: the engine's index of them, their limits, and how they reach a new
//! subscription.
//!
//! # Index
//! The store holds the messages; the engine keeps a [`TopicTree`](crate::topic::TopicTree) of
//! their topics (built from the store when the engine starts), so a SUBSCRIBE costs what its
//! filters match, not a scan of every retained message per filter: with 100,000 retained
//! messages, 5,000 filters matching nothing scanned 500 million topics inside the engine's one
//! task and held every other client for 28 s.
//!
//! # Limits
//! At most [`Config::max_retained`] messages and [`Config::max_retained_bytes`] (topic +
//! payload) are stored. A message for a topic that has none yet past either is not stored:
//! 5.0 QoS 1/2 publishers get 0x97 Quota exceeded (and the message is not forwarded, so the
//! refusal means what it says), others are forwarded without storing; each refusal is an
//! [`Event::RetainedRefused`]. Replacing or deleting an existing one is always allowed.
//!
//! # Delivery on SUBSCRIBE
//! The retained messages a new subscription matches are not pushed into the session's queue at
//! once (the queue's limit would have cut a `#` subscription off at 1,000 of 100,000). The
//! session is given a backlog of (topic, version) pairs, and [`flush`](Broker::flush) moves them
//! into the queue as it has room, at the pace the client acknowledges: every one arrives, and
//! the work per engine step is bounded by the queue, not by the store. A message replaced or
//! deleted meanwhile is skipped: its successor reached the subscriber as a live message
//! (5.0 §3.3.1.3 / 3.1.1 §3.3.1.3: what is sent is the retained message of the time).
//!
//! [`Config::max_retained`]: super::super::Config::max_retained
//! [`Config::max_retained_bytes`]: super::super::Config::max_retained_bytes
//! [`Event::RetainedRefused`]: super::Event::RetainedRefused

use alloc::string::String;
use alloc::vec::Vec;

use super::super::storage::{Message, Queued, RetainedPending, SharedMessage, Storage};
use super::{Access, Broker, ConnectionId, Event, State, Subject};
use crate::time::Instant;

/// Bytes a retained message counts against `max_retained_bytes`.
fn cost(topic: &str, payload_len: usize) -> usize {
    topic.len() + payload_len
}

impl<S: Storage> Broker<S> {
    /// Builds the index from the store (at start: a durable store comes back full).
    pub(super) fn index_retained(&mut self) {
        let mut found = Vec::new();
        self.store.for_each_retained(&mut |m| {
            found.push((m.topic.clone(), cost(&m.topic, m.payload.len())));
        });
        for (topic, bytes) in found {
            self.retained_version += 1;
            self.retained_bytes += bytes;
            self.retained.insert(&topic, (self.retained_version, bytes));
        }
    }

    /// Whether a retained message of `payload_len` bytes on `topic` may be stored.
    pub(super) fn retained_fits(&self, topic: &str, payload_len: usize) -> bool {
        let new = cost(topic, payload_len);
        match self.retained.get(topic) {
            Some(&(_, old)) => self.retained_bytes - old + new <= self.config.max_retained_bytes,
            None => {
                self.retained.len() < self.config.max_retained
                    && self.retained_bytes + new <= self.config.max_retained_bytes
            }
        }
    }

    /// Stores `msg` as its topic's retained message ([MQTT-3.3.1-5] (5.0)), or deletes that with an
    /// empty payload ([MQTT-3.3.1-6] (5.0), [MQTT-3.3.1-7] (5.0)); past the limits, reports and skips it.
    pub(super) fn store_retained(&mut self, msg: &Message) {
        if msg.payload.is_empty() {
            if let Some((_, bytes)) = self.retained.remove(&msg.topic) {
                self.retained_bytes -= bytes;
            }
            self.store.set_retained(&msg.topic, None);
            return;
        }
        if !self.retained_fits(&msg.topic, msg.payload.len()) {
            self.events.push_back(Event::RetainedRefused {
                topic: msg.topic.clone(),
                client_id: msg.publisher.clone(),
            });
            return;
        }
        let bytes = cost(&msg.topic, msg.payload.len());
        self.retained_version += 1;
        if let Some((_, old)) = self
            .retained
            .insert(&msg.topic, (self.retained_version, bytes))
        {
            self.retained_bytes -= old;
        }
        self.retained_bytes += bytes;
        self.store.set_retained(&msg.topic, Some(msg.clone()));
    }

    /// Owes `client` every retained message `filter` matches, for a subscription granted `qos`
    /// with identifier `sub_id`; [`refill_retained`](Self::refill_retained) delivers them.
    pub(super) fn owe_retained(
        &mut self,
        client: &str,
        filter: &str,
        qos: u8,
        sub_id: Option<u32>,
    ) {
        let authz = self.authz.as_deref();
        let Some(s) = self.store.session_mut(client) else {
            return;
        };
        let user = s.user.clone();
        self.retained.matching(filter, |topic, &(version, _)| {
            // Only the retained messages the subscriber may read.
            if let Some(a) = authz {
                let who = Subject {
                    client_id: client,
                    username: user.as_deref(),
                };
                if !a.authorize(&who, topic, Access::Read) {
                    return;
                }
            }
            s.retained_backlog.push_back(RetainedPending {
                topic: String::from(topic),
                version,
                qos,
                sub_id,
            });
        });
        self.store.session_updated(client);
    }

    /// Moves owed retained messages of `conn`'s session into its queue while it is below its
    /// limits (at least one when it is empty). Cheap when nothing is owed.
    pub(super) fn refill_retained(&mut self, conn: ConnectionId, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.state != State::Connected {
            return;
        }
        let (max_n, max_b) = (
            self.config.max_queued_messages,
            self.config.max_queued_bytes,
        );
        let Some(s) = c.session.and_then(|k| self.store.session_by_key(k)) else {
            return;
        };
        if s.retained_backlog.is_empty() || s.queue.len() >= max_n {
            return;
        }
        let client = c.client_id.clone();
        let mut room_n = max_n - s.queue.len();
        let mut room_b = max_b.saturating_sub(s.queue_bytes);
        let empty = s.queue.is_empty();
        let mut items = Vec::new();
        let mut taken = 0;
        for p in &s.retained_backlog {
            if room_n == 0 {
                break;
            }
            taken += 1;
            // Skipped: replaced or deleted since the subscription (see the module notes).
            if self.retained.get(&p.topic).map(|v| v.0) != Some(p.version) {
                continue;
            }
            let Some(msg) = self.store.retained(&p.topic) else {
                continue;
            };
            if msg.expired(now) {
                continue; // [MQTT-3.3.2-5]
            }
            let c = msg.cost();
            if c > room_b && !(empty && items.is_empty()) {
                taken -= 1;
                break;
            }
            room_n -= 1;
            room_b = room_b.saturating_sub(c);
            items.push(Queued {
                qos: msg.qos.min(p.qos),
                retain: true, // [MQTT-3.3.1-8] (3.1.1), 5.0 §3.3.1.3.
                sub_ids: p.sub_id.into_iter().collect(),
                msg: SharedMessage::new(msg.clone()),
            });
        }
        let Some(s) = self.store.session_mut(&client) else {
            return;
        };
        s.retained_backlog.drain(..taken);
        for item in items {
            s.queue_bytes += item.msg.cost();
            s.queue.push_back(item);
        }
        self.store.session_updated(&client);
    }
}
