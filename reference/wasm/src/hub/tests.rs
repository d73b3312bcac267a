//! Two core client sessions through the hub, routed the way the page routes them.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use mqttref_core::broker::ConnectionId;
use mqttref_core::client::{
    ClientConfig, ClientSession, Event, OutgoingMessage, SubscribeFilter, SubscribeProperties,
};
use mqttref_core::codec::{ProtocolVersion, QoS, ReasonCode};
use mqttref_core::time::Instant;

use super::{Hub, HubOutput};

// The same tests on the host (`cargo test`) and in Node (`cargo xtask wasm test`), where the
// engine runs as wasm.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

struct Peer {
    conn: ConnectionId,
    session: ClientSession,
    events: Vec<Event>,
}

/// Moves bytes both ways until nothing is left to move.
fn settle(hub: &mut Hub, peers: &mut [Peer], now: Instant) {
    loop {
        let mut moved = false;
        for i in 0..peers.len() {
            let mut buf = Vec::new();
            if peers[i].session.poll_transmit(now, &mut buf) {
                moved = true;
                let conn = peers[i].conn;
                for o in hub.input(conn, now, &buf) {
                    route(peers, o, now);
                }
            }
            while let Some(e) = peers[i].session.poll_event() {
                moved = true;
                peers[i].events.push(e);
            }
        }
        if !moved {
            return;
        }
    }
}

fn route(peers: &mut [Peer], o: HubOutput, now: Instant) {
    match o {
        HubOutput::Data(conn, data) => {
            if let Some(p) = peers.iter_mut().find(|p| p.conn == conn) {
                p.session.handle_bytes(now, &data);
            }
        }
        HubOutput::Closed(conn) => {
            if let Some(p) = peers.iter_mut().find(|p| p.conn == conn) {
                p.session.handle_connection_lost(now);
            }
        }
    }
}

fn peer(hub: &mut Hub, id: &str, version: ProtocolVersion, now: Instant) -> Peer {
    let mut session = ClientSession::new(ClientConfig::new(version, id));
    session.connect(now);
    Peer {
        conn: hub.attach(now),
        session,
        events: Vec::new(),
    }
}

#[test]
fn two_clients_exchange_qos_0_1_2_across_versions() {
    let now = Instant::from_millis(5);
    let mut hub = Hub::new(7);
    let mut peers = [
        peer(&mut hub, "pub", ProtocolVersion::V5, now),
        peer(&mut hub, "sub", ProtocolVersion::V3_1_1, now),
    ];
    settle(&mut hub, &mut peers, now);
    for p in &peers {
        assert!(p.session.is_connected(), "{:?}", p.events);
    }
    peers[1]
        .session
        .subscribe(
            vec![SubscribeFilter::new("t/#", QoS::ExactlyOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    settle(&mut hub, &mut peers, now);
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let msg = OutgoingMessage::new(alloc::format!("t/{i}"), vec![i as u8; 3]).with_qos(qos);
        peers[0].session.publish(msg).unwrap();
    }
    settle(&mut hub, &mut peers, now);

    let completed: Vec<ReasonCode> = peers[0]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PublishComplete { reason_code, .. } => Some(*reason_code),
            _ => None,
        })
        .collect();
    assert_eq!(completed, [ReasonCode::Success; 3]);
    let got: Vec<(String, Vec<u8>, QoS)> = peers[1]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some((m.topic.clone(), m.payload.clone(), m.qos)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            ("t/0".to_string(), vec![0; 3], QoS::AtMostOnce),
            ("t/1".to_string(), vec![1; 3], QoS::AtLeastOnce),
            ("t/2".to_string(), vec![2; 3], QoS::ExactlyOnce),
        ]
    );
    // QoS 2 left no state behind on either side.
    assert_eq!(peers[0].session.inflight_len(), 0);
    assert_eq!(peers[1].session.incoming_qos2_len(), 0);
}

#[test]
fn malformed_input_closes_the_link_without_panicking() {
    let now = Instant::ZERO;
    let mut hub = Hub::new(1);
    let conn = hub.attach(now);
    // A CONNECT whose protocol name is not "MQTT".
    let bad = [
        0x10, 0x0a, 0x00, 0x04, b'M', b'Q', b'X', b'X', 0x05, 0x02, 0x00, 0x3c,
    ];
    let out = hub.input(conn, now, &bad);
    assert_eq!(out.last(), Some(&HubOutput::Closed(conn)), "{out:?}");
    assert_eq!(hub.connection_count(), 0);
    // Late bytes for the forgotten link are ignored.
    assert!(hub.input(conn, now, &bad).is_empty());
}

#[test]
fn a_silent_link_is_closed_by_the_connect_timeout() {
    let mut hub = Hub::new(1);
    let conn = hub.attach(Instant::ZERO);
    let due = hub.next_timeout().expect("a CONNECT deadline");
    assert!(hub.timeout(due).contains(&HubOutput::Closed(conn)));
    assert_eq!(hub.connection_count(), 0);
}
