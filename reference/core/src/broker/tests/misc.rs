//! Enhanced authentication, and behaviour across concerns: wills with expiry, denied topics, shared subscriptions, configured limits, determinism.

use alloc::vec;
use alloc::vec::Vec;

use super::*;

/// Method "TEST": challenge "c", expects "r"; re-authentication the same way.
struct ChallengeAuth;

impl Authenticator for ChallengeAuth {
    fn authenticate(&mut self, req: &AuthRequest<'_>) -> AuthDecision {
        match req.method {
            Some("TEST") => AuthDecision::Continue(b"c".to_vec()),
            Some(_) => AuthDecision::Deny(crate::codec::ReasonCode::BadAuthenticationMethod),
            None if req.username == Some("bad") => {
                AuthDecision::Deny(crate::codec::ReasonCode::BadUserNameOrPassword)
            }
            None => AuthDecision::Allow(None),
        }
    }

    fn continue_auth(
        &mut self,
        _who: &Subject<'_>,
        _method: &str,
        data: Option<&[u8]>,
    ) -> AuthDecision {
        match data {
            Some(b"r") => AuthDecision::Allow(Some(b"ok".to_vec())),
            Some(b"again") => AuthDecision::Continue(b"c".to_vec()),
            _ => AuthDecision::Deny(crate::codec::ReasonCode::NotAuthorized),
        }
    }
}

fn auth(code: u8, data: &[u8]) -> Packet {
    Packet::Auth {
        code,
        props: Props {
            auth_method: Some("TEST".into()),
            auth_data: Some(data.to_vec()),
            ..Props::default()
        },
    }
}

#[test]
fn enhanced_auth_challenge_response() {
    let mut p = Pair::with_auth(ChallengeAuth);
    let i = p.open(v5());
    let mut c = connect_packet(v5(), "a");
    c.props.auth_method = Some("TEST".into());
    p.send(i, &Packet::Connect(c));
    assert_eq!(p.recv(i), Some(auth(0x18, b"c")));
    p.send(i, &auth(0x18, b"r"));
    let Some(Packet::ConnAck { code: 0, props, .. }) = p.recv(i) else {
        panic!("no CONNACK")
    };
    assert_eq!(props.auth_method.as_deref(), Some("TEST"));
    assert_eq!(props.auth_data.as_deref(), Some(&b"ok"[..]));
    // Re-authentication.
    p.send(i, &auth(0x19, b"again"));
    assert_eq!(p.recv(i), Some(auth(0x18, b"c")));
    p.send(i, &auth(0x18, b"r"));
    assert_eq!(p.recv(i), Some(auth(0x00, b"ok")));
    // A failed re-authentication disconnects.
    p.send(i, &auth(0x19, b"wrong"));
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x87,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
}

#[test]
fn enhanced_auth_failure_and_misuse() {
    let mut p = Pair::with_auth(ChallengeAuth);
    let i = p.open(v5());
    let mut c = connect_packet(v5(), "a");
    c.props.auth_method = Some("TEST".into());
    p.send(i, &Packet::Connect(c.clone()));
    let _ = p.recv(i);
    p.send(i, &auth(0x18, b"wrong"));
    assert!(matches!(
        p.recv(i),
        Some(Packet::ConnAck { code: 0x87, .. })
    ));
    assert!(p.closed(i));
    // Anything but AUTH during the exchange is a protocol error.
    let j = p.open(v5());
    p.send(j, &Packet::Connect(c));
    let _ = p.recv(j);
    p.send(j, &Packet::PingReq);
    assert!(matches!(
        p.recv(j),
        Some(Packet::ConnAck { code: 0x82, .. })
    ));
    // AUTH without a method in CONNECT.
    let k = p.connect(v5(), "plain");
    p.send(k, &auth(0x19, b"x"));
    assert_eq!(
        p.recv(k),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
    // Bad user name (3.1.1 return code 4).
    let (l, ack) = p.connect_with(v3(), "u", |c| {
        c.username = Some("bad".into());
        c.password = Some(b"x".to_vec());
    });
    assert!(matches!(ack, Packet::ConnAck { code: 4, .. }), "{ack:?}");
    assert!(p.closed(l));
}

#[test]
fn will_message_expiry_runs_from_publication() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "watcher");
    p.subscribe(s, "will/#", 0);
    let (a, _) = p.connect_with(v5(), "w", |c| {
        let props = Props {
            message_expiry: Some(30),
            ..Props::default()
        };
        c.will = Some(WillMsg {
            topic: "will/e".into(),
            payload: b"x".to_vec(),
            qos: 0,
            retain: false,
            props,
        });
    });
    p.advance(60_000);
    p.send(s, &Packet::PingReq);
    let _ = p.recv(s);
    p.drop_conn(a);
    assert_eq!(p.recv_publish(s).props.message_expiry, Some(30));
}

