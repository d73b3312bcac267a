//! Delivery: each session's queue, and moving messages from it to the wire within the
//! client's in-flight window, its Maximum Packet Size and the connection's unwritten-bytes
//! budget.
//!
//! Enforces: no more than the client's Receive Maximum unacknowledged QoS 1/2 deliveries
//! (5.0 §3.3.4, [MQTT-3.3.4-9]); a packet identifier is not reused while in use
//! ([MQTT-2.2.1-4] (5.0) / [MQTT-2.3.1-4] (3.1.1)); expired messages are not delivered
//! ([MQTT-3.3.2-5] (5.0)) and the remaining lifetime is forwarded ([MQTT-3.3.2-6] (5.0)); a
//! PUBLISH too large for the client is not sent ([MQTT-3.1.2-25] (5.0)); outbound topic
//! aliases stay within the client's maximum ([MQTT-3.1.2-26] (5.0)). Queue limits and what is
//! dropped: see `flow` (QoS 1/2 are never dropped for a connected session).

use alloc::string::String;

use super::super::config::QueueOverflow;
use super::super::storage::{
    InFlight, MessageProps, OutState, Queued, Session, SessionKey, Storage,
};
use super::*;
use crate::time::Instant;

impl<S: Storage> Broker<S> {
    /// Adds to a session's queue. A full queue first loses its oldest QoS 0 message, and a new
    /// QoS 0 message is dropped when there is none. A QoS 1/2 message is never dropped for a
    /// connected session (its publisher is held back instead, see `flow`); for one without a
    /// connection [`Config::queue_overflow`] decides. Every drop is counted in
    /// [`Session::dropped`] and reported with [`Event::QueueFull`]. `key` is `client`'s
    /// session, `online` its connection if it has one.
    pub(super) fn enqueue(
        &mut self,
        key: SessionKey,
        client: &str,
        online: Option<ConnectionId>,
        mut item: Queued,
        now: Instant,
    ) {
        let online = online.is_some();
        let cfg = &self.config;
        let (max_n, max_b) = (cfg.max_queued_messages, cfg.max_queued_bytes);
        let policy = cfg.queue_overflow;
        let Some(s) = self.store.session_by_key_mut(key) else {
            return;
        };
        // [MQTT-3.3.1-9] (3.1.1): no Retain As Published there; forwarded with RETAIN 0.
        item.retain &= s.version.is_v5();
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
            self.report_drops(client, DropReason::QueueFull, dropped, total, last_qos, now);
        }
    }

    /// Emits [`Event::Dropped`] for `client` and `reason` unless one was emitted less than
    /// [`DROP_REPORT_MS`] ago, in which case the drops wait for the next report.
    pub(super) fn report_drops(
        &mut self,
        client: &str,
        reason: DropReason,
        n: u64,
        total: u64,
        qos: u8,
        now: Instant,
    ) {
        let r = self
            .drop_reports
            .entry((String::from(client), reason))
            .or_insert(DropReport {
                at: None,
                pending: 0,
                qos,
            });
        r.pending += n;
        r.qos = qos;
        if r.at.is_none_or(|at| now.millis_since(at) >= DROP_REPORT_MS) {
            self.events.push_back(Event::Dropped {
                client_id: String::from(client),
                reason,
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
    pub(super) fn final_drop_report(&mut self, client: &str) {
        let total = self.store.session(client).map_or(0, |s| s.dropped);
        for reason in [
            DropReason::QueueFull,
            DropReason::Expired,
            DropReason::TooLargeForClient,
        ] {
            let Some(r) = self.drop_reports.remove(&(String::from(client), reason)) else {
                continue;
            };
            if r.pending > 0 {
                self.events.push_back(Event::Dropped {
                    client_id: String::from(client),
                    reason,
                    dropped: r.pending,
                    total,
                    qos: r.qos,
                });
            }
        }
    }

    /// Moves queued messages of `conn`'s session to the wire while the client's in-flight
    /// window and the connection's unwritten-bytes budget allow.
    pub(super) fn flush(&mut self, conn: ConnectionId, now: Instant) {
        loop {
            self.refill_retained(conn, now);
            if !self.flush_queue(conn, now) {
                break;
            }
        }
    }

    /// Sends from the queue (see [`flush`](Self::flush)); returns whether it emptied the queue
    /// with retained messages still owed, so a refill could send more now.
    pub(super) fn flush_queue(&mut self, conn: ConnectionId, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if c.state != State::Connected {
            return false;
        }
        let Some(s) = c.session.and_then(|k| self.store.session_by_key_mut(k)) else {
            return false;
        };
        let window = usize::from(c.recv_max.min(self.config.max_inflight));
        // Drops made here, reported once the loop lets go of the session: (count, last QoS).
        let mut expired = (0u64, 0u8);
        let mut too_large = (0u64, 0u8);
        while let Some(front) = s.queue.front() {
            if front.msg.expired(now) {
                // [MQTT-3.3.2-5] (5.0): an expired message is not delivered.
                if let Some(q) = s.queue.pop_front() {
                    s.queue_bytes -= q.msg.cost();
                    s.dropped += 1;
                    expired = (expired.0 + 1, q.qos);
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
            if self.config.faults.duplicate_qos2 && item.qos == 2 && self.planted_duplicates == 0 {
                // Planted bug: the first QoS 2 delivery goes out twice.
                self.planted_duplicates += 1;
                s.queue.push_front(item.clone());
                s.queue_bytes += item.msg.cost();
            }
            let pid = if item.qos > 0 { next_pid(s) } else { 0 };
            // Outbound Topic Alias (5.0 §3.3.2.3.4), if enabled and the client accepts them:
            // reuse a known alias (empty topic), or set up a new one while there is room
            // ([MQTT-3.1.2-26] (5.0): never above the client's Topic Alias Maximum).
            let mut alias = None;
            let mut new_alias = false;
            if self.config.outbound_topic_aliases && c.alias_max_out > 0 {
                if let Some(a) = c.out_aliases.get(&item.msg.topic) {
                    alias = Some((*a, true));
                } else if c.out_aliases.len() < usize::from(c.alias_max_out) {
                    let a = u16::try_from(c.out_aliases.len() + 1).unwrap_or(u16::MAX);
                    alias = Some((a, false));
                    new_alias = true;
                }
            }
            let how = Delivered {
                pid,
                dup: false,
                alias,
                max_len: c.max_packet as usize,
            };
            if !send_delivery(&mut self.tx, conn, c, &item, how, now) {
                // [MQTT-3.1.2-25] (5.0): too large for the client; discard it for this client.
                s.dropped += 1;
                too_large = (too_large.0 + 1, item.qos);
                continue;
            }
            if let (true, Some((a, _))) = (new_alias, alias) {
                // Only now: a discarded PUBLISH must not leave an alias the client never saw.
                c.out_aliases.insert(item.msg.topic.clone(), a);
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
        }
        let drained = !flow::queue_full(s, &self.config);
        let more = s.queue.is_empty() && !s.retained_backlog.is_empty();
        let total = s.dropped;
        self.store.session_updated(&c.client_id);
        if drained {
            // `flow::queue_drained`, with `c` still borrowed.
            if let Some(waiting) = self.blocked_on.remove(&c.client_id) {
                self.wake.extend(waiting);
            }
        }
        if expired.0 > 0 || too_large.0 > 0 {
            let client = c.client_id.clone();
            for (reason, (n, qos)) in [
                (DropReason::Expired, expired),
                (DropReason::TooLargeForClient, too_large),
            ] {
                if n > 0 {
                    self.report_drops(&client, reason, n, total, qos, now);
                }
            }
        }
        more
    }
}

/// Queues `packet`, encoded for `c`'s version, for `conn`: appended to its buffer of this step
/// ([`Broker::tx`]), so a burst of replies (a PINGREQ flood, a fan-out) is one buffer, not one
/// allocation per packet, and the packet is encoded once, in place.
pub(super) fn send_on(tx: &mut Tx, conn: ConnectionId, c: &mut Conn, packet: &codec::Packet<'_>) {
    let version = c.version;
    if let Some(n) = append_transmit(tx, conn, c, |data| {
        encode_append(packet, version, usize::MAX, data)
    }) {
        c.unwritten += n;
        c.queued_for_write(n, !matches!(packet, codec::Packet::Publish(_)));
    }
}

/// The bytes for each connection this step ([`Broker::tx`]).
pub(super) type Tx = Vec<(ConnectionId, Vec<u8>)>;

/// Runs `encode` on `conn`'s buffer of this step, or on a new one, kept only if something
/// was encoded; returns what `encode` did.
fn append_transmit(
    tx: &mut Tx,
    conn: ConnectionId,
    c: &mut Conn,
    encode: impl FnOnce(&mut Vec<u8>) -> Option<usize>,
) -> Option<usize> {
    match c.tx_slot.and_then(|i| tx.get_mut(i as usize)) {
        Some((owner, data)) if *owner == conn => encode(data),
        _ => {
            let mut data = Vec::new();
            let n = encode(&mut data);
            if n.is_some() {
                c.tx_slot = u32::try_from(tx.len()).ok();
                tx.push((conn, data));
            }
            n
        }
    }
}

/// Appends `packet` encoded for `version` to `out` when it is at most `max_len` bytes, and
/// returns its length; `None` (nothing appended) when it is larger.
///
/// The engine only builds packets the codec can represent; should one not be (an engine bug),
/// nothing is sent rather than something malformed (and debug builds panic).
pub(super) fn encode_append(
    packet: &codec::Packet<'_>,
    version: ProtocolVersion,
    max_len: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let len = match packet.encoded_len(version) {
        Ok(n) => n,
        Err(e) => {
            debug_assert!(
                false,
                "engine built an unencodable packet: {e} ({packet:?})"
            );
            return None;
        }
    };
    if len > max_len {
        return None;
    }
    let start = out.len();
    out.resize(start + len, 0);
    match packet.encode(version, &mut out[start..]) {
        Ok(n) => {
            out.truncate(start + n);
            Some(n)
        }
        Err(e) => {
            debug_assert!(
                false,
                "engine built an unencodable packet: {e} ({packet:?})"
            );
            out.truncate(start);
            None
        }
    }
}

/// A whole packet encoded for `version` in a buffer of its own: for the CONNACK that refuses a
/// connection, which is closed right after (nothing else is queued for it).
pub(super) fn encode_vec(packet: &codec::Packet<'_>, version: ProtocolVersion) -> Vec<u8> {
    let mut data = Vec::new();
    encode_append(packet, version, usize::MAX, &mut data);
    data
}

/// A packet identifier not in use by an in-flight message ([MQTT-2.2.1-4] (5.0) /
/// [MQTT-2.3.1-4] (3.1.1)).
pub(super) fn next_pid(s: &mut Session) -> u16 {
    loop {
        let pid = s.next_pid;
        s.next_pid = if pid == u16::MAX { 1 } else { pid + 1 };
        if pid != 0 && !s.inflight.contains_key(&pid) {
            return pid;
        }
    }
}

/// How one delivery of a queued message goes out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Delivered {
    /// Packet identifier (QoS 1/2).
    pub(super) pid: u16,
    /// DUP flag (a resend after reconnecting).
    pub(super) dup: bool,
    /// Topic Alias, and whether the client already knows it (the topic is then left out).
    pub(super) alias: Option<(u16, bool)>,
    /// Largest packet the client accepts.
    pub(super) max_len: usize,
}

/// Encodes the PUBLISH that delivers `item` straight into `conn`'s pending transmit (see
/// [`Delivery`]); `false`, and nothing queued, when it is larger than `how.max_len`.
pub(super) fn send_delivery(
    tx: &mut Tx,
    conn: ConnectionId,
    c: &mut Conn,
    item: &Queued,
    how: Delivered,
    now: Instant,
) -> bool {
    let msg = &item.msg;
    let d = Delivery {
        topic: match how.alias {
            Some((_, true)) => "",
            _ => &msg.topic,
        },
        payload: &msg.payload,
        props: &msg.props,
        sub_ids: &item.sub_ids,
        // [MQTT-3.3.2-6] (5.0): forward the remaining lifetime.
        message_expiry: msg.expires_at.map(|t| {
            u32::try_from(t.millis_since(now).div_ceil(1000))
                .unwrap_or(u32::MAX)
                .max(1)
        }),
        topic_alias: how.alias.map(|(a, _)| a),
        dup: how.dup,
        qos: item.qos,
        retain: item.retain,
        pid: how.pid,
    };
    let version = c.version;
    let appended = append_transmit(tx, conn, c, |data| {
        d.encode_into(version, how.max_len, data)
    });
    let Some(n) = appended else {
        return false;
    };
    c.unwritten += n;
    c.queued_for_write(n, false);
    true
}

/// Properties a delivery encodes from the stack; more go to the heap.
const INLINE_PROPERTIES: usize = 8;

/// A PUBLISH that delivers a stored message, encoded straight from borrowed parts: no owned
/// packet is built, the message's topic and properties are not cloned, and the bytes go
/// directly where they will be written (one encode per delivery, no intermediate buffer).
#[derive(Debug, Clone, Copy)]
pub(super) struct Delivery<'a> {
    /// Topic name; empty when `topic_alias` names an alias the receiver already has.
    pub topic: &'a str,
    /// Payload.
    pub payload: &'a [u8],
    /// The message's forwarded properties (payload format, content type, response topic,
    /// correlation data, user properties); the others are taken from the fields below.
    pub props: &'a MessageProps,
    /// Subscription identifiers for this receiver.
    pub sub_ids: &'a [u32],
    /// Message Expiry Interval left, if the message expires.
    pub message_expiry: Option<u32>,
    /// Topic Alias to send.
    pub topic_alias: Option<u16>,
    /// DUP flag.
    pub dup: bool,
    /// Delivery QoS.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Packet identifier (QoS 1/2).
    pub pid: u16,
}

impl<'a> Delivery<'a> {
    /// The 5.0 properties, by ascending property identifier: one fixed order for every
    /// PUBLISH the engine sends (`delivery_tests` pins it), each handed to `push`.
    fn each_property(&self, mut push: impl FnMut(codec::Property<'a>)) {
        let p = self.props;
        if let Some(x) = p.payload_format {
            push(codec::Property::PayloadFormatIndicator(x));
        }
        if let Some(x) = self.message_expiry {
            push(codec::Property::MessageExpiryInterval(x));
        }
        if let Some(x) = &p.content_type {
            push(codec::Property::ContentType(x));
        }
        if let Some(x) = &p.response_topic {
            push(codec::Property::ResponseTopic(x));
        }
        if let Some(x) = &p.correlation_data {
            push(codec::Property::CorrelationData(x));
        }
        for id in self.sub_ids {
            push(codec::Property::SubscriptionIdentifier(*id));
        }
        if let Some(x) = self.topic_alias {
            push(codec::Property::TopicAlias(x));
        }
        for (k, val) in &p.user {
            push(codec::Property::UserProperty((k, val)));
        }
    }

    /// Appends the encoded PUBLISH to `out` when it is at most `max_len` bytes, and returns its
    /// length; `None` (nothing appended) when it is larger.
    pub fn encode_into(
        &self,
        version: ProtocolVersion,
        max_len: usize,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        // On the stack when there are few (there usually are none): this runs once per
        // delivery, and a list on the heap was one allocation per delivery under fan-out.
        let mut count = 0;
        if version.is_v5() {
            self.each_property(|_| count += 1);
        }
        if count <= INLINE_PROPERTIES {
            let mut inline = [codec::Property::PayloadFormatIndicator(0); INLINE_PROPERTIES];
            let mut at = 0;
            if count > 0 {
                self.each_property(|p| {
                    if let Some(slot) = inline.get_mut(at) {
                        *slot = p;
                        at += 1;
                    }
                });
            }
            self.encode_with(&inline[..at], version, max_len, out)
        } else {
            let mut props = Vec::with_capacity(count);
            self.each_property(|p| props.push(p));
            self.encode_with(&props, version, max_len, out)
        }
    }

    fn encode_with(
        &self,
        props: &[codec::Property<'_>],
        version: ProtocolVersion,
        max_len: usize,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        let view = codec::Packet::Publish(codec::Publish {
            dup: self.dup,
            qos: codec::QoS::from_u8(self.qos).unwrap_or(codec::QoS::AtMostOnce),
            retain: self.retain,
            topic: self.topic,
            packet_id: (self.qos > 0).then_some(self.pid),
            properties: codec::Properties::Slice(props),
            payload: self.payload,
        });
        encode_append(&view, version, max_len, out)
    }
}

#[cfg(test)]
mod delivery_tests {
    use super::*;
    use crate::broker::testwire::{self, Payload, Props, Publish};
    use alloc::vec;

    /// A `Delivery` encodes to exactly the bytes of the test client's owned PUBLISH with the
    /// same fields (the property order earlier versions of the engine sent).
    #[test]
    fn delivery_bytes_equal_the_owned_packet() {
        let props = MessageProps {
            payload_format: Some(1),
            content_type: Some("text/plain".into()),
            response_topic: Some("r".into()),
            correlation_data: Some(vec![1, 2]),
            user: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            message_expiry: None,
        };
        for (version, qos, expiry, alias, ids) in [
            (ProtocolVersion::V5, 1, Some(30), Some(3), vec![7u32, 9]),
            (ProtocolVersion::V5, 0, None, None, vec![]),
            (ProtocolVersion::V3_1_1, 2, Some(5), None, vec![1]),
        ] {
            let d = Delivery {
                topic: "a/b",
                payload: b"hello",
                props: &props,
                sub_ids: &ids,
                message_expiry: expiry,
                topic_alias: alias,
                dup: true,
                qos,
                retain: true,
                pid: 42,
            };
            let mut got = vec![0xEE];
            let n = d.encode_into(version, usize::MAX, &mut got).unwrap();
            let owned = testwire::Packet::Publish(Publish {
                dup: true,
                qos,
                retain: true,
                topic: "a/b".into(),
                pid: 42,
                props: Props {
                    payload_format: props.payload_format,
                    message_expiry: expiry,
                    content_type: props.content_type.clone(),
                    response_topic: props.response_topic.clone(),
                    correlation_data: props.correlation_data.clone(),
                    topic_alias: alias,
                    subscription_ids: ids.clone(),
                    user: props.user.clone(),
                    ..Props::default()
                },
                payload: Payload::from(&b"hello"[..]),
            });
            let want = testwire::encode(&owned, version);
            assert_eq!(&got[1..], &want[..], "{version:?} qos {qos}");
            assert_eq!(n, want.len());
            // Too large: nothing appended.
            assert_eq!(d.encode_into(version, n - 1, &mut got), None);
            assert_eq!(got.len(), 1 + n);
        }
    }
}
