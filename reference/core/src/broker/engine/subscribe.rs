//! SUBSCRIBE and UNSUBSCRIBE: the subscription index, per-filter reason codes, and which
//! retained messages a new subscription is owed (delivered by `retained`).
//!
//! Enforces: filter validity ([MQTT-3.8.3-1] (both)); an identical filter replaces the subscription
//! ([MQTT-3.8.4-3] (5.0)); No Local is a Protocol Error on a shared subscription
//! ([MQTT-3.8.3-4] (5.0)); Retain Handling (5.0 §3.8.3.1); one UNSUBACK code per filter
//! ([MQTT-3.11.3-1], [MQTT-3.11.3-2] (5.0)).

use alloc::string::String;
use alloc::vec::Vec;

use super::super::storage::{Storage, SubOpts, Subscription};
use super::*;
use crate::codec::{Property, RetainHandling};
use crate::time::Instant;
use crate::topic;

impl<S: Storage> Broker<S> {
    pub(super) fn on_subscribe(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        subscribe: &codec::Subscribe<'_>,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let v5 = c.version.is_v5();
        let client = c.client_id.clone();
        // The codec allows one Subscription Identifier in SUBSCRIBE.
        let sub_id = subscribe.properties.iter().find_map(|p| match p {
            Property::SubscriptionIdentifier(id) => Some(id),
            _ => None,
        });
        if sub_id.is_some() && !self.config.subscription_identifiers {
            self.fail(
                conn,
                now,
                ReasonCode::SubscriptionIdentifiersNotSupported,
                "subscription identifiers not supported",
            );
            return;
        }
        let mut codes = Vec::new();
        let mut retained_for: Vec<(String, u8, Option<u32>)> = Vec::new();
        for entry in subscribe.subscriptions.iter() {
            let filter = entry.filter;
            let opts = sub_opts(entry.options);
            let (inner, share) = match topic::parse_shared(filter) {
                Ok(Some(s)) => (String::from(s.filter), Some(String::from(s.share_name))),
                Ok(None) => (String::from(filter), None),
                Err(_) => {
                    codes.push(refusal(v5, ReasonCode::TopicFilterInvalid));
                    continue;
                }
            };
            let refused = if topic::validate_topic_filter(&inner).is_err() {
                Some(ReasonCode::TopicFilterInvalid) // [MQTT-3.8.3-1] (both)
            } else if self.denied(&inner) || !self.conn_allowed(conn, &inner, Access::Subscribe) {
                // `$share/GROUP/filter` is judged by its filter.
                Some(ReasonCode::NotAuthorized)
            } else if share.is_some() && !self.config.shared_subscriptions {
                Some(ReasonCode::SharedSubscriptionsNotSupported)
            } else if !self.config.wildcard_subscriptions && inner.contains(['+', '#']) {
                Some(ReasonCode::WildcardSubscriptionsNotSupported)
            } else {
                None
            };
            if let Some(code) = refused {
                codes.push(refusal(v5, code));
                continue;
            }
            if share.is_some() && opts.no_local {
                self.fail(
                    conn,
                    now,
                    ReasonCode::ProtocolError,
                    "No Local on a shared subscription",
                ); // [MQTT-3.8.3-4] (5.0)
                return;
            }
            let granted = opts.qos.min(self.config.maximum_qos);
            let opts = SubOpts {
                qos: granted,
                ..opts
            };
            let Some(key) = self.store.session_key(&client) else {
                return;
            };
            let Some(s) = self.store.session_by_key_mut(key) else {
                return;
            };
            // [MQTT-3.8.4-3] (both): an identical filter replaces the existing subscription.
            let existed = s
                .subscriptions
                .insert(String::from(filter), Subscription { opts, id: sub_id })
                .is_some();
            self.store.session_updated(&client);
            self.subs
                .remove(&inner, |e| *e.client == *client && e.share == share);
            let entry = SubEntry {
                client: client.clone(),
                session: key,
                share: share.clone(),
                opts,
                id: sub_id,
            };
            if self.subs.insert(&inner, entry).is_err() {
                codes.push(refusal(v5, ReasonCode::TopicFilterInvalid));
                continue;
            }
            codes.push(granted_code(granted)); // the granted QoS is its own reason code
                                               // [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11] (5.0) Retain Handling; no
                                               // retained messages for shared subscriptions (5.0 §4.8.2).
            let send = share.is_none()
                && (opts.retain_handling == 0 || (opts.retain_handling == 1 && !existed));
            if send {
                retained_for.push((inner, granted, sub_id));
            }
        }
        let suback = codec::SubAck::new(subscribe.packet_id, &codes);
        self.send_packet(conn, &codec::Packet::SubAck(suback));
        for (filter, granted, id) in retained_for {
            self.owe_retained(&client, &filter, granted, id);
        }
        self.flush(conn, now);
    }

    pub(super) fn on_unsubscribe(
        &mut self,
        conn: ConnectionId,
        unsubscribe: &codec::Unsubscribe<'_>,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let v5 = c.version.is_v5();
        let client = c.client_id.clone();
        let mut codes = Vec::new();
        for filter in unsubscribe.filters.iter() {
            let existed = self
                .store
                .session_mut(&client)
                .is_some_and(|s| s.subscriptions.remove(filter).is_some());
            if existed {
                let (inner, share) = split_share(filter);
                self.subs.remove(inner, |e| {
                    *e.client == *client && e.share.as_deref() == share
                });
            }
            // [MQTT-3.11.3-1], [MQTT-3.11.3-2]: one code per filter, in order; 0x11 No
            // subscription existed. (3.1.1 UNSUBACK has no reason codes.)
            if v5 {
                codes.push(if existed {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                });
            }
        }
        self.store.session_updated(&client);
        let unsuback = codec::UnsubAck::new(unsubscribe.packet_id, &codes);
        self.send_packet(conn, &codec::Packet::UnsubAck(unsuback));
    }
}

/// Splits a stored filter into (inner filter, share name).
pub(super) fn split_share(filter: &str) -> (&str, Option<&str>) {
    match topic::parse_shared(filter) {
        Ok(Some(s)) => (s.filter, Some(s.share_name)),
        _ => (filter, None),
    }
}

/// The SUBACK code refusing a filter: `code` for 5.0, 0x80 Failure for 3.1.1 (which has no
/// other).
fn refusal(v5: bool, code: ReasonCode) -> ReasonCode {
    if v5 {
        code
    } else {
        ReasonCode::UnspecifiedError
    }
}

/// The SUBACK code granting QoS `qos` (0x00, 0x01, 0x02 in both versions).
fn granted_code(qos: u8) -> ReasonCode {
    match qos {
        0 => ReasonCode::Success,
        1 => ReasonCode::GrantedQoS1,
        _ => ReasonCode::GrantedQoS2,
    }
}

/// The options of one SUBSCRIBE entry as the session keeps them.
fn sub_opts(o: codec::SubscriptionOptions) -> SubOpts {
    SubOpts {
        qos: o.qos.as_u8(),
        no_local: o.no_local,
        retain_as_published: o.retain_as_published,
        retain_handling: match o.retain_handling {
            RetainHandling::SendAtSubscribe => 0,
            RetainHandling::SendAtSubscribeIfNew => 1,
            RetainHandling::DoNotSend => 2,
        },
    }
}
