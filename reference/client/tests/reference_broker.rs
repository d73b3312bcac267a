//! The client against the reference broker (`mqttref-broker`, started in-process on a free
//! loopback port): QoS round trips in 5.0 and 3.1.1, wills, request/response, and QoS 2 flows
//! cut mid-way by a relay (exactly once in both directions).

mod common;

use std::time::Duration;

use common::{CutRule, Relay};
use mqttref_broker::{Broker, BrokerConfig};
use mqttref_client::{
    Client, ClientOptions, ConnectionState, Incoming, Message, ProtocolVersion, PublishProperties,
    QoS, ReconnectPolicy, Will,
};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(10);

/// A reference broker on a free port; shut down when dropped.
struct RefBroker {
    port: u16,
    _stop: oneshot::Sender<()>,
}

async fn start() -> RefBroker {
    let config = BrokerConfig {
        listen: vec!["127.0.0.1:0".into()],
        ..BrokerConfig::default()
    };
    let broker = Broker::bind(config).await.expect("bind");
    let port = broker.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(broker.run(async move {
        let _ = stopped.await;
    }));
    RefBroker { port, _stop: stop }
}

fn opts(port: u16, id: &str, version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new("127.0.0.1", port, id)
        .with_version(version)
        .with_reconnect(ReconnectPolicy::disabled())
}

fn resumable(port: u16, id: &str) -> ClientOptions {
    let mut o = ClientOptions::new("127.0.0.1", port, id)
        .with_session_expiry(300)
        .with_seed(3);
    o.reconnect = ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        max_attempts: Some(50),
    };
    o
}

async fn next(incoming: &mut Incoming) -> Message {
    tokio::time::timeout(WAIT, incoming.recv())
        .await
        .expect("a message in time")
        .expect("client running")
}

async fn drain(incoming: &mut Incoming, quiet: Duration) -> Vec<Message> {
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, incoming.recv()).await {
        out.push(m);
    }
    out
}

#[tokio::test]
async fn qos_round_trips_both_versions() {
    let b = start().await;
    for version in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
        let tag = if version == ProtocolVersion::V5 {
            "v5"
        } else {
            "v311"
        };
        let (sub, mut incoming) = Client::connect(opts(b.port, &format!("rt-sub-{tag}"), version))
            .await
            .unwrap();
        assert!(sub
            .subscribe_one(format!("rt/{tag}/#"), QoS::ExactlyOnce)
            .await
            .unwrap()
            .is_success());
        let (publ, _) = Client::connect(opts(b.port, &format!("rt-pub-{tag}"), version))
            .await
            .unwrap();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let topic = format!("rt/{tag}/{}", qos.as_u8());
            let out = publ
                .publish(topic.clone(), "p", qos, false, PublishProperties::default())
                .await
                .unwrap();
            assert!(out.is_success(), "{tag} {qos:?}: {out:?}");
            let m = next(&mut incoming).await;
            assert_eq!((m.topic.as_str(), m.qos), (topic.as_str(), qos));
        }
        publ.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn will_on_abnormal_disconnect() {
    let b = start().await;
    let relay = Relay::start(b.port).await;
    let (w, mut incoming) = Client::connect(opts(b.port, "will-w", ProtocolVersion::V5))
        .await
        .unwrap();
    w.subscribe_one("rb-will/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (_dev, _) = Client::connect(
        opts(relay.port, "will-dev", ProtocolVersion::V5)
            .with_will(Will::new("rb-will/dev", "gone")),
    )
    .await
    .unwrap();
    relay.sever();
    let m = next(&mut incoming).await;
    assert_eq!(m.payload, b"gone");
}

#[tokio::test]
async fn request_response() {
    let b = start().await;
    let (server, mut requests) = Client::connect(opts(b.port, "rr-s", ProtocolVersion::V5))
        .await
        .unwrap();
    server
        .subscribe_one("svc/upper", QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::spawn(async move {
        let req = next(&mut requests).await;
        let props = PublishProperties {
            correlation_data: req.properties.correlation_data.clone(),
            ..PublishProperties::default()
        };
        let topic = req.properties.response_topic.clone().unwrap();
        server
            .publish(
                topic,
                req.payload.to_ascii_uppercase(),
                QoS::AtLeastOnce,
                false,
                props,
            )
            .await
            .unwrap();
    });
    let (client, _) = Client::connect(opts(b.port, "rr-c", ProtocolVersion::V5))
        .await
        .unwrap();
    assert_eq!(
        client.request("svc/upper", "abc").await.unwrap().payload,
        b"ABC"
    );
}

#[tokio::test]
async fn incoming_qos2_cut_mid_flow_is_delivered_exactly_once() {
    let b = start().await;
    let relay = Relay::start(b.port).await;
    let (sub, mut incoming) = Client::connect(resumable(relay.port, "rb-in-sub"))
        .await
        .unwrap();
    sub.subscribe_one("rb-in/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    relay.cut_on(CutRule {
        server_packet_type: 3,
        forward: true,
    });
    let (publ, _) = Client::connect(opts(b.port, "rb-in-pub", ProtocolVersion::V5))
        .await
        .unwrap();
    publ.publish(
        "rb-in/a",
        "one",
        QoS::ExactlyOnce,
        false,
        PublishProperties::default(),
    )
    .await
    .unwrap();
    assert_eq!(next(&mut incoming).await.payload, b"one");
    publ.publish(
        "rb-in/b",
        "two",
        QoS::ExactlyOnce,
        false,
        PublishProperties::default(),
    )
    .await
    .unwrap();
    let rest = drain(&mut incoming, Duration::from_millis(1500)).await;
    assert_eq!(relay.fired(), 1);
    let payloads: Vec<&[u8]> = rest.iter().map(|m| m.payload.as_slice()).collect();
    assert_eq!(payloads, vec![&b"two"[..]]);
    assert!(matches!(sub.state(), ConnectionState::Connected(ref c) if c.session_present));
}

#[tokio::test]
async fn outgoing_qos2_cut_before_pubrec_is_delivered_once() {
    let b = start().await;
    let relay = Relay::start(b.port).await;
    let (w, mut incoming) = Client::connect(opts(b.port, "rb-out-w", ProtocolVersion::V5))
        .await
        .unwrap();
    w.subscribe_one("rb-out/#", QoS::ExactlyOnce).await.unwrap();
    let (publ, _) = Client::connect(resumable(relay.port, "rb-out-pub"))
        .await
        .unwrap();
    relay.cut_on(CutRule {
        server_packet_type: 5,
        forward: false,
    });
    let out = tokio::time::timeout(
        WAIT,
        publ.publish(
            "rb-out/x",
            "exactly",
            QoS::ExactlyOnce,
            false,
            PublishProperties::default(),
        ),
    )
    .await
    .expect("completes after the reconnect")
    .unwrap();
    assert!(out.is_success());
    assert_eq!(relay.fired(), 1);
    let got = drain(&mut incoming, Duration::from_millis(1500)).await;
    assert_eq!(got.len(), 1, "{got:?}");
}
