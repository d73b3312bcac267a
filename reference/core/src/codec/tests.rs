//! Cross-packet tests: one test per malformed-input rule the spec states (each names its
//! statement id and asserts the exact error and reason code), framing, and the tables.
//! Property-based tests live in `proptests`.

use super::test_util::{decode_err, decodes_to};
use super::*;
use crate::topic::TopicError;

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

fn malformed(m: Malformed) -> DecodeError {
    DecodeError::Malformed(m)
}

fn protocol(p: ProtocolViolation) -> DecodeError {
    DecodeError::Protocol(p)
}

// The cases whose input is a constant live in `vectors::MALFORMED`, which the embedded runner
// (`cargo xtask qemu`) shares; the tests below keep the ones built at run time.
#[test]
fn malformed_vectors() {
    assert!(vectors::MALFORMED.len() >= 40);
    for case in vectors::MALFORMED {
        assert_eq!(vectors::check_malformed(case), Ok(()), "{}", case.name);
    }
}

#[test]
fn golden_vectors_round_trip() {
    assert!(vectors::GOLDEN.len() >= 40);
    for case in vectors::GOLDEN {
        assert_eq!(vectors::check_golden(case), Ok(()), "{}", case.name);
    }
}

/// Asserts the error and the reason code it maps to, in every listed version.
fn assert_err(bytes: &[u8], versions: &[ProtocolVersion], err: DecodeError, reason: ReasonCode) {
    for &v in versions {
        let e = decode_err(bytes, v);
        assert_eq!(e, err, "{v}: {bytes:02x?}");
        assert_eq!(e.reason_code(), reason);
        assert_eq!(ReasonCode::from(e), reason);
    }
}

// ---- Variable Byte Integer ([MQTT-1.5.5-1] (5.0); 3.1.1 §2.2.3) ----

#[test]
fn vbi_boundaries() {
    for (v, n) in [
        (0, 1),
        (127, 1),
        (128, 2),
        (16_383, 2),
        (16_384, 3),
        (2_097_151, 3),
        (2_097_152, 4),
        (VBI_MAX, 4),
    ] {
        assert_eq!(vbi_len(v), Some(n));
        let mut out = [0u8; 4];
        let mut w = Writer::new(&mut out);
        w.put_vbi(v).unwrap();
        assert_eq!(w.position(), n);
        assert_eq!(reader::decode_vbi(&out[..n]), Ok(Some((v, n))));
    }
    assert_eq!(vbi_len(VBI_MAX + 1), None);
    let mut out = [0u8; 4];
    assert_eq!(
        Writer::new(&mut out).put_vbi(VBI_MAX + 1),
        Err(EncodeError::VarIntOutOfRange(VBI_MAX + 1))
    );
    assert_eq!(
        reader::decode_vbi(&[0xFF, 0xFF, 0xFF, 0x7F]),
        Ok(Some((VBI_MAX, 4)))
    );
}

// ---- Fixed header ----

#[test]
fn mqtt_2_1_3_1_reserved_flags_for_every_packet_type() {
    // [MQTT-2.1.3-1] (5.0) / [MQTT-2.2.2-1], [MQTT-2.2.2-2] (3.1.1); per packet also
    // [MQTT-3.6.1-1] (both), [MQTT-3.8.1-1] (both), [MQTT-3.10.1-1] (both), [MQTT-3.14.1-1] (both), [MQTT-3.15.1-1].
    for t in PacketType::ALL {
        let Some(required) = t.required_flags() else {
            continue;
        };
        for flags in 0..16u8 {
            if flags == required {
                continue;
            }
            let versions: &[ProtocolVersion] = if t == PacketType::Auth { &[V5] } else { &BOTH };
            // Checked from the first byte alone: no Remaining Length needed.
            assert_err(
                &[((t as u8) << 4) | flags],
                versions,
                malformed(Malformed::InvalidFlags {
                    packet_type: t,
                    flags,
                }),
                ReasonCode::MalformedPacket,
            );
        }
    }
}

// ---- Packet identifiers: [MQTT-2.2.1-3] (5.0) / [MQTT-2.3.1-1] (3.1.1) ----

