//! Ready-made malformed packets: the malformations conformance scenarios send most often.
//!
//! Each function returns the bytes of one otherwise-valid packet with exactly one thing wrong,
//! and names the statement the receiver is then held to (5.0 id first, 3.1.1 id where it
//! differs). A server that receives any of these must close the connection (5.0: after a
//! DISCONNECT with the reason code given, where it sends one).
//!
//! Not here because it needs no special bytes: a **second CONNECT** [MQTT-3.1.0-2] is sending
//! [`Connect::build`](super::Connect::build) twice on the same connection
//! (`c.send_bytes(&connect).await?; c.send_bytes(&connect).await?`).
//!
//! Anything else is one builder call away: see the overrides on each builder in [`super`].

use super::{prop, vbi_padded, Connect, Property, Publish, Subscribe};
use crate::ProtocolVersion;

/// CONNECT with the reserved connect-flags bit 0 set [MQTT-3.1.2-3] (5.0: Malformed Packet 0x81).
pub fn connect_reserved_flag(version: ProtocolVersion, client_id: &str) -> Vec<u8> {
    let c = Connect::new(version, client_id);
    let flags = c.computed_connect_flags() | 0x01;
    c.connect_flags_override(flags).build()
}

/// CONNECT with fixed-header flags `0001` instead of `0000` [MQTT-2.1.3-1] (3.1.1:
/// [MQTT-2.2.2-2]).
pub fn connect_reserved_header_flags(version: ProtocolVersion, client_id: &str) -> Vec<u8> {
    Connect::new(version, client_id)
        .flags_override(0x01)
        .build()
}

/// SUBSCRIBE with fixed-header flags `0000` instead of `0010` [MQTT-3.8.1-1].
pub fn subscribe_reserved_flags(version: ProtocolVersion, packet_id: u16, filter: &str) -> Vec<u8> {
    Subscribe::new(version, packet_id)
        .filter(filter, 0)
        .flags_override(0x00)
        .build()
}

/// Re-encodes the Remaining Length of a frame built elsewhere as a `width`-byte Variable Byte
/// Integer: 2–4 is non-minimal [MQTT-1.5.5-1], 5 is over-long (malformed in both versions).
/// Returns the frame unchanged if it does not start with a well-formed fixed header.
pub fn pad_remaining_length(frame: &[u8], width: usize) -> Vec<u8> {
    let Some((&first, rest)) = frame.split_first() else {
        return frame.to_vec();
    };
    let mut len = 0u64;
    for (i, b) in rest.iter().take(4).enumerate() {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let mut out = vec![first];
            out.extend_from_slice(&vbi_padded(len, width));
            out.extend_from_slice(&rest[i + 1..]);
            return out;
        }
    }
    frame.to_vec()
}

/// CONNECT whose Remaining Length is written in 5 bytes (a Variable Byte Integer may have at
/// most 4; the value itself is correct).
pub fn connect_five_byte_length(version: ProtocolVersion, client_id: &str) -> Vec<u8> {
    Connect::new(version, client_id)
        .remaining_length_padded(5)
        .build()
}

/// CONNECT whose Remaining Length is correct but non-minimally encoded in 2 bytes
/// [MQTT-1.5.5-1] (5.0 only; 3.1.1 does not state minimality as a requirement).
pub fn connect_non_minimal_length(version: ProtocolVersion, client_id: &str) -> Vec<u8> {
    Connect::new(version, client_id)
        .remaining_length_padded(2)
        .build()
}

/// PUBLISH to a topic that is not valid UTF-8 (`a/` then `FF`) [MQTT-1.5.4-1] (3.1.1:
/// [MQTT-1.5.3-1]).
pub fn publish_invalid_utf8_topic(version: ProtocolVersion) -> Vec<u8> {
    Publish::new(version, [b'a', b'/', 0xff], "x").build()
}

/// PUBLISH to a topic containing the UTF-8-encoded surrogate U+D800 (`ED A0 80`)
/// [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]).
pub fn publish_surrogate_topic(version: ProtocolVersion) -> Vec<u8> {
    Publish::new(version, [b'a', b'/', 0xed, 0xa0, 0x80], "x").build()
}

/// CONNECT whose client identifier contains U+0000 (`a`, `00`, `b`) [MQTT-1.5.4-2] (3.1.1:
/// [MQTT-1.5.3-2]).
pub fn connect_null_in_client_id(version: ProtocolVersion) -> Vec<u8> {
    Connect::new(version, [b'a', 0x00, b'b']).build()
}

/// 5.0 CONNECT carrying Session Expiry Interval twice (a Protocol Error, §3.1.2.11.2).
pub fn connect_duplicate_property(client_id: &str) -> Vec<u8> {
    Connect::v5(client_id)
        .property(prop::session_expiry_interval(0))
        .property(prop::session_expiry_interval(0))
        .build()
}

