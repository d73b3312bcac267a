//! MQTT 5.0 section 3.3: PUBLISH.

use crate::wire::{self, Prop};
use crate::{ensure, Capability, Client, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{
    malformed, prop, Property, Puback, Pubcomp, Publish, Pubrec, Pubrel, Subscribe,
};
use raw_client::ExpectError;
use std::time::Duration;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.publish.dup_reset_on_forward",
            &["MQTT-3.3.1-2", "MQTT-3.3.1-3"],
            dup_reset_on_forward,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.qos3_closes",
            &["MQTT-3.3.1-4"],
            qos3_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.publish.retained_replaces",
            &["MQTT-3.3.1-5"],
            retained_replaces,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.retained_empty_clears",
            &["MQTT-3.3.1-6", "MQTT-3.3.1-7"],
            retained_empty_clears,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.retain0_keeps_retained",
            &["MQTT-3.3.1-8"],
            retain0_keeps_retained,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.retain_handling_0_every_subscribe",
            &["MQTT-3.3.1-9"],
            retain_handling_0,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.retain_handling_1_new_only",
            &["MQTT-3.3.1-10"],
            retain_handling_1,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.retain_handling_2_none",
            &["MQTT-3.3.1-11"],
            retain_handling_2,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.retain_as_published_0_clears_flag",
            &["MQTT-3.3.1-12"],
            rap0,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.retain_as_published_1_keeps_flag",
            &["MQTT-3.3.1-13"],
            rap1,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.publish.invalid_utf8_topic_closes",
            &["MQTT-3.3.2-1"],
            invalid_utf8_topic_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.publish.wildcard_topic_rejected",
            &["MQTT-3.3.2-2"],
            wildcard_topic_rejected,
        )
        .lenient_receiver()
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V5_0,
            "v5.publish.delivered_topic_matches_filter",
            &["MQTT-3.3.2-3"],
            delivered_topic_matches_filter,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V5_0,
            "v5.publish.payload_format_indicator_forwarded",
            &["MQTT-3.3.2-4"],
            payload_format_forwarded,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.expired_message_not_delivered",
            &["MQTT-3.3.2-5"],
            expired_not_delivered,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.expiry_reduced_by_wait",
            &["MQTT-3.3.2-6"],
            expiry_reduced_by_wait,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.topic_alias_not_carried_to_new_connection",
            &["MQTT-3.3.2-7"],
            alias_not_carried_forward,
        )
        .needs(Capability::TopicAliases),
        Scenario::server(
            V5_0,
            "v5.publish.topic_alias_0_disconnects",
            &["MQTT-3.3.2-8"],
            alias_zero_disconnects,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.publish.topic_alias_above_maximum_disconnects",
            &["MQTT-4.13.1-1"],
            alias_above_max_disconnects,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.server_topic_alias_within_client_maximum",
            &["MQTT-3.3.2-11"],
            server_alias_within_client_max,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.topic_alias_1_to_maximum_accepted",
            &["MQTT-3.3.2-12"],
            alias_accepted_up_to_max,
        )
        .needs(Capability::TopicAliases),
        Scenario::server(
            V5_0,
            "v5.publish.response_topic_invalid_utf8_closes",
            &["MQTT-3.3.2-13"],
            response_topic_bad_utf8_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.publish.response_topic_wildcard_rejected",
            &["MQTT-3.3.2-14"],
            response_topic_wildcard_rejected,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.publish.response_topic_forwarded",
            &["MQTT-3.3.2-15"],
            response_topic_forwarded,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.correlation_data_forwarded",
            &["MQTT-3.3.2-16"],
            correlation_data_forwarded,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.user_properties_forwarded_in_order",
            &["MQTT-3.3.2-17", "MQTT-3.3.2-18"],
            user_properties_forwarded,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.content_type_invalid_utf8_closes",
            &["MQTT-3.3.2-19"],
            content_type_bad_utf8_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.publish.content_type_forwarded",
            &["MQTT-3.3.2-20"],
            content_type_forwarded,
        ),
        Scenario::server(
            V5_0,
            "v5.publish.acknowledged_by_qos",
            &["MQTT-3.3.4-1"],
            acknowledged_by_qos,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.publish.overlapping_highest_qos",
            &["MQTT-3.3.4-2"],
            overlapping_highest_qos,
        )
        .needs(Capability::MaxQos(2))
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V5_0,
            "v5.publish.overlapping_subscription_identifiers",
            &["MQTT-3.3.4-3", "MQTT-3.3.4-4", "MQTT-3.3.4-5"],
            overlapping_subscription_ids,
        )
        .needs(Capability::SubscriptionIdentifiers)
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V5_0,
            "v5.publish.receive_maximum_respected",
            &["MQTT-3.3.4-9"],
            receive_maximum_respected,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.publish.receive_maximum_counts_qos2_until_pubcomp",
            &["MQTT-3.3.4-9"],
            receive_maximum_qos2,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.publish.stalled_server_still_answers",
            &["MQTT-3.3.4-10"],
            stalled_still_answers,
        )
        .needs(Capability::MaxQos(1)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers (`publish_with` is also used by qos).

/// Publishes with properties and completes the sender's QoS flow; returns the final reason.
pub(super) async fn publish_with(
    c: &mut Client,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    properties: Vec<Property>,
) -> Result<u8, Fail> {
    let mut p = Publish::v5(topic, payload)
        .qos(qos)
        .retain(retain)
        .properties(properties);
    let id = if qos > 0 {
        let id = c.packet_id();
        p = p.packet_id(id);
        id
    } else {
        0
    };
    c.send_bytes(&p.build()).await?;
    match qos {
        0 => Ok(0),
        1 => Ok(c.next_ack(4, id).await?.1),
        _ => {
            let code = c.next_ack(5, id).await?.1;
            if code >= 0x80 {
                return Ok(code);
            }
            c.send_bytes(&Pubrel::v5(id).build()).await?;
            Ok(c.next_ack(7, id).await?.1)
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// 3.3.1 fixed header

/// A QoS 1 PUBLISH received with DUP 1 is forwarded with DUP 0 on its first delivery (QoS 1
/// subscriber), and with DUP 0 to a QoS 0 subscriber.
async fn dup_reset_on_forward(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("d");
    let mut s1 = ctx.connected("sub1", |c| c).await?;
    s1.subscribed(&topic, 1).await?;
    let mut s0 = ctx.connected("sub0", |c| c).await?;
    s0.subscribed(&topic, 0).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.send_bytes(
        &Publish::v5(&topic, b"dup")
            .qos(1)
            .packet_id(7)
            .dup(true)
            .build(),
    )
    .await?;
    p.next_ack(4, 7).await?;
    let (first, m) = s1.next_publish_frame().await?;
    s1.ack(&m).await?;
    ensure!(
        first & 0x08 == 0 && m.qos == 1,
        "QoS 1 PUBLISH with DUP 0 (first delivery by the server)",
        format!("first byte {first:#04x}: {}", m.show())
    );
    let (first, m) = s0.next_publish_frame().await?;
    ensure!(
        first & 0x08 == 0 && m.qos == 0,
        "QoS 0 PUBLISH with DUP 0",
        format!("first byte {first:#04x}: {}", m.show())
    );
    Ok(())
}

/// QoS bits 11: Malformed Packet; the server closes, may send DISCONNECT 0x81.
async fn qos3_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&malformed::publish_qos3(ctx.protocol(), &topic))
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
}

// 3.3.1.3 retain

/// A retained PUBLISH replaces the retained message of its topic; a new subscriber gets only
/// the newest, with RETAIN 1.
async fn retained_replaces(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"one", 1, true).await?;
    p.publish(&topic, b"two", 1, true).await?;
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let got = s.collect().await?;
    ensure!(
        got.len() == 1 && got[0].retain && got[0].payload == b"two",
        "exactly the retained message \"two\" with RETAIN 1",
        wire::show_all(&got)
    );
    Ok(())
}

/// An empty retained PUBLISH goes to the current subscriber and removes the retained message:
/// a later subscriber gets nothing.
async fn retained_empty_clears(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"kept", 1, true).await?;
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let m = s.expect_publish().await?;
    ensure!(
        m.payload == b"kept",
        "the retained message \"kept\"",
        m.show()
    );
    p.publish(&topic, b"", 1, true).await?;
    let m = s
        .expect_publish()
        .await
        .map_err(|f| f.context("the empty retained PUBLISH to a current subscriber"))?;
    ensure!(
        m.payload.is_empty(),
        "the empty-payload PUBLISH forwarded to the current subscriber",
        m.show()
    );
    let mut late = ctx.connected("late", |c| c).await?;
    late.subscribed(&topic, 1).await?;
    late.expect_silence()
        .await
        .map_err(|f| f.context("a new subscriber after the retained message was cleared"))
}

