//! How connections and sessions end, and what outlives a connection: its will (published at
//! once, after its delay, or discarded), its session (kept until it expires, or dropped with
//! the connection), and rebuilding both from a durable store after a restart.
//!
//! Enforces: DISCONNECT with a reason code before closing a 5.0 client ([MQTT-3.14.2-1] (5.0));
//! the will is published on an abnormal end and deleted on a normal DISCONNECT
//! ([MQTT-3.1.2-10] (5.0) / [MQTT-3.1.2-10] (3.1.1)), after its delay or when the session ends,
//! whichever is first ([MQTT-3.1.2-8] (5.0)); a session with expiry 0 ends with its connection
//! ([MQTT-3.1.2-23] (5.0) / [MQTT-3.1.2-6] (3.1.1)); keep alive and CONNECT deadlines.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::super::storage::{Message, Storage, SubOpts};
use super::*;
use crate::time::Instant;

/// How a connection ends, which decides what happens to its will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WillFate {
    /// Abnormal end, or DISCONNECT 0x04: publish (after the delay).
    Publish,
    /// Normal DISCONNECT: delete it ([MQTT-3.1.2-10] (5.0) / [MQTT-3.1.2-10] (3.1.1)).
    Discard,
}

impl<S: Storage> Broker<S> {
    /// Rebuilds what the engine keeps beside a store that came back full (a durable store
    /// after a restart): the subscription index, when offline sessions end, and wills waiting
    /// for their delay. Call it once, before any other input; `now` is the engine's clock then.
    ///
    /// A session with no stored deadline and a finite expiry was online when the broker
    /// stopped: its connection ended at a moment the store does not know, so its expiry is
    /// counted from `now` (later, never earlier, than the spec's count), or it ends now if its
    /// expiry was 0 ([MQTT-3.1.2-23] (5.0)). Deadlines and will delays that passed while the
    /// broker was down fire here, before any client can connect.
    pub fn restore(&mut self, now: Instant) {
        let deadlines: BTreeMap<String, Instant> =
            self.store.saved_session_deadlines().into_iter().collect();
        for id in self.store.session_ids() {
            let (Some(key), Some(s)) = (self.store.session_key(&id), self.store.session(&id))
            else {
                continue;
            };
            let expiry = s.expiry_interval;
            let subs: Vec<(String, SubOpts, Option<u32>)> = s
                .subscriptions
                .iter()
                .map(|(f, sub)| (f.clone(), sub.opts, sub.id))
                .collect();
            for (filter, opts, sub_id) in subs {
                let (inner, share) = split_share(&filter);
                let entry = SubEntry {
                    client: SharedStr::from(id.as_str()),
                    session: key,
                    share: share.map(String::from),
                    opts,
                    id: sub_id,
                };
                // Stored filters were checked when they were granted.
                let _ = self.subs.insert(inner, entry);
            }
            match deadlines.get(&id) {
                Some(&at) => self.set_expiry(&id, Some(at)),
                None if expiry == 0 => self.drop_session(&id),
                None if expiry == u32::MAX => {}
                None => self.set_expiry(&id, Some(now.add_secs(u64::from(expiry)))),
            }
        }
        for (client, at, msg) in self.store.saved_pending_wills() {
            self.pending_wills.insert(client, (at, msg));
            self.arm(at);
        }
        // Connections open when the broker died ended without DISCONNECT: their wills go out
        // as for any abnormal end, the delay counted from now (5.0 §3.1.2.5).
        for (client, delay, msg) in self.store.saved_live_wills() {
            self.store.set_live_will(&client, None);
            let expiry = self.store.session(&client).map_or(0, |s| s.expiry_interval);
            if delay == 0 || expiry == 0 {
                self.route(msg, now);
            } else {
                let at = now.add_secs(u64::from(delay.min(expiry)));
                self.store.set_pending_will(&client, Some((at, &msg)));
                self.pending_wills.insert(client, (at, msg));
                self.arm(at);
            }
        }
        // What fell due while the broker was down happens before any client can connect: a
        // session that expired meanwhile is not resumed.
        self.handle_timeout(now);
    }