/// 5.0 CONNECT carrying a property CONNECT may not have (Topic Alias, a PUBLISH property):
/// Malformed Packet / Protocol Error (§2.2.2.2).
pub fn connect_misplaced_property(client_id: &str) -> Vec<u8> {
    Connect::v5(client_id)
        .property(prop::topic_alias(1))
        .build()
}

/// 5.0 CONNECT carrying an unknown property identifier (0x7F, one value byte).
pub fn connect_unknown_property(client_id: &str) -> Vec<u8> {
    Connect::v5(client_id)
        .property(Property::raw(0x7f, [0x00]))
        .build()
}

/// PUBLISH with both QoS bits set (QoS 3) [MQTT-3.3.1-4].
pub fn publish_qos3(version: ProtocolVersion, topic: &str) -> Vec<u8> {
    Publish::new(version, topic, "x").qos(3).build()
}

/// QoS 1 PUBLISH with packet identifier 0 [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
pub fn publish_packet_id_zero(version: ProtocolVersion, topic: &str) -> Vec<u8> {
    Publish::new(version, topic, "x")
        .qos(1)
        .packet_id(0)
        .build()
}

/// SUBSCRIBE with packet identifier 0 [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
pub fn subscribe_packet_id_zero(version: ProtocolVersion, filter: &str) -> Vec<u8> {
    Subscribe::new(version, 0).filter(filter, 0).build()
}

/// PUBLISH whose topic name contains a wildcard (`a/+/c`) [MQTT-3.3.2-2].
pub fn publish_wildcard_topic(version: ProtocolVersion) -> Vec<u8> {
    Publish::new(version, "a/+/c", "x").build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProtocolVersion::{V3_1_1, V5};

    #[test]
    fn reserved_bits() {
        assert_eq!(
            connect_reserved_flag(V5, "c"),
            [
                0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, //
                0x03, // clean start + reserved bit 0
                0x00, 0x1e, 0x00, 0x00, 0x01, b'c',
            ]
        );
        assert_eq!(connect_reserved_header_flags(V3_1_1, "c")[0], 0x11);
        assert_eq!(
            subscribe_reserved_flags(V3_1_1, 1, "t"),
            [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x00] // 0x80: flags 0000
        );
    }

    #[test]
    fn lengths() {
        assert_eq!(
            connect_five_byte_length(V3_1_1, "c")[..7],
            [0x10, 0x8d, 0x80, 0x80, 0x80, 0x00, 0x00] // 13 in five bytes, then the body
        );
        assert_eq!(
            connect_non_minimal_length(V5, "c")[..4],
            [0x10, 0x8e, 0x00, 0x00]
        );
        assert_eq!(pad_remaining_length(&[0xc0, 0x00], 2), [0xc0, 0x80, 0x00]);
        assert_eq!(
            pad_remaining_length(&[0x30, 0x03, 0x00, 0x01, b'a'], 5),
            [0x30, 0x83, 0x80, 0x80, 0x80, 0x00, 0x00, 0x01, b'a']
        );
        assert_eq!(pad_remaining_length(&[0x30], 2), [0x30]);
    }

    #[test]
    fn strings() {
        assert_eq!(
            publish_invalid_utf8_topic(V5),
            [0x30, 0x07, 0x00, 0x03, b'a', b'/', 0xff, 0x00, b'x']
        );
        assert_eq!(
            publish_surrogate_topic(V3_1_1),
            [0x30, 0x08, 0x00, 0x05, b'a', b'/', 0xed, 0xa0, 0x80, b'x']
        );
        assert_eq!(
            connect_null_in_client_id(V3_1_1)[12..],
            [0x00, 0x03, b'a', 0x00, b'b'] // client id with U+0000
        );
        assert_eq!(
            publish_wildcard_topic(V3_1_1),
            [0x30, 0x08, 0x00, 0x05, b'a', b'/', b'+', b'/', b'c', b'x']
        );
    }

    #[test]
    fn properties() {
        assert_eq!(
            connect_duplicate_property("c")[12..],
            [
                0x0a, // property length 10
                0x11, 0, 0, 0, 0, // session expiry
                0x11, 0, 0, 0, 0, // again
                0x00, 0x01, b'c',
            ]
        );
        assert_eq!(
            connect_misplaced_property("c")[12..],
            [0x03, 0x23, 0x00, 0x01, 0x00, 0x01, b'c'] // topic alias in CONNECT
        );
        assert_eq!(
            connect_unknown_property("c")[12..],
            [0x02, 0x7f, 0x00, 0x00, 0x01, b'c']
        );
    }

    #[test]
    fn qos_and_packet_ids() {
        assert_eq!(
            publish_qos3(V5, "t"),
            [0x36, 0x07, 0x00, 0x01, b't', 0x00, 0x01, 0x00, b'x'] // 0x36: QoS bits 11
        );
        assert_eq!(
            publish_packet_id_zero(V3_1_1, "t"),
            [0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x00, b'x']
        );
        assert_eq!(
            subscribe_packet_id_zero(V3_1_1, "t"),
            [0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b't', 0x00]
        );
    }
}