/// RETAIN 0 neither stores nor removes: a new subscriber still gets the older retained one.
async fn retain0_keeps_retained(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"old", 1, true).await?;
    p.publish(&topic, b"live", 1, false).await?;
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let got = s.collect().await?;
    ensure!(
        got.len() == 1 && got[0].retain && got[0].payload == b"old",
        "only the older retained message \"old\" with RETAIN 1",
        wire::show_all(&got)
    );
    Ok(())
}

async fn retained_setup(ctx: &mut Ctx) -> Result<String, Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"ret", 1, true).await?;
    p.disconnect().await?;
    Ok(topic)
}

async fn expect_retained(s: &mut Client, step: &str) -> Result<(), Fail> {
    let got = s.collect().await.map_err(|f| f.context(step))?;
    ensure!(
        got.len() == 1 && got[0].retain && got[0].payload == b"ret",
        format!("{step}: the retained message \"ret\" with RETAIN 1, once"),
        wire::show_all(&got)
    );
    Ok(())
}

/// Retain Handling 0: retained messages at every SUBSCRIBE, a repeated one included.
async fn retain_handling_0(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = retained_setup(ctx).await?;
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribe(&topic, wire::options(1, false, 0)).await?;
    expect_retained(&mut s, "first SUBSCRIBE").await?;
    s.subscribe(&topic, wire::options(1, false, 0)).await?;
    expect_retained(&mut s, "repeated SUBSCRIBE").await
}

