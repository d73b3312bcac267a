//! CONNECT, CONNACK, keep alive, DISCONNECT.

use alloc::vec;

use super::*;

#[test]
fn connect_both_versions() {
    let mut p = Pair::default();
    let (_, ack) = p.connect_with(v5(), "a", |_| {});
    let Packet::ConnAck {
        session_present,
        code,
        props,
    } = ack
    else {
        panic!()
    };
    assert!(!session_present);
    assert_eq!(code, 0);
    assert_eq!(props.receive_maximum, Some(1024));
    assert_eq!(props.topic_alias_maximum, Some(64));
    let (_, ack) = p.connect_with(v3(), "b", |_| {});
    assert_eq!(
        ack,
        Packet::ConnAck {
            session_present: false,
            code: 0,
            props: Props::default()
        }
    );
}

#[test]
fn first_packet_must_be_connect() {
    let mut p = Pair::default();
    let i = p.open(v5());
    p.send(i, &Packet::PingReq);
    assert!(p.closed(i));
    assert_eq!(p.recv(i), None);
}

#[test]
fn unsupported_protocol_level_gets_return_code_1() {
    let mut p = Pair::default();
    let i = p.open(v3());
    // MQTT 3.1 (MQIsdp, level 3).
    let mut body = vec![0, 6];
    body.extend_from_slice(b"MQIsdp");
    body.extend_from_slice(&[3, 2, 0, 60, 0, 1, b'x']);
    let mut pkt = vec![0x10, body.len() as u8];
    pkt.extend_from_slice(&body);
    p.send_raw(i, &pkt);
    assert_eq!(
        p.recv(i),
        Some(Packet::ConnAck {
            session_present: false,
            code: 1,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
}

#[test]
fn malformed_v5_connect_gets_connack_0x81() {
    let mut p = Pair::default();
    let i = p.open(v5());
    // Reserved connect flag bit 0 set.
    let mut bytes = testwire::encode(&Packet::Connect(connect_packet(v5(), "x")), v5());
    bytes[9] |= 1;
    p.send_raw(i, &bytes);
    assert!(matches!(
        p.recv(i),
        Some(Packet::ConnAck { code: 0x81, .. })
    ));
    assert!(p.closed(i));
}

#[test]
fn assigned_client_identifier() {
    let mut p = Pair::default();
    let (_, ack) = p.connect_with(v5(), "", |_| {});
    let Packet::ConnAck { code: 0, props, .. } = ack else {
        panic!("{ack:?}")
    };
    let id = props.assigned_client_id.expect("assigned id");
    assert!(id.starts_with("mqttref-"));
    // Same seed, same id.
    let mut q = Pair::default();
    let (_, ack2) = q.connect_with(v5(), "", |_| {});
    let Packet::ConnAck { props: props2, .. } = ack2 else {
        panic!()
    };
    assert_eq!(props2.assigned_client_id.as_deref(), Some(id.as_str()));
}

#[test]
fn v311_empty_id_without_clean_session_is_rejected() {
    let mut p = Pair::default();
    let (i, ack) = p.connect_with(v3(), "", |c| c.clean_start = false);
    assert!(matches!(ack, Packet::ConnAck { code: 2, .. }));
    assert!(p.closed(i));
    let (_, ack) = p.connect_with(v3(), "", |_| {});
    assert!(matches!(ack, Packet::ConnAck { code: 0, .. }));
}

#[test]
fn auth_method_without_authenticator_gets_0x8c() {
    let mut p = Pair::default();
    let (i, ack) = p.connect_with(v5(), "a", |c| {
        c.props.auth_method = Some("SCRAM-SHA-1".into())
    });
    assert!(matches!(ack, Packet::ConnAck { code: 0x8C, .. }));
    assert!(p.closed(i));
}

#[test]
fn session_present_and_expiry() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(10));
    p.subscribe(i, "t", 1);
    p.send(
        i,
        &Packet::Disconnect {
            code: 0,
            props: Props::default(),
        },
    );
    assert!(p.closed(i));
    p.advance(5_000);
    let (j, ack) = p.connect_with(v5(), "s", |c| {
        c.clean_start = false;
        c.props.session_expiry = Some(10);
    });
    assert!(
        matches!(
            ack,
            Packet::ConnAck {
                session_present: true,
                ..
            }
        ),
        "{ack:?}"
    );
    p.drop_conn(j);
    p.advance(11_000);
    let (_, ack) = p.connect_with(v5(), "s", |c| c.clean_start = false);
    assert!(
        matches!(
            ack,
            Packet::ConnAck {
                session_present: false,
                ..
            }
        ),
        "expired: {ack:?}"
    );
}

#[test]
fn v311_clean_session_zero_persists() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v3(), "c", |c| c.clean_start = false);
    p.subscribe(i, "t/#", 1);
    p.drop_conn(i);
    let pb = p.connect(v5(), "pub");
    p.send(pb, &publish("t/1", 1, 7, b"while away"));
    assert_eq!(p.recv(pb), Some(ack(kind::PUBACK, 7)));
    let (j, ack) = p.connect_with(v3(), "c", |c| c.clean_start = false);
    assert!(matches!(
        ack,
        Packet::ConnAck {
            session_present: true,
            ..
        }
    ));
    let m = p.recv_publish(j);
    assert_eq!(&*m.payload, b"while away");
}

