//! Driver tests over real TCP: the engine behind sockets, timers from tokio, shutdown.

mod common;

use std::time::Duration;

use common::{connect_packet, publish, start, subscribe, Raw};
use mqttref_broker::BrokerConfig;
use mqttref_core::broker::testwire::{kind, Packet, Props, ProtocolVersion, WillMsg};

#[tokio::test]
async fn publish_and_subscribe_over_tcp_across_versions() {
    let b = start(BrokerConfig::default()).await;
    let (mut sub3, ack) =
        Raw::connect(b.addr, connect_packet(ProtocolVersion::V3_1_1, "sub3")).await;
    assert!(matches!(ack, Packet::ConnAck { code: 0, .. }));
    subscribe(&mut sub3, "t/#", 1).await;
    let (mut pb, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "pub5")).await;
    pb.send(&publish("t/1", 1, 10, b"hello")).await;
    assert_eq!(
        pb.recv().await,
        Some(Packet::Ack {
            kind: kind::PUBACK,
            pid: 10,
            code: 0,
            props: Props::default()
        })
    );
    let Some(Packet::Publish(m)) = sub3.recv().await else {
        panic!("no delivery")
    };
    assert_eq!(&*m.payload, b"hello");
    assert_eq!(m.qos, 1);
    sub3.send(&Packet::Ack {
        kind: kind::PUBACK,
        pid: m.pid,
        code: 0,
        props: Props::default(),
    })
    .await;
    b.stop().await;
}

#[tokio::test]
async fn shutdown_sends_disconnect_0x8b() {
    let b = start(BrokerConfig::default()).await;
    let (mut c, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "c")).await;
    b.stop().await;
    assert_eq!(
        c.recv().await,
        Some(Packet::Disconnect {
            code: 0x8B,
            props: Props::default()
        })
    );
    assert_eq!(c.recv().await, None);
}

#[tokio::test]
async fn will_published_when_socket_drops() {
    let b = start(BrokerConfig::default()).await;
    let (mut w, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "watch")).await;
    subscribe(&mut w, "will/#", 0).await;
    let mut c = connect_packet(ProtocolVersion::V3_1_1, "dies");
    c.will = Some(WillMsg {
        topic: "will/dies".into(),
        payload: b"bye".to_vec(),
        qos: 0,
        retain: false,
        props: Props::default(),
    });
    let (dying, _) = Raw::connect(b.addr, c).await;
    drop(dying);
    let Some(Packet::Publish(m)) = w.recv().await else {
        panic!("no will")
    };
    assert_eq!(&*m.payload, b"bye");
    b.stop().await;
}

#[tokio::test]
async fn keep_alive_timeout_over_tcp() {
    let b = start(BrokerConfig::default()).await;
    let mut c = connect_packet(ProtocolVersion::V5, "ka");
    c.keep_alive = 1;
    let (mut c, _) = Raw::connect(b.addr, c).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        c.recv().await,
        Some(Packet::Disconnect {
            code: 0x8D,
            props: Props::default()
        })
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(3000),
        "{waited:?}"
    );
    b.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() {
    let mut config = BrokerConfig::default();
    config.engine.max_connections = 2;
    let b = start(config).await;
    let (_a, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "a")).await;
    let (_b, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "b")).await;
    let (mut third, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "c")).await;
    assert!(matches!(ack, Packet::ConnAck { code: 0x97, .. }), "{ack:?}");
    assert_eq!(third.recv().await, None, "closed after the refusal");
    let (_c, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V3_1_1, "c3")).await;
    assert!(matches!(ack, Packet::ConnAck { code: 3, .. }), "{ack:?}");
    drop(_a);
    // Give the engine a moment to see the close, then there is room again.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (_d, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "d")).await;
        if matches!(ack, Packet::ConnAck { code: 0, .. }) {
            ok = true;
            break;
        }
    }
    assert!(ok);
    b.stop().await;
}

