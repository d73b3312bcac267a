//! Input: framing the bytes of a connection into packets (bounded by our Maximum Packet Size
//! from the fixed header, before anything is buffered) and dispatching each to its handler.
//!
//! Enforces: the first packet is CONNECT ([MQTT-3.1.0-1] (both)); a packet over our Maximum
//! Packet Size is refused from its fixed header ([MQTT-3.2.2-15] (5.0), DISCONNECT 0x95);
//! an unsupported protocol level gets CONNACK 0x01 in the 3.1.1 form ([MQTT-3.1.2-2] (3.1.1));
//! a malformed 5.0 CONNECT may get CONNACK with the error's reason code (5.0 §4.13); during
//! enhanced authentication only AUTH or DISCONNECT ([MQTT-3.1.2-30] (5.0)).

use alloc::format;

use super::super::storage::Storage;
use super::outgoing::encode_vec;
use super::publish::InPublish;
use super::*;
use crate::codec::{self, DecodeError, Decoded, Packet, PacketType, ProtocolVersion};
use crate::time::Instant;

impl<S: Storage> Broker<S> {
    /// Parses and handles the whole packets in `conn`'s input buffer, until it is empty, holds
    /// only part of a packet, or the connection pauses or ends.
    pub(super) fn process_input(&mut self, conn: ConnectionId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut buf = core::mem::take(&mut c.inbuf);
        let used = self.parse_packets(conn, now, &buf);
        if let Some(c) = self.conns.get_mut(&conn) {
            buf.drain(..used);
            // An empty buffer gives its memory back (it may have held a large packet); one
            // holding the start of a packet is kept for the rest.
            c.inbuf = if buf.is_empty() { Vec::new() } else { buf };
        }
        self.update_pause(conn, now);
    }

    /// Handles the whole packets at the start of `buf` (bytes of `conn`, which must not be in
    /// its own buffer meanwhile); returns how many bytes they took. Stops at a partial packet,
    /// or when the connection pauses or ends.
    pub(super) fn parse_packets(&mut self, conn: ConnectionId, now: Instant, buf: &[u8]) -> usize {
        let mut start = 0;
        loop {
            let Some(c) = self.conns.get(&conn) else {
                return start;
            };
            if c.paused {
                return start;
            }
            // Before CONNECT the version is unknown; only CONNECT is accepted then, whose
            // header reads the same in both versions.
            let version = match c.state {
                State::Connected => c.version,
                State::AwaitConnect(_) | State::Authenticating(_) => ProtocolVersion::V5,
            };
            let rest = &buf[start..];
            let h = match codec::FixedHeader::decode(rest, version) {
                Ok(Decoded::Complete { value, .. }) => value,
                Ok(Decoded::Incomplete(_)) => return start,
                Err(e) => {
                    self.fail(conn, now, e.reason_code(), &format!("{e}"));
                    return start;
                }
            };
            // [MQTT-3.2.2-15] (5.0): a packet over our Maximum Packet Size is refused from its fixed
            // header, before it is buffered: DISCONNECT 0x95 (5.0 §4.13).
            if h.packet_len() > u64::from(self.config.max_packet_size) {
                self.fail(conn, now, ReasonCode::PacketTooLarge, "packet too large");
                return start;
            }
            let total = usize::try_from(h.packet_len()).unwrap_or(usize::MAX);
            if rest.len() < total {
                return start;
            }
            start += total;
            self.handle_packet(conn, now, &h, &rest[h.header_len..total]);
        }
    }

