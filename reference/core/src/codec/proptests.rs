//! Property-based tests: for every packet type and both versions `decode(encode(p)) == p`;
//! arbitrary bytes never panic and never read past the input; a stream fed in arbitrary chunks
//! decodes to the same packets as fed whole.
//!
//! Strategies build `Packet<'static>` views over leaked strings and buffers (tests only), so the
//! views can be generated and shrunk like plain values.

use proptest::prelude::*;
use std::boxed::Box;
use std::string::String;
use std::vec::Vec;

use super::*;

fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_bytes(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn leak_slice<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V3_1_1), Just(ProtocolVersion::V5)]
}

/// Any UTF-8 string the codec accepts (no U+0000), including multi-byte characters.
fn text() -> impl Strategy<Value = &'static str> {
    "[a-zA-Z0-9 _/é€😀\u{FEFF}\u{1}-]{0,12}".prop_map(leak_str)
}

fn bytes(max: usize) -> impl Strategy<Value = &'static [u8]> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(leak_bytes)
}

/// A valid topic name: non-empty, no wildcards.
fn topic_name() -> impl Strategy<Value = &'static str> {
    "[a-z0-9é$]{1,4}(/[a-z0-9]{0,4}){0,3}".prop_map(leak_str)
}

/// A valid topic filter: levels that are words or `+`, maybe a final `#`.
fn topic_filter() -> impl Strategy<Value = &'static str> {
    (
        prop::collection::vec(prop_oneof!["[a-z0-9]{0,4}", Just(String::from("+"))], 1..4),
        any::<bool>(),
    )
        .prop_map(|(levels, hash)| {
            let mut s = levels.join("/");
            if hash {
                if s.is_empty() {
                    s.push('#');
                } else {
                    s.push_str("/#");
                }
            }
            if s.is_empty() {
                s.push('x');
            }
            leak_str(s)
        })
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

/// A valid value for property `id`.
fn property_value(id: PropertyId) -> BoxedStrategy<Property<'static>> {
    use Property as P;
    use PropertyId as I;
    let bool_byte = || 0u8..=1;
    match id {
        I::PayloadFormatIndicator => bool_byte().prop_map(P::PayloadFormatIndicator).boxed(),
        I::MessageExpiryInterval => any::<u32>().prop_map(P::MessageExpiryInterval).boxed(),
        I::ContentType => text().prop_map(P::ContentType).boxed(),
        I::ResponseTopic => topic_name().prop_map(P::ResponseTopic).boxed(),
        I::CorrelationData => bytes(8).prop_map(P::CorrelationData).boxed(),
        I::SubscriptionIdentifier => (1..=VBI_MAX).prop_map(P::SubscriptionIdentifier).boxed(),
        I::SessionExpiryInterval => any::<u32>().prop_map(P::SessionExpiryInterval).boxed(),
        I::AssignedClientIdentifier => text().prop_map(P::AssignedClientIdentifier).boxed(),
        I::ServerKeepAlive => any::<u16>().prop_map(P::ServerKeepAlive).boxed(),
        I::AuthenticationMethod => text().prop_map(P::AuthenticationMethod).boxed(),
        I::AuthenticationData => bytes(8).prop_map(P::AuthenticationData).boxed(),
        I::RequestProblemInformation => bool_byte().prop_map(P::RequestProblemInformation).boxed(),
        I::WillDelayInterval => any::<u32>().prop_map(P::WillDelayInterval).boxed(),
        I::RequestResponseInformation => {
            bool_byte().prop_map(P::RequestResponseInformation).boxed()
        }
        I::ResponseInformation => text().prop_map(P::ResponseInformation).boxed(),
        I::ServerReference => text().prop_map(P::ServerReference).boxed(),
        I::ReasonString => text().prop_map(P::ReasonString).boxed(),
        I::ReceiveMaximum => (1..=u16::MAX).prop_map(P::ReceiveMaximum).boxed(),
        I::TopicAliasMaximum => any::<u16>().prop_map(P::TopicAliasMaximum).boxed(),
        I::TopicAlias => (1..=u16::MAX).prop_map(P::TopicAlias).boxed(),
        I::MaximumQoS => bool_byte().prop_map(P::MaximumQoS).boxed(),
        I::RetainAvailable => bool_byte().prop_map(P::RetainAvailable).boxed(),
        I::UserProperty => (text(), text()).prop_map(P::UserProperty).boxed(),
        I::MaximumPacketSize => (1..=u32::MAX).prop_map(P::MaximumPacketSize).boxed(),
        I::WildcardSubscriptionAvailable => bool_byte()
            .prop_map(P::WildcardSubscriptionAvailable)
            .boxed(),
        I::SubscriptionIdentifierAvailable => bool_byte()
            .prop_map(P::SubscriptionIdentifierAvailable)
            .boxed(),
        I::SharedSubscriptionAvailable => {
            bool_byte().prop_map(P::SharedSubscriptionAvailable).boxed()
        }
    }
}

