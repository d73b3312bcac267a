//! The client against a real Mosquitto: QoS round trips in 5.0 and 3.1.1, retained messages,
//! wills, session resume after a cut mid-flow (exactly-once QoS 2), reconnect with backoff
//! across a broker restart, request/response, and errors.

mod common;

use std::time::Duration;

use common::{CutRule, Mosquitto, Relay};
use mqttref_client::{
    Client, ClientError, ClientOptions, ConnectionState, Incoming, Message, ProtocolVersion,
    PublishProperties, QoS, ReconnectPolicy, SubscribeFilter, SubscribeProperties, Will,
};

const WAIT: Duration = Duration::from_secs(10);

fn opts(port: u16, id: &str, version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new("127.0.0.1", port, id)
        .with_version(version)
        .with_reconnect(ReconnectPolicy::disabled())
}

async fn next(incoming: &mut Incoming) -> Message {
    tokio::time::timeout(WAIT, incoming.recv())
        .await
        .expect("a message in time")
        .expect("client still running")
}

/// Messages arriving within `quiet` of each other, until quiet.
async fn drain(incoming: &mut Incoming, quiet: Duration) -> Vec<Message> {
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, incoming.recv()).await {
        out.push(m);
    }
    out
}

async fn round_trips(version: ProtocolVersion, test: &str) {
    let Some(broker) = Mosquitto::start(test) else {
        return;
    };
    let (sub, mut incoming) = Client::connect(opts(broker.port, &format!("{test}-sub"), version))
        .await
        .unwrap();
    let outcome = sub
        .subscribe_one(format!("{test}/#"), QoS::ExactlyOnce)
        .await
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let (publ, _) = Client::connect(opts(broker.port, &format!("{test}-pub"), version))
        .await
        .unwrap();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = format!("{test}/q{}", qos.as_u8());
        let out = publ
            .publish(
                topic.clone(),
                vec![qos.as_u8(); 3],
                qos,
                false,
                PublishProperties::default(),
            )
            .await
            .unwrap();
        assert!(out.is_success(), "{qos:?}: {out:?}");
        let m = next(&mut incoming).await;
        assert_eq!(
            (m.topic.as_str(), m.qos, m.payload.as_slice()),
            (topic.as_str(), qos, &[qos.as_u8(); 3][..])
        );
    }
    publ.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}

#[tokio::test]
async fn qos_0_1_2_round_trips_v5() {
    round_trips(ProtocolVersion::V5, "rt5").await;
}

#[tokio::test]
async fn qos_0_1_2_round_trips_v311() {
    round_trips(ProtocolVersion::V3_1_1, "rt311").await;
}

