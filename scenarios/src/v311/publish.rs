//! MQTT 3.1.1 section 3.3: PUBLISH.

use crate::wire::{self, Publish as Got};
use crate::{ensure, Capability, Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Publish, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.publish.redelivery_has_dup",
            &["MQTT-3.3.1-1"],
            redelivery_has_dup,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.qos0_delivery_has_dup_zero",
            &["MQTT-3.3.1-2"],
            qos0_delivery_has_dup_zero,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.incoming_dup_not_forwarded",
            &["MQTT-3.3.1-3"],
            incoming_dup_not_forwarded,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.qos3_closes",
            &["MQTT-3.3.1-4"],
            qos3_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.retained_stored_with_its_qos",
            &["MQTT-3.3.1-5", "MQTT-3.3.1-8"],
            retained_stored_with_its_qos,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V3_1_1,
            "v311.publish.retained_of_every_matching_topic",
            &["MQTT-3.3.1-6", "MQTT-3.3.1-8"],
            retained_of_every_matching_topic,
        )
        .needs(Capability::Retain)
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.publish.retained_qos0_replaces",
            &["MQTT-3.3.1-7"],
            retained_qos0_replaces,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V3_1_1,
            "v311.publish.live_delivery_has_retain_zero",
            &["MQTT-3.3.1-9"],
            live_delivery_has_retain_zero,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.empty_retained_clears",
            &["MQTT-3.3.1-10", "MQTT-3.3.1-11"],
            empty_retained_clears,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V3_1_1,
            "v311.publish.non_retained_keeps_retained",
            &["MQTT-3.3.1-12"],
            non_retained_keeps_retained,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V3_1_1,
            "v311.publish.topic_name_is_prefixed_string",
            &["MQTT-3.3.2-1"],
            topic_name_is_prefixed_string,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.wildcard_topic_closes",
            &["MQTT-3.3.2-2"],
            wildcard_topic_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.delivered_topics_match_filters",
            &["MQTT-3.3.2-3"],
            delivered_topics_match_filters,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.publish.acknowledged_by_qos",
            &["MQTT-3.3.4-1"],
            acknowledged_by_qos,
        ),
        Scenario::server(
            V3_1_1,
            "v311.publish.overlapping_subscriptions_max_qos",
            &["MQTT-3.3.5-1"],
            overlapping_subscriptions_max_qos,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.publish.unauthorized_acked_or_closed",
            &["MQTT-3.3.5-2"],
            unauthorized_acked_or_closed,
        )
        .needs(Capability::RefusedTopic),
    ]
}

fn show(p: &Got) -> String {
    format!(
        "PUBLISH topic {:?} payload {:?} QoS {} DUP {} RETAIN {}",
        String::from_utf8_lossy(&p.topic),
        String::from_utf8_lossy(&p.payload),
        p.qos,
        u8::from(p.dup),
        u8::from(p.retain)
    )
}

/// A QoS 1 message left unacknowledged is resent on a CleanSession 0 reconnect with DUP 1.
async fn redelivery_has_dup(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("d");
    let res = async {
        let mut sub = ctx.connected("sub", |c| c.clean_start(false)).await?;
        let granted = sub.subscribed(&topic, 1).await?;
        if granted < 1 {
            return Err(ctx.skip("the server granted QoS 0 for a QoS 1 subscription"));
        }
        let mut publisher = ctx.connected("pub", |c| c).await?;
        publisher.publish(&topic, b"m", 1, false).await?;
        let first = sub.next_publish().await?;
        ensure!(
            first.qos == 1 && !first.dup,
            "first delivery at QoS 1 with DUP 0",
            show(&first)
        );
        sub.close().await;
        drop(sub);
        let packet = ctx.connect_packet("sub").clean_start(false).build();
        let mut sub = ctx.connect("sub").await?;
        sub.send_bytes(&packet).await?;
        sub.expect_connack(0).await?;
        let again = sub
            .next_publish()
            .await
            .map_err(|f| f.context("the unacknowledged message after reconnecting"))?;
        ensure!(
            again.dup && again.qos == 1 && again.packet_id == first.packet_id,
            format!(
                "the resent PUBLISH with DUP 1, QoS 1, packet identifier {:?}",
                first.packet_id
            ),
            format!("{} id {:?}", show(&again), again.packet_id)
        );
        if let Some(id) = again.packet_id {
            sub.send_bytes(&raw_client::build::Puback::v311(id).build())
                .await?;
        }
        sub.disconnect().await
    }
    .await;
    let end = ctx.end_session("sub").await;
    res.and(end)
}

