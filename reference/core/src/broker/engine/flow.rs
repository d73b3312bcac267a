//! Flow control: how the engine keeps the promise an acknowledgement makes when subscribers are
//! slower than publishers, and how it stops reading a peer it cannot answer.
//!
//! # The promise
//! A PUBACK (QoS 1) or PUBREC (QoS 2) tells the publisher that the message was added to the
//! session of every matching subscriber ([MQTT-4.5.0-1] (5.0)) and will reach it while that
//! session exists. So the engine never drops a QoS 1/2 message from the queue of a connected
//! subscriber to make room. Instead:
//!
//! 1. A QoS 1/2 message is always added to the queues of the connected sessions it matches,
//!    even past `max_queued_messages` / `max_queued_bytes`: those limits are where backpressure
//!    starts, not where messages are thrown away. QoS 0 messages are dropped first, as ever
//!    (at most once allows it).
//! 2. If that leaves one of those queues at or over its limit, the publisher's acknowledgement
//!    is withheld ([`HeldAck`]) until every such queue is below its limit again (or its
//!    subscriber is gone). Acknowledgements leave in the order their PUBLISHes arrived. A 5.0
//!    publisher then runs out of send quota (its count of unacknowledged QoS 1/2 PUBLISHes
//!    reaches our Receive Maximum, 5.0 §4.9) and stops sending QoS 1/2, so a queue overshoots
//!    its limit by at most what the publishers' quotas allow. One that sends more anyway gets
//!    DISCONNECT 0x93 (5.0 §3.3.4, the client's obligation being [MQTT-3.3.4-7]).
//! 3. A 3.1.1 publisher has no quota: once `receive_maximum` of its acknowledgements are
//!    withheld, the engine stops reading it ([`Output::Pause`]) until some are released; its
//!    bytes wait in the kernel, and TCP slows it down.
//! 4. Everything else a publisher sends is processed meanwhile (its own acknowledgements,
//!    PINGREQ, SUBSCRIBE...), so a client that publishes to a topic it subscribes to drains
//!    its own queue ([MQTT-4.9.0-3] asks the same of the side whose quota is exhausted).
//! 5. One stuck subscriber must not stall everyone: once an acknowledgement has been withheld
//!    for [`Config::slow_subscriber_timeout_ms`], every connected subscriber still holding it
//!    back that has also made no progress for that long (no bytes written to it, no
//!    acknowledgement from it) is disconnected with 0x97 Quota exceeded (its session stays, as
//!    its expiry says). A disconnected subscriber holds nobody back. A subscriber that is slow
//!    but keeps taking messages slows its publishers to its pace: that is the backpressure.
//! 6. Nothing drains the queue of a session without a connection, so a QoS 1/2 message for a
//!    full offline queue is handled by [`Config::queue_overflow`]: by default the session is
//!    discarded (5.0 §4.1.1 lets a server discard stored session state by a policy; the client
//!    learns it from Session Present 0, and no acknowledged message is silently missing from a
//!    session that still exists). Dropping messages instead (oldest or newest) is an explicit,
//!    off-by-default choice; every drop is counted and reported ([`Event::QueueFull`]).
//!
//! # Replies that cannot be written
//! A peer that sends but does not read (a PINGREQ or QoS 1 flood) makes the engine produce
//! replies nobody collects. Once more than [`REPLY_BACKLOG`] (64 KiB) of replies are unwritten
//! on a connection, or more than twice `max_outbound_bytes` in all, the engine stops reading it
//! ([`Output::Pause`]) until half that many replies and no more than `max_outbound_bytes` are,
//! so its replies are bounded by bytes, not by how fast it sends. The engine tells replies from
//! deliveries by the order writes complete in (`Conn::unwritten_runs`).
//!
//! # Pausing
//! A paused connection's bytes are kept, not parsed, until it resumes ([`Output::Resume`]);
//! the driver stops reading the socket meanwhile. Work that a release makes possible (acks to
//! send, buffered input to parse) is queued in `wake` and done by `settle` at the end of each
//! input, never by recursion.
//!
//! [`Event::QueueFull`]: super::Event::QueueFull
//! [`Output::Pause`]: super::Output::Pause
//! [`Output::Resume`]: super::Output::Resume

use alloc::string::String;
use alloc::vec::Vec;

use super::super::config::Config;
use super::super::storage::{Session, Storage};
use super::{Broker, ConnectionId, Output, State};
use crate::codec::{self, ReasonCode};
use crate::time::Instant;