/// Retain Handling 1: retained messages for a new subscription only.
async fn retain_handling_1(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = retained_setup(ctx).await?;
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribe(&topic, wire::options(1, false, 1)).await?;
    expect_retained(&mut s, "first SUBSCRIBE").await?;
    s.subscribe(&topic, wire::options(1, false, 1)).await?;
    s.expect_silence()
        .await
        .map_err(|f| f.context("a repeated SUBSCRIBE with Retain Handling 1"))
}

/// Retain Handling 2: no retained messages.
async fn retain_handling_2(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = retained_setup(ctx).await?;
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribe(&topic, wire::options(1, false, 2)).await?;
    s.expect_silence()
        .await
        .map_err(|f| f.context("SUBSCRIBE with Retain Handling 2"))
}

/// Retain As Published 0: a live retained PUBLISH is forwarded with RETAIN 0.
async fn rap0(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribe(&topic, wire::options(1, false, 0)).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"live", 1, true).await?;
    let m = s.expect_publish().await?;
    ensure!(
        !m.retain && m.payload == b"live",
        "the live message with RETAIN 0 (Retain As Published 0)",
        m.show()
    );
    Ok(())
}

/// Retain As Published 1: RETAIN 1 stays 1 and RETAIN 0 stays 0.
async fn rap1(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribe(&topic, wire::options(1, true, 0)).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"one", 1, true).await?;
    let m = s.expect_publish().await?;
    ensure!(
        m.retain && m.payload == b"one",
        "the message published with RETAIN 1 forwarded with RETAIN 1",
        m.show()
    );
    p.publish(&topic, b"zero", 1, false).await?;
    let m = s.expect_publish().await?;
    ensure!(
        !m.retain && m.payload == b"zero",
        "the message published with RETAIN 0 forwarded with RETAIN 0",
        m.show()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3.3.2 variable header

/// A Topic Name that is not valid UTF-8: Malformed Packet, the server closes.
async fn invalid_utf8_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&malformed::publish_invalid_utf8_topic(ctx.protocol()))
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
}