#[test]
fn mqtt_2_2_1_3_packet_identifier_zero() {
    let pid0 = protocol(ProtocolViolation::PacketIdentifierZero);
    // PUBLISH QoS 1.
    assert_err(
        &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
        &[V3],
        pid0,
        ReasonCode::ProtocolError,
    );
    assert_err(
        &[0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x00, 0x00],
        &[V5],
        pid0,
        ReasonCode::ProtocolError,
    );
    // SUBSCRIBE.
    assert_err(
        &[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b't', 0x00],
        &[V3],
        pid0,
        ReasonCode::ProtocolError,
    );
    // UNSUBSCRIBE.
    assert_err(
        &[0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, b't'],
        &[V3],
        pid0,
        ReasonCode::ProtocolError,
    );
    // SUBACK, UNSUBACK.
    assert_err(
        &[0x90, 0x03, 0x00, 0x00, 0x00],
        &[V3],
        pid0,
        ReasonCode::ProtocolError,
    );
    assert_err(
        &[0xB0, 0x02, 0x00, 0x00],
        &BOTH,
        pid0,
        ReasonCode::ProtocolError,
    );
}

// ---- Remaining Length must match exactly: the cases are in `vectors::MALFORMED` ----

// ---- UTF-8: [MQTT-1.5.4-1], [MQTT-1.5.4-2], [MQTT-1.5.4-3] (5.0) / [MQTT-1.5.3-1..3] (3.1.1) ----

#[test]
fn mqtt_1_5_4_1_surrogate() {
    assert_eq!(
        check_utf8(&[b'a', 0xED, 0xBF, 0xBF]),
        Err(malformed(Malformed::Surrogate))
    );
}

#[test]
fn mqtt_1_5_4_3_bom_is_kept() {
    let bytes = [0x30, 0x06, 0x00, 0x04, 0xEF, 0xBB, 0xBF, b't'];
    decodes_to(&bytes, V3, Packet::Publish(Publish::new("\u{FEFF}t", b"")));
    // 5.0: the same plus Property Length 0.
    let bytes = [0x30, 0x07, 0x00, 0x04, 0xEF, 0xBB, 0xBF, b't', 0x00];
    decodes_to(&bytes, V5, Packet::Publish(Publish::new("\u{FEFF}t", b"")));
}

#[test]
fn discouraged_code_points_are_accepted_but_detectable() {
    let bytes = [0x30, 0x04, 0x00, 0x02, b'a', 0x01];
    decodes_to(&bytes, V3, Packet::Publish(Publish::new("a\u{1}", b"")));
    assert!(has_discouraged_code_points("a\u{1}"));
    assert!(has_discouraged_code_points("\u{7F}"));
    assert!(has_discouraged_code_points("\u{9F}"));
    assert!(has_discouraged_code_points("\u{FDD0}"));
    assert!(has_discouraged_code_points("\u{1FFFF}"));
    assert!(!has_discouraged_code_points("a/b é 😀 \u{FEFF}"));
}

// ---- Properties (MQTT 5.0 §2.2.2) ----

#[test]
fn user_property_and_publish_subscription_identifier_may_repeat() {
    let props = [
        Property::UserProperty(("a", "1")),
        Property::UserProperty(("a", "2")),
        Property::SubscriptionIdentifier(1),
        Property::SubscriptionIdentifier(2),
    ];
    let p = Publish {
        properties: Properties::from(&props),
        ..Publish::new("t", b"")
    };
    let mut out = [0u8; 64];
    let n = p.encode(V5, &mut out).unwrap();
    decodes_to(&out[..n], V5, Packet::Publish(p));
}

#[test]
fn property_not_allowed_in_packet_is_protocol_error() {
    // Will Delay Interval is for the Will Properties only, not CONNECT's own properties.
    let bytes = [
        0x10, 0x12, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00, // header
        0x05, 0x18, 0x00, 0x00, 0x00, 0x01, // Will Delay Interval in CONNECT properties
        0x00, 0x00, // Client Identifier ""
    ];
    assert_err(
        &bytes,
        &[V5],
        protocol(ProtocolViolation::PropertyNotAllowed {
            property: PropertyId::WillDelayInterval,
            context: PropertyContext::Packet(PacketType::Connect),
        }),
        ReasonCode::ProtocolError,
    );
}