/// A QoS 0 message reaches a QoS 0 subscriber with DUP 0 (and QoS 0).
async fn qos0_delivery_has_dup_zero(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("z");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"a", 0, false).await?;
    let p = sub.next_publish().await?;
    ensure!(
        p.qos == 0 && !p.dup && p.packet_id.is_none(),
        "QoS 0 PUBLISH with DUP 0",
        show(&p)
    );
    // A QoS 1 message on a QoS 0 subscription goes out at QoS 0: DUP 0 too.
    publisher.publish(&topic, b"b", 1, false).await?;
    let p = sub.next_publish().await?;
    ensure!(
        p.qos == 0 && !p.dup,
        "QoS 0 PUBLISH with DUP 0 (downgraded from QoS 1)",
        show(&p)
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// The publisher's DUP 1 is not propagated: the subscriber's first copy has DUP 0.
async fn incoming_dup_not_forwarded(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("d");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher
        .send_bytes(
            &Publish::v311(&topic, b"dup")
                .qos(1)
                .packet_id(3)
                .dup(true)
                .build(),
        )
        .await?;
    publisher.expect_type(packet_type::PUBACK).await?;
    let p = sub.expect_publish().await?;
    ensure!(!p.dup, "the subscriber's first copy with DUP 0", show(&p));
    // The same at QoS 2 (DUP 1 on the publisher's first and only copy).
    publisher
        .send_bytes(
            &Publish::v311(&topic, b"dup2")
                .qos(2)
                .packet_id(4)
                .dup(true)
                .build(),
        )
        .await?;
    publisher.expect_type(packet_type::PUBREC).await?;
    publisher.send_bytes(&Pubrel::v311(4).build()).await?;
    publisher.expect_type(packet_type::PUBCOMP).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        !p.dup && p.payload == b"dup2",
        "the subscriber's first copy of the QoS 2 message with DUP 0",
        show(&p)
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// QoS bits 11 (first byte 0x36): the server closes the connection.
async fn qos3_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"x").qos(3).packet_id(1).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// A retained QoS 1 message is stored with its QoS: a QoS 2 subscriber gets it at QoS 1, a QoS 0
/// subscriber at QoS 0, both with RETAIN 1.
async fn retained_stored_with_its_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"kept", 1, true).await?;
    publisher.disconnect().await?;
    for (label, sub_qos) in [("sub2", 2u8), ("sub0", 0u8)] {
        let mut sub = ctx.connected(label, |c| c).await?;
        let granted = sub.subscribed(&topic, sub_qos).await?;
        let p = sub.expect_publish().await?;
        let want = granted.min(1);
        ensure!(
            p.retain && p.payload == b"kept" && p.qos == want,
            format!(
                "the retained message \"kept\" with RETAIN 1 at QoS {want} (granted {granted})"
            ),
            show(&p)
        );
        sub.disconnect().await?;
    }
    Ok(())
}

/// Retained messages on a/1 and a/2 both reach a new a/# subscriber, each with RETAIN 1.
async fn retained_of_every_matching_topic(ctx: &mut Ctx) -> Result<(), Fail> {
    let t1 = ctx.topic("a/1");
    let t2 = ctx.topic("a/2");
    ctx.retained(&t1);
    ctx.retained(&t2);
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&t1, b"one", 1, true).await?;
    publisher.publish(&t2, b"two", 1, true).await?;
    publisher.disconnect().await?;
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&ctx.topic("a/#"), 1).await?;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let p = sub.expect_publish().await?;
        ensure!(p.retain, "retained messages with RETAIN 1", show(&p));
        seen.push((p.topic, p.payload));
    }
    seen.sort();
    ensure!(
        seen == vec![
            (t1.clone().into_bytes(), b"one".to_vec()),
            (t2.clone().into_bytes(), b"two".to_vec())
        ],
        "\"one\" on a/1 and \"two\" on a/2",
        format!("{seen:?}")
    );
    sub.expect_silence().await?;
    sub.disconnect().await
}