/// A Topic Name with a wildcard is refused and not delivered. The spec names no reason code:
/// the server closes (silently, DISCONNECT 0x81, 0x82 or 0x90) or answers PUBACK 0x90.
async fn wildcard_topic_rejected(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = ctx.topic("#");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&filter, 1).await?;
    let mut c = ctx.connected("client", |c| c).await?;
    let bad = ctx.topic("a/+");
    c.send_bytes(&Publish::v5(&bad, b"w").qos(1).packet_id(5).build())
        .await?;
    let wait = c.timeout;
    let r = c.recv(wait).await;
    match r {
        Ok(r) if r.bytes.first().map(|b| b >> 4) == Some(4) => {
            let (id, code) = wire::ack(&r.bytes).map_err(|e| Fail::new("PUBACK", e.0))?;
            ensure!(
                id == 5 && code == 0x90,
                "PUBACK 0x90 (Topic Name invalid) or a close",
                wire::describe(&r.bytes)
            );
            ctx.choice("answered PUBACK 0x90 (Topic Name invalid)");
        }
        Ok(r) if r.bytes.first().map(|b| b >> 4) == Some(14) => {
            let code =
                wire::disconnect_reason(&r.bytes).map_err(|e| Fail::new("DISCONNECT", e.0))?;
            ensure!(
                [0x81, 0x82, 0x90].contains(&code),
                "DISCONNECT 0x81, 0x82 or 0x90",
                wire::describe(&r.bytes)
            );
            ctx.choice(format!("sent DISCONNECT 0x{code:02X}, then closed"));
        }
        Ok(r) => {
            return Err(Fail::new(
                "PUBACK 0x90, DISCONNECT or a close",
                wire::describe(&r.bytes),
            ))
        }
        Err(ExpectError::Closed { .. }) => ctx.choice("closed the connection with no packet"),
        Err(e) => return Err(Fail::from(e).with_expected("PUBACK 0x90, DISCONNECT or a close")),
    }
    s.expect_silence()
        .await
        .map_err(|f| f.context("a subscriber to the run's # must not get the wildcard topic"))
}

/// Every PUBLISH delivered matches one of the subscriber's filters (a/+ and b/#); messages on
/// topics matching neither are not delivered.
async fn delivered_topic_matches_filter(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&ctx.topic("a/+"), 0).await?;
    s.subscribed(&ctx.topic("b/#"), 0).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    for t in ["a/x", "a/x/y", "b", "b/y/z", "c/x", "a"] {
        p.publish(&ctx.topic(t), t.as_bytes(), 1, false).await?;
    }
    let got = s.collect().await?;
    let topics: Vec<String> = got.iter().map(|m| text(&m.topic)).collect();
    let matching = [ctx.topic("a/x"), ctx.topic("b"), ctx.topic("b/y/z")];
    ensure!(
        !topics.is_empty() && topics.iter().all(|t| matching.contains(t)),
        format!("deliveries only on topics matching a/+ or b/#, i.e. among {matching:?}"),
        format!("{topics:?}")
    );
    Ok(())
}

/// Subscribes, publishes once with `properties`, returns the delivered PUBLISH.
async fn forwarded(
    ctx: &mut Ctx,
    run: &str,
    payload: &[u8],
    properties: Vec<Property>,
) -> Result<wire::Publish, Fail> {
    let topic = ctx.topic(&format!("p{run}"));
    let mut s = ctx.connected(&format!("sub{run}"), |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let mut p = ctx.connected(&format!("pub{run}"), |c| c).await?;
    let code = publish_with(&mut p, &topic, payload, 1, false, properties).await?;
    ensure!(
        code < 0x80,
        "PUBACK success",
        format!("PUBACK 0x{code:02X}")
    );
    s.expect_publish().await
}

/// Payload Format Indicator 1 and 0 reach the subscriber as sent.
async fn payload_format_forwarded(ctx: &mut Ctx) -> Result<(), Fail> {
    for v in [1u8, 0] {
        let m = forwarded(
            ctx,
            &v.to_string(),
            b"text",
            vec![prop::payload_format_indicator(v)],
        )
        .await?;
        let got = m.props(0x01);
        ensure!(
            got == vec![&Prop::Int(u32::from(v))],
            format!("Payload Format Indicator {v} forwarded"),
            m.show()
        );
    }
    Ok(())
}

/// A queued message whose expiry passed before the subscriber came back is not delivered; an
/// unexpiring one queued with it is.
async fn expired_not_delivered(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("e");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&topic, 1).await?;
    s.disconnect().await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    publish_with(
        &mut p,
        &topic,
        b"short",
        1,
        false,
        vec![prop::message_expiry_interval(1)],
    )
    .await?;
    publish_with(&mut p, &topic, b"keep", 1, false, vec![]).await?;
    tokio::time::sleep(Duration::from_millis(2200)).await; // the 1 s expiry must pass
    let mut s = ctx.resumed("sub", 60).await?;
    let got = s.collect().await;
    s.end_session().await?;
    let got = got?;
    ensure!(
        got.len() == 1 && got[0].payload == b"keep",
        "only \"keep\": the message with Message Expiry 1 s expired while queued",
        wire::show_all(&got)
    );
    Ok(())
}