/// Unwritten replies (anything but deliveries) past which a connection is not read: a peer
/// that sends PINGREQs or QoS 1 PUBLISHes without reading the answers stops being read once
/// this much is waiting for it, and is read again at half of it. Deliveries have their own
/// budget (`max_outbound_bytes`), so a busy subscriber's reads are not held up by them.
const REPLY_BACKLOG: usize = 64 * 1024;

/// A publisher's acknowledgement (PUBACK or PUBREC) waiting for subscriber queues to drain.
#[derive(Debug)]
pub(super) struct HeldAck {
    /// The PUBLISH's packet identifier.
    pub(super) pid: u16,
    /// Its QoS: 1 is answered with PUBACK, 2 with PUBREC.
    pub(super) qos: u8,
    /// The reason code to answer with.
    pub(super) code: ReasonCode,
    /// When it was withheld, for [`Config::slow_subscriber_timeout_ms`].
    pub(super) since: Instant,
    /// Client ids of the sessions whose full queues hold it back.
    pub(super) blockers: Vec<String>,
}

/// Whether a session's queue is at or over a limit.
pub(super) fn queue_full(s: &Session, cfg: &Config) -> bool {
    s.queue.len() >= cfg.max_queued_messages || s.queue_bytes >= cfg.max_queued_bytes
}

impl<S: Storage> Broker<S> {
    /// Whether `client` holds publishers back: it is connected and its queue is full.
    pub(super) fn blocking(&self, client: &str) -> bool {
        self.online.contains_key(client)
            && self
                .store
                .session(client)
                .is_some_and(|s| queue_full(s, &self.config))
    }

    /// Answers a QoS 1/2 PUBLISH on `conn`: at once, or, if `blockers` are holding it back or
    /// earlier answers are still withheld, once they are released (in arrival order).
    pub(super) fn acknowledge(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        pid: u16,
        qos: u8,
        code: ReasonCode,
        blockers: Vec<String>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if blockers.is_empty() && c.held.is_empty() {
            self.send_packet(conn, &publish_ack(pid, qos, code));
            return;
        }
        let first = c.held.is_empty();
        c.held.push_back(HeldAck {
            pid,
            qos,
            code,
            since: now,
            blockers: blockers.clone(),
        });
        for b in blockers {
            self.blocked_on.entry(b).or_default().insert(conn);
        }
        let t = self.config.slow_subscriber_timeout_ms;
        if first && t > 0 {
            self.arm(now.add_millis(t));
        }
    }

