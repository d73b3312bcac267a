//! MQTT 5.0 section 3.1: CONNECT.

use crate::wire::ack_prop_ids;
use crate::{
    ensure, require, wire, Capability, Client, Closing, Ctx, Fail, Scenario, Setup, Version::V5_0,
};
use raw_client::build::{
    packet_type, prop, Connect, Disconnect, Publish, Pubrel, Subscribe, Unsubscribe, Will,
};
use std::time::{Duration, Instant};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.connect.valid_gets_connack_success",
            &["MQTT-3.1.4-5"],
            valid_gets_connack_success,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.reserved_flag_closes",
            &["MQTT-3.1.2-3"],
            reserved_flag_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.second_connect_closes",
            &["MQTT-3.1.0-2"],
            second_connect_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.wrong_protocol_name_closes",
            &["MQTT-3.1.2-1"],
            wrong_protocol_name_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.lowercase_protocol_name_closes",
            &["MQTT-3.1.2-1"],
            lowercase_protocol_name_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.unsupported_protocol_level_closes",
            &["MQTT-3.1.2-2"],
            unsupported_protocol_level_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.clean_start_discards_session",
            &["MQTT-3.1.2-4", "MQTT-3.1.4-4"],
            clean_start_discards_session,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.clean_start_0_resumes_session",
            &[
                "MQTT-3.1.2-5",
                "MQTT-3.1.2-23",
                "MQTT-3.1.3-2",
                "MQTT-3.1.4-4",
            ],
            clean_start_0_resumes_session,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.connect.clean_start_0_new_session",
            &["MQTT-3.1.2-6"],
            clean_start_0_new_session,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_published_on_network_close",
            &["MQTT-3.1.2-7", "MQTT-3.1.2-8", "MQTT-3.1.2-14"],
            will_published_on_network_close,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_published_on_disconnect_with_will",
            &["MQTT-3.1.2-8"],
            will_published_on_disconnect_with_will,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_not_published_after_normal_disconnect",
            &["MQTT-3.1.2-8", "MQTT-3.1.2-10"],
            will_not_published_after_normal_disconnect,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_retain_published_retained",
            &["MQTT-3.1.2-15"],
            will_retain_published_retained,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.connect.will_qos_2_delivered_at_qos_2",
            &["MQTT-3.1.2-12"],
            will_qos_2_delivered_at_qos_2,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.connect.will_qos_1_delivered_at_qos_1",
            &["MQTT-3.1.2-12"],
            will_qos_1_delivered_at_qos_1,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.connect.will_qos_3_closes",
            &["MQTT-3.1.2-12", "MQTT-3.1.4-1"],
            will_qos_3_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_delay_postpones_will",
            &["MQTT-3.1.2-8"],
            will_delay_postpones_will,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_delay_reconnect_suppresses_will",
            &["MQTT-3.1.3-9"],
            will_delay_reconnect_suppresses_will,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_user_properties_kept_in_order",
            &["MQTT-3.1.3-10"],
            will_user_properties_kept_in_order,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.keep_alive_timeout_closes",
            &["MQTT-3.1.2-22", "MQTT-3.2.2-22"],
            keep_alive_timeout_closes,
        )
        .exclusive(),
        Scenario::server(
            V5_0,
            "v5.connect.maximum_packet_size_respected",
            &["MQTT-3.1.2-24", "MQTT-3.1.2-25"],
            maximum_packet_size_respected,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.packet_at_client_maximum_sent_one_over_discarded_qos0",
            &["MQTT-3.1.2-24", "MQTT-3.1.2-25"],
            packet_at_client_maximum_qos0,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.packet_at_client_maximum_sent_one_over_discarded_qos1",
            &["MQTT-3.1.2-24", "MQTT-3.1.2-25"],
            packet_at_client_maximum_qos1,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.connect.topic_alias_within_maximum",
            &["MQTT-3.1.2-26"],
            topic_alias_within_maximum,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.no_topic_alias_without_maximum",
            &["MQTT-3.1.2-27"],
            no_topic_alias_without_maximum,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.no_response_information_unless_requested",
            &["MQTT-3.1.2-28"],
            no_response_information_unless_requested,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.request_problem_information_0_no_reason_string",
            &["MQTT-3.1.2-29"],
            request_problem_information_0,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.client_id_1_and_23_chars_accepted",
            &["MQTT-3.1.3-5"],
            client_id_1_and_23_chars_accepted,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.empty_client_id_assigned_unique",
            &["MQTT-3.1.3-6", "MQTT-3.1.3-7"],
            empty_client_id_assigned_unique,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.refused_client_id_closes",
            &["MQTT-3.1.3-8"],
            refused_client_id_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_qos_without_will_flag_closes",
            &["MQTT-3.1.4-1"],
            will_qos_without_will_flag_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_retain_without_will_flag_closes",
            &["MQTT-3.1.4-1"],
            will_retain_without_will_flag_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.will_flag_without_will_fields_closes",
            &["MQTT-3.1.4-1"],
            will_flag_without_will_fields_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.user_name_flag_without_user_name_closes",
            &["MQTT-3.1.4-1"],
            user_name_flag_without_user_name_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.password_flag_without_password_closes",
            &["MQTT-3.1.4-1"],
            password_flag_without_password_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.duplicate_property_closes",
            &["MQTT-3.1.4-1"],
            duplicate_property_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.client_id_invalid_utf8_closes",
            &["MQTT-3.1.4-1"],
            client_id_invalid_utf8_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.client_id_null_char_closes",
            &["MQTT-3.1.4-1"],
            client_id_null_char_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.unsupported_auth_method_refused",
            &["MQTT-3.1.4-2"],
            unsupported_auth_method_refused,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.client_id_takeover",
            &["MQTT-3.1.4-3"],
            client_id_takeover,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.publish_after_refused_connect_dropped",
            &["MQTT-3.1.4-6"],
            publish_after_refused_connect_dropped,
        )
        .needs(Capability::Retain),
    ]
}

