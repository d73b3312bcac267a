//! PUBLISH in, acknowledgements in, and routing a message to every matching session.
//!
//! Enforces: no Subscription Identifier from a client ([MQTT-3.3.4-6] (5.0)); Maximum QoS and
//! Retain Available ([MQTT-3.2.2-11], [MQTT-3.2.2-14] (5.0)); topic aliases ([MQTT-3.3.2-9],
//! [MQTT-3.3.2-10] (5.0)); topic names without wildcards ([MQTT-3.3.2-2] (both)); QoS 2 exactly once
//! inbound ([MQTT-4.3.3-10], [MQTT-4.3.3-11] (5.0)); our Receive Maximum (5.0 §3.3.4, 0x93);
//! No Local ([MQTT-3.8.3-3] (5.0)); one copy per client for overlapping subscriptions
//! ([MQTT-3.3.4-2] (5.0)); QoS downgrade to the subscription's ([MQTT-3.8.4-8] (5.0));
//! Retain As Published ([MQTT-3.3.1-12], [MQTT-3.3.1-13] (5.0), [MQTT-3.3.1-9] (3.1.1));
//! shared subscriptions (one member per group, 5.0 §4.8.2). Acknowledgements of what we
//! receive may be withheld: see `flow`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::super::config::DollarPublish;
use super::super::storage::{
    Message, MessageProps, OutState, Payload, Queued, SharedMessage, Storage,
};
use super::*;
use crate::codec::{PacketType, Property};
use crate::time::Instant;
use crate::topic;

/// A PUBLISH as the engine takes it in, straight from the codec's view: the properties the
/// message carries to its subscribers gathered in [`MessageProps`], the ones the engine acts
/// on kept apart.
#[derive(Debug)]
pub(super) struct InPublish {
    qos: u8,
    retain: bool,
    topic: String,
    pid: u16,
    payload: Payload,
    props: MessageProps,
    message_expiry: Option<u32>,
    topic_alias: Option<u16>,
    /// A Subscription Identifier was present (only servers send them).
    has_sub_ids: bool,
}

impl InPublish {
    pub(super) fn from_view(v: &codec::Publish<'_>) -> Self {
        let mut p = InPublish {
            qos: v.qos.as_u8(),
            retain: v.retain,
            topic: String::from(v.topic),
            pid: v.packet_id.unwrap_or(0),
            payload: Payload::from(v.payload),
            props: MessageProps::default(),
            message_expiry: None,
            topic_alias: None,
            has_sub_ids: false,
        };
        for prop in v.properties.iter() {
            match prop {
                Property::PayloadFormatIndicator(x) => p.props.payload_format = Some(x),
                Property::MessageExpiryInterval(x) => p.message_expiry = Some(x),
                Property::ContentType(x) => p.props.content_type = Some(String::from(x)),
                Property::ResponseTopic(x) => p.props.response_topic = Some(String::from(x)),
                Property::CorrelationData(x) => p.props.correlation_data = Some(x.to_vec()),
                Property::UserProperty((k, x)) => {
                    p.props.user.push((String::from(k), String::from(x)))
                }
                Property::TopicAlias(x) => p.topic_alias = Some(x),
                Property::SubscriptionIdentifier(_) => p.has_sub_ids = true,
                // The codec refuses properties PUBLISH may not carry.
                _ => {}
            }
        }
        p
    }
}