/// Message Expiry 60 s, queued 2.2 s for an offline subscriber: delivered with at most 58.
async fn expiry_reduced_by_wait(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("e");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&topic, 1).await?;
    s.disconnect().await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    publish_with(
        &mut p,
        &topic,
        b"m",
        1,
        false,
        vec![prop::message_expiry_interval(60)],
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(2200)).await; // the time the message waits
    let mut s = ctx.resumed("sub", 60).await?;
    let m = s.expect_publish().await;
    s.end_session().await?;
    let m = m?;
    let e = m.int_prop(0x02);
    ensure!(
        matches!(e, Some(55..=58)),
        "Message Expiry Interval 60 minus the 2.2 s waited: 58 or a little less",
        m.show()
    );
    ctx.choice(format!(
        "Message Expiry Interval {} after 2.2 s",
        e.unwrap_or(0)
    ));
    Ok(())
}

/// An alias set on one connection is unknown on the next: an alias-only PUBLISH there is a
/// Protocol Error.
async fn alias_not_carried_forward(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Publish::v5(&topic, b"set")
            .property(prop::topic_alias(1))
            .build(),
    )
    .await?;
    c.disconnect().await?;
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Publish::v5("", b"reuse")
            .property(prop::topic_alias(1))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82]))
        .await
        .map_err(|f| f.context("an alias-only PUBLISH using an alias of the previous connection"))
}

/// Topic Alias 0 is a Protocol Error: the server must close (MQTT-4.13.1-1). Section 3.3.4 names
/// 0x94 (Topic Alias invalid) for the DISCONNECT, but sending one at all is only a SHOULD, so a
/// silent close or the generic 0x81/0x82 are accepted too; the code taken is recorded.
async fn alias_zero_disconnects(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Publish::v5(&topic, b"x")
            .property(prop::topic_alias(0))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x94, 0x81, 0x82]))
        .await
}

/// Topic Alias above the CONNACK's Topic Alias Maximum (absent: 0): a Protocol Error, so a close;
/// DISCONNECT 0x94 is the code section 3.3.4 names, 0x81/0x82 the generic ones (recorded).
async fn alias_above_max_disconnects(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let mut c = ctx.connected("client", |c| c).await?;
    let max = c
        .connack
        .as_ref()
        .and_then(|a| a.property(0x22))
        .unwrap_or(0);
    let alias = u16::try_from(max + 1).unwrap_or(u16::MAX);
    if max >= u32::from(u16::MAX) {
        return Err(ctx.skip("Topic Alias Maximum 65535: no alias is above it"));
    }
    c.send_bytes(
        &Publish::v5(&topic, b"x")
            .property(prop::topic_alias(alias))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x94, 0x81, 0x82]))
        .await
        .map_err(|f| f.context(&format!("Topic Alias {alias}, maximum {max}")))
}

/// A client announcing no Topic Alias Maximum gets no alias; one announcing 2 gets aliases in
/// 1..2 only.
async fn server_alias_within_client_max(ctx: &mut Ctx) -> Result<(), Fail> {
    for max in [0u16, 2] {
        let label = format!("sub{max}");
        let mut s = ctx
            .connected(&label, |c| {
                if max > 0 {
                    c.property(prop::topic_alias_maximum(max))
                } else {
                    c
                }
            })
            .await?;
        s.subscribed(&ctx.topic(&format!("{max}/#")), 0).await?;
        let mut p = ctx.connected("pub", |c| c).await?;
        for round in 0..2 {
            for t in ["a", "b", "c", "d"] {
                p.publish(&ctx.topic(&format!("{max}/{t}")), &[round], 0, false)
                    .await?;
            }
        }
        p.publish(&ctx.topic(&format!("{max}/end")), b"end", 1, false)
            .await?;
        p.disconnect().await?;
        let got = s.collect().await?;
        ensure!(got.len() == 9, "all 9 messages", wire::show_all(&got));
        for m in &got {
            if let Some(a) = m.int_prop(0x23) {
                ensure!(
                    a >= 1 && a <= u32::from(max),
                    format!("no Topic Alias above the client's Topic Alias Maximum {max}"),
                    m.show()
                );
                ctx.choice(format!("uses Topic Alias {a} with client maximum {max}"));
            }
        }
    }
    Ok(())
}