/// A retained QoS 0 message replaces the older retained one: a new subscriber never gets the old
/// message (gets the new one, or nothing if the server discarded it).
async fn retained_qos0_replaces(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"old", 1, true).await?;
    publisher.publish(&topic, b"new", 0, true).await?;
    // A PINGREQ round trip: the QoS 0 PUBLISH before it has been processed.
    publisher
        .send_bytes(&raw_client::build::Pingreq::new().build())
        .await?;
    publisher.expect_type(packet_type::PINGRESP).await?;
    publisher.disconnect().await?;
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let timeout = sub.quiet;
    match sub.recv(timeout).await {
        Ok(r) => {
            let p = wire::publish(&r.bytes, false)
                .map_err(|e| Fail::new("PUBLISH \"new\" or nothing", e.to_string()))?;
            ensure!(
                p.payload == b"new",
                "the new retained message \"new\" (or none), never \"old\"",
                show(&p)
            );
            ctx.choice("kept the QoS 0 retained message");
        }
        Err(raw_client::ExpectError::Timeout { .. }) => {
            ctx.choice("discarded the QoS 0 retained message (no retained message)");
        }
        Err(e) => return Err(Fail::from(e)),
    }
    sub.disconnect().await
}

/// A subscriber that exists when a RETAIN 1 message is published gets it with RETAIN 0.
async fn live_delivery_has_retain_zero(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("l");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"live", 1, true).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        !p.retain && p.payload == b"live",
        "\"live\" with RETAIN 0 on the existing subscription",
        show(&p)
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// An empty retained PUBLISH reaches the existing subscriber as usual and clears the topic: a
/// new subscriber gets no message (and no zero-length retained PUBLISH).
async fn empty_retained_clears(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("c");
    ctx.retained(&topic);
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"x", 1, true).await?;
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.retain && p.payload == b"x",
        "the retained \"x\"",
        show(&p)
    );
    publisher.publish(&topic, b"", 1, true).await?;
    let p = sub
        .expect_publish()
        .await
        .map_err(|f| f.context("the empty retained PUBLISH forwarded to the subscriber"))?;
    ensure!(
        p.payload.is_empty() && !p.retain,
        "the zero-length message, RETAIN 0",
        show(&p)
    );
    publisher.disconnect().await?;
    sub.disconnect().await?;
    let mut late = ctx.connected("late", |c| c).await?;
    late.subscribed(&topic, 1).await?;
    late.expect_silence()
        .await
        .map_err(|f| f.context("a new subscriber after the retained message was cleared"))?;
    late.disconnect().await
}

/// A RETAIN 0 PUBLISH does not replace or clear the retained message.
async fn non_retained_keeps_retained(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("k");
    ctx.retained(&topic);
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"kept", 1, true).await?;
    publisher.publish(&topic, b"plain", 1, false).await?;
    publisher.publish(&topic, b"", 1, false).await?;
    publisher.disconnect().await?;
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.retain && p.payload == b"kept",
        "the earlier retained message \"kept\"",
        show(&p)
    );
    sub.expect_silence().await?;
    sub.disconnect().await
}

/// The PUBLISH the server sends starts with the topic as a length-prefixed UTF-8 string, then
/// (QoS > 0) the packet identifier and the payload.
async fn topic_name_is_prefixed_string(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("naïve/ü");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"payload", 1, false).await?;
    let b = sub.expect_type(packet_type::PUBLISH).await?;
    let mut expected = Vec::new();
    let tb = topic.as_bytes();
    expected.extend_from_slice(&(tb.len() as u16).to_be_bytes());
    expected.extend_from_slice(tb);
    let p =
        wire::publish(&b, false).map_err(|e| Fail::new("a well-formed PUBLISH", e.to_string()))?;
    let hdr = 1 + b[1..].iter().take_while(|x| **x & 0x80 != 0).count() + 1;
    let starts = b.get(hdr..hdr + expected.len()) == Some(expected.as_slice());
    ensure!(
        starts && std::str::from_utf8(&p.topic).is_ok() && p.payload == b"payload",
        format!("variable header starting with {} {:?}", tb.len(), topic),
        wire::describe(&b)
    );
    if let Some(id) = p.packet_id {
        sub.send_bytes(&raw_client::build::Puback::v311(id).build())
            .await?;
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// A PUBLISH to a topic name holding '+' closes the connection.
async fn wildcard_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a/+");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"x").build()).await?;
    c.expect_closed(Closing::silently()).await
}