impl<S: Storage> Broker<S> {
    pub(super) fn on_publish(&mut self, conn: ConnectionId, now: Instant, mut p: InPublish) {
        if !self.check_publish(conn, now, &mut p) {
            return;
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let v5 = c.version.is_v5();
        let client = c.client_id.clone();
        if p.qos > 0 && !self.check_inbound_quota(conn, now, &client, &p) {
            return;
        }
        let qos = p.qos;
        let pid = p.pid;
        let (code, blockers) = self.accept_publish(conn, now, p, &client, v5);
        if qos == 2 && !code.is_error() {
            if let Some(s) = self.store.session_mut(&client) {
                s.inbound_qos2.insert(pid);
            }
            self.store.session_updated(&client);
        }
        if qos > 0 {
            // PUBACK / PUBREC now, or once full subscriber queues drain (`flow`).
            self.acknowledge(conn, now, pid, qos, code, blockers);
        }
    }

    /// Checks what the client may not send in a PUBLISH (and resolves its Topic Alias into
    /// `p.topic`); on a violation the connection is failed and `false` returned.
    fn check_publish(&mut self, conn: ConnectionId, now: Instant, p: &mut InPublish) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if p.has_sub_ids {
            // [MQTT-3.3.4-6]: only the server sends Subscription Identifiers (the codec allows
            // the property in PUBLISH, which goes both ways).
            self.fail(
                conn,
                now,
                ReasonCode::ProtocolError,
                "Subscription Identifier from a client",
            );
            return false;
        }
        if p.qos > self.config.maximum_qos {
            self.fail(conn, now, ReasonCode::QoSNotSupported, "QoS not supported"); // [MQTT-3.2.2-11]
            return false;
        }
        if p.retain && !self.config.retain_available {
            self.fail(
                conn,
                now,
                ReasonCode::RetainNotSupported,
                "retain not supported",
            ); // [MQTT-3.2.2-14]
            return false;
        }
        if let Some(alias) = p.topic_alias.take() {
            if alias == 0 || alias > self.config.topic_alias_maximum {
                self.fail(
                    conn,
                    now,
                    ReasonCode::TopicAliasInvalid,
                    "topic alias invalid",
                ); // [MQTT-3.3.2-9], [MQTT-3.3.2-10]
                return false;
            }
            if p.topic.is_empty() {
                match c.inbound_alias(alias) {
                    Some(t) => p.topic = t.clone(),
                    None => {
                        self.fail(conn, now, ReasonCode::ProtocolError, "unknown topic alias");
                        return false;
                    }
                }
            } else {
                c.rare_mut().aliases.insert(alias, p.topic.clone());
            }
        }
        if topic::validate_topic_name(&p.topic).is_err() {
            // [MQTT-3.3.2-2] (both): no wildcards in a topic name; 0x90 Topic Name invalid.
            self.fail(
                conn,
                now,
                if p.topic.is_empty() {
                    ReasonCode::ProtocolError
                } else {
                    ReasonCode::TopicNameInvalid
                },
                "topic name invalid",
            );
            return false;
        }
        true
    }

    /// For a QoS 1/2 PUBLISH: answers a QoS 2 duplicate again without forwarding it, and
    /// fails a client past our Receive Maximum. `false`: nothing more to do with it.
    fn check_inbound_quota(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        client: &str,
        p: &InPublish,
    ) -> bool {
        let v5 = self.conns.get(&conn).is_some_and(|c| c.version.is_v5());
        let Some(s) = self.store.session(client) else {
            return false;
        };
        if p.qos == 2 && s.inbound_qos2.contains(&p.pid) {
            // [MQTT-4.3.3-10]: already received; acknowledge again, do not forward again.
            // A PUBREC still withheld for it will come in its turn.
            if !self.pubrec_held(conn, p.pid) {
                self.send_packet(conn, &codec::Packet::PubRec(codec::PubRec::new(p.pid)));
            }
            return false;
        }
        // 5.0 §3.3.4: more unacknowledged QoS 1/2 PUBLISHes than our Receive Maximum (the
        // client's obligation, [MQTT-3.3.4-7]) is DISCONNECT 0x93. QoS 1 counts while its
        // PUBACK is withheld (`flow`); 3.1.1 has no such quota (it is paused instead), only
        // the bound on unreleased QoS 2.
        let held = if v5 { self.held_qos1(conn) } else { 0 };
        if s.inbound_qos2.len() + held >= usize::from(self.config.receive_maximum) {
            self.fail(
                conn,
                now,
                ReasonCode::ReceiveMaximumExceeded,
                "receive maximum exceeded",
            );
            return false;
        }
        true
    }