    /// Closes connections past their CONNECT deadline, and ends those past their keep alive
    /// grace with DISCONNECT 0x8D (5.0 §4.13; the will goes out).
    pub(super) fn expire_connections(&mut self, now: Instant) {
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
                self.fail(id, now, ReasonCode::KeepAliveTimeout, "keep alive timeout");
            } else {
                self.close(id, now, WillFate::Discard, "no CONNECT in time");
            }
        }
    }

    /// Publishes the wills whose delay has passed.
    pub(super) fn publish_due_wills(&mut self, now: Instant) {
        let due: Vec<String> = self
            .pending_wills
            .iter()
            .filter(|(_, (t, _))| *t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for client in due {
            if let Some(msg) = self.take_will(&client) {
                self.route(msg, now);
            }
        }
    }

    /// Ends the offline sessions whose expiry has passed.
    pub(super) fn expire_sessions(&mut self, now: Instant) {
        let gone: Vec<String> = self
            .expiries
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for client in gone {
            // [MQTT-3.1.2-8] (5.0): a will still waiting goes out when the session ends.
            if let Some(msg) = self.take_will(&client) {
                self.route(msg, now);
            }
            self.drop_session(&client);
        }
    }

    /// A protocol failure: DISCONNECT (5.0, after CONNACK) with `code`, then close; the will is
    /// published. Before CONNACK, or for 3.1.1, just close.
    pub(super) fn fail(&mut self, conn: ConnectionId, now: Instant, code: ReasonCode, why: &str) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        // [MQTT-3.14.2-1] (5.0): a DISCONNECT Reason Code. A decode error can carry one that
        // only CONNACK has (0x84 from a second CONNECT with another protocol level): that is a
        // Protocol Error here.
        let code = if code.allowed_in(codec::PacketType::Disconnect) {
            code
        } else {
            ReasonCode::ProtocolError
        };
        if c.state == State::Connected && c.version.is_v5() {
            let d = codec::Disconnect {
                reason_code: code,
                ..codec::Disconnect::new()
            };
            self.send_packet(conn, &codec::Packet::Disconnect(d));
        }
        self.close_with(conn, now, WillFate::Publish, Some(code), why);
    }

    pub(super) fn close(&mut self, conn: ConnectionId, now: Instant, fate: WillFate, why: &str) {
        self.close_with(conn, now, fate, None, why);
    }

    /// Closes `conn` (see `close_quiet`), recording `code` as what ended it.
    pub(super) fn close_with(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        fate: WillFate,
        code: Option<ReasonCode>,
        why: &str,
    ) {
        // What was queued for it goes first.
        self.flush_tx(conn);
        self.close_quiet(conn, now, fate, code, why);
        self.out.push_back(Output::Close { conn });
    }

    /// Moves `conn`'s bytes of this step to the outputs now, ahead of what follows.
    pub(super) fn flush_tx(&mut self, conn: ConnectionId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some((_, data)) = c.tx_slot.take().and_then(|i| self.tx.get_mut(i as usize)) {
            let data = core::mem::take(data);
            if !data.is_empty() {
                self.out.push_back(Output::Transmit { conn, data });
            }
        }
    }

    /// Queues `data` for `conn` after what was queued before it.
    pub(super) fn transmit(&mut self, conn: ConnectionId, data: Vec<u8>) {
        self.flush_tx(conn);
        self.out.push_back(Output::Transmit { conn, data });
    }

    /// Forgets `conn`, deals with its will and session. Does not emit `Output::Close` (the
    /// peer is already gone) — `close` does.
    pub(super) fn close_quiet(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        fate: WillFate,
        code: Option<ReasonCode>,
        why: &str,
    ) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        // Unflushed bytes have nowhere to go now.
        if let Some((_, data)) = c.tx_slot.and_then(|i| self.tx.get_mut(i as usize)) {
            *data = Vec::new();
        }
        self.events.push_back(Event::Closed {
            conn,
            code,
            reason: String::from(why),
        });
        if c.state != State::Connected {
            return;
        }
        if c.will.is_some() {
            self.store.set_live_will(&c.client_id, None);
        }
        self.connected -= 1;
        if self.online.get(&c.client_id) == Some(&conn) {
            self.online.remove(&c.client_id);
            if let Some(k) = c.session {
                self.online_keys.remove(&k);
            }
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
                self.store
                    .set_pending_will(&c.client_id, Some((at, &w.msg)));
                self.pending_wills
                    .insert(String::from(&*c.client_id), (at, w.msg));
                self.arm(at);
            }
        }
        if expiry == 0 {
            // [MQTT-3.1.2-23] (5.0) / [MQTT-3.1.2-6] (3.1.1): the session ends with the connection.
            self.drop_session(&c.client_id);
        } else if expiry != u32::MAX {
            let at = now.add_secs(u64::from(expiry));
            self.set_expiry(&c.client_id, Some(at));
        }
    }

    /// Removes and returns `client`'s will waiting for its delay, in the store too.
    pub(super) fn take_will(&mut self, client: &str) -> Option<Message> {
        let (_, msg) = self.pending_wills.remove(client)?;
        self.store.set_pending_will(client, None);
        Some(msg)
    }

    /// Sets (and arms) or clears when `client`'s offline session ends, in the store too.
    pub(super) fn set_expiry(&mut self, client: &str, at: Option<Instant>) {
        match at {
            Some(at) => {
                self.expiries.insert(String::from(client), at);
                self.arm(at);
            }
            None => {
                if self.expiries.remove(client).is_none() {
                    return;
                }
            }
        }
        self.store.set_session_deadline(client, at);
    }

    pub(super) fn drop_session(&mut self, client: &str) {
        self.set_expiry(client, None);
        self.final_drop_report(client);
        self.queue_drained(client);
        if let Some(s) = self.store.remove_session(client) {
            for filter in s.subscriptions.keys() {
                let (inner, share) = split_share(filter);
                self.subs.remove(inner, |e| {
                    *e.client == *client && e.share.as_deref() == share
                });
            }
        }
    }
}