/// A well-formed CONNECT is acknowledged with CONNACK 0x00 (Success).
async fn valid_gets_connack_success(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_connack(0x00).await?;
    c.disconnect().await
}

/// Connect Flags bit 0 set: a Malformed Packet. The server closes the connection, and may send
/// CONNACK 0x81 (Malformed Packet) first (section 4.13.1).
async fn reserved_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect: Connect = ctx.connect_packet("client");
    let flags = connect.computed_connect_flags() | 0x01;
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&connect.connect_flags_override(flags).build())
        .await?;
    c.expect_closed(Closing::silently().or_connack(&[0x81]))
        .await
}

/// A second CONNECT on a connection is a Protocol Error: the server closes the connection, and may
/// send DISCONNECT 0x82 (Protocol Error) first (section 4.13.1).
async fn second_connect_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82]))
        .await
        .map_err(|f| f.context("after a second CONNECT"))
}

// ---------------------------------------------------------------------------------------------
// Helpers (private to this module).

/// Sends `connect` on a fresh connection and requires the server to close, silently or after a
/// CONNACK with one of `codes`.
async fn connect_closes(
    ctx: &mut Ctx,
    label: &str,
    connect: Vec<u8>,
    codes: &[u8],
    what: &str,
) -> Result<(), Fail> {
    let mut c = ctx.connect(label).await?;
    c.send_bytes(&connect).await?;
    c.expect_closed(Closing::silently().or_connack(codes))
        .await
        .map_err(|f| f.context(&format!("after {what}")))
}

fn session_present(c: &Client) -> bool {
    c.connack
        .as_ref()
        .is_some_and(wire::Connack::session_present)
}

/// A subscriber on `topic` at `qos`.
async fn subscriber(ctx: &mut Ctx, label: &str, topic: &str, qos: u8) -> Result<Client, Fail> {
    let mut s = ctx.connected(label, |c| c).await?;
    s.subscribed(topic, qos).await?;
    Ok(s)
}

/// Waits for the Will on `sub`: a PUBLISH on `topic` with `payload`.
async fn expect_will(sub: &mut Client, topic: &str, payload: &[u8]) -> Result<wire::Publish, Fail> {
    let p = sub
        .expect_publish()
        .await
        .map_err(|f| f.context("waiting for the Will Message"))?;
    ensure!(
        p.topic == topic.as_bytes() && p.payload == payload,
        format!(
            "the Will Message {:?} on {topic}",
            String::from_utf8_lossy(payload)
        ),
        format!(
            "PUBLISH {:?} on {}",
            String::from_utf8_lossy(&p.payload),
            String::from_utf8_lossy(&p.topic)
        )
    );
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// 3.1.2 Variable header.

/// Protocol Name "MQTX": the server closes, optionally after CONNACK 0x84; never Success.
async fn wrong_protocol_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let bytes = ctx.connect_packet("client").protocol_name("MQTX").build();
    connect_closes(ctx, "client", bytes, &[0x84], "Protocol Name \"MQTX\"").await
}

/// Protocol Name "mqtt" (wrong case): the server closes, optionally after CONNACK 0x84.
async fn lowercase_protocol_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let bytes = ctx.connect_packet("client").protocol_name("mqtt").build();
    connect_closes(ctx, "client", bytes, &[0x84], "Protocol Name \"mqtt\"").await
}

/// Protocol Version 6 (no MQTT version): the server closes, optionally after CONNACK 0x84.
/// A server that also speaks 3.1.1 may answer in the 3.1.1 form instead, `20 02 00 01` (return
/// code 1, unacceptable protocol level), which 3.1.1 MQTT-3.1.2-2 requires of it: the level
/// names no version, so both specifications claim the CONNECT; that form is accepted and
/// recorded. Never a Success CONNACK, and always the close.
async fn unsupported_protocol_level_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let bytes = ctx.connect_packet("client").protocol_level(6).build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&bytes).await?;
    let t = c.timeout;
    let expected = "after Protocol Version 6: close, optionally after CONNACK 0x84 (or the 3.1.1 \
                    form 20 02 00 01)";
    match c.recv(t).await {
        Ok(r) => {
            let v5_0x84 = wire::connack(&r.bytes, true).is_ok_and(|a| a.code == 0x84);
            if r.bytes == [0x20, 0x02, 0x00, 0x01] {
                ctx.choice(
                    "sent the 3.1.1 CONNACK 20 02 00 01 (unacceptable protocol level), then closed",
                );
            } else if v5_0x84 {
                ctx.choice("sent CONNACK 0x84 (Unsupported Protocol Version), then closed");
            } else {
                return Err(Fail::new(expected, wire::describe(&r.bytes)));
            }
            c.expect_closed(Closing::silently())
                .await
                .map_err(|f| f.context("after the CONNACK refusing Protocol Version 6"))
        }
        Err(raw_client::ExpectError::Closed { .. }) => {
            ctx.choice("closed the connection with no packet before it");
            Ok(())
        }
        Err(e) => Err(Fail::from(e).with_expected(expected)),
    }
}

/// A session with a subscription exists; Clean Start 1 discards it: Session Present 0 and a
/// message to the old subscription's topic is not delivered.
async fn clean_start_discards_session(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("cs");
    let mut c = ctx.session("client", true, 60).await?;
    c.subscribed(&topic, 0).await?;
    c.disconnect().await?;

    let mut c = ctx.connected("client", |c| c.clean_start(true)).await?;
    ensure!(
        !session_present(&c),
        "CONNACK Session Present 0 for Clean Start 1",
        "Session Present 1"
    );
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"old-sub", 0, false).await?;
    c.expect_silence()
        .await
        .map_err(|f| f.context("the discarded session's subscription must not deliver"))?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// Session Expiry 60, a QoS 1 subscription, disconnect; a QoS 1 message is published meanwhile.