/// Aliases 1 and the CONNACK maximum are accepted: set a mapping, then alias-only PUBLISHes are
/// delivered under the mapped topics.
async fn alias_accepted_up_to_max(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = ctx.topic("#");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&filter, 1).await?;
    let mut c = ctx.connected("client", |c| c).await?;
    let max = c
        .connack
        .as_ref()
        .and_then(|a| a.property(0x22))
        .unwrap_or(0);
    let max = u16::try_from(max).unwrap_or(u16::MAX);
    let mut aliases = vec![1u16];
    if max > 1 {
        aliases.push(max);
    }
    for &a in &aliases {
        let topic = ctx.topic(&format!("t{a}"));
        publish_with(&mut c, &topic, b"set", 1, false, vec![prop::topic_alias(a)]).await?;
        publish_with(&mut c, "", b"alias", 1, false, vec![prop::topic_alias(a)]).await?;
        for payload in [&b"set"[..], b"alias"] {
            let m = s.expect_publish().await?;
            ensure!(
                text(&m.topic) == topic && m.payload == payload,
                format!(
                    "{:?} delivered under {topic} (Topic Alias {a})",
                    text(payload)
                ),
                m.show()
            );
        }
    }
    Ok(())
}

/// A Response Topic that is not valid UTF-8: Malformed Packet, the server closes.
async fn response_topic_bad_utf8_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Publish::v5(&topic, b"x")
            .property(prop::response_topic([b'a', 0xC3, 0x28]))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
}

/// A Response Topic with a wildcard: the server closes (the spec names no code; 0x81, 0x82 and
/// 0x90 are accepted) and the message is not delivered.
async fn response_topic_wildcard_rejected(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 0).await?;
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Publish::v5(&topic, b"x")
            .property(prop::response_topic(ctx.topic("reply/#")))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81, 0x82, 0x90]))
        .await?;
    s.expect_silence()
        .await
        .map_err(|f| f.context("the PUBLISH with a wildcard Response Topic must not be forwarded"))
}

/// The Response Topic reaches the subscriber byte for byte.
async fn response_topic_forwarded(ctx: &mut Ctx) -> Result<(), Fail> {
    let rt = format!("{}/réponse", ctx.topic("reply"));
    let m = forwarded(ctx, "", b"q", vec![prop::response_topic(&rt)]).await?;
    ensure!(
        m.props(0x08) == vec![&Prop::Bytes(rt.as_bytes().to_vec())],
        format!("Response Topic {rt:?} forwarded unchanged"),
        m.show()
    );
    Ok(())
}

/// Correlation Data (binary, with zero bytes) reaches the subscriber byte for byte.
async fn correlation_data_forwarded(ctx: &mut Ctx) -> Result<(), Fail> {
    let data = [0u8, 1, 0xFF, 0, 0x80, b'c'];
    let m = forwarded(ctx, "", b"q", vec![prop::correlation_data(data)]).await?;
    ensure!(
        m.props(0x09) == vec![&Prop::Bytes(data.to_vec())],
        format!("Correlation Data {data:02x?} forwarded unchanged"),
        m.show()
    );
    Ok(())
}