    /// Whether a PUBREC for `pid` is still withheld on `conn` (a resent QoS 2 PUBLISH then gets
    /// no answer of its own: the withheld one will come, in order).
    pub(super) fn pubrec_held(&self, conn: ConnectionId, pid: u16) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.held.iter().any(|h| h.qos == 2 && h.pid == pid))
    }

    /// Number of QoS 1 acknowledgements withheld on `conn`.
    pub(super) fn held_qos1(&self, conn: ConnectionId) -> usize {
        self.conns
            .get(&conn)
            .map_or(0, |c| c.held.iter().filter(|h| h.qos == 1).count())
    }

    /// `client`'s queue may have room now: wake the connections it held back.
    pub(super) fn queue_drained(&mut self, client: &str) {
        if let Some(waiting) = self.blocked_on.remove(client) {
            self.wake.extend(waiting);
        }
    }

    /// Sends the withheld acknowledgements of `conn` whose blockers are all gone, from the
    /// front; re-registers the first one still held back.
    fn release_held(&mut self, conn: ConnectionId, now: Instant) {
        while let Some(mut blockers) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.held.front_mut())
            .map(|h| core::mem::take(&mut h.blockers))
        {
            blockers.retain(|b| self.blocking(b));
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if !blockers.is_empty() {
                for b in &blockers {
                    self.blocked_on.entry(b.clone()).or_default().insert(conn);
                }
                if let Some(h) = c.held.front_mut() {
                    h.blockers = blockers;
                }
                break;
            }
            let Some(h) = c.held.pop_front() else {
                break;
            };
            if let Some(next) = c.held.front() {
                if self.config.slow_subscriber_timeout_ms > 0 {
                    let at = next
                        .since
                        .add_millis(self.config.slow_subscriber_timeout_ms);
                    self.arm(at);
                }
            }
            self.send_packet(conn, &publish_ack(h.pid, h.qos, h.code));
        }
        self.update_pause(conn, now);
    }

    /// Pauses or resumes reading `conn` as its withheld acknowledgements and unwritten bytes
    /// say (see the module documentation), telling the driver when that changes.
    pub(super) fn update_pause(&mut self, conn: ConnectionId, _now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let max_out = self.config.max_outbound_bytes;
        let (out_limit, reply_limit) = if c.paused {
            (max_out, REPLY_BACKLOG / 2)
        } else {
            (max_out.saturating_mul(2), REPLY_BACKLOG)
        };
        let quota = c.state == State::Connected
            && !c.version.is_v5()
            && c.held.len() >= usize::from(self.config.receive_maximum);
        let want = quota || c.unwritten > out_limit || c.unwritten_replies > reply_limit;
        if want == c.paused {
            return;
        }
        c.paused = want;
        if want {
            self.out.push_back(Output::Pause { conn });
        } else {
            self.out.push_back(Output::Resume { conn });
            // Bytes that arrived meanwhile wait in its input buffer.
            self.wake.insert(conn);
        }
    }

    /// Does the work releases made possible: withheld acknowledgements to send, buffered input
    /// of resumed connections to parse. Called at the end of every input.
    pub(super) fn settle(&mut self, now: Instant) {
        while let Some(conn) = self.wake.pop_first() {
            self.release_held(conn, now);
            let ready = self
                .conns
                .get(&conn)
                .is_some_and(|c| !c.paused && !c.inbuf.is_empty());
            if ready {
                self.process_input(conn, now);
            }
        }
    }

    /// When `client`, holding back an acknowledgement withheld since `since`, is cut off if it
    /// makes no progress: [`Config::slow_subscriber_timeout_ms`] after the later of `since` and
    /// its last progress. `None` when it is not connected (it holds nobody back), or when it
    /// is in [`Config::slow_subscriber_exempt`] (it holds publishers back instead).
    fn cut_off_at(&self, client: &str, since: Instant, t: u64) -> Option<Instant> {
        if self
            .config
            .slow_subscriber_exempt
            .iter()
            .any(|c| c == client)
        {
            return None;
        }
        let conn = self.online.get(client)?;
        let c = self.conns.get(conn)?;
        Some(since.max(c.last_progress).add_millis(t))
    }

    /// The earliest instant a subscriber may be cut off (see `cut_off_slow_subscribers`).
    pub(super) fn next_slow_deadline(&self) -> Option<Instant> {
        let t = self.config.slow_subscriber_timeout_ms;
        if t == 0 {
            return None;
        }
        self.conns
            .values()
            .filter_map(|c| c.held.front())
            .flat_map(|h| {
                h.blockers
                    .iter()
                    .filter_map(move |b| self.cut_off_at(b, h.since, t))
            })
            .min()
    }

    /// Disconnects (0x97 Quota exceeded) every connected subscriber that has held a publisher's
    /// acknowledgement back, and made no progress, for [`Config::slow_subscriber_timeout_ms`].
    pub(super) fn cut_off_slow_subscribers(&mut self, now: Instant) {
        let t = self.config.slow_subscriber_timeout_ms;
        if t == 0 {
            return;
        }
        let mut slow: Vec<String> = Vec::new();
        for c in self.conns.values() {
            if let Some(h) = c.held.front() {
                for b in &h.blockers {
                    if self.cut_off_at(b, h.since, t).is_some_and(|at| at <= now) {
                        slow.push(b.clone());
                    }
                }
            }
        }
        slow.sort();
        slow.dedup();
        for client in slow {
            if !self.blocking(&client) {
                continue;
            }
            if let Some(conn) = self.online.get(client.as_str()).copied() {
                self.fail(
                    conn,
                    now,
                    ReasonCode::QuotaExceeded,
                    "subscriber held publishers back and took nothing for slow_subscriber_timeout_ms",
                );
            }
            self.queue_drained(&client);
        }
    }
}

/// The PUBACK (QoS 1) or PUBREC (QoS 2) that answers a PUBLISH. `code` is Success for a
/// 3.1.1 publisher, whose acknowledgements carry none (`publish` only refuses 5.0 ones).
fn publish_ack(pid: u16, qos: u8, code: ReasonCode) -> codec::Packet<'static> {
    if qos == 1 {
        codec::Packet::PubAck(codec::PubAck {
            reason_code: code,
            ..codec::PubAck::new(pid)
        })
    } else {
        codec::Packet::PubRec(codec::PubRec {
            reason_code: code,
            ..codec::PubRec::new(pid)
        })
    }
}