/// A valid property list for `context` (empty in 3.1.1).
fn properties(
    context: PropertyContext,
    version: ProtocolVersion,
) -> BoxedStrategy<Properties<'static>> {
    if version == ProtocolVersion::V3_1_1 {
        return Just(Properties::empty()).boxed();
    }
    let allowed: Vec<PropertyId> = PropertyId::ALL
        .iter()
        .copied()
        .filter(|id| id.allowed_in(context))
        .collect();
    let one = prop::sample::select(allowed).prop_flat_map(property_value);
    prop::collection::vec(one, 0..5)
        .prop_map(move |list| {
            // Keep the first of each non-repeatable property.
            let mut seen = Vec::new();
            let list: Vec<Property<'static>> = list
                .into_iter()
                .filter(|p| {
                    let id = p.id();
                    if id.may_repeat(context) {
                        return true;
                    }
                    if seen.contains(&id) {
                        return false;
                    }
                    seen.push(id);
                    true
                })
                .collect();
            Properties::Slice(leak_slice(list))
        })
        .boxed()
}

fn in_packet(t: PacketType) -> PropertyContext {
    PropertyContext::Packet(t)
}

fn reason_code_for(t: PacketType) -> impl Strategy<Value = ReasonCode> {
    let allowed: Vec<ReasonCode> = ReasonCode::ALL
        .iter()
        .copied()
        .filter(|rc| rc.allowed_in(t))
        .collect();
    prop::sample::select(allowed)
}

fn connect(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    let will = prop::option::of(
        (
            qos(),
            any::<bool>(),
            properties(PropertyContext::Will, v),
            topic_name(),
            bytes(8),
        )
            .prop_map(|(qos, retain, properties, topic, payload)| Will {
                qos,
                retain,
                properties,
                topic,
                payload,
            }),
    );
    (
        any::<bool>(),
        any::<u16>(),
        properties(in_packet(PacketType::Connect), v),
        text(),
        will,
        prop::option::of(text()),
        prop::option::of(bytes(8)),
    )
        .prop_map(
            move |(clean_start, keep_alive, properties, client_id, will, username, password)| {
                // 3.1.1: no password without a user name ([MQTT-3.1.2-22] (3.1.1)).
                let password = if v == ProtocolVersion::V3_1_1 && username.is_none() {
                    None
                } else {
                    password
                };
                Packet::Connect(Connect {
                    version: v,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                })
            },
        )
        .boxed()
}