#[test]
fn denied_topics_are_not_authorized() {
    let mut p = Pair::new(Config {
        denied_topics: vec!["forbidden/#".into()],
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "#", 0);
    p.send(s, &sub(2, "forbidden/x", 1));
    assert_eq!(
        p.recv(s),
        Some(Packet::SubAck {
            pid: 2,
            props: Props::default(),
            codes: vec![0x87]
        })
    );
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("forbidden/x", 1, 1, b"no"));
    assert_eq!(
        p.recv(pb),
        Some(Packet::Ack {
            kind: kind::PUBACK,
            pid: 1,
            code: 0x87,
            props: Props::default()
        })
    );
    p.assert_empty(s);
    let p3 = p.connect(v3(), "p3");
    p.send(p3, &publish("forbidden/y", 1, 1, b"no"));
    assert_eq!(p.recv(p3), Some(ack(kind::PUBACK, 1)));
    p.assert_empty(s);
}

#[test]
fn pubrel_for_unknown_id_gets_pubcomp_0x92_and_error_pubrec_ends_exchange() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.send(s, &ack(kind::PUBREL, 77));
    assert_eq!(
        p.recv(s),
        Some(Packet::Ack {
            kind: kind::PUBCOMP,
            pid: 77,
            code: 0x92,
            props: Props::default()
        })
    );
    p.subscribe(s, "q2", 2);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("q2", 2, 1, b"x"));
    let m = p.recv_publish(s);
    // The subscriber refuses it: the identifier is free again, nothing more is sent.
    p.send(
        s,
        &Packet::Ack {
            kind: kind::PUBREC,
            pid: m.pid,
            code: 0x80,
            props: Props::default(),
        },
    );
    p.assert_empty(s);
    assert!(p.broker.storage().session("s").unwrap().inflight.is_empty());
}

#[test]
fn shared_subscription_prefers_online_members() {
    let mut p = Pair::default();
    let (a, _) = p.connect_with(v5(), "a", |c| c.props.session_expiry = Some(100));
    let b = p.connect(v5(), "b");
    p.subscribe(a, "$share/g/job", 1);
    p.subscribe(b, "$share/g/job", 1);
    p.drop_conn(a);
    let pb = p.connect(v5(), "p");
    for i in 1..=4u16 {
        p.send(pb, &publish("job", 1, i, b"w"));
    }
    for _ in 0..4 {
        let m = p.recv_publish(b);
        p.send(b, &ack(kind::PUBACK, m.pid));
    }
    assert!(p.broker.storage().session("a").unwrap().queue.is_empty());
}

#[test]
fn retained_message_expires() {
    let mut p = Pair::default();
    let pb = p.connect(v5(), "p");
    let mut r = publish("exp/r", 0, 0, b"soon gone");
    if let Packet::Publish(x) = &mut r {
        x.retain = true;
        x.props.message_expiry = Some(5);
    }
    p.send(pb, &r);
    p.advance(2_000);
    let s = p.connect(v5(), "s");
    p.subscribe(s, "exp/#", 0);
    assert_eq!(p.recv_publish(s).props.message_expiry, Some(3));
    p.advance(4_000);
    let s2 = p.connect(v5(), "s2");
    p.subscribe(s2, "exp/#", 0);
    p.assert_empty(s2);
}