/// Each delivered PUBLISH matches one of the subscriber's filters: a/+ and b/# subscribed;
/// a/x, b, b/c/d delivered; a/x/y and c/x not.
async fn delivered_topics_match_filters(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&ctx.topic("a/+"), 0).await?;
    sub.subscribed(&ctx.topic("b/#"), 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    let all = ["a/x/y", "c/x", "a/x", "a", "b", "b/c/d"];
    for t in all {
        publisher
            .publish(&ctx.topic(t), t.as_bytes(), 1, false)
            .await?;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let p = sub.expect_publish().await?;
        let t = String::from_utf8_lossy(&p.topic).to_string();
        ensure!(
            ["a/x", "b", "b/c/d"].iter().any(|m| ctx.topic(m) == t),
            "only topics matching a/+ or b/#",
            show(&p)
        );
        got.push(t);
    }
    sub.expect_silence().await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// QoS 0: no reply; QoS 1: PUBACK with the id; QoS 2: PUBREC with the id, then PUBCOMP with the
/// id after PUBREL.
async fn acknowledged_by_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"0").build()).await?;
    c.expect_silence()
        .await
        .map_err(|f| f.context("after a QoS 0 PUBLISH"))?;
    c.send_bytes(&Publish::v311(&topic, b"1").qos(1).packet_id(0x1234).build())
        .await?;
    let b = c.expect_type(packet_type::PUBACK).await?;
    ensure!(
        b == [0x40, 0x02, 0x12, 0x34],
        "PUBACK 40 02 12 34",
        wire::describe(&b)
    );
    c.send_bytes(&Publish::v311(&topic, b"2").qos(2).packet_id(0xABCD).build())
        .await?;
    let b = c.expect_type(packet_type::PUBREC).await?;
    ensure!(
        b == [0x50, 0x02, 0xAB, 0xCD],
        "PUBREC 50 02 ab cd",
        wire::describe(&b)
    );
    c.send_bytes(&Pubrel::v311(0xABCD).build()).await?;
    let b = c.expect_type(packet_type::PUBCOMP).await?;
    ensure!(
        b == [0x70, 0x02, 0xAB, 0xCD],
        "PUBCOMP 70 02 ab cd",
        wire::describe(&b)
    );
    c.disconnect().await
}

/// a/+ at QoS 0 and a/b at QoS 2; a QoS 2 message to a/b arrives at QoS 2 (extra copies at the
/// other subscription's QoS are allowed and recorded).
async fn overlapping_subscriptions_max_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a/b");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&ctx.topic("a/+"), 0).await?;
    let granted = sub.subscribed(&topic, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"m", 2, false).await?;
    let mut qos = Vec::new();
    let p = sub.expect_publish().await?;
    qos.push(p.qos);
    let quiet = sub.quiet;
    while let Ok(r) = sub.recv(quiet).await {
        let p = wire::publish(&r.bytes, false).map_err(|e| Fail::new("PUBLISH", e.to_string()))?;
        qos.push(p.qos);
        if let (1, Some(id)) = (p.qos, p.packet_id) {
            sub.send_bytes(&raw_client::build::Puback::v311(id).build())
                .await?;
        }
        if qos.len() > 4 {
            break;
        }
    }
    ensure!(
        qos.iter().copied().max() == Some(granted) && qos.len() <= 2,
        format!("the message at QoS {granted} (the highest granted), at most one extra copy"),
        format!("copies at QoS {qos:?}")
    );
    if qos.len() == 2 {
        ctx.choice("sent one copy per matching subscription");
    } else {
        ctx.choice("sent a single copy");
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// A PUBLISH to a topic the server refuses: acknowledged (PUBACK) and not delivered, or the
/// connection closed.
async fn unauthorized_acked_or_closed(ctx: &mut Ctx) -> Result<(), Fail> {
    let Some(topic) = ctx.caps().refused_topic.clone() else {
        return Err(ctx.skip("no refused topic"));
    };
    let mut sub = ctx.connected("sub", |c| c).await?;
    let codes = sub.subscribe(&topic, 1).await?;
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"no").qos(1).packet_id(9).build())
        .await?;
    match c.recv(crate::EXPECT).await {
        Ok(r) => {
            ensure!(
                r.bytes == [0x40, 0x02, 0x00, 0x09],
                "PUBACK for packet identifier 9, or the connection closed",
                wire::describe(&r.bytes)
            );
            ctx.choice("acknowledged the refused PUBLISH");
            if codes.first().is_some_and(|c| *c <= 2) {
                sub.expect_silence()
                    .await
                    .map_err(|f| f.context("a subscriber of the refused topic"))?;
            }
            c.disconnect().await
        }
        Err(raw_client::ExpectError::Closed { .. }) => {
            ctx.choice("closed the connection");
            Ok(())
        }
        Err(e) => Err(Fail::from(e).with_expected("PUBACK 9 or the connection closed")),
    }
}