/// User Properties a=1, b=2, a=3 (a duplicate name) reach the subscriber all, unchanged, in
/// order. A User Property the server adds (one naming the publisher, say) is recorded as a
/// choice: 3.3.2-17/-18 ask for the client's properties unaltered and in order, and no statement
/// forbids the server adding its own.
async fn user_properties_forwarded(ctx: &mut Ctx) -> Result<(), Fail> {
    let pairs = [("a", "1"), ("b", "2"), ("a", "3"), ("ключ", "")];
    let m = forwarded(
        ctx,
        "",
        b"u",
        pairs
            .iter()
            .map(|(k, v)| prop::user_property(k, v))
            .collect(),
    )
    .await?;
    let want: Vec<Prop> = pairs
        .iter()
        .map(|(k, v)| Prop::Pair(k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    let got: Vec<Prop> = m.props(0x26).into_iter().cloned().collect();
    let (sent, added): (Vec<Prop>, Vec<Prop>) = got.into_iter().partition(|p| want.contains(p));
    ensure!(
        sent == want,
        format!("User Properties {pairs:?}, all, unaltered, in this order"),
        m.show()
    );
    if !added.is_empty() {
        ctx.choice(format!(
            "added User Properties to a forwarded PUBLISH: {added:?}"
        ));
    }
    Ok(())
}

/// A Content Type that is not valid UTF-8: Malformed Packet, the server closes.
async fn content_type_bad_utf8_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("c");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Publish::v5(&topic, b"x")
            .property(prop::content_type([b't', 0xFF, b'x']))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
}

/// The Content Type reaches the subscriber unchanged.
async fn content_type_forwarded(ctx: &mut Ctx) -> Result<(), Fail> {
    let ct = "application/x-conf; charset=utf-8";
    let m = forwarded(ctx, "", b"{}", vec![prop::content_type(ct)]).await?;
    ensure!(
        m.props(0x03) == vec![&Prop::Bytes(ct.as_bytes().to_vec())],
        format!("Content Type {ct:?} forwarded unchanged"),
        m.show()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3.3.4 actions

/// QoS 0: no answer; QoS 1: PUBACK with the id; QoS 2: PUBREC with the id.
async fn acknowledged_by_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v5(&topic, b"0").build()).await?;
    c.expect_silence()
        .await
        .map_err(|f| f.context("a QoS 0 PUBLISH is not answered"))?;
    c.send_bytes(&Publish::v5(&topic, b"1").qos(1).packet_id(0x1234).build())
        .await?;
    c.next_ack(4, 0x1234).await?;
    c.send_bytes(&Publish::v5(&topic, b"2").qos(2).packet_id(0xABCD).build())
        .await?;
    c.next_ack(5, 0xABCD).await?;
    c.send_bytes(&Pubrel::v5(0xABCD).build()).await?;
    c.next_ack(7, 0xABCD).await?;
    Ok(())
}

/// a/+ at QoS 1 and a/# at QoS 2, a QoS 2 message: at least one copy at QoS 2.
async fn overlapping_highest_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut s = ctx.connected("sub", |c| c).await?;
    ensure!(
        s.subscribed(&ctx.topic("a/+"), 1).await? == 1,
        "a/+ granted QoS 1",
        "another QoS"
    );
    let granted = s.subscribed(&ctx.topic("a/#"), 2).await?;
    ensure!(granted == 2, "a/# granted QoS 2", format!("QoS {granted}"));
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&ctx.topic("a/b"), b"x", 2, false).await?;
    let got = s.collect().await?;
    ensure!(
        (1..=2).contains(&got.len()) && got.iter().any(|m| m.qos == 2),
        "one or two copies, at least one at QoS 2 (the highest of the matching subscriptions)",
        wire::show_all(&got)
    );
    ctx.choice(if got.len() == 1 {
        "one copy for two overlapping subscriptions"
    } else {
        "one copy per overlapping subscription"
    });
    Ok(())
}