#[test]
fn keep_alive_bounds_from_config() {
    let mut p = Pair::new(Config {
        min_keep_alive: 10,
        max_keep_alive: 100,
        ..Config::default()
    });
    let (_, ack) = p.connect_with(v5(), "zero", |c| c.keep_alive = 0);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, Some(100));
    let (_, ack) = p.connect_with(v5(), "small", |c| c.keep_alive = 2);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, Some(10));
    let (_, ack) = p.connect_with(v5(), "fine", |c| c.keep_alive = 50);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, None);
}

#[test]
fn disconnect_changes_session_expiry() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v5(), "x", |c| c.props.session_expiry = Some(100));
    p.send(
        i,
        &Packet::Disconnect {
            code: 0,
            props: Props {
                session_expiry: Some(0),
                ..Props::default()
            },
        },
    );
    assert!(p.broker.storage().session("x").is_none());
    // Zero at CONNECT cannot become non-zero at DISCONNECT.
    let j = p.connect(v5(), "y");
    p.send(
        j,
        &Packet::Disconnect {
            code: 0,
            props: Props {
                session_expiry: Some(10),
                ..Props::default()
            },
        },
    );
    assert_eq!(
        p.recv(j),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
}

#[test]
fn deliveries_wait_for_written_bytes() {
    let mut p = Pair::new(Config {
        max_outbound_bytes: 100,
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "w", 0);
    p.clients[s].stalled = true;
    let pb = p.connect(v5(), "p");
    for _ in 0..10 {
        p.send(pb, &publish("w", 0, 0, &[1u8; 60]));
    }
    // Two fit the 100-byte budget (the second crosses it); the rest wait in the queue.
    assert_eq!(p.clients[s].inbox.len(), 2);
    assert_eq!(p.broker.storage().session("s").unwrap().queue.len(), 8);
    // The client reads: the queue drains.
    p.clients[s].stalled = false;
    p.drive();
    assert_eq!(p.clients[s].inbox.len(), 10);
}

#[test]
fn offline_queue_limits_drop_qos0_first() {
    let mut p = Pair::new(Config {
        max_queued_messages: 3,
        queue_qos0_offline: true,
        queue_overflow: QueueOverflow::DropNew,
        ..Config::default()
    });
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(100));
    p.subscribe(s, "l", 1);
    p.drop_conn(s);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("l", 0, 0, b"a0"));
    p.send(pb, &publish("l", 1, 1, b"b1"));
    p.send(pb, &publish("l", 1, 2, b"c1"));
    p.send(pb, &publish("l", 1, 3, b"d1")); // evicts a0
    p.send(pb, &publish("l", 0, 0, b"e0")); // queue full of QoS 1: dropped
    let (s2, _) = p.connect_with(v5(), "s", |c| c.clean_start = false);
    let got: Vec<Vec<u8>> = (0..3)
        .map(|_| p.recv_publish(s2).payload.to_vec())
        .collect();
    assert_eq!(got, vec![b"b1".to_vec(), b"c1".to_vec(), b"d1".to_vec()]);
    p.assert_empty(s2);
}

#[test]
fn deterministic_for_a_seed() {
    fn run(seed: u64) -> Vec<u8> {
        let mut p = Pair::new(Config {
            seed,
            ..Config::default()
        });
        let a = p.connect(v5(), "a");
        let b = p.connect(v5(), "b");
        p.subscribe(a, "$share/g/t", 0);
        p.subscribe(b, "$share/g/t", 0);
        let (c, _) = p.connect_with(v5(), "", |_| {});
        for _ in 0..7 {
            p.send(c, &publish("t", 0, 0, b"x"));
        }
        vec![
            p.clients[a].inbox.len() as u8,
            p.clients[b].inbox.len() as u8,
        ]
    }
    assert_eq!(run(1), run(1));
    assert_eq!(run(2), run(2));
}

