//! What goes out: every packet the engine sends is encoded once, straight into its
//! connection's buffer of the step ([`Broker::tx`]), and a delivery of a message to many
//! subscribers does not encode the message again for each.
//!
//! # One body, many small headers
//! A PUBLISH that delivers a stored message is, per receiver, a small header — fixed header
//! (DUP, QoS, RETAIN), Remaining Length, Topic Name (empty once a Topic Alias is known),
//! Packet Identifier, and in 5.0 the Property Length and the properties that are the broker's
//! business per delivery (Message Expiry Interval left, Subscription Identifiers, Topic Alias) —
//! followed by what every receiver gets alike: the message's forwarded properties (encoded once,
//! when the message was shared: [`SharedMessage::forwarded_properties`]) and the payload (one
//! shared copy). So a fan-out step writes a few header bytes per receiver and copies the
//! shared body into each receiver's buffer; no property list is built, no property cloned, no
//! length walked per receiver. The copy stays: each connection writes one contiguous buffer per
//! step, one syscall for all its packets, which for small messages costs less than handing
//! the writer a list of shared pieces.
//!
//! Enforces: a PUBLISH larger than the client's Maximum Packet Size is not sent
//! ([MQTT-3.1.2-25] (5.0)); the Message Expiry Interval forwarded is what is left
//! ([MQTT-3.3.2-6] (5.0)); no properties to a 3.1.1 client.
//!
//! [`SharedMessage::forwarded_properties`]: super::super::storage::SharedMessage::forwarded_properties

use super::super::storage::{Queued, SharedMessage};
use super::*;
use crate::codec::{vbi_len, Property, SeqItem, Writer, VBI_MAX};
use crate::time::Instant;

/// The bytes for each connection this step ([`Broker::tx`]).
pub(super) type Tx = Vec<(ConnectionId, Vec<u8>)>;

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

/// One delivery's message and what the receiver is owed of it: a [`Queued`] entry, or the
/// same parts borrowed when a message goes out without waiting in the queue.
#[derive(Debug, Clone, Copy)]
pub(super) struct OutItem<'a> {
    /// The message.
    pub msg: &'a SharedMessage,
    /// Delivery QoS.
    pub qos: u8,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription identifiers to send.
    pub sub_ids: &'a [u32],
}

impl Queued {
    /// Its parts, for [`send_delivery`].
    pub(super) fn as_out(&self) -> OutItem<'_> {
        OutItem {
            msg: &self.msg,
            qos: self.qos,
            retain: self.retain,
            sub_ids: &self.sub_ids,
        }
    }
}