#[test]
fn property_values_out_of_range_are_protocol_errors() {
    let cases: [(&[u8], PropertyId); 8] = [
        (&[0x0B, 0x00], PropertyId::SubscriptionIdentifier),
        (&[0x21, 0x00, 0x00], PropertyId::ReceiveMaximum),
        (
            &[0x27, 0x00, 0x00, 0x00, 0x00],
            PropertyId::MaximumPacketSize,
        ),
        (&[0x24, 0x02], PropertyId::MaximumQoS),
        (&[0x25, 0x02], PropertyId::RetainAvailable),
        (&[0x28, 0x02], PropertyId::WildcardSubscriptionAvailable),
        (&[0x29, 0x02], PropertyId::SubscriptionIdentifierAvailable),
        (&[0x2A, 0x02], PropertyId::SharedSubscriptionAvailable),
    ];
    for (prop, id) in cases {
        // In CONNACK (where all but Subscription Identifier live) or SUBSCRIBE.
        let mut buf = [0u8; 32];
        let n = if id == PropertyId::SubscriptionIdentifier {
            let head = [0x82, 0, 0x00, 0x01, prop.len() as u8];
            buf[..5].copy_from_slice(&head);
            buf[5..5 + prop.len()].copy_from_slice(prop);
            let tail = [0x00, 0x01, b't', 0x00];
            buf[5 + prop.len()..9 + prop.len()].copy_from_slice(&tail);
            9 + prop.len()
        } else {
            let head = [0x20, 0, 0x00, 0x00, prop.len() as u8];
            buf[..5].copy_from_slice(&head);
            buf[5..5 + prop.len()].copy_from_slice(prop);
            5 + prop.len()
        };
        buf[1] = (n - 2) as u8;
        assert_err(
            &buf[..n],
            &[V5],
            protocol(ProtocolViolation::InvalidPropertyValue(id)),
            ReasonCode::ProtocolError,
        );
    }
    // Request Problem Information / Request Response Information 2 in CONNECT.
    for id in [0x17u8, 0x19] {
        let bytes = [
            0x10, 0x0F, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00, 0x02, id, 0x02,
            0x00, 0x00,
        ];
        let e = decode_err(&bytes, V5);
        assert_eq!(
            e,
            protocol(ProtocolViolation::InvalidPropertyValue(
                PropertyId::from_u8(id).unwrap()
            ))
        );
    }
}

// ---- Topic names and filters ----