#[test]
fn outbound_topic_aliases_when_enabled() {
    let mut p = Pair::new(Config {
        outbound_topic_aliases: true,
        ..Config::default()
    });
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.topic_alias_maximum = Some(1));
    p.subscribe(s, "al/#", 0);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("al/one", 0, 0, b"1"));
    p.send(pb, &publish("al/one", 0, 0, b"2"));
    p.send(pb, &publish("al/two", 0, 0, b"3"));
    let m1 = p.recv_publish(s);
    assert_eq!(
        (m1.topic.as_str(), m1.props.topic_alias),
        ("al/one", Some(1))
    );
    let m2 = p.recv_publish(s);
    assert_eq!((m2.topic.as_str(), m2.props.topic_alias), ("", Some(1)));
    let m3 = p.recv_publish(s);
    assert_eq!((m3.topic.as_str(), m3.props.topic_alias), ("al/two", None));
    // A client that accepts none gets none.
    let n = p.connect(v5(), "n");
    p.subscribe(n, "al/#", 0);
    p.send(pb, &publish("al/one", 0, 0, b"4"));
    assert_eq!(p.recv_publish(n).props.topic_alias, None);
}

#[test]
fn subscription_identifier_from_client_is_a_protocol_error() {
    let mut p = Pair::default();
    let c = p.connect(v5(), "c");
    let mut m = publish("t", 0, 0, b"x");
    if let Packet::Publish(x) = &mut m {
        x.props.subscription_ids = vec![3];
    }
    p.send(c, &m);
    assert_eq!(
        p.recv(c),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
    assert!(p.closed(c));
}

#[test]
fn second_connect_with_bad_level_gets_a_disconnect_reason_code() {
    // Found by the fuzz test: the decode error of a second CONNECT is 0x84, which DISCONNECT
    // cannot carry.
    let mut p = Pair::default();
    let i = p.connect(v5(), "c");
    let mut bytes = testwire::encode(&Packet::Connect(connect_packet(v5(), "c")), v5());
    bytes[8] = 9; // protocol level 9
    p.send_raw(i, &bytes);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
}

mod fuzz {
    //! Arbitrary input never panics the engine, and whatever it sends decodes.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // 256 cases by default; PROPTEST_CASES=20000 for a longer run.
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn arbitrary_bytes_after_connect(
            v5_client in any::<bool>(),
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
        ) {
            let mut p = Pair::default();
            let version = if v5_client { v5() } else { v3() };
            let s = p.connect(version, "fuzz-sub");
            p.subscribe(s, "#", 2);
            let i = p.connect(version, "fuzz");
            for c in &chunks {
                if p.closed(i) {
                    break;
                }
                p.send_raw(i, c);
                p.advance(700);
            }
        }

        #[test]
        fn arbitrary_bytes_during_enhanced_auth(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..8),
        ) {
            let mut p = Pair::with_auth(ChallengeAuth);
            let i = p.open(v5());
            let mut c = connect_packet(v5(), "a");
            c.props.auth_method = Some("TEST".into());
            p.send(i, &Packet::Connect(c));
            for c in &chunks {
                if p.closed(i) {
                    break;
                }
                p.send_raw(i, c);
            }
        }

        #[test]
        fn arbitrary_bytes_as_first_packet(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut p = Pair::default();
            let i = p.open(v5());
            p.send_raw(i, &bytes);
            p.advance(11_000);
            prop_assert!(p.closed(i) || p.broker.connection_count() == 1);
        }

        #[test]
        fn mutated_valid_packets(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            which in 0usize..6,
        ) {
            let mut p = Pair::default();
            let i = p.connect(v5(), "m");
            let packets = [
                publish("a/b", 1, 7, b"payload"),
                sub(3, "a/+", 2),
                Packet::Unsubscribe { pid: 4, props: Props::default(), filters: vec!["a/+".into()] },
                ack(kind::PUBREL, 9),
                Packet::Disconnect { code: 0, props: Props { session_expiry: Some(0), ..Props::default() } },
                Packet::PingReq,
            ];
            let mut bytes = testwire::encode(&packets[which], v5());
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x;
            }
            p.send_raw(i, &bytes);
            p.advance(60_000);
        }
    }
}

/// Client "ro" may only read `open/...`; everyone else may do anything but read `hidden/...`.
struct TopicAuthz;