/// Reconnecting with Clean Start 0 resumes the session: Session Present 1, the queued message
/// arrives, the subscription still delivers. Another client id has no session (Session
/// Present 0).
async fn clean_start_0_resumes_session(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("rs");
    let mut c = ctx.session("client", true, 60).await?;
    c.subscribed(&topic, 1).await?;
    c.disconnect().await?;

    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"queued", 1, false).await?;

    let result = async {
        let mut other = ctx.session("other", false, 0).await?;
        ensure!(
            !session_present(&other),
            "Session Present 0 for another client id",
            "Session Present 1"
        );
        other.disconnect().await?;

        let mut c = ctx.session("client", false, 60).await?;
        ensure!(
            session_present(&c),
            "CONNACK Session Present 1 (session kept, Session Expiry 60)",
            "Session Present 0"
        );
        let p = c
            .expect_publish()
            .await
            .map_err(|f| f.context("the message queued while disconnected"))?;
        ensure!(
            p.payload == b"queued",
            "the queued message",
            format!("payload {:?}", String::from_utf8_lossy(&p.payload))
        );
        publisher.publish(&topic, b"live", 1, false).await?;
        let p = c
            .expect_publish()
            .await
            .map_err(|f| f.context("the kept subscription"))?;
        ensure!(
            p.payload == b"live",
            "the message through the kept subscription",
            format!("payload {:?}", String::from_utf8_lossy(&p.payload))
        );
        c.disconnect().await
    }
    .await;
    publisher.disconnect().await?;
    let end = ctx.end_session("client").await;
    result.and(end)
}

/// Clean Start 0 with a client id that has no session: Session Present 0, no subscriptions;
/// with Session Expiry 60 the new session persists: the next Clean Start 0 connection gets
/// Session Present 1.
async fn clean_start_0_new_session(ctx: &mut Ctx) -> Result<(), Fail> {
    let result = async {
        let mut c = ctx.session("client", false, 60).await?;
        ensure!(
            !session_present(&c),
            "Session Present 0 (no session existed)",
            "Session Present 1"
        );
        c.disconnect().await?;
        let mut c = ctx.session("client", false, 60).await?;
        ensure!(
            session_present(&c),
            "Session Present 1 (the session created by the first connection)",
            "Session Present 0"
        );
        c.disconnect().await
    }
    .await;
    let end = ctx.end_session("client").await;
    result.and(end)
}

/// Will Flag 1, Will Retain 0: closing the TCP connection without DISCONNECT publishes the Will
/// to the current subscriber, with RETAIN 0; a later subscriber gets no retained copy.
async fn will_published_on_network_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let mut c = ctx
        .connected("client", |c| c.will(Will::new(&topic, b"gone")))
        .await?;
    c.close().await;
    let p = expect_will(&mut sub, &topic, b"gone").await?;
    ensure!(
        !p.retain,
        "the Will with RETAIN 0 to a current subscriber",
        "RETAIN 1"
    );
    let mut late = subscriber(ctx, "late", &topic, 0).await?;
    late.expect_silence()
        .await
        .map_err(|f| f.context("Will Retain 0: no retained Will for a new subscriber"))?;
    late.disconnect().await?;
    sub.disconnect().await
}

/// DISCONNECT 0x04 (Disconnect with Will Message) publishes the Will.
async fn will_published_on_disconnect_with_will(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let mut c = ctx
        .connected("client", |c| c.will(Will::new(&topic, b"bye-04")))
        .await?;
    c.send_bytes(&Disconnect::v5().reason(0x04).build()).await?;
    c.close().await;
    expect_will(&mut sub, &topic, b"bye-04").await?;
    sub.disconnect().await
}

/// DISCONNECT 0x00 removes the Will: it is not published, neither then nor when the session
/// (Session Expiry 1 s) ends.
async fn will_not_published_after_normal_disconnect(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let mut c = ctx
        .connected("client", |c| {
            c.will(Will::new(&topic, b"must-not"))
                .property(prop::session_expiry_interval(1))
        })
        .await?;
    c.disconnect().await?;
    sub.quiet = Duration::from_millis(1600);
    let r = sub
        .expect_silence()
        .await
        .map_err(|f| f.context("no Will after DISCONNECT 0x00, also past session expiry"));
    let end = ctx.end_session("client").await;
    r.and(end)?;
    sub.disconnect().await
}

/// Will Flag 1, Will Retain 1: after a network close the Will is retained, so a new subscriber
/// gets it with RETAIN 1.
async fn will_retain_published_retained(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut c = ctx
        .connected("client", |c| {
            c.will(Will::new(&topic, b"kept").retain(true))
        })
        .await?;
    // A subscriber first, so the Will is known to be out before the late subscriber comes.
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    c.close().await;
    expect_will(&mut sub, &topic, b"kept").await?;
    let mut late = subscriber(ctx, "late", &topic, 0).await?;
    let p = expect_will(&mut late, &topic, b"kept").await?;
    ensure!(
        p.retain,
        "the retained Will with RETAIN 1 to a new subscriber",
        "RETAIN 0"
    );
    late.disconnect().await?;
    sub.disconnect().await
}

/// Will QoS 2 to a QoS 2 subscriber: the Will arrives at QoS 2.
async fn will_qos_2_delivered_at_qos_2(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 2).await?;
    let mut c = ctx
        .connected("client", |c| c.will(Will::new(&topic, b"q2").qos(2)))
        .await?;
    c.close().await;
    let p = expect_will(&mut sub, &topic, b"q2").await?;
    ensure!(
        p.qos == 2,
        "the Will at QoS 2 (Will QoS 2, subscription QoS 2)",
        format!("QoS {}", p.qos)
    );
    sub.disconnect().await
}

/// Will QoS 1 to a QoS 2 subscriber: the Will arrives at QoS 1.
async fn will_qos_1_delivered_at_qos_1(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 2).await?;
    let mut c = ctx
        .connected("client", |c| c.will(Will::new(&topic, b"q1").qos(1)))
        .await?;
    c.close().await;
    let p = expect_will(&mut sub, &topic, b"q1").await?;
    ensure!(
        p.qos == 1,
        "the Will at QoS 1 (Will QoS 1, subscription QoS 2)",
        format!("QoS {}", p.qos)
    );
    sub.disconnect().await
}