fn connack(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    let code: BoxedStrategy<ReasonCode> = match v {
        ProtocolVersion::V5 => reason_code_for(PacketType::ConnAck).boxed(),
        ProtocolVersion::V3_1_1 => (0u8..=5)
            .prop_filter_map("code", ReasonCode::from_connack_return_code)
            .boxed(),
    };
    (
        any::<bool>(),
        code,
        properties(in_packet(PacketType::ConnAck), v),
    )
        .prop_map(|(sp, reason_code, properties)| {
            let session_present = sp && reason_code == ReasonCode::Success;
            Packet::ConnAck(ConnAck {
                session_present,
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn publish(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        properties(in_packet(PacketType::Publish), v),
        bytes(64),
    )
        .prop_map(|(dup, qos, retain, topic, pid, properties, payload)| {
            let (dup, packet_id) = if qos == QoS::AtMostOnce {
                (false, None)
            } else {
                (dup, Some(pid))
            };
            Packet::Publish(Publish {
                dup,
                qos,
                retain,
                topic,
                packet_id,
                properties,
                payload,
            })
        })
        .boxed()
}

fn pub_response(v: ProtocolVersion, t: PacketType) -> BoxedStrategy<Packet<'static>> {
    let code: BoxedStrategy<ReasonCode> = match v {
        ProtocolVersion::V5 => reason_code_for(t).boxed(),
        ProtocolVersion::V3_1_1 => Just(ReasonCode::Success).boxed(),
    };
    (packet_id(), code, properties(in_packet(t), v))
        .prop_map(move |(packet_id, reason_code, properties)| match t {
            PacketType::PubAck => Packet::PubAck(PubAck {
                packet_id,
                reason_code,
                properties,
            }),
            PacketType::PubRec => Packet::PubRec(PubRec {
                packet_id,
                reason_code,
                properties,
            }),
            PacketType::PubRel => Packet::PubRel(PubRel {
                packet_id,
                reason_code,
                properties,
            }),
            _ => Packet::PubComp(PubComp {
                packet_id,
                reason_code,
                properties,
            }),
        })
        .boxed()
}

fn subscription(v: ProtocolVersion) -> BoxedStrategy<Subscription<'static>> {
    let rh = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendAtSubscribeIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    let shared = prop::option::of("[a-z]{1,3}".prop_map(leak_str));
    (
        topic_filter(),
        shared,
        qos(),
        any::<bool>(),
        any::<bool>(),
        rh,
    )
        .prop_map(move |(filter, share, qos, nl, rap, retain_handling)| {
            if v == ProtocolVersion::V3_1_1 {
                return Subscription::new(filter, qos);
            }
            let (filter, no_local) = match share {
                Some(g) => (leak_str(std::format!("$share/{g}/{filter}")), false),
                None => (filter, nl),
            };
            Subscription {
                filter,
                options: SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published: rap,
                    retain_handling,
                },
            }
        })
        .boxed()
}

fn subscribe(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    (
        packet_id(),
        properties(in_packet(PacketType::Subscribe), v),
        prop::collection::vec(subscription(v), 1..4),
    )
        .prop_map(|(packet_id, properties, subs)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                subscriptions: Seq::Slice(leak_slice(subs)),
            })
        })
        .boxed()
}

fn suback(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    let code: BoxedStrategy<ReasonCode> = match v {
        ProtocolVersion::V5 => reason_code_for(PacketType::SubAck).boxed(),
        ProtocolVersion::V3_1_1 => prop::sample::select(std::vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError
        ])
        .boxed(),
    };
    (
        packet_id(),
        properties(in_packet(PacketType::SubAck), v),
        prop::collection::vec(code, 0..4),
    )
        .prop_map(|(packet_id, properties, codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes: Seq::Slice(leak_slice(codes)),
            })
        })
        .boxed()
}

fn unsubscribe(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    (
        packet_id(),
        properties(in_packet(PacketType::Unsubscribe), v),
        prop::collection::vec(topic_filter(), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters: Seq::Slice(leak_slice(filters)),
            })
        })
        .boxed()
}

fn unsuback(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    let n = if v == ProtocolVersion::V5 { 4 } else { 1 };
    (
        packet_id(),
        properties(in_packet(PacketType::UnsubAck), v),
        prop::collection::vec(reason_code_for(PacketType::UnsubAck), 0..n),
    )
        .prop_map(|(packet_id, properties, codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes: Seq::Slice(leak_slice(codes)),
            })
        })
        .boxed()
}

fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    let code: BoxedStrategy<ReasonCode> = match v {
        ProtocolVersion::V5 => reason_code_for(PacketType::Disconnect).boxed(),
        ProtocolVersion::V3_1_1 => Just(ReasonCode::Success).boxed(),
    };
    (code, properties(in_packet(PacketType::Disconnect), v))
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn auth() -> BoxedStrategy<Packet<'static>> {
    (
        reason_code_for(PacketType::Auth),
        properties(in_packet(PacketType::Auth), ProtocolVersion::V5),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        })
        .boxed()
}

/// Any valid packet of `v`.
fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet<'static>> {
    let mut s = std::vec![
        connect(v),
        connack(v),
        publish(v),
        pub_response(v, PacketType::PubAck),
        pub_response(v, PacketType::PubRec),
        pub_response(v, PacketType::PubRel),
        pub_response(v, PacketType::PubComp),
        subscribe(v),
        suback(v),
        unsubscribe(v),
        unsuback(v),
        Just(Packet::PingReq(PingReq)).boxed(),
        Just(Packet::PingResp(PingResp)).boxed(),
        disconnect(v),
    ];
    if v == ProtocolVersion::V5 {
        s.push(auth());
    }
    prop::strategy::Union::new(s).boxed()
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet<'static>)> {
    version().prop_flat_map(|v| packet(v).prop_map(move |p| (v, p)))
}

fn encode(p: &Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut out = std::vec![0u8; p.encoded_len(v).expect("valid packet has a length")];
    let n = p.encode(v, &mut out).expect("valid packet encodes");
    assert_eq!(n, out.len());
    out
}