    pub(super) fn handle_packet(
        &mut self,
        conn: ConnectionId,
        now: Instant,
        h: &codec::FixedHeader,
        body: &[u8],
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if let State::AwaitConnect(_) = c.state {
            if h.packet_type != codec::PacketType::Connect {
                // [MQTT-3.1.0-1] (both): the first packet must be CONNECT.
                self.close(conn, now, WillFate::Discard, "first packet not CONNECT");
                return;
            }
            match codec::decode_body(h.packet_type, h.flags, body, ProtocolVersion::V5) {
                Ok(Packet::Connect(connect)) => self.on_connect(conn, now, &connect),
                Ok(_) => self.close(conn, now, WillFate::Discard, "first packet not CONNECT"),
                Err(DecodeError::UnsupportedProtocolVersion { .. }) => {
                    // [MQTT-3.1.2-2] (3.1.1) / 5.0 §3.1.2.2: CONNACK return code 0x01 in the
                    // 3.1.1 form, which a client of any version can read, then close.
                    let p = codec::ConnAck::new(ReasonCode::UnsupportedProtocolVersion);
                    let data = encode_vec(&Packet::ConnAck(p), ProtocolVersion::V3_1_1);
                    self.transmit(conn, data);
                    self.close(conn, now, WillFate::Discard, "unsupported protocol version");
                }
                Err(e) => {
                    if connect_version(body) == Some(ProtocolVersion::V5) {
                        // [MQTT-4.13.1-1] 5.0 §4.13: a bad CONNECT may be answered with
                        // CONNACK and the error's reason code before closing.
                        let p = codec::ConnAck::new(e.reason_code());
                        let data = encode_vec(&Packet::ConnAck(p), ProtocolVersion::V5);
                        self.transmit(conn, data);
                    }
                    let why = format!("{e}");
                    self.close_with(conn, now, WillFate::Discard, Some(e.reason_code()), &why);
                }
            }
            return;
        }
        let authenticating = matches!(c.state, State::Authenticating(_));
        // Every packet is handled straight from the codec's view of `body`: nothing is copied
        // but what outlives the input (a message's topic and payload, a subscription's filter).
        let packet = match codec::decode_body(h.packet_type, h.flags, body, c.version) {
            Ok(p) => p,
            Err(e) => {
                if authenticating {
                    let code = e.reason_code();
                    self.refuse(conn, now, ProtocolVersion::V5, code, &[]);
                } else {
                    self.fail(conn, now, e.reason_code(), &format!("{e}"));
                }
                return;
            }
        };
        if authenticating {
            match packet {
                Packet::Auth(auth) => self.on_auth(conn, now, &auth),
                Packet::Disconnect(_) => self.close(
                    conn,
                    now,
                    WillFate::Discard,
                    "DISCONNECT during authentication",
                ),
                // [MQTT-3.1.2-30]: only AUTH or DISCONNECT until CONNACK.
                _ => self.refuse(
                    conn,
                    now,
                    ProtocolVersion::V5,
                    ReasonCode::ProtocolError,
                    &[],
                ),
            }
            return;
        }
        match packet {
            // The hot path: no owned packet in between.
            Packet::Publish(view) => self.on_publish(conn, now, InPublish::from_view(&view)),
            Packet::PubAck(a) => {
                self.on_ack(conn, now, PacketType::PubAck, a.packet_id, a.reason_code)
            }
            Packet::PubRec(a) => {
                self.on_ack(conn, now, PacketType::PubRec, a.packet_id, a.reason_code)
            }
            Packet::PubRel(a) => {
                self.on_ack(conn, now, PacketType::PubRel, a.packet_id, a.reason_code)
            }
            Packet::PubComp(a) => {
                self.on_ack(conn, now, PacketType::PubComp, a.packet_id, a.reason_code)
            }
            Packet::Subscribe(s) => self.on_subscribe(conn, now, &s),
            Packet::Unsubscribe(u) => self.on_unsubscribe(conn, &u),
            Packet::PingReq(_) => self.send_packet(conn, &Packet::PingResp(codec::PingResp)),
            Packet::Disconnect(d) => self.on_disconnect(conn, now, &d),
            Packet::Auth(a) => self.on_auth(conn, now, &a),
            Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp(_) => {
                self.fail(conn, now, ReasonCode::ProtocolError, "unexpected packet")
            }
        }
    }
}

/// The protocol level a CONNECT body announces, read without decoding the rest, so that a bad
/// CONNECT can be refused in the right version's CONNACK.
fn connect_version(body: &[u8]) -> Option<ProtocolVersion> {
    match body {
        [0, 4, b'M', b'Q', b'T', b'T', level, ..] => ProtocolVersion::from_level(*level),
        _ => None,
    }
}