/// Will QoS 3 is a Malformed Packet: the server closes (CONNACK 0x81 allowed first).
async fn will_qos_3_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let bytes = ctx
        .connect_packet("client")
        .will(Will::new(&topic, b"x").qos(3))
        .build();
    connect_closes(ctx, "client", bytes, &[0x81], "Will QoS 3").await
}

/// Will Delay 1 s, Session Expiry 10 s, network close: the Will is not published before 1 s,
/// and is published after it.
async fn will_delay_postpones_will(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let mut c = ctx
        .connected("client", |c| {
            c.will(Will::new(&topic, b"late").property(prop::will_delay_interval(1)))
                .property(prop::session_expiry_interval(10))
        })
        .await?;
    c.close().await;
    let closed = Instant::now();
    let result = async {
        expect_will(&mut sub, &topic, b"late").await?;
        let after = closed.elapsed();
        // 100 ms of slack for timer granularity.
        ensure!(
            after >= Duration::from_millis(900),
            "the Will no earlier than the Will Delay Interval (1 s) after the close",
            format!("the Will {} ms after the close", after.as_millis())
        );
        Ok(())
    }
    .await;
    let end = ctx.end_session("client").await;
    result.and(end)?;
    sub.disconnect().await
}

/// Will Delay 3 s, Session Expiry 30 s: after a network close the client reconnects to its
/// session (Clean Start 0) within 1 s; the Will is never published.
async fn will_delay_reconnect_suppresses_will(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let will = || Will::new(&topic, b"must-not").property(prop::will_delay_interval(3));
    let mut c = ctx
        .connected("client", |c| {
            c.will(will()).property(prop::session_expiry_interval(30))
        })
        .await?;
    c.close().await;
    let result = async {
        let mut c = ctx.resumed("client", 30).await?;
        sub.quiet = Duration::from_millis(3500);
        sub.expect_silence()
            .await
            .map_err(|f| f.context("the Will must not be published after the reconnect"))?;
        c.disconnect().await
    }
    .await;
    let end = ctx.end_session("client").await;
    result.and(end)?;
    sub.disconnect().await
}

/// A Will with User Properties a=1, b=2, a=3: the subscriber gets them all, in that order. A
/// User Property the server adds is recorded as a choice (3.1.3-10 asks for the order only).
async fn will_user_properties_kept_in_order(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let will = Will::new(&topic, b"props")
        .property(prop::user_property("a", "1"))
        .property(prop::user_property("b", "2"))
        .property(prop::user_property("a", "3"));
    let mut c = ctx.connected("client", |c| c.will(will)).await?;
    c.close().await;
    let p = expect_will(&mut sub, &topic, b"props").await?;
    let pairs: Vec<(String, String)> = p
        .properties
        .iter()
        .filter_map(|(_, v)| match v {
            wire::Prop::Pair(k, v) => Some((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )),
            _ => None,
        })
        .collect();
    let want: Vec<(String, String)> = [("a", "1"), ("b", "2"), ("a", "3")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (sent, added): (Vec<_>, Vec<_>) = pairs.iter().cloned().partition(|p| want.contains(p));
    ensure!(
        sent == want,
        "User Properties a=1, b=2, a=3 in that order",
        format!("User Properties {pairs:?}")
    );
    if !added.is_empty() {
        ctx.choice(format!(
            "added User Properties to the Will Message: {added:?}"
        ));
    }
    sub.disconnect().await
}

/// Keep Alive 2 s and silence: the server closes the connection within 1.5 × 2 s (plus 0.5 s
/// of scheduling slack), as a network failure, so the Will is published. If CONNACK has a
/// Server Keep Alive, that value is the one enforced.
async fn keep_alive_timeout_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let mut c = ctx
        .connected("client", |c| {
            c.keep_alive(2).will(Will::new(&topic, b"timeout"))
        })
        .await?;
    let started = Instant::now();
    let server_ka = c
        .connack
        .as_ref()
        .and_then(|a| a.property(prop::SERVER_KEEP_ALIVE));
    let ka = match server_ka {
        None => 2,
        Some(k) if (1..=4).contains(&k) => {
            ctx.choice(format!("Server Keep Alive {k} s instead of 2 s"));
            k
        }
        Some(k) => {
            return Err(ctx.skip(format!(
                "CONNACK sets Server Keep Alive {k} s: too long (or 0) to time here"
            )))
        }
    };
    let limit = Duration::from_millis(u64::from(ka) * 1500 + 500);
    // Wait longer than the limit so that a late close is reported with its time.
    c.timeout = limit + Duration::from_secs(5);
    c.expect_closed(Closing::silently().or_disconnect(&[0x8D]))
        .await
        .map_err(|f| f.context(&format!("Keep Alive {ka} s with no packet from the client")))?;
    let after = started.elapsed();
    ensure!(
        after <= limit,
        format!("the close within 1.5 × {ka} s"),
        format!("closed after {} ms", after.as_millis())
    );
    expect_will(&mut sub, &topic, b"timeout")
        .await
        .map_err(|f| f.context("a keep-alive close is a network failure: the Will goes out"))?;
    sub.disconnect().await
}