#[test]
fn mqtt_3_8_3_2_empty_subscription_list() {
    // [MQTT-3.8.3-2] (5.0) / [MQTT-3.8.3-3] (3.1.1).
    let e = protocol(ProtocolViolation::NoTopicFilters(PacketType::Subscribe));
    assert_err(
        &[0x82, 0x02, 0x00, 0x01],
        &[V3],
        e,
        ReasonCode::ProtocolError,
    );
    assert_err(
        &[0x82, 0x03, 0x00, 0x01, 0x00],
        &[V5],
        e,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn mqtt_3_10_3_2_empty_unsubscribe_list() {
    // [MQTT-3.10.3-2] (5.0) / [MQTT-3.10.3-2] (3.1.1).
    let e = protocol(ProtocolViolation::NoTopicFilters(PacketType::Unsubscribe));
    assert_err(
        &[0xA2, 0x02, 0x00, 0x01],
        &[V3],
        e,
        ReasonCode::ProtocolError,
    );
    assert_err(
        &[0xA2, 0x03, 0x00, 0x01, 0x00],
        &[V5],
        e,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn mqtt_3_8_3_4_no_local_on_shared_subscription() {
    let bytes = [
        0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g',
        b'/', b't', 0x04,
    ];
    assert_err(
        &bytes[..],
        &[V5],
        protocol(ProtocolViolation::NoLocalOnSharedSubscription),
        ReasonCode::ProtocolError,
    );
}

// ---- Reason codes ----

#[test]
fn reason_code_not_allowed_in_packet() {
    // Packet Identifier not found in PUBACK; Not authorized in PUBREL ([MQTT-3.6.2-1] (5.0)).
    assert_eq!(
        decode_err(&[0x40, 0x03, 0x00, 0x01, 0x92], V5).reason_code(),
        ReasonCode::ProtocolError
    );
    assert_eq!(
        decode_err(&[0x62, 0x03, 0x00, 0x01, 0x87], V5).reason_code(),
        ReasonCode::ProtocolError
    );
}

#[test]
fn reason_code_table_matches_spec_table_2_6() {
    use PacketType as P;
    assert!(
        ReasonCode::Success.allowed_in(P::Disconnect) && ReasonCode::Success.allowed_in(P::SubAck)
    );
    assert!(!ReasonCode::Success.allowed_in(P::Publish));
    assert!(ReasonCode::PacketIdentifierNotFound.allowed_in(P::PubRel));
    assert!(!ReasonCode::PacketIdentifierNotFound.allowed_in(P::PubAck));
    assert!(ReasonCode::TopicNameInvalid.allowed_in(P::ConnAck));
    assert!(!ReasonCode::TopicNameInvalid.allowed_in(P::SubAck));
    assert!(ReasonCode::ReAuthenticate.allowed_in(P::Auth));
    for rc in ReasonCode::ALL {
        assert_eq!(ReasonCode::from_u8(rc.as_u8()), Some(rc));
        assert!(
            PacketType::ALL.iter().any(|&t| rc.allowed_in(t)),
            "{rc} allowed nowhere"
        );
        for t in [
            P::Connect,
            P::Publish,
            P::Subscribe,
            P::Unsubscribe,
            P::PingReq,
            P::PingResp,
        ] {
            assert!(!rc.allowed_in(t));
        }
    }
    assert_eq!(ReasonCode::ALL.len(), 43);
}

#[test]
fn property_table_matches_spec_table_2_4() {
    use PacketType as P;
    use PropertyContext::{Packet as In, Will};
    assert!(PropertyId::WillDelayInterval.allowed_in(Will));
    assert!(!PropertyId::WillDelayInterval.allowed_in(In(P::Connect)));
    assert!(
        PropertyId::ContentType.allowed_in(Will)
            && PropertyId::ContentType.allowed_in(In(P::Publish))
    );
    assert!(
        PropertyId::ReasonString.allowed_in(In(P::PubComp))
            && !PropertyId::ReasonString.allowed_in(In(P::Publish))
    );
    assert!(PropertyId::SubscriptionIdentifier.allowed_in(In(P::Subscribe)));
    assert!(!PropertyId::SubscriptionIdentifier.allowed_in(In(P::Unsubscribe)));
    for t in PacketType::ALL {
        let props_exist = !matches!(t, P::PingReq | P::PingResp);
        assert_eq!(PropertyId::UserProperty.allowed_in(In(t)), props_exist);
    }
    for id in PropertyId::ALL {
        assert_eq!(PropertyId::from_u8(id as u8), Some(id));
    }
    assert_eq!(PropertyId::ALL.len(), 27);
}

// ---- CONNECT ----

fn connect_bytes(name: &[u8], level: u8, flags: u8, rest: &[u8], out: &mut [u8; 64]) -> usize {
    let mut n = 2;
    out[n..n + 2].copy_from_slice(&(name.len() as u16).to_be_bytes());
    n += 2;
    out[n..n + name.len()].copy_from_slice(name);
    n += name.len();
    out[n] = level;
    out[n + 1] = flags;
    out[n + 2] = 0;
    out[n + 3] = 0;
    n += 4;
    out[n..n + rest.len()].copy_from_slice(rest);
    n += rest.len();
    out[0] = 0x10;
    out[1] = (n - 2) as u8;
    n
}

#[test]
fn mqtt_3_1_2_1_protocol_name() {
    let mut b = [0u8; 64];
    let n = connect_bytes(b"MQTX", 4, 0x02, &[0x00, 0x00], &mut b);
    assert_err(
        &b[..n],
        &BOTH,
        DecodeError::InvalidProtocolName,
        ReasonCode::UnsupportedProtocolVersion,
    );
}

#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level() {
    let mut b = [0u8; 64];
    // MQTT 3.1: "MQIsdp" level 3, recognised only to be refused.
    let n = connect_bytes(b"MQIsdp", 3, 0x02, &[0x00, 0x00], &mut b);
    assert_err(
        &b[..n],
        &BOTH,
        DecodeError::UnsupportedProtocolVersion { level: 3 },
        ReasonCode::UnsupportedProtocolVersion,
    );
    for level in [0u8, 3, 6, 0xFF] {
        let n = connect_bytes(b"MQTT", level, 0x02, &[0x00, 0x00], &mut b);
        assert_err(
            &b[..n],
            &BOTH,
            DecodeError::UnsupportedProtocolVersion { level },
            ReasonCode::UnsupportedProtocolVersion,
        );
    }
    // The 3.1.1 CONNACK return code for it is 0x01.
    assert_eq!(
        ReasonCode::UnsupportedProtocolVersion.to_connack_return_code(),
        Some(1)
    );
}

#[test]
fn mqtt_3_1_2_3_connect_reserved_flag() {
    let mut b = [0u8; 64];
    for level in [4, 5] {
        let n = connect_bytes(b"MQTT", level, 0x03, &[0x00, 0x00, 0x00], &mut b);
        assert_err(
            &b[..n],
            &BOTH,
            malformed(Malformed::ConnectReservedFlag),
            ReasonCode::MalformedPacket,
        );
    }
}

#[test]
fn mqtt_3_1_2_11_will_flags_consistency() {
    let mut b = [0u8; 64];
    // [MQTT-3.1.2-11] (5.0) / [MQTT-3.1.2-13] (3.1.1): Will QoS 1 without Will Flag.
    let n = connect_bytes(b"MQTT", 4, 0x0A, &[0x00, 0x00], &mut b);
    assert_err(
        &b[..n],
        &BOTH,
        malformed(Malformed::WillQoSWithoutWill),
        ReasonCode::MalformedPacket,
    );
    // [MQTT-3.1.2-13] (5.0) / [MQTT-3.1.2-15] (3.1.1): Will Retain without Will Flag.
    let n = connect_bytes(b"MQTT", 5, 0x22, &[0x00, 0x00, 0x00], &mut b);
    assert_err(
        &b[..n],
        &BOTH,
        malformed(Malformed::WillRetainWithoutWill),
        ReasonCode::MalformedPacket,
    );
    // [MQTT-3.1.2-12] (5.0) / [MQTT-3.1.2-14] (3.1.1): Will QoS 3.
    let n = connect_bytes(
        b"MQTT",
        4,
        0x1E,
        &[0x00, 0x00, 0x00, 0x01, b't', 0x00, 0x00],
        &mut b,
    );
    assert_err(
        &b[..n],
        &BOTH,
        malformed(Malformed::WillQoS3),
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn mqtt_3_1_2_22_password_without_username_v311_only() {
    let mut b = [0u8; 64];
    let n = connect_bytes(b"MQTT", 4, 0x42, &[0x00, 0x00, 0x00, 0x01, b'p'], &mut b);
    assert_err(
        &b[..n],
        &BOTH,
        malformed(Malformed::PasswordWithoutUsername),
        ReasonCode::MalformedPacket,
    );
    // Allowed in 5.0.
    let n = connect_bytes(
        b"MQTT",
        5,
        0x42,
        &[0x00, 0x00, 0x00, 0x00, 0x01, b'p'],
        &mut b,
    );
    assert!(matches!(
        decode(&b[..n], V5, u32::MAX),
        Ok(Decoded::Complete { .. })
    ));
}

#[test]
fn mqtt_3_1_2_9_will_fields_must_be_present() {
    let mut b = [0u8; 64];
    // Will Flag set but the payload ends after the Client Identifier.
    let n = connect_bytes(b"MQTT", 4, 0x06, &[0x00, 0x00], &mut b);
    assert_err(
        &b[..n],
        &BOTH,
        malformed(Malformed::UnexpectedEnd),
        ReasonCode::MalformedPacket,
    );
    // [MQTT-3.1.2-17] (5.0) / [MQTT-3.1.2-19] (3.1.1): User Name Flag without User Name.
    let n = connect_bytes(b"MQTT", 4, 0x82, &[0x00, 0x00], &mut b);
    assert_err(
        &b[..n],
        &BOTH,
        malformed(Malformed::UnexpectedEnd),
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn will_topic_with_wildcard_is_topic_name_invalid() {
    let mut b = [0u8; 64];
    let n = connect_bytes(
        b"MQTT",
        4,
        0x06,
        &[0x00, 0x00, 0x00, 0x01, b'+', 0x00, 0x00],
        &mut b,
    );
    assert_err(
        &b[..n],
        &BOTH,
        DecodeError::TopicNameInvalid(TopicError::WildcardInName),
        ReasonCode::TopicNameInvalid,
    );
}

// ---- CONNACK: the cases are in `vectors::MALFORMED` ----

// ---- Framing ----

#[test]
fn incomplete_reports_bytes_needed() {
    assert_eq!(decode(&[], V5, u32::MAX), Ok(Decoded::Incomplete(2)));
    assert_eq!(decode(&[0x30], V5, u32::MAX), Ok(Decoded::Incomplete(1)));
    assert_eq!(
        decode(&[0x30, 0x80], V5, u32::MAX),
        Ok(Decoded::Incomplete(1))
    );
    // Header complete: exactly the rest of the packet.
    assert_eq!(
        decode(&[0x30, 0x05, 0x00, 0x01], V5, u32::MAX),
        Ok(Decoded::Incomplete(3))
    );
}

#[test]
fn packet_too_large_is_judged_from_the_fixed_header() {
    // Remaining Length 16,383; only the three header bytes are there: refused at once.
    let e = decode(&[0x30, 0xFF, 0x7F], V5, 1024).unwrap_err();
    assert_eq!(
        e,
        DecodeError::PacketTooLarge {
            size: 16_386,
            maximum: 1024
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::PacketTooLarge);
    // Exactly at the limit is fine (the limit counts the whole packet).
    let bytes = [0x30, 0x03, 0x00, 0x01, b't'];
    assert!(matches!(
        decode(&bytes, V3, 5),
        Ok(Decoded::Complete { .. })
    ));
    assert!(matches!(
        decode(&bytes, V3, 4),
        Err(DecodeError::PacketTooLarge {
            size: 5,
            maximum: 4
        })
    ));
}

#[test]
fn decode_returns_consumed_and_leaves_the_rest() {
    let stream = [0xC0, 0x00, 0xD0, 0x00, 0x30];
    assert_eq!(
        decode(&stream, V3, u32::MAX),
        Ok(Decoded::Complete {
            value: Packet::PingReq(PingReq),
            consumed: 2
        })
    );
    assert_eq!(
        decode(&stream[2..], V3, u32::MAX),
        Ok(Decoded::Complete {
            value: Packet::PingResp(PingResp),
            consumed: 2
        })
    );
    assert_eq!(
        decode(&stream[4..], V3, u32::MAX),
        Ok(Decoded::Incomplete(1))
    );
}

#[test]
fn encode_into_too_small_buffer_is_an_error() {
    let p = Packet::Publish(Publish::new("topic", &[0u8; 100]));
    // 1 (type) + 1 (Remaining Length) + 7 (topic) + 1 (Property Length) + 100 (payload).
    for size in [0usize, 1, 2, 50, 109] {
        let mut out = [0u8; 109];
        assert_eq!(
            p.encode(V5, &mut out[..size]),
            Err(EncodeError::BufferTooSmall {
                needed: 110,
                available: size
            })
        );
    }
    let long = [b'a'; 70_000];
    let topic = core::str::from_utf8(&long).unwrap();
    assert_eq!(
        Packet::Publish(Publish::new(topic, b"")).encoded_len(V5),
        Err(EncodeError::FieldTooLong(70_000))
    );
}

#[test]
fn errors_display() {
    use std::string::ToString;
    assert_eq!(
        malformed(Malformed::VarIntNonMinimal).to_string(),
        "malformed packet: variable byte integer not minimally encoded"
    );
    assert_eq!(
        ReasonCode::PacketTooLarge.to_string(),
        "0x95 Packet too large"
    );
    assert!(EncodeError::FieldTooLong(70_000)
        .to_string()
        .contains("70000"));
}

#[cfg(feature = "alloc")]
#[test]
fn packet_buf_and_stream_decoder() {
    let props = [Property::ContentType("text/plain")];
    let p = Publish {
        properties: Properties::from(&props),
        ..Publish::new("a/b", b"hello")
    };
    let buf = PacketBuf::from_packet(&Packet::Publish(p), V5).unwrap();
    assert_eq!(buf.view(), Packet::Publish(p));
    assert_eq!(buf.packet_type(), PacketType::Publish);
    // Change a field on the view and re-encode.
    let Packet::Publish(mut q) = buf.view() else {
        panic!()
    };
    q.retain = true;
    let bytes = q.encode_to_vec(V5).unwrap();
    assert_eq!(bytes[0], 0x31);

    let mut dec = StreamDecoder::new(V5, 1024);
    let mut stream = buf.as_bytes().to_vec();
    stream.extend_from_slice(&PingReq::BYTES);
    for b in &stream {
        dec.push(core::slice::from_ref(b));
    }
    assert_eq!(
        dec.next_packet().unwrap().unwrap().view(),
        Packet::Publish(p)
    );
    assert_eq!(
        dec.next_packet().unwrap().unwrap().view(),
        Packet::PingReq(PingReq)
    );
    assert_eq!(dec.next_packet(), Ok(None));
    assert_eq!(dec.buffered(), 0);
    assert!(PacketBuf::new(alloc::vec![0xC0, 0x00, 0x00], V5).is_err());
}