#[tokio::test]
async fn user_properties_and_subscription_options_reach_the_subscriber() {
    let Some(broker) = Mosquitto::start("props") else {
        return;
    };
    let (c, mut incoming) = Client::connect(opts(broker.port, "props", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut f = SubscribeFilter::new("props/#", QoS::AtLeastOnce);
    f.options.no_local = false;
    f.options.retain_as_published = true;
    let sp = SubscribeProperties {
        subscription_identifier: Some(42),
        user_properties: vec![("k".into(), "v".into())],
    };
    assert!(c.subscribe(vec![f], sp).await.unwrap().is_success());
    let props = PublishProperties {
        user_properties: vec![("trace".into(), "abc".into())],
        content_type: Some("text/plain".into()),
        ..PublishProperties::default()
    };
    c.publish("props/x", "hi", QoS::AtLeastOnce, false, props)
        .await
        .unwrap();
    let m = next(&mut incoming).await;
    assert_eq!(
        m.properties.user_properties,
        vec![("trace".to_string(), "abc".to_string())]
    );
    assert_eq!(m.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(m.properties.subscription_identifiers, vec![42]);
    // No Local: our own messages do not come back.
    let mut nl = SubscribeFilter::new("nolocal/#", QoS::AtLeastOnce);
    nl.options.no_local = true;
    c.subscribe(vec![nl], SubscribeProperties::default())
        .await
        .unwrap();
    c.publish(
        "nolocal/x",
        "self",
        QoS::AtLeastOnce,
        false,
        PublishProperties::default(),
    )
    .await
    .unwrap();
    assert!(drain(&mut incoming, Duration::from_millis(300))
        .await
        .is_empty());
    c.disconnect().await.unwrap();
}

#[tokio::test]
async fn retained_message_is_delivered_to_a_later_subscriber() {
    let Some(broker) = Mosquitto::start("retained") else {
        return;
    };
    let (p, _) = Client::connect(opts(broker.port, "ret-pub", ProtocolVersion::V5))
        .await
        .unwrap();
    p.publish(
        "ret/t",
        "kept",
        QoS::AtLeastOnce,
        true,
        PublishProperties::default(),
    )
    .await
    .unwrap();
    let (s, mut incoming) = Client::connect(opts(broker.port, "ret-sub", ProtocolVersion::V3_1_1))
        .await
        .unwrap();
    s.subscribe_one("ret/#", QoS::AtLeastOnce).await.unwrap();
    let m = next(&mut incoming).await;
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice(), m.retain),
        ("ret/t", &b"kept"[..], true)
    );
    // Clean up: an empty retained message deletes it.
    p.publish(
        "ret/t",
        "",
        QoS::AtLeastOnce,
        true,
        PublishProperties::default(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn will_is_published_when_the_connection_drops_abnormally() {
    let Some(broker) = Mosquitto::start("will") else {
        return;
    };
    let relay = Relay::start(broker.port).await;
    let (watcher, mut incoming) =
        Client::connect(opts(broker.port, "will-watch", ProtocolVersion::V5))
            .await
            .unwrap();
    watcher
        .subscribe_one("will/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut will = Will::new("will/dev", "dev went away");
    will.qos = QoS::AtLeastOnce;
    let (dev, _dev_in) =
        Client::connect(opts(relay.port, "will-dev", ProtocolVersion::V5).with_will(will))
            .await
            .unwrap();
    relay.sever();
    let m = next(&mut incoming).await;
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("will/dev", &b"dev went away"[..])
    );
    drop(dev);
    watcher.disconnect().await.unwrap();
}

#[tokio::test]
async fn normal_disconnect_does_not_publish_the_will() {
    let Some(broker) = Mosquitto::start("nowill") else {
        return;
    };
    let (watcher, mut incoming) =
        Client::connect(opts(broker.port, "nowill-watch", ProtocolVersion::V5))
            .await
            .unwrap();
    watcher
        .subscribe_one("nowill/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (dev, _) = Client::connect(
        opts(broker.port, "nowill-dev", ProtocolVersion::V5)
            .with_will(Will::new("nowill/dev", "x")),
    )
    .await
    .unwrap();
    dev.disconnect().await.unwrap();
    assert!(drain(&mut incoming, Duration::from_millis(500))
        .await
        .is_empty());
}

fn resumable(port: u16, id: &str) -> ClientOptions {
    let mut o = ClientOptions::new("127.0.0.1", port, id)
        .with_session_expiry(300)
        .with_seed(1);
    o.reconnect = ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        max_attempts: Some(50),
    };
    o
}

#[tokio::test]
async fn incoming_qos2_cut_mid_flow_is_delivered_exactly_once() {
    let Some(broker) = Mosquitto::start("resume-in") else {
        return;
    };
    let relay = Relay::start(broker.port).await;
    let (sub, mut incoming) = Client::connect(resumable(relay.port, "resume-in-sub"))
        .await
        .unwrap();
    sub.subscribe_one("resume-in/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    // The broker's PUBLISH reaches the subscriber, then the connection is cut: the PUBREC may or
    // may not have got through, so the broker resends the PUBLISH (DUP) or the PUBREL.
    relay.cut_on(CutRule {
        server_packet_type: 3,
        forward: true,
    });
    let (publ, _) = Client::connect(opts(broker.port, "resume-in-pub", ProtocolVersion::V5))
        .await
        .unwrap();
    publ.publish(
        "resume-in/a",
        "only-once",
        QoS::ExactlyOnce,
        false,
        PublishProperties::default(),
    )
    .await
    .unwrap();
    let m = next(&mut incoming).await;
    assert_eq!(m.payload, b"only-once");
    publ.publish(
        "resume-in/b",
        "after",
        QoS::ExactlyOnce,
        false,
        PublishProperties::default(),
    )
    .await
    .unwrap();
    let rest = drain(&mut incoming, Duration::from_millis(1500)).await;
    assert_eq!(relay.fired(), 1, "the relay cut the connection");
    let payloads: Vec<&[u8]> = rest.iter().map(|m| m.payload.as_slice()).collect();
    assert_eq!(
        payloads,
        vec![&b"after"[..]],
        "no second delivery of the first message"
    );
    assert!(matches!(sub.state(), ConnectionState::Connected(ref c) if c.session_present));
}

#[tokio::test]
async fn outgoing_qos2_cut_before_pubrec_is_resent_and_delivered_once() {
    let Some(broker) = Mosquitto::start("resume-out") else {
        return;
    };
    let relay = Relay::start(broker.port).await;
    let (watcher, mut incoming) =
        Client::connect(opts(broker.port, "resume-out-watch", ProtocolVersion::V5))
            .await
            .unwrap();
    watcher
        .subscribe_one("resume-out/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    let (publ, _) = Client::connect(resumable(relay.port, "resume-out-pub"))
        .await
        .unwrap();
    // The PUBREC never reaches the publisher: it resends the PUBLISH with DUP after resuming.
    relay.cut_on(CutRule {
        server_packet_type: 5,
        forward: false,
    });
    let out = tokio::time::timeout(
        WAIT,
        publ.publish(
            "resume-out/x",
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
    assert_eq!(got.len(), 1, "delivered exactly once: {got:?}");
    assert_eq!(got[0].payload, b"exactly");
}

#[tokio::test]
async fn reconnects_with_backoff_after_a_broker_restart_and_restores_subscriptions() {
    let Some(mut broker) = Mosquitto::start("restart") else {
        return;
    };
    let (c, mut incoming) = Client::connect(resumable(broker.port, "restart-c"))
        .await
        .unwrap();
    c.subscribe_one("restart/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut state = c.watch_state();
    broker.stop();
    tokio::time::timeout(
        WAIT,
        state.wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. })),
    )
    .await
    .expect("notices the broker is gone")
    .unwrap();
    // Published while the broker is down: queued in the session.
    let c2 = c.clone();
    let pending = tokio::spawn(async move {
        c2.publish(
            "restart/x",
            "queued",
            QoS::AtLeastOnce,
            false,
            PublishProperties::default(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !pending.is_finished(),
        "cannot complete while the broker is down"
    );
    broker.restart();
    let out = tokio::time::timeout(WAIT, pending)
        .await
        .expect("completes after the restart")
        .unwrap()
        .unwrap();
    assert!(out.is_success());
    assert!(matches!(c.state(), ConnectionState::Connected(ref i) if !i.session_present));
    // The restarted broker had no session: the subscription was restored, so our own message
    // comes back.
    let m = next(&mut incoming).await;
    assert_eq!(m.payload, b"queued");
    c.disconnect().await.unwrap();
}

#[tokio::test]
async fn request_response_round_trip() {
    let Some(broker) = Mosquitto::start("reqresp") else {
        return;
    };
    let (server, mut requests) =
        Client::connect(opts(broker.port, "rr-server", ProtocolVersion::V5))
            .await
            .unwrap();
    server
        .subscribe_one("svc/echo", QoS::AtLeastOnce)
        .await
        .unwrap();
    let responder = tokio::spawn(async move {
        let req = next(&mut requests).await;
        let props = PublishProperties {
            correlation_data: req.properties.correlation_data.clone(),
            ..PublishProperties::default()
        };
        let topic = req
            .properties
            .response_topic
            .clone()
            .expect("a response topic");
        let mut payload = b"echo: ".to_vec();
        payload.extend_from_slice(&req.payload);
        server
            .publish(topic, payload, QoS::AtLeastOnce, false, props)
            .await
            .unwrap();
    });
    let (client, _) = Client::connect(opts(broker.port, "rr-client", ProtocolVersion::V5))
        .await
        .unwrap();
    let resp = client.request("svc/echo", "ping").await.unwrap();
    assert_eq!(resp.payload, b"echo: ping");
    responder.await.unwrap();
}

#[tokio::test]
async fn unreachable_broker_is_a_connect_error() {
    let port = common::free_port();
    let err = Client::connect(opts(port, "nobody", ProtocolVersion::V5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Connect {
                kind: std::io::ErrorKind::ConnectionRefused,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn invalid_topic_is_refused_locally() {
    let Some(broker) = Mosquitto::start("badtopic") else {
        return;
    };
    let (c, _) = Client::connect(opts(broker.port, "badtopic", ProtocolVersion::V5))
        .await
        .unwrap();
    let err = c
        .publish(
            "a/+/b",
            "x",
            QoS::AtMostOnce,
            false,
            PublishProperties::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Command(_)), "{err:?}");
    let err = c.subscribe_one("a/#/b", QoS::AtMostOnce).await.unwrap_err();
    assert!(matches!(err, ClientError::Command(_)), "{err:?}");
}

#[tokio::test]
async fn outgoing_qos2_cut_before_pubcomp_v311_resends_pubrel() {
    let Some(broker) = Mosquitto::start("resume-311") else {
        return;
    };
    let relay = Relay::start(broker.port).await;
    let (watcher, mut incoming) = Client::connect(opts(
        broker.port,
        "resume-311-watch",
        ProtocolVersion::V3_1_1,
    ))
    .await
    .unwrap();
    watcher
        .subscribe_one("resume-311/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    // 3.1.1 persistent session (Clean Session 0); the PUBCOMP is lost: PUBREL is resent.
    let o = resumable(relay.port, "resume-311-pub")
        .with_version(ProtocolVersion::V3_1_1)
        .with_clean_start(false);
    let (publ, _) = Client::connect(o).await.unwrap();
    relay.cut_on(CutRule {
        server_packet_type: 7,
        forward: false,
    });
    let out = tokio::time::timeout(
        WAIT,
        publ.publish(
            "resume-311/x",
            "once",
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
    assert!(matches!(publ.state(), ConnectionState::Connected(ref c) if c.session_present));
    let got = drain(&mut incoming, Duration::from_millis(1000)).await;
    assert_eq!(got.len(), 1, "delivered exactly once: {got:?}");
    // Leave no persistent session behind.
    publ.disconnect().await.unwrap();
}