/// Maximum Packet Size 128 in CONNECT: a 300-byte message is not sent to the client (no packet,
/// no disconnect) and a later small message is; no packet exceeds 128 bytes.
async fn maximum_packet_size_respected(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("mps");
    let mut c = ctx
        .connected("client", |c| c.property(prop::maximum_packet_size(128)))
        .await?;
    c.subscribed(&topic, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, &[b'x'; 300], 0, false).await?;
    publisher.publish(&topic, b"small", 0, false).await?;
    let got = c.expect_type(packet_type::PUBLISH).await?;
    ensure!(
        got.len() <= 128,
        "no packet larger than the Maximum Packet Size 128",
        format!("{} bytes: {}", got.len(), wire::describe(&got))
    );
    let p = wire::publish(&got, true).map_err(|e| Fail::new("a well-formed PUBLISH", e.0))?;
    ensure!(
        p.payload == b"small",
        "only the small message (the oversized one skipped)",
        format!("payload of {} bytes", p.payload.len())
    );
    c.expect_silence().await?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// The client's Maximum Packet Size in the boundary scenarios: large enough that the server's own
/// additions to a PUBLISH fit, small enough that the Remaining Length of every message of the
/// scenario takes two bytes.
const CLIENT_MAXIMUM: usize = 1000;
/// Payload of the message that measures what the server's PUBLISH adds to a payload.
const MEASURE_PAYLOAD: usize = 600;

async fn packet_at_client_maximum_qos0(ctx: &mut Ctx) -> Result<(), Fail> {
    packet_at_client_maximum(ctx, 0).await
}

async fn packet_at_client_maximum_qos1(ctx: &mut Ctx) -> Result<(), Fail> {
    packet_at_client_maximum(ctx, 1).await
}

/// Maximum Packet Size 1000 in CONNECT (and, at QoS 1, Receive Maximum 1 and a session). A first
/// message measures how many bytes the server's PUBLISH adds to its payload; then one message
/// whose PUBLISH is exactly 1000 bytes, one of 1001 and a small one follow. The 1000-byte one is
/// sent (only a larger packet is too large), the 1001-byte one is not (3.1.2-24), and the
/// server goes on as if it had sent it (3.1.2-25): no close, the small one comes, and at QoS 1
/// the discarded message does not stay in flight — with Receive Maximum 1 it would hold the
/// only slot, the small one could not come, and a resumed session would get it again.
async fn packet_at_client_maximum(ctx: &mut Ctx, qos: u8) -> Result<(), Fail> {
    let topic = ctx.topic("mps");
    let mut sub = ctx
        .connected("sub", |c| {
            let c = c.property(prop::maximum_packet_size(CLIENT_MAXIMUM as u32));
            if qos > 0 {
                c.property(prop::receive_maximum(1))
                    .property(prop::session_expiry_interval(60))
            } else {
                c
            }
        })
        .await?;
    require!(
        sub.subscribed(&topic, qos).await? == qos,
        format!("QoS {qos} granted (setup)"),
        "a lower QoS granted"
    );
    let mut publisher = ctx.connected("pub", |c| c).await?;
    let r = async {
        publisher
            .publish(&topic, &[b'm'; MEASURE_PAYLOAD], qos, false)
            .await
            .setup()?;
        let (measured, _) = next_sized_publish(&mut sub, qos)
            .await
            .map_err(|f| f.context("the measuring message (setup)").setup(None))?;
        let overhead = measured.saturating_sub(MEASURE_PAYLOAD);
        require!(
            measured <= CLIENT_MAXIMUM && overhead < CLIENT_MAXIMUM - 130,
            format!(
                "the measuring message ({MEASURE_PAYLOAD}-byte payload) forwarded within the \
                 Maximum Packet Size {CLIENT_MAXIMUM} (setup)"
            ),
            format!("a {measured}-byte PUBLISH")
        );
        let exact = CLIENT_MAXIMUM - overhead;
        ctx.choice(format!(
            "adds {overhead} bytes to a payload in its PUBLISH (topic {} bytes)",
            topic.len()
        ));
        for (fill, len) in [(b'e', exact), (b'o', exact + 1)] {
            publisher
                .publish(&topic, &vec![fill; len], qos, false)
                .await
                .setup()?;
        }
        publisher
            .publish(&topic, b"end", qos, false)
            .await
            .setup()?;
        let (size, p) = next_sized_publish(&mut sub, qos).await.map_err(|f| {
            f.context(&format!(
                "the message whose PUBLISH is exactly the Maximum Packet Size \
                 {CLIENT_MAXIMUM} (only a larger one is too large to send)"
            ))
        })?;
        ensure!(
            size <= CLIENT_MAXIMUM && p.payload.first() == Some(&b'e'),
            format!(
                "the message whose PUBLISH is exactly the Maximum Packet Size {CLIENT_MAXIMUM} \
                 (only a larger one is too large to send)"
            ),
            format!(
                "a {size}-byte PUBLISH with a {}-byte payload",
                p.payload.len()
            )
        );
        let (size, p) = next_sized_publish(&mut sub, qos).await.map_err(|f| {
            f.context(&format!(
                "the small message after the one {} byte over the Maximum Packet Size \
                 (discarded as if sent{})",
                1,
                if qos > 0 {
                    ": with Receive Maximum 1 it must not hold the only slot"
                } else {
                    ""
                }
            ))
        })?;
        ensure!(
            size <= CLIENT_MAXIMUM && p.payload == b"end",
            format!(
                "the small message next: the one of {} bytes discarded",
                CLIENT_MAXIMUM + 1
            ),
            format!(
                "a {size}-byte PUBLISH with a {}-byte payload",
                p.payload.len()
            )
        );
        sub.expect_silence().await?;
        if qos > 0 {
            sub.disconnect().await?;
            let mut again = ctx.resumed("sub", 60).await?;
            let found = again.expect_silence().await.map_err(|f| {
                f.context("the resumed session: the discarded message is not pending")
            });
            again.end_session().await?;
            found?;
        }
        Ok(())
    }
    .await;
    if r.is_err() && qos > 0 {
        ctx.end_session("sub").await.ok();
    }
    publisher.disconnect().await?;
    r
}

/// The next packet, which must be a PUBLISH no larger than [`CLIENT_MAXIMUM`]; acknowledged by
/// the QoS it arrived at. Returns its size and the PUBLISH.
async fn next_sized_publish(c: &mut Client, qos: u8) -> Result<(usize, wire::Publish), Fail> {
    let got = c.expect_type(packet_type::PUBLISH).await?;
    ensure!(
        got.len() <= CLIENT_MAXIMUM,
        format!("no packet larger than the Maximum Packet Size {CLIENT_MAXIMUM}"),
        format!("a {}-byte {}", got.len(), wire::describe(&got))
    );
    let p = wire::publish(&got, true).map_err(|e| Fail::new("a well-formed PUBLISH", e.0))?;
    ensure!(p.qos == qos, format!("a PUBLISH at QoS {qos}"), p.show());
    c.ack(&p).await?;
    Ok((got.len(), p))
}

/// Topic Alias property values of a received PUBLISH.
fn topic_aliases(p: &wire::Publish) -> Vec<u32> {
    p.properties
        .iter()
        .filter_map(|(id, v)| match v {
            wire::Prop::Int(n) if *id == prop::TOPIC_ALIAS => Some(*n),
            _ => None,
        })
        .collect()
}

/// Topic Alias Maximum 2 in CONNECT: every Topic Alias the server uses on the five messages
/// it forwards (five topics, twice each) lies in 1..=2.
async fn topic_alias_within_maximum(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = ctx.topic("ta/+");
    let mut c = ctx
        .connected("client", |c| c.property(prop::topic_alias_maximum(2)))
        .await?;
    c.subscribed(&filter, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    let mut used = Vec::new();
    for round in 0..2 {
        for i in 0..5 {
            let topic = ctx.topic(&format!("ta/{i}"));
            publisher.publish(&topic, &[b'0' + round], 0, false).await?;
            let p = c.expect_publish().await?;
            let aliases = topic_aliases(&p);
            ensure!(
                aliases.iter().all(|a| (1..=2).contains(a)),
                "Topic Alias values within 1..=2",
                format!("Topic Alias {aliases:?}")
            );
            used.extend(aliases);
        }
    }
    ctx.choice(if used.is_empty() {
        "used no Topic Alias".to_string()
    } else {
        format!("used Topic Aliases {used:?}")
    });
    publisher.disconnect().await?;
    c.disconnect().await
}

/// No Topic Alias Maximum in CONNECT: the forwarded PUBLISH packets carry no Topic Alias.
async fn no_topic_alias_without_maximum(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("nta");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&topic, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for i in 0..3u8 {
        publisher.publish(&topic, &[b'0' + i], 0, false).await?;
        let p = c.expect_publish().await?;
        let aliases = topic_aliases(&p);
        ensure!(
            aliases.is_empty(),
            "no Topic Alias property (the client set no Topic Alias Maximum)",
            format!("Topic Alias {aliases:?}")
        );
    }
    publisher.disconnect().await?;
    c.disconnect().await
}

/// Request Response Information 0, and absent: the CONNACK has no Response Information.
async fn no_response_information_unless_requested(ctx: &mut Ctx) -> Result<(), Fail> {
    for (label, explicit) in [("zero", true), ("absent", false)] {
        let mut c = ctx
            .connected(label, |c| {
                if explicit {
                    c.property(prop::request_response_information(0))
                } else {
                    c
                }
            })
            .await?;
        let has = c
            .connack
            .as_ref()
            .and_then(|a| a.property_bytes(prop::RESPONSE_INFORMATION))
            .is_some();
        ensure!(
            !has,
            format!(
                "CONNACK without Response Information (Request Response Information {})",
                if explicit { "0" } else { "absent" }
            ),
            "CONNACK with Response Information"
        );
        c.disconnect().await?;
    }
    Ok(())
}

/// Request Problem Information 0: acknowledgements other than PUBLISH, CONNACK and DISCONNECT
/// carry no Reason String or User Property, even where the server reports a problem or a
/// non-success code (PUBACK/PUBREC 0x10 with no subscribers, PUBCOMP 0x92 for an unknown
/// identifier, UNSUBACK 0x11 for no subscription).
async fn request_problem_information_0(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("rpi");
    let mut c = ctx
        .connected("client", |c| {
            c.property(prop::request_problem_information(0))
        })
        .await?;
    let mut seen = Vec::new();
    let mut check = |bytes: &[u8], has_reason: bool| -> Result<(), Fail> {
        let ids = ack_prop_ids(bytes, has_reason).map_err(|e| {
            Fail::new(
                "a well-formed ack",
                format!("{e}: {}", wire::describe(bytes)),
            )
        })?;
        seen.push(wire::describe(bytes));
        ensure!(
            !ids.contains(&prop::REASON_STRING) && !ids.contains(&prop::USER_PROPERTY),
            "no Reason String or User Property (Request Problem Information 0)",
            wire::describe(bytes)
        );
        Ok(())
    };
    let max_qos = ctx.caps().max_qos;
    if max_qos >= 1 {
        c.send_bytes(&Publish::v5(&topic, b"1").qos(1).packet_id(1).build())
            .await?;
        check(&c.expect_type(packet_type::PUBACK).await?, true)?;
    }
    if max_qos >= 2 {
        c.send_bytes(&Publish::v5(&topic, b"2").qos(2).packet_id(2).build())
            .await?;
        check(&c.expect_type(packet_type::PUBREC).await?, true)?;
        c.send_bytes(&Pubrel::v5(2).build()).await?;
        check(&c.expect_type(packet_type::PUBCOMP).await?, true)?;
        c.send_bytes(&Pubrel::v5(999).build()).await?;
        // No PUBCOMP for an unknown id breaks MQTT-4.3.3-11; nothing to judge here then.
        let comp = c.expect_type(packet_type::PUBCOMP).await.map_err(|f| {
            f.context("PUBREL for an unknown packet identifier")
                .setup(Some("MQTT-4.3.3-11"))
        })?;
        check(&comp, true)?;
    }
    c.send_bytes(&Subscribe::v5(3).filter(&topic, 0).build())
        .await?;
    check(&c.expect_type(packet_type::SUBACK).await?, false)?;
    let other = ctx.topic("never");
    c.send_bytes(&Unsubscribe::v5(4).filter(&other).build())
        .await?;
    check(&c.expect_type(packet_type::UNSUBACK).await?, false)?;
    c.disconnect().await
}

// ---------------------------------------------------------------------------------------------
// 3.1.3 Payload.

/// Client ids of 1 and 23 characters of 0-9a-zA-Z are accepted.
async fn client_id_1_and_23_chars_accepted(ctx: &mut Ctx) -> Result<(), Fail> {
    let base = ctx.client_id("long");
    let mut long: String = base.clone();
    for ch in "AZaz09QWERTYUIOPLKJHGFDSA".chars() {
        if long.len() == 23 {
            break;
        }
        long.push(ch);
    }
    // A single character is a shared name: pick one from this run's id to make clashes rare.
    let short: String = base.chars().last().map_or("Q".into(), |c| c.to_string());
    for id in [short, long] {
        let mut c = ctx.connect("client").await?;
        c.send_bytes(&ctx.connect_packet("client").client_id(&id).build())
            .await?;
        c.expect_connack(0x00)
            .await
            .map_err(|f| f.context(&format!("client id {id:?} ({} chars)", id.len())))?;
        c.disconnect().await?;
    }
    Ok(())
}

/// Zero-length client id: if the server accepts it, CONNACK carries an Assigned Client
/// Identifier, two such clients get different ones, and the connection is treated as that id
/// (a later CONNECT with the assigned id takes it over). A refusal (CONNACK 0x85 then close) is
/// allowed and skips the scenario.
async fn empty_client_id_assigned_unique(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for label in ["first", "second"] {
        let mut c = ctx.connect(label).await?;
        c.send_bytes(&ctx.connect_packet(label).client_id("").build())
            .await?;
        let t = c.timeout;
        let r = c.recv(t).await?;
        let ack = wire::connack(&r.bytes, true)
            .map_err(|e| Fail::new("CONNACK", format!("{e}: {}", wire::describe(&r.bytes))))?;
        if ack.code != 0 {
            ensure!(
                ack.code >= 0x80,
                "CONNACK 0x00 or a refusal (0x80 or above)",
                format!("CONNACK 0x{:02X}", ack.code)
            );
            c.expect_closed(Closing::silently()).await?;
            return Err(ctx.skip(format!(
                "the server refuses a zero-length client id (CONNACK 0x{:02X})",
                ack.code
            )));
        }
        let assigned = ack
            .property_bytes(prop::ASSIGNED_CLIENT_IDENTIFIER)
            .map(<[u8]>::to_vec);
        let Some(assigned) = assigned.filter(|a| !a.is_empty()) else {
            return Err(Fail::new(
                "CONNACK with an Assigned Client Identifier",
                wire::describe(&r.bytes),
            ));
        };
        ids.push(assigned);
        clients.push(c);
    }
    ensure!(
        ids[0] != ids[1],
        "two different Assigned Client Identifiers",
        format!("both {:?}", String::from_utf8_lossy(&ids[0]))
    );
    // Neither connection took over the other.
    for c in &mut clients {
        c.expect_silence().await?;
    }
    // The first connection is the client ids[0]: connecting with that id takes it over.
    let mut taker = ctx.connect("taker").await?;
    taker
        .send_bytes(&ctx.connect_packet("taker").client_id(&ids[0]).build())
        .await?;
    taker.expect_connack(0x00).await?;
    clients[0]
        .expect_closed(Closing::silently().or_disconnect(&[0x8E]))
        .await
        .map_err(|f| f.context("a CONNECT with the Assigned Client Identifier takes over"))?;
    clients[1].expect_silence().await?;
    taker.disconnect().await?;
    clients[1].disconnect().await
}

/// A client id the server may refuse (100 characters with '-', '/', ':', ' ', '#', '+'): if it
/// refuses, it closes, after at most one CONNACK of 0x80 or above (0x85 is the one the spec
/// names), never CONNACK 0x00 first. Accepting the id is allowed and skips the scenario.
async fn refused_client_id_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let base = ctx.client_id("odd");
    let mut id = format!("{base}-/: #+");
    while id.len() < 100 {
        id.push_str("-x/y z");
    }
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").client_id(&id).build())
        .await?;
    refused(ctx, &mut c, true).await.map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// 3.1.4 Actions: malformed CONNECTs.

async fn malformed_connect(ctx: &mut Ctx, bytes: Vec<u8>, what: &str) -> Result<(), Fail> {
    connect_closes(ctx, "client", bytes, &[0x81, 0x82], what).await
}

/// Will Flag 0 with Will QoS 1: Malformed Packet, close.
async fn will_qos_without_will_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let c = ctx.connect_packet("client");
    let flags = c.computed_connect_flags() | 0x08;
    malformed_connect(
        ctx,
        c.connect_flags_override(flags).build(),
        "Will Flag 0 with Will QoS 1",
    )
    .await
}

/// Will Flag 0 with Will Retain 1: Malformed Packet, close.
async fn will_retain_without_will_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let c = ctx.connect_packet("client");
    let flags = c.computed_connect_flags() | 0x20;
    malformed_connect(
        ctx,
        c.connect_flags_override(flags).build(),
        "Will Flag 0 with Will Retain 1",
    )
    .await
}