proptest! {
    #[test]
    fn roundtrip((v, p) in versioned_packet()) {
        let bytes = encode(&p, v);
        prop_assert_eq!(decode(&bytes, v, u32::MAX), Ok(Decoded::Complete { value: p, consumed: bytes.len() }));
        // A decoded packet re-encodes to the same bytes (the Encoded fast path).
        if let Ok(Decoded::Complete { value, .. }) = decode(&bytes, v, u32::MAX) {
            prop_assert_eq!(encode(&value, v), bytes.clone());
        }
        // The Maximum Packet Size is exact.
        let size = bytes.len() as u32;
        let fits = matches!(decode(&bytes, v, size), Ok(Decoded::Complete { .. }));
        prop_assert!(fits);
        let too_large = matches!(decode(&bytes, v, size - 1), Err(DecodeError::PacketTooLarge { .. }));
        prop_assert!(too_large);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_overread(v in version(), data in prop::collection::vec(any::<u8>(), 0..64), cut in 0usize..64) {
        let cut = cut.min(data.len());
        // Poison the tail: anything read from it would show up as consumed > cut.
        let mut buf = data.clone();
        buf.truncate(cut);
        match decode(&buf, v, u32::MAX) {
            Ok(Decoded::Complete { consumed, .. }) => prop_assert!(consumed <= cut),
            Ok(Decoded::Incomplete(n)) => prop_assert!(n >= 1),
            Err(e) => { let _ = e.reason_code(); }
        }
        let _ = decode(&data, v, 16);
    }

    #[test]
    fn mutated_valid_packets_never_panic((v, p) in versioned_packet(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = encode(&p, v);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let cut = cut.index(bytes.len() + 1);
        if let Ok(Decoded::Complete { consumed, value }) = decode(&bytes[..cut], v, u32::MAX) {
            prop_assert!(consumed <= cut);
            // Whatever decodes, re-encodes without error and decodes to itself.
            let again = encode(&value, v);
            let redecoded = decode(&again, v, u32::MAX);
            prop_assert_eq!(redecoded, Ok(Decoded::Complete { value, consumed: again.len() }));
        }
    }

    #[test]
    fn chunked_stream_decodes_like_whole(
        v in version(),
        list3 in prop::collection::vec(packet(ProtocolVersion::V3_1_1), 1..6),
        list5 in prop::collection::vec(packet(ProtocolVersion::V5), 1..6),
        chunks in prop::collection::vec(1usize..20, 1..50),
    ) {
        let list = if v == ProtocolVersion::V5 { list5 } else { list3 };
        let mut stream = Vec::new();
        for p in &list {
            stream.extend_from_slice(&encode(p, v));
        }
        // Whole.
        let mut whole = Vec::new();
        let mut rest = &stream[..];
        while let Ok(Decoded::Complete { value, consumed }) = decode(rest, v, u32::MAX) {
            whole.push(value);
            rest = &rest[consumed..];
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&whole, &list);
        // In chunks, through a plain growing buffer (works without alloc in the codec).
        let mut buf: Vec<u8> = Vec::new();
        let mut got = 0usize;
        let mut pos = 0usize;
        let mut sizes = chunks.iter().cycle();
        while pos < stream.len() {
            let n = (*sizes.next().unwrap()).min(stream.len() - pos);
            buf.extend_from_slice(&stream[pos..pos + n]);
            pos += n;
            loop {
                match decode(&buf, v, u32::MAX) {
                    Ok(Decoded::Complete { value, consumed }) => {
                        prop_assert_eq!(value, list[got]);
                        got += 1;
                        buf.drain(..consumed);
                    }
                    Ok(Decoded::Incomplete(need)) => {
                        prop_assert!(need >= 1);
                        break;
                    }
                    Err(e) => prop_assert!(false, "error {e}"),
                }
            }
        }
        prop_assert_eq!(got, list.len());
        #[cfg(feature = "alloc")]
        {
            let mut dec = StreamDecoder::new(v, u32::MAX);
            let mut out = Vec::new();
            let mut pos = 0usize;
            let mut sizes = chunks.iter().cycle();
            while pos < stream.len() {
                let n = (*sizes.next().unwrap()).min(stream.len() - pos);
                dec.push(&stream[pos..pos + n]);
                pos += n;
                while let Some(pb) = dec.next_packet().unwrap() {
                    out.push(pb);
                }
            }
            let views: Vec<Packet<'_>> = out.iter().map(PacketBuf::view).collect();
            prop_assert_eq!(&views, &list);
        }
    }
}