/// a/+ with Subscription Identifier 1, a/# with 2: one copy carries both, or each copy carries
/// the identifier of its subscription.
async fn overlapping_subscription_ids(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut s = ctx.connected("sub", |c| c).await?;
    for (f, id) in [("a/+", 1u32), ("a/#", 2)] {
        let pid = s.packet_id();
        s.send_bytes(
            &Subscribe::v5(pid)
                .filter(ctx.topic(f), 1)
                .property(prop::subscription_identifier(id))
                .build(),
        )
        .await?;
        let (_, codes) =
            wire::suback(&s.expect_type(9).await?, true).map_err(|e| Fail::new("SUBACK", e.0))?;
        ensure!(
            codes == [1],
            "SUBACK granting QoS 1",
            format!("{codes:02x?}")
        );
    }
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&ctx.topic("a/b"), b"x", 1, false).await?;
    let got = s.collect().await?;
    let ids: Vec<Vec<u32>> = got
        .iter()
        .map(|m| {
            let mut v: Vec<u32> = m
                .props(0x0B)
                .into_iter()
                .filter_map(|p| match p {
                    Prop::Int(n) => Some(*n),
                    _ => None,
                })
                .collect();
            v.sort_unstable();
            v
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    let ok = match got.len() {
        1 => ids[0] == [1, 2],
        2 => sorted == [vec![1], vec![2]],
        _ => false,
    };
    ensure!(
        ok,
        "one PUBLISH with Subscription Identifiers 1 and 2, or two PUBLISHes with 1 and 2 each",
        wire::show_all(&got)
    );
    ctx.choice(if got.len() == 1 {
        "one copy for two overlapping subscriptions"
    } else {
        "one copy per overlapping subscription"
    });
    Ok(())
}

/// Receive Maximum 2, PUBACKs withheld: two QoS 1 PUBLISHes in flight, no third until a PUBACK.
async fn receive_maximum_respected(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("rm");
    let mut s = ctx
        .connected("sub", |c| c.property(prop::receive_maximum(2)))
        .await?;
    s.subscribed(&topic, 1).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    for i in 0..4u8 {
        p.publish(&topic, &[b'0' + i], 1, false).await?;
    }
    let a = s.next_publish().await?;
    let b = s.next_publish().await?;
    ensure!(
        a.qos == 1 && b.qos == 1,
        "QoS 1 PUBLISHes",
        format!("{}; {}", a.show(), b.show())
    );
    s.expect_silence()
        .await
        .map_err(|f| f.context("Receive Maximum 2 with two PUBLISHes unacknowledged"))?;
    s.send_bytes(&Puback::v5(a.packet_id.unwrap_or(0)).build())
        .await?;
    let c3 = s
        .next_publish()
        .await
        .map_err(|f| f.context("after one PUBACK, the third message"))?;
    s.expect_silence()
        .await
        .map_err(|f| f.context("two PUBLISHes unacknowledged again"))?;
    for m in [&b, &c3] {
        s.send_bytes(&Puback::v5(m.packet_id.unwrap_or(0)).build())
            .await?;
    }
    let d = s.next_publish().await?;
    s.ack(&d).await?;
    Ok(())
}

/// Receive Maximum 1, QoS 2: a delivery counts until its PUBCOMP, so after PUBREC (PUBREL
/// received, PUBCOMP withheld) no second PUBLISH comes; after PUBCOMP it does.
async fn receive_maximum_qos2(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("rm");
    let mut s = ctx
        .connected("sub", |c| c.property(prop::receive_maximum(1)))
        .await?;
    s.subscribed(&topic, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    for i in 0..2u8 {
        p.publish(&topic, &[b'0' + i], 2, false).await?;
    }
    let a = s.next_publish().await?;
    let id = a.packet_id.unwrap_or(0);
    s.send_bytes(&Pubrec::v5(id).build()).await?;
    s.next_ack(6, id).await?;
    s.expect_silence()
        .await
        .map_err(|f| f.context("Receive Maximum 1: the QoS 2 delivery awaits its PUBCOMP"))?;
    s.send_bytes(&Pubcomp::v5(id).build()).await?;
    let b = s
        .next_publish()
        .await
        .map_err(|f| f.context("after PUBCOMP, the second message"))?;
    s.ack(&b).await
}

/// Stalled at the client's Receive Maximum 1, the server still answers PINGREQ, SUBSCRIBE and a
/// QoS 1 PUBLISH at once.
async fn stalled_still_answers(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("rm");
    let mut s = ctx
        .connected("sub", |c| c.property(prop::receive_maximum(1)))
        .await?;
    s.subscribed(&topic, 1).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    for i in 0..3u8 {
        p.publish(&topic, &[b'0' + i], 1, false).await?;
    }
    let first = s.next_publish().await?;
    s.send_bytes(&raw_client::build::Pingreq::new().build())
        .await?;
    s.expect_type(13)
        .await
        .map_err(|f| f.context("PINGREQ while stalled"))?;
    s.subscribed(&ctx.topic("other"), 1)
        .await
        .map_err(|f| f.context("SUBSCRIBE while stalled"))?;
    s.send_bytes(
        &Publish::v5(ctx.topic("x"), b"x")
            .qos(1)
            .packet_id(900)
            .build(),
    )
    .await?;
    s.next_ack(4, 900)
        .await
        .map_err(|f| f.context("QoS 1 PUBLISH while stalled"))?;
    s.send_bytes(&Puback::v5(first.packet_id.unwrap_or(0)).build())
        .await?;
    let rest = s.collect().await?;
    ensure!(
        rest.len() == 2,
        "the two remaining messages once unblocked",
        wire::show_all(&rest)
    );
    Ok(())
}