/// Will Flag 1 but the payload ends after the client id: Malformed Packet, close.
async fn will_flag_without_will_fields_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    flag_without_field_closes(
        ctx,
        0x04,
        "Will Flag 1 with no Will fields",
        "needs a CONNECT without credentials to end right after the id",
    )
    .await
}

/// User Name Flag 1 but no User Name: Malformed Packet, close.
async fn user_name_flag_without_user_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    flag_without_field_closes(
        ctx,
        0x80,
        "User Name Flag 1 with no User Name",
        "needs a CONNECT without credentials",
    )
    .await
}

/// Password Flag 1 but no Password: Malformed Packet, close.
async fn password_flag_without_password_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    flag_without_field_closes(
        ctx,
        0x40,
        "Password Flag 1 with no Password",
        "needs a CONNECT without credentials",
    )
    .await
}

/// The default CONNECT (no credentials) with the Connect Flags bit `flag` set but the field it
/// announces absent: a Malformed Packet, so the server closes. Skipped when the target file
/// gives credentials (their fields would follow the client id).
async fn flag_without_field_closes(
    ctx: &mut Ctx,
    flag: u8,
    what: &str,
    skip: &str,
) -> Result<(), Fail> {
    if ctx.target_file().credentials.is_some() {
        return Err(ctx.skip(skip));
    }
    let c = ctx.connect_packet("client");
    let flags = c.computed_connect_flags() | flag;
    malformed_connect(ctx, c.connect_flags_override(flags).build(), what).await
}

