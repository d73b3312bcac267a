//! Against a real Mosquitto: CONNECT/CONNACK in both versions, a PUBLISH round trip, malformed
//! input closing the connection, silence, and a session takeover.

mod common;

use std::time::Duration;

use common::Mosquitto;
use raw_client::build::{self, malformed};
use raw_client::{CloseKind, ExpectError, Packet, PacketType, ProtocolVersion, RawClient};

const T: Duration = Duration::from_secs(3);

async fn connected(m: &Mosquitto, v: ProtocolVersion, cid: &str) -> RawClient {
    let mut c = RawClient::connect_tcp(&m.addr, v, cid).await.unwrap();
    c.send_bytes(&build::Connect::new(v, cid).build())
        .await
        .unwrap();
    let ack = c.expect_kind(PacketType::ConnAck, T).await.unwrap();
    assert_eq!(ack.error, None, "{}", c.transcript().render());
    assert_eq!(ack.reason_code(), Some(0));
    c
}

#[tokio::test]
async fn connect_v5_and_v311_get_connack() {
    let Some(m) = Mosquitto::start("connect") else {
        return;
    };
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let mut c = RawClient::connect_tcp(&m.addr, v, "c1").await.unwrap();
        c.send_bytes(
            &build::Connect::new(v, format!("rc-connect-{v:?}"))
                .keep_alive(10)
                .build(),
        )
        .await
        .unwrap();
        let ack = c.recv(T).await.unwrap();
        assert_eq!(ack.kind, Some(PacketType::ConnAck));
        let Ok(Packet::ConnAck(_)) = ack.packet() else {
            panic!("CONNACK did not decode: {}", c.transcript().render());
        };
        assert_eq!(ack.reason_code(), Some(0));
        let text = c.transcript().render();
        assert!(text.contains("c1 -> CONNECT("), "{text}");
        assert!(text.contains("c1 <- CONNACK(session_present=0"), "{text}");
        c.send_bytes(&build::Disconnect::new(v).build())
            .await
            .unwrap();
        let close = c.expect_close(T).await.unwrap();
        assert_eq!(close.how, CloseKind::Eof);
        assert!(!close.disconnect_seen);
    }
}

#[tokio::test]
async fn publish_round_trip() {
    let Some(m) = Mosquitto::start("roundtrip") else {
        return;
    };
    let v = ProtocolVersion::V5;
    let mut sub = connected(&m, v, "rc-rt-sub").await;
    sub.send_bytes(&build::Subscribe::v5(1).filter("rc/rt/#", 1).build())
        .await
        .unwrap();
    let suback = sub.expect_kind(PacketType::SubAck, T).await.unwrap();
    assert_eq!(suback.body(), [0x00, 0x01, 0x00, 0x01]); // packet id 1, no props, granted QoS 1

    let mut publ = connected(&m, ProtocolVersion::V3_1_1, "rc-rt-pub").await;
    publ.send_bytes(
        &build::Publish::v311("rc/rt/a", "hello")
            .qos(1)
            .packet_id(9)
            .build(),
    )
    .await
    .unwrap();
    publ.expect("PUBACK for 9", T, |r| match r.packet() {
        Ok(Packet::PubAck(_)) if r.body()[..2] == [0, 9] => Ok(()),
        _ => Err("not PUBACK 9".into()),
    })
    .await
    .unwrap();

    let got = sub.expect_kind(PacketType::Publish, T).await.unwrap();
    assert_eq!(got.error, None);
    assert!(
        got.decoded
            .starts_with(r#"PUBLISH(topic="rc/rt/a", qos=1, packet_id="#),
        "{}",
        got.decoded
    );
    assert!(
        got.decoded.ends_with(r#"payload=5 bytes "hello")"#),
        "{}",
        got.decoded
    );
    assert!(got.bytes.ends_with(b"hello"));
}

#[tokio::test]
async fn malformed_connect_gets_the_connection_closed() {
    let Some(m) = Mosquitto::start("malformed") else {
        return;
    };
    for (name, bytes) in [
        (
            "reserved flag v3.1.1",
            malformed::connect_reserved_flag(ProtocolVersion::V3_1_1, "rc-m1"),
        ),
        (
            "reserved flag v5",
            malformed::connect_reserved_flag(ProtocolVersion::V5, "rc-m2"),
        ),
        (
            "5-byte length",
            malformed::connect_five_byte_length(ProtocolVersion::V5, "rc-m3"),
        ),
    ] {
        let mut c = RawClient::connect_tcp(&m.addr, ProtocolVersion::V5, "bad")
            .await
            .unwrap();
        c.send_bytes(&bytes).await.unwrap();
        let close = c
            .expect_close(T)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Mosquitto closes without a CONNACK; a 5.0 broker may also answer CONNACK 0x81 first.
        for r in &close.received_before {
            assert_eq!(
                r.kind,
                Some(PacketType::ConnAck),
                "{name}: {}",
                c.transcript().render()
            );
        }
        assert!(
            matches!(close.how, CloseKind::Eof | CloseKind::Reset),
            "{name}: {:?}",
            close.how
        );
        let text = c.transcript().render();
        assert!(text.contains("bad -- connection"), "{name}: {text}");
        // Once closed, every expectation answers from the recorded state.
        assert_eq!(
            c.recv(T).await,
            Err(ExpectError::Closed {
                what: "any packet".into()
            })
        );
    }
}

#[tokio::test]
async fn expect_nothing_passes_when_idle_and_fails_on_a_packet() {
    let Some(m) = Mosquitto::start("nothing") else {
        return;
    };
    let mut c = connected(&m, ProtocolVersion::V5, "rc-nothing").await;
    c.expect_nothing(Duration::from_millis(300)).await.unwrap();
    c.send_bytes(&build::Pingreq::new().build()).await.unwrap();
    match c.expect_nothing(Duration::from_secs(2)).await {
        Err(ExpectError::Unexpected { got, .. }) => assert_eq!(got, "PINGRESP (a packet arrived)"),
        other => panic!("{other:?}"),
    }
    // A wrong packet fails `expect` (no silent skipping).
    c.send_bytes(&build::Pingreq::new().build()).await.unwrap();
    let err = c.expect_kind(PacketType::SubAck, T).await.unwrap_err();
    assert!(matches!(err, ExpectError::Unexpected { .. }), "{err}");
    // And a timeout says what was waited for.
    let err = c.recv(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 100ms waiting for any packet"
    );
}

#[tokio::test]
async fn takeover_closes_the_first_connection() {
    let Some(m) = Mosquitto::start("takeover") else {
        return;
    };
    for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let cid = format!("rc-takeover-{v:?}");
        let mut first = connected(&m, v, &cid).await;
        let _second = connected(&m, v, &cid).await;
        let close = first.expect_close(T).await.unwrap();
        assert_eq!(close.how, CloseKind::Eof);
        // 5.0 allows a DISCONNECT 0x8E (Session taken over) first; the Mosquitto on the CI
        // image just closes. 3.1.1 has no server DISCONNECT and no reason codes.
        if close.disconnect_seen {
            assert_eq!(v, ProtocolVersion::V5, "{}", first.transcript().render());
            assert_eq!(close.disconnect_reason, Some(0x8e));
        } else {
            assert_eq!(close.disconnect_reason, None);
            assert!(
                close.received_before.is_empty(),
                "{}",
                first.transcript().render()
            );
        }
    }
}