impl Authorizer for TopicAuthz {
    fn authorize(&self, who: &Subject<'_>, topic: &str, access: Access) -> bool {
        match (who.client_id, access) {
            ("ro", Access::Write) => false,
            ("ro", _) => topic.starts_with("open/"),
            (_, Access::Read) => !topic.starts_with("hidden/"),
            _ => true,
        }
    }
}

#[test]
fn authorizer_checks_publish_subscribe_delivery_retained_and_will() {
    let mut p = Pair::default();
    p.broker.set_authorizer(alloc::boxed::Box::new(TopicAuthz));
    let w = p.connect(v5(), "w");
    // Retained on a topic nobody may read, and on one they may.
    for (pid, t) in [(1, "hidden/r"), (2, "open/r")] {
        let mut m = publish(t, 1, pid, b"r");
        if let Packet::Publish(m) = &mut m {
            m.retain = true;
        }
        p.send(w, &m);
        // 0x10 No matching subscribers: stored, not refused.
        assert!(matches!(p.recv(w), Some(Packet::Ack { code: 0x10, .. })));
    }
    let s = p.connect(v5(), "s");
    p.send(s, &sub(1, "#", 0));
    assert!(matches!(p.recv(s), Some(Packet::SubAck { .. })));
    // Only the readable retained message.
    match p.recv(s) {
        Some(Packet::Publish(m)) => assert_eq!(m.topic, "open/r"),
        other => panic!("{other:?}"),
    }
    p.assert_empty(s);
    p.send(w, &publish("hidden/x", 0, 0, b"h"));
    p.assert_empty(s);
    // "ro" may not publish (0x87), nor subscribe outside open/ (per filter).
    let ro = p.connect(v5(), "ro");
    p.send(ro, &publish("open/x", 1, 5, b"no"));
    match p.recv(ro) {
        Some(Packet::Ack { code, .. }) => assert_eq!(code, 0x87),
        other => panic!("{other:?}"),
    }
    p.assert_empty(s);
    p.send(ro, &sub(2, "other/#", 0));
    match p.recv(ro) {
        Some(Packet::SubAck { codes, .. }) => assert_eq!(codes, vec![0x87]),
        other => panic!("{other:?}"),
    }
    // A will "ro" may not publish refuses its CONNECT.
    let i = p.open(v5());
    let mut c = connect_packet(v5(), "ro");
    c.will = Some(WillMsg {
        topic: "open/w".into(),
        payload: b"w".to_vec(),
        qos: 0,
        retain: false,
        props: Props::default(),
    });
    p.send(i, &Packet::Connect(c));
    match p.recv(i) {
        Some(Packet::ConnAck { code, .. }) => assert_eq!(code, 0x87),
        other => panic!("{other:?}"),
    }
}

/// A store that comes back full (a durable store after a restart): `restore` rebuilds the
/// subscription index, so messages reach the offline session again; its expiry counts from
/// the restart (the store kept no deadline); a session with expiry 0, which only lived while
/// its connection did, ends.
#[test]
fn restore_rebuilds_subscriptions_and_expiry() {
    let mut p = Pair::default();
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(10));
    p.subscribe(s, "t/+", 1);
    let kept = p.broker.storage().session("s").expect("s").clone();
    let mut store = MemoryStorage::new();
    store.put_session(kept);
    store.put_session(Session::new("z".into(), ProtocolVersion::V5, 0));
    let mut q = Pair::default();
    q.broker = Broker::with_parts(Config::default(), store, alloc::boxed::Box::new(NoAuth));
    q.broker.restore(q.now);
    assert!(q.broker.storage().session("z").is_none());
    let pb = q.connect(v5(), "p");
    q.send(pb, &publish("t/1", 1, 1, b"x"));
    assert_eq!(q.acks(pb, kind::PUBACK), vec![1]);
    assert_eq!(
        q.broker.storage().session("s").map(|s| s.queue.len()),
        Some(1)
    );
    q.advance(9_000);
    assert!(q.broker.storage().session("s").is_some());
    q.advance(2_000);
    assert!(
        q.broker.storage().session("s").is_none(),
        "expired 10 s after restore"
    );
}