/// Session Expiry Interval twice: a Protocol Error, close (CONNACK 0x81/0x82 allowed).
async fn duplicate_property_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let bytes = ctx
        .connect_packet("client")
        .property(prop::session_expiry_interval(0))
        .property(prop::session_expiry_interval(0))
        .build();
    malformed_connect(ctx, bytes, "Session Expiry Interval twice").await
}

/// A client id with ill-formed UTF-8 (`FF`): Malformed Packet, close (CONNACK 0x81 or 0x85).
async fn client_id_invalid_utf8_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut id = ctx.client_id("client").into_bytes();
    id.push(0xff);
    let bytes = ctx.connect_packet("client").client_id(id).build();
    connect_closes(
        ctx,
        "client",
        bytes,
        &[0x81, 0x85],
        "a client id with byte FF",
    )
    .await
}

/// A client id containing U+0000: Malformed Packet, close (CONNACK 0x81 or 0x85).
async fn client_id_null_char_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut id = ctx.client_id("client").into_bytes();
    id.extend_from_slice(&[0x00, b'z']);
    let bytes = ctx.connect_packet("client").client_id(id).build();
    connect_closes(
        ctx,
        "client",
        bytes,
        &[0x81, 0x85],
        "a client id with U+0000",
    )
    .await
}