#[test]
fn session_takeover_sends_0x8e() {
    let mut p = Pair::default();
    let a = p.connect(v5(), "dup");
    let b = p.connect(v5(), "dup");
    assert_eq!(
        p.recv(a),
        Some(Packet::Disconnect {
            code: 0x8E,
            props: Props::default()
        })
    );
    assert!(p.closed(a));
    assert!(!p.closed(b));
    // 3.1.1: just closed.
    let c = p.connect(v3(), "dup3");
    let _d = p.connect(v3(), "dup3");
    assert_eq!(p.recv(c), None);
    assert!(p.closed(c));
}

#[test]
fn keep_alive_is_enforced_at_one_and_a_half() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v5(), "k", |c| c.keep_alive = 10);
    p.advance(14_000);
    assert!(!p.closed(i));
    p.send(i, &Packet::PingReq);
    assert_eq!(p.recv(i), Some(Packet::PingResp));
    p.advance(14_900);
    assert!(!p.closed(i));
    p.advance(200);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x8D,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
}

#[test]
fn server_keep_alive_from_config() {
    let mut p = Pair::new(Config {
        server_keep_alive: Some(5),
        ..Config::default()
    });
    let (i, ack) = p.connect_with(v5(), "k", |c| c.keep_alive = 100);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, Some(5));
    p.advance(7_600);
    assert!(p.closed(i));
}

#[test]
fn connect_timeout_closes_silent_connections() {
    let mut p = Pair::default();
    let i = p.open(v5());
    p.advance(10_001);
    assert!(p.closed(i));
}

#[test]
fn malformed_packet_after_connect_gets_disconnect_0x81() {
    let mut p = Pair::default();
    let i = p.connect(v5(), "m");
    // PUBLISH with QoS 3.
    p.send_raw(i, &[0x36, 0x03, 0x00, 0x01, b'a']);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x81,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
    let j = p.connect(v3(), "m3");
    p.send_raw(j, &[0x36, 0x03, 0x00, 0x01, b'a']);
    assert_eq!(p.recv(j), None);
    assert!(p.closed(j));
}

#[test]
fn packet_too_large_is_refused_from_the_header() {
    let mut p = Pair::new(Config {
        max_packet_size: 100,
        ..Config::default()
    });
    let (i, ack) = p.connect_with(v5(), "big", |_| {});
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.maximum_packet_size, Some(100));
    // Header only: Remaining Length 200.
    p.send_raw(i, &[0x30, 0xC8, 0x01]);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x95,
            props: Props::default()
        })
    );
}

#[test]
fn second_connect_is_a_protocol_error() {
    let mut p = Pair::default();
    let i = p.connect(v5(), "twice");
    p.send(i, &Packet::Connect(connect_packet(v5(), "twice")));
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
}

#[test]
fn bytes_split_anywhere() {
    let mut p = Pair::default();
    let i = p.open(v5());
    let bytes = testwire::encode(&Packet::Connect(connect_packet(v5(), "split")), v5());
    for b in &bytes {
        p.send_raw(i, core::slice::from_ref(b));
    }
    assert!(matches!(p.recv(i), Some(Packet::ConnAck { code: 0, .. })));
}