/// Encodes the PUBLISH that delivers `item` straight into `conn`'s pending transmit (see
/// [`Delivery`]); `false`, and nothing queued, when it is larger than `how.max_len`.
pub(super) fn send_delivery(
    tx: &mut Tx,
    conn: ConnectionId,
    c: &mut Conn,
    item: OutItem<'_>,
    how: Delivered,
    now: Instant,
) -> bool {
    let msg = item.msg;
    let d = Delivery {
        topic: match how.alias {
            Some((_, true)) => "",
            _ => &msg.topic,
        },
        payload: &msg.payload,
        forwarded: msg.forwarded_properties(),
        sub_ids: item.sub_ids,
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

/// A PUBLISH that delivers a stored message, encoded from borrowed parts: a header of its own
/// and the body every receiver shares (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub(super) struct Delivery<'a> {
    /// Topic name; empty when `topic_alias` names an alias the receiver already has.
    pub topic: &'a str,
    /// Payload.
    pub payload: &'a [u8],
    /// The message's forwarded 5.0 properties, already encoded (no Property Length).
    pub forwarded: &'a [u8],
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

impl Delivery<'_> {
    /// This receiver's own 5.0 properties, in the order they are written: before the
    /// forwarded ones, so the header is one contiguous piece.
    fn each_own_property(&self, mut f: impl FnMut(Property<'static>)) {
        if let Some(x) = self.message_expiry {
            f(Property::MessageExpiryInterval(x));
        }
        for id in self.sub_ids {
            f(Property::SubscriptionIdentifier(*id));
        }
        if let Some(x) = self.topic_alias {
            f(Property::TopicAlias(x));
        }
    }

    /// Appends the encoded PUBLISH to `out` when it is at most `max_len` bytes, and returns its
    /// length; `None` (nothing appended) when it is larger.
    ///
    /// The parts came from decoded packets and the engine's own bounded values, so they fit
    /// the wire's limits; should they not (an engine bug), nothing is appended (and debug
    /// builds panic).
    pub fn encode_into(
        &self,
        version: ProtocolVersion,
        max_len: usize,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        let v5 = version.is_v5();
        let forwarded = if v5 { self.forwarded } else { &[] };
        let Some((body, props)) = self.lengths(v5, forwarded.len()) else {
            debug_assert!(false, "delivery too large to encode ({self:?})");
            return None;
        };
        // `body <= VBI_MAX`, so its length prefix is at most 4 bytes.
        let total = 1 + vbi_len(body).unwrap_or(4) + body as usize;
        if total > max_len {
            return None;
        }
        let start = out.len();
        out.reserve(total);
        if let Err(e) = self.write_head(version, body, props, out) {
            debug_assert!(false, "unencodable delivery: {e} ({self:?})");
            out.truncate(start);
            return None;
        }
        out.extend_from_slice(forwarded);
        out.extend_from_slice(self.payload);
        Some(total)
    }

    /// The Remaining Length, and in 5.0 the Property Length (the receiver's own properties
    /// and `forwarded` bytes of shared ones); `None` when the packet would be too large for
    /// the wire.
    fn lengths(&self, v5: bool, forwarded: usize) -> Option<(u32, u32)> {
        let mut body = 2 + self.topic.len() + self.payload.len();
        if self.qos > 0 {
            body += 2;
        }
        let mut props = 0u32;
        if v5 {
            let mut own = Some(0usize);
            self.each_own_property(|p| {
                own = own.and_then(|n| n.checked_add(p.encoded_len(ProtocolVersion::V5).ok()?));
            });
            props = u32::try_from(own?.checked_add(forwarded)?).ok()?;
            body = body
                .checked_add(vbi_len(props)?)?
                .checked_add(props as usize)?;
        }
        let body = u32::try_from(body).ok().filter(|b| *b <= VBI_MAX)?;
        Some((body, props))
    }

    /// Appends the receiver's header: everything before the forwarded properties. Small
    /// parts go through stack buffers: zero-filling a slice of `out` for them cost more than
    /// the encoding under fan-out.
    fn write_head(
        &self,
        version: ProtocolVersion,
        body: u32,
        props: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), codec::EncodeError> {
        // Fixed header (1 + at most 4) and the topic's length (2).
        let mut fixed = [0u8; 7];
        let mut w = Writer::new(&mut fixed);
        let flags = (u8::from(self.dup) << 3) | (self.qos << 1) | u8::from(self.retain);
        w.put_u8(((codec::PacketType::Publish as u8) << 4) | flags)?;
        w.put_vbi(body)?;
        let topic_len = u16::try_from(self.topic.len())
            .map_err(|_| codec::EncodeError::FieldTooLong(self.topic.len()))?;
        w.put_u16(topic_len)?;
        let n = w.position();
        out.extend_from_slice(fixed.get(..n).unwrap_or(&[]));
        out.extend_from_slice(self.topic.as_bytes());
        // Packet Identifier, Property Length and the receiver's own properties.
        let v5 = version.is_v5();
        let write_rest = |w: &mut Writer<'_>| -> Result<(), codec::EncodeError> {
            if self.qos > 0 {
                w.put_u16(self.pid)?;
            }
            if v5 {
                w.put_vbi(props)?;
                let mut r = Ok(());
                self.each_own_property(|p| {
                    if r.is_ok() {
                        r = p.write(w, version);
                    }
                });
                r?;
            }
            Ok(())
        };
        let mut small = [0u8; 64];
        let mut w = Writer::new(&mut small);
        if write_rest(&mut w).is_ok() {
            let n = w.position();
            out.extend_from_slice(small.get(..n).unwrap_or(&[]));
            return Ok(());
        }
        // More than fits on the stack (many Subscription Identifiers): exactly sized.
        let len = body as usize
            - 2
            - self.topic.len()
            - self.payload.len()
            - if v5 { self.forwarded.len() } else { 0 };
        let mut rest = alloc::vec![0u8; len];
        write_rest(&mut Writer::new(&mut rest))?;
        out.extend_from_slice(&rest);
        Ok(())
    }
}

#[cfg(test)]
mod delivery_tests {
    use super::*;
    use crate::broker::storage::MessageProps;
    use alloc::vec;

    /// A `Delivery` encodes to exactly what the codec encodes for the same PUBLISH, with the
    /// receiver's own properties first and the forwarded ones after them; too large, nothing.
    #[test]
    fn delivery_bytes_equal_the_codecs() {
        let props = MessageProps {
            payload_format: Some(1),
            content_type: Some("text/plain".into()),
            response_topic: Some("r".into()),
            correlation_data: Some(vec![1, 2]),
            user: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            message_expiry: None,
        };
        let forwarded = props.encode_forwarded();
        for (version, qos, expiry, alias, ids, topic) in [
            (
                ProtocolVersion::V5,
                1,
                Some(30),
                Some(3),
                vec![7u32, 300_000],
                "a/b",
            ),
            // More own properties than the stack buffer holds.
            (ProtocolVersion::V5, 1, None, None, (1..40).collect(), "a/b"),
            (ProtocolVersion::V5, 0, None, None, vec![], "a/b"),
            (ProtocolVersion::V5, 2, None, Some(9), vec![], ""),
            (ProtocolVersion::V3_1_1, 2, Some(5), None, vec![1], "a/b"),
        ] {
            let d = Delivery {
                topic,
                payload: b"hello",
                forwarded: &forwarded,
                sub_ids: &ids,
                message_expiry: expiry,
                topic_alias: alias,
                dup: qos > 0,
                qos,
                retain: true,
                pid: 42,
            };
            let mut got = vec![0xEE];
            let n = d.encode_into(version, usize::MAX, &mut got).unwrap();
            let mut list = Vec::new();
            if version.is_v5() {
                d.each_own_property(|p| list.push(p));
                list.extend([
                    Property::PayloadFormatIndicator(1),
                    Property::ContentType("text/plain"),
                    Property::ResponseTopic("r"),
                    Property::CorrelationData(&[1, 2]),
                    Property::UserProperty(("k", "v")),
                    Property::UserProperty(("k", "w")),
                ]);
            }
            let want = codec::Packet::Publish(codec::Publish {
                dup: qos > 0,
                qos: codec::QoS::from_u8(qos).unwrap(),
                retain: true,
                topic,
                packet_id: (qos > 0).then_some(42),
                properties: codec::Properties::Slice(&list),
                payload: b"hello",
            });
            let want = encode_vec(&want, version);
            assert_eq!(&got[1..], &want[..], "{version:?} qos {qos}");
            assert_eq!(n, want.len());
            // Too large: nothing appended.
            assert_eq!(d.encode_into(version, n - 1, &mut got), None);
            assert_eq!(got.len(), 1 + n);
        }
    }

    /// Without forwarded properties the 5.0 form is the codec's PUBLISH with only the
    /// receiver's own (the common case of a fan-out: nothing shared but the payload).
    #[test]
    fn delivery_without_forwarded_properties() {
        assert!(MessageProps::default().encode_forwarded().is_empty());
        let d = Delivery {
            topic: "t",
            payload: &[0u8; 64],
            forwarded: &[],
            sub_ids: &[],
            message_expiry: None,
            topic_alias: None,
            dup: false,
            qos: 0,
            retain: false,
            pid: 0,
        };
        let mut got = Vec::new();
        d.encode_into(ProtocolVersion::V5, usize::MAX, &mut got)
            .unwrap();
        let want = encode_vec(
            &codec::Packet::Publish(codec::Publish::new("t", &[0u8; 64])),
            ProtocolVersion::V5,
        );
        assert_eq!(got, want);
    }
}