    /// Decides what becomes of an accepted PUBLISH — refused (with the reason code a 5.0
    /// client is told), or forwarded to every matching session — and returns the reason code
    /// for its acknowledgement and the sessions whose full queues hold that acknowledgement
    /// back (see `flow`).
    fn accept_publish(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        p: InPublish,
        client: &str,
        v5: bool,
    ) -> (ReasonCode, Vec<String>) {
        let mut blockers = Vec::new();
        let code = if p.props.payload_format == Some(1) && core::str::from_utf8(&p.payload).is_err()
        {
            // A MAY; the message is not forwarded.
            ReasonCode::PayloadFormatInvalid
        } else if topic::is_system_topic(&p.topic)
            && self.config.dollar_publish != DollarPublish::Allow
        {
            match self.config.dollar_publish {
                DollarPublish::NotAuthorized if v5 => ReasonCode::NotAuthorized,
                _ => ReasonCode::Success,
            }
        } else if self.denied(&p.topic) || !self.conn_allowed(conn, &p.topic, Access::Write) {
            // Not authorized (checked on the topic a topic alias resolved to): 0x87 to 5.0 clients; 3.1.1 has no way to say it, so the
            // message is acknowledged and dropped.
            if v5 {
                ReasonCode::NotAuthorized
            } else {
                ReasonCode::Success
            }
        } else if v5 && p.qos > 0 && p.retain && !self.retained_fits(&p.topic, p.payload.len()) {
            // The retained store is full: refused visibly, 0x97 Quota exceeded, not forwarded
            // (a 3.1.1 or QoS 0 publisher cannot be told: forwarded, not stored, reported).
            ReasonCode::QuotaExceeded
        } else {
            let msg = Message {
                topic: p.topic,
                payload: p.payload,
                qos: p.qos,
                retain: p.retain,
                expires_at: p.message_expiry.map(|e| now.add_secs(u64::from(e))),
                props: p.props,
                publisher: Some(String::from(client)),
            };
            let routed = self.route(msg, now);
            blockers = routed.blockers;
            if routed.matched || !v5 {
                ReasonCode::Success
            } else {
                ReasonCode::NoMatchingSubscribers
            }
        };
        (code, blockers)
    }

    /// A PUBACK, PUBREC, PUBREL or PUBCOMP (`kind`) from the client, for `pid`, with `code`
    /// (always Success from a 3.1.1 client).
    pub(super) fn on_ack(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        kind: PacketType,
        pid: u16,
        code: ReasonCode,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if kind != PacketType::PubRel {
            c.last_progress = now;
        }
        let v5 = c.version.is_v5();
        let Some(s) = c.session.and_then(|k| self.store.session_by_key_mut(k)) else {
            return;
        };
        let reply = match kind {
            PacketType::PubAck => {
                if s.inflight
                    .get(&pid)
                    .is_some_and(|f| f.state == OutState::Qos1Sent)
                {
                    s.inflight.remove(&pid);
                }
                None
            }
            PacketType::PubRec => match s.inflight.get_mut(&pid) {
                Some(f) if f.state == OutState::Qos2Sent || f.state == OutState::Released => {
                    if code.is_error() {
                        // 5.0 §4.3.3: an error PUBREC ends the exchange.
                        s.inflight.remove(&pid);
                        None
                    } else {
                        f.state = OutState::Released;
                        Some(codec::Packet::PubRel(codec::PubRel::new(pid)))
                    }
                }
                _ => v5.then(|| {
                    codec::Packet::PubRel(codec::PubRel {
                        reason_code: ReasonCode::PacketIdentifierNotFound,
                        ..codec::PubRel::new(pid)
                    })
                }),
            },
            PacketType::PubComp => {
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
                let code = if found || !v5 {
                    ReasonCode::Success
                } else {
                    ReasonCode::PacketIdentifierNotFound
                };
                Some(codec::Packet::PubComp(codec::PubComp {
                    reason_code: code,
                    ..codec::PubComp::new(pid)
                }))
            }
        };
        self.store.session_updated(&c.client_id);
        if let Some(p) = reply {
            self.send_packet(conn, &p);
        }
        self.flush(conn, now);
    }

