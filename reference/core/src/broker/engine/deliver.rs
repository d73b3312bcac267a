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
    InFlight, OutState, Queued, Session, SessionKey, SharedMessage, Storage,
};
use super::outgoing::{send_delivery, Delivered, OutItem, Tx};
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

    /// Sends a QoS 0 message to the connected session `key` (on `conn`) at once when nothing
    /// waits before it: no queued message, no retained backlog, room in the connection's
    /// unwritten-bytes budget. The result is what queueing it and flushing would give (it
    /// would be the queue's only message, sent at once), without the queue's bookkeeping: no
    /// shared reference taken and dropped, no session change for the store to write. Returns
    /// `false`, having sent nothing, when the message must take the queue's path instead
    /// (including when it is too large for the client: the queue's path drops and counts it).
    pub(super) fn deliver_directly(
        &mut self,
        conn: ConnectionId,
        key: SessionKey,
        msg: &SharedMessage,
        retain: bool,
        sub_ids: &[u32],
        now: Instant,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if c.state != State::Connected || c.unwritten >= self.config.max_outbound_bytes {
            return false;
        }
        let Some(s) = self.store.session_by_key(key) else {
            return false;
        };
        if !s.queue.is_empty() || !s.retained_backlog.is_empty() {
            return false;
        }
        let item = OutItem {
            msg,
            qos: 0,
            // [MQTT-3.3.1-9] (3.1.1): no Retain As Published there; forwarded with RETAIN 0.
            retain: retain && s.version.is_v5(),
            sub_ids,
        };
        let aliases = self.config.outbound_topic_aliases;
        send_now(&mut self.tx, conn, c, aliases, item, 0, now)
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
            let aliases = self.config.outbound_topic_aliases;
            if !send_now(&mut self.tx, conn, c, aliases, item.as_out(), pid, now) {
                // [MQTT-3.1.2-25] (5.0): too large for the client; discard it for this client.
                s.dropped += 1;
                too_large = (too_large.0 + 1, item.qos);
                continue;
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
            if let Some(waiting) = self.blocked_on.remove(&*c.client_id) {
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

/// Sends `item` to `c` now with packet identifier `pid` (0 for QoS 0), with an outbound Topic
/// Alias if `aliases` is on; `false`, and nothing sent, when it is larger than the client's
/// Maximum Packet Size.
///
/// Outbound Topic Alias (5.0 §3.3.2.3.4), if enabled and the client accepts them: reuse a
/// known alias (empty topic), or set up a new one while there is room ([MQTT-3.1.2-26] (5.0):
/// never above the client's Topic Alias Maximum).
pub(super) fn send_now(
    tx: &mut Tx,
    conn: ConnectionId,
    c: &mut Conn,
    aliases: bool,
    item: OutItem<'_>,
    pid: u16,
    now: Instant,
) -> bool {
    let mut alias = None;
    let mut new_alias = false;
    if aliases && c.alias_max_out > 0 {
        if let Some(a) = c.out_alias(&item.msg.topic) {
            alias = Some((a, true));
        } else if c.out_alias_count() < usize::from(c.alias_max_out) {
            let a = u16::try_from(c.out_alias_count() + 1).unwrap_or(u16::MAX);
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
    if !send_delivery(tx, conn, c, item, how, now) {
        return false;
    }
    if let (true, Some((a, _))) = (new_alias, alias) {
        // Only now: a discarded PUBLISH must not leave an alias the client never saw.
        c.rare_mut().out_aliases.insert(item.msg.topic.clone(), a);
    }
    true
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