#[tokio::test]
async fn outbound_topic_aliases_on_the_wire() {
    let mut config = BrokerConfig::default();
    config.engine.outbound_topic_aliases = true;
    let b = start(config).await;
    let mut c = connect_packet(ProtocolVersion::V5, "alias-sub");
    c.props.topic_alias_maximum = Some(5);
    let (mut s, _) = Raw::connect(b.addr, c).await;
    subscribe(&mut s, "x/#", 0).await;
    let (mut p, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "alias-pub")).await;
    p.send(&publish("x/a", 0, 0, b"1")).await;
    p.send(&publish("x/a", 0, 0, b"2")).await;
    // 30 0a | 00 03 "x/a" | 03 23 00 01 | "1"  then  30 07 | 00 00 | 03 23 00 01 | "2"
    let mut raw = vec![0u8; 21];
    tokio::io::AsyncReadExt::read_exact(&mut s.stream, &mut raw)
        .await
        .expect("read");
    assert_eq!(
        raw,
        [
            0x30, 0x0a, 0, 3, b'x', b'/', b'a', 3, 0x23, 0, 1, b'1', 0x30, 0x07, 0, 0, 3, 0x23, 0,
            1, b'2'
        ]
        .to_vec()
    );
    b.stop().await;
}

/// Accepts only user "u" with password "p".
struct Passwords;

impl mqttref_core::broker::Authenticator for Passwords {
    fn authenticate(
        &mut self,
        req: &mqttref_core::broker::AuthRequest<'_>,
    ) -> mqttref_core::broker::AuthDecision {
        use mqttref_core::broker::AuthDecision;
        match (req.username, req.password) {
            (Some("u"), Some(b"p")) => AuthDecision::Allow(None),
            _ => AuthDecision::Deny(mqttref_core::codec::ReasonCode::BadUserNameOrPassword),
        }
    }
}

#[tokio::test]
async fn run_with_an_authenticator() {
    use mqttref_core::broker::{Broker, MemoryStorage};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = BrokerConfig::default();
    let engine = Broker::with_parts(
        config.engine_config(),
        MemoryStorage::new(),
        Box::new(Passwords),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(mqttref_broker::run_with_engine(
        listener,
        config,
        engine,
        async {
            let _ = stopped.await;
        },
    ));
    let mut good = connect_packet(ProtocolVersion::V3_1_1, "good");
    good.username = Some("u".into());
    good.password = Some(b"p".to_vec());
    let (_g, ack) = Raw::connect(addr, good).await;
    assert!(matches!(ack, Packet::ConnAck { code: 0, .. }), "{ack:?}");
    let mut bad = connect_packet(ProtocolVersion::V5, "bad");
    bad.username = Some("u".into());
    bad.password = Some(b"wrong".to_vec());
    let (_b, ack) = Raw::connect(addr, bad).await;
    assert!(matches!(ack, Packet::ConnAck { code: 0x86, .. }), "{ack:?}");
    let _ = stop.send(());
    task.await.expect("task").expect("run");
}

/// Sockets from one address that never send CONNECT: past
/// `max_awaiting_connect_per_address` the oldest are closed, and a client that does send
/// CONNECT, from the same address, still gets in.
#[tokio::test]
async fn silent_sockets_from_one_address_evict_their_own_oldest() {
    let b = start(BrokerConfig {
        max_awaiting_connect_per_address: 3,
        ..BrokerConfig::default()
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(tokio::net::TcpStream::connect(b.addr).await.unwrap());
        // Accepted in order, so "oldest" is the order they were opened in.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_c, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "real")).await;
    assert!(matches!(ack, Packet::ConnAck { code: 0, .. }), "{ack:?}");
    let mut closed = Vec::new();
    for s in &mut silent {
        let mut buf = [0u8; 1];
        let r = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::io::AsyncReadExt::read(s, &mut buf),
        )
        .await;
        closed.push(matches!(r, Ok(Ok(0)) | Ok(Err(_))));
    }
    // The real client counted among the awaiting while it connected: the three oldest went.
    assert_eq!(closed, [true, true, true, false, false]);
}