    /// Forwards `msg` to every matching subscription; returns whether any matched and which
    /// connected sessions' queues it left full (see `flow`). Stores or deletes the retained
    /// message first.
    pub(super) fn route(&mut self, mut msg: Message, now: Instant) -> Routed {
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
        let (plain, matched) = self.matching_sessions(&msg);
        let mut blockers = Vec::new();
        // One allocation for every session it goes to.
        let msg = SharedMessage::new(msg);
        for (key, (client, t)) in plain {
            let online = self.online_keys.get(&key).copied();
            if let Some(conn) = online {
                // The common case of a fan-out: straight to the wire.
                let retain = t.rap && msg.retain;
                if msg.qos.min(t.qos) == 0
                    && self.deliver_directly(conn, key, &msg, retain, &t.ids, now)
                {
                    continue;
                }
            }
            let item = Queued {
                qos: msg.qos.min(t.qos), // [MQTT-3.8.4-8]: downgrade to the granted QoS.
                // [MQTT-3.3.1-12], [MQTT-3.3.1-13] (5.0) Retain As Published; `enqueue`
                // clears it for a 3.1.1 session ([MQTT-3.3.1-9] (3.1.1)).
                retain: t.rap && msg.retain,
                sub_ids: t.ids,
                msg: msg.clone(),
            };
            if online.is_none() && item.qos == 0 && !self.config.queue_qos0_offline {
                continue;
            }
            let qos = item.qos;
            self.enqueue(key, &client, online, item, now);
            if let Some(conn) = online {
                self.flush(conn, now);
                if qos > 0 && self.blocking(&client) {
                    blockers.push(String::from(&*client));
                }
            }
        }
        Routed { matched, blockers }
    }

    /// Every session `msg` goes to, with what each is owed (merged over its matching
    /// subscriptions; one member per shared group), and whether any subscription matched.
    fn matching_sessions(
        &mut self,
        msg: &Message,
    ) -> (BTreeMap<SessionKey, (SharedStr, Target)>, bool) {
        // By session key: merging and lookups compare integers, not client ids.
        let mut plain: BTreeMap<SessionKey, (SharedStr, Target)> = BTreeMap::new();
        let mut shared: BTreeMap<(String, String), Vec<SubEntry>> = BTreeMap::new();
        let (authz, store) = (self.authz.as_deref(), &self.store);
        self.subs.matches(&msg.topic, |filter, e| {
            // A subscriber receives only what it may read (the user of its session, also
            // offline); shared groups pick among the members that may.
            if let Some(a) = authz {
                let user = store
                    .session_by_key(e.session)
                    .and_then(|s| s.user.as_deref());
                let who = Subject {
                    client_id: &e.client,
                    username: user,
                };
                if !a.authorize(&who, &msg.topic, Access::Read) {
                    return;
                }
            }
            if let Some(group) = &e.share {
                shared
                    .entry((group.clone(), String::from(filter)))
                    .or_default()
                    .push(e.clone());
                return;
            }
            // [MQTT-3.8.3-3] (5.0): No Local — not back to the publisher's own subscription.
            if e.opts.no_local && msg.publisher.as_deref() == Some(&*e.client) {
                return;
            }
            // [MQTT-3.3.4-2]: overlapping subscriptions: one copy with the highest QoS and
            // every subscription identifier.
            let (_, t) = plain
                .entry(e.session)
                .or_insert_with(|| (e.client.clone(), Target::default()));
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
                .filter(|m| self.online_keys.contains_key(&m.session))
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
            let (_, t) = plain
                .entry(pick.session)
                .or_insert_with(|| (pick.client.clone(), Target::default()));
            t.qos = t.qos.max(pick.opts.qos);
            t.rap |= pick.opts.retain_as_published;
            if let Some(id) = pick.id {
                t.ids.push(id);
            }
        }
        (plain, matched)
    }
}