/// The Authentication Method nobody supports ("mqttconf-no-such-method"): a check that fails,
/// so the server closes, optionally after a CONNACK of 0x80 or above (0x8C or 0x87 expected).
/// AUTH or CONNACK 0x00 in reply means no check failed: skipped.
async fn unsupported_auth_method_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let bytes = ctx
        .connect_packet("client")
        .property(prop::authentication_method("mqttconf-no-such-method"))
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&bytes).await?;
    // Accepting the unknown method breaks MQTT-4.12.0-1 (section 4.12's scenarios), not this
    // statement, which is about closing once a check has failed: skipped then.
    refused(ctx, &mut c, true).await.map(|_| ())
}

/// After a CONNECT that must be refused: close, after at most one CONNACK >= 0x80. Returns that
/// CONNACK, if one came. AUTH in reply skips (the method is supported); so does CONNACK 0x00
/// when `skip_if_accepted` (the refusal is what the caller needs, not what it checks).
pub(super) async fn refused(
    ctx: &Ctx,
    c: &mut Client,
    skip_if_accepted: bool,
) -> Result<Option<wire::Connack>, Fail> {
    let t = c.timeout;
    match c.recv(t).await {
        Ok(r) => {
            if r.bytes.first().map(|b| b >> 4) == Some(packet_type::AUTH) {
                return Err(ctx.skip("the server answered AUTH: it supports the method"));
            }
            let ack = wire::connack(&r.bytes, true).map_err(|e| {
                Fail::new(
                    "CONNACK >= 0x80 or close",
                    format!("{e}: {}", wire::describe(&r.bytes)),
                )
            })?;
            if ack.code == 0 && skip_if_accepted {
                return Err(ctx.skip("the server accepted the CONNECT this scenario needs refused"));
            }
            ensure!(
                ack.code >= 0x80,
                "a refusal: close, optionally after CONNACK 0x80 or above",
                format!(
                    "CONNACK 0x{:02X} ({})",
                    ack.code,
                    wire::reason_name(ack.code)
                )
            );
            ctx.choice(format!(
                "sent CONNACK 0x{:02X} ({}), then closed",
                ack.code,
                wire::reason_name(ack.code)
            ));
            c.expect_closed(Closing::silently())
                .await
                .map_err(|f| f.context(&format!("after CONNACK 0x{:02X}", ack.code)))?;
            Ok(Some(ack))
        }
        Err(raw_client::ExpectError::Closed { .. }) => {
            ctx.choice("closed the connection with no packet before it");
            Ok(None)
        }
        Err(e) => Err(Fail::from(e).with_expected("a refusal (CONNACK >= 0x80 or close)")),
    }
}

/// A second connection with the same client id: the server closes the first (DISCONNECT 0x8E
/// allowed first) and accepts the second.
async fn client_id_takeover(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut first = ctx.connected("client", |c| c).await?;
    let mut second = ctx.connect("client").await?;
    second
        .send_bytes(&ctx.connect_packet("client").build())
        .await?;
    second.expect_connack(0x00).await?;
    first
        .expect_closed(Closing::silently().or_disconnect(&[0x8E]))
        .await
        .map_err(|f| f.context("the first connection of a taken-over client id"))?;
    second.disconnect().await
}

/// A retained PUBLISH pipelined right after a CONNECT the server refuses (unknown
/// Authentication Method) is not processed: a subscriber already there gets nothing, and a new
/// subscriber gets no retained message.
async fn publish_after_refused_connect_dropped(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("refused");
    ctx.retained(&topic);
    let mut sub = subscriber(ctx, "sub", &topic, 0).await?;
    let mut bytes = ctx
        .connect_packet("client")
        .property(prop::authentication_method("mqttconf-no-such-method"))
        .build();
    bytes.extend(Publish::v5(&topic, b"must-not").retain(true).build());
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&bytes).await?;
    refused(ctx, &mut c, true).await?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("the PUBLISH after a refused CONNECT must not be delivered"))?;
    let mut late = subscriber(ctx, "late", &topic, 0).await?;
    late.expect_silence()
        .await
        .map_err(|f| f.context("the PUBLISH after a refused CONNECT must not be retained"))?;
    late.disconnect().await?;
    sub.disconnect().await
}
