//! MQTT 5.0 section 3.8: SUBSCRIBE.

use crate::{ensure, wire, Capability, Client, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, Subscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.subscribe.reserved_flags_close",
            &["MQTT-3.8.1-1"],
            reserved_flags_close,
        ),
        Scenario::server(
            V5_0,
            "v5.subscribe.ill_formed_utf8_filter_closes",
            &["MQTT-3.8.3-1"],
            ill_formed_utf8_filter_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.subscribe.empty_payload_closes",
            &["MQTT-3.8.3-2"],
            empty_payload_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.subscribe.no_local_not_echoed",
            &["MQTT-3.8.3-3"],
            no_local_not_echoed,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.subscribe.shared_no_local_closes",
            &["MQTT-3.8.3-4"],
            shared_no_local_closes,
        )
        .lenient_receiver()
        .needs(Capability::SharedSubscriptions),
        Scenario::server(
            V5_0,
            "v5.subscribe.options_bit6_closes",
            &["MQTT-3.8.3-5"],
            options_bit6_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.subscribe.options_bit7_closes",
            &["MQTT-3.8.3-5"],
            options_bit7_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.subscribe.each_answered_with_its_packet_id",
            &["MQTT-3.8.4-1", "MQTT-3.8.4-2"],
            each_answered_with_its_packet_id,
        ),
        Scenario::server(
            V5_0,
            "v5.subscribe.refused_filter_still_gets_suback",
            &["MQTT-3.8.4-1", "MQTT-3.8.4-5", "MQTT-3.8.4-6"],
            refused_filter_still_gets_suback,
        )
        .needs(Capability::RefusedTopic),
        Scenario::server(
            V5_0,
            "v5.subscribe.resubscribe_replaces",
            &["MQTT-3.8.4-3"],
            resubscribe_replaces,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.subscribe.resubscribe_resends_retained",
            &["MQTT-3.8.4-4"],
            resubscribe_resends_retained,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V5_0,
            "v5.subscribe.resubscribe_loses_nothing",
            &["MQTT-3.8.4-4"],
            resubscribe_loses_nothing,
        ),
        Scenario::server(
            V5_0,
            "v5.subscribe.multi_filter_one_suback",
            &["MQTT-3.8.4-5", "MQTT-3.8.4-6", "MQTT-3.8.4-7"],
            multi_filter_one_suback,
        ),
        Scenario::server(
            V5_0,
            "v5.subscribe.delivered_at_min_qos",
            &["MQTT-3.8.4-8"],
            delivered_at_min_qos,
        )
        .needs(Capability::MaxQos(2)),
    ]
}

/// SUBSCRIBE options: No Local.
const NO_LOCAL: u8 = 0x04;

/// SUBSCRIBE with fixed-header flags 0000 instead of 0010: a Malformed Packet (section 2.1.3);
/// the server closes, may send DISCONNECT 0x81 first.
async fn reserved_flags_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(
        &Subscribe::v5(id)
            .filter(&topic, 0)
            .flags_override(0)
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context("after a SUBSCRIBE with first byte 0x80"))
}

/// Topic filters holding an encoded surrogate (ED A0 80) or an overlong encoding (C0 80) are
/// ill-formed UTF-8: a Malformed Packet (section 1.5.4); the server closes, may send DISCONNECT
/// 0x81 first.
async fn ill_formed_utf8_filter_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    for (label, bad) in [
        ("surrogate", [0xED, 0xA0, 0x80].as_slice()),
        ("overlong", &[0xC0, 0x80]),
    ] {
        let mut filter = ctx.topic("").into_bytes();
        filter.extend_from_slice(bad);
        let mut c = ctx.connected(label, |c| c).await?;
        let id = c.packet_id();
        c.send_bytes(&Subscribe::v5(id).filter(&filter, 0).build())
            .await?;
        c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
            .await
            .map_err(|f| {
                f.context(&format!(
                    "after a SUBSCRIBE whose filter has bytes {bad:02x?}"
                ))
            })?;
    }
    Ok(())
}

/// A SUBSCRIBE with no Topic Filter / Subscription Options pair is a Protocol Error; the server
/// closes, may send DISCONNECT 0x82 first (0x81 also accepted: the packet cannot be parsed into
/// a subscription request either).
async fn empty_payload_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(&Subscribe::v5(id).build()).await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82, 0x81]))
        .await
        .map_err(|f| f.context("after a SUBSCRIBE with an empty payload"))
}

/// With No Local, the client's own PUBLISHes (QoS 0, 1, 2) are not sent back to it, while
/// another subscriber to the same filter gets each of them.
async fn no_local_not_echoed(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("nl");
    let mut me = ctx.connected("self", |c| c).await?;
    me.subscribe(&topic, 2 | NO_LOCAL).await.and_then(granted)?;
    let mut other = ctx.connected("other", |c| c).await?;
    other.subscribed(&topic, 2).await?;
    for qos in 0..=2u8 {
        let payload = format!("q{qos}");
        me.publish(&topic, payload.as_bytes(), qos, false).await?;
        let p = other
            .expect_publish()
            .await
            .map_err(|f| f.context("the other subscriber, for the control copy"))?;
        ensure!(
            p.payload == payload.as_bytes(),
            format!("the other subscriber gets {payload:?}"),
            format!("payload {:?}", String::from_utf8_lossy(&p.payload))
        );
    }
    me.expect_silence()
        .await
        .map_err(|f| f.context("the No Local subscriber after publishing QoS 0, 1 and 2"))?;
    me.disconnect().await?;
    other.disconnect().await
}

/// No Local on a shared subscription is a Protocol Error: the server closes, may send DISCONNECT
/// 0x82 first; no SUBACK granting it.
async fn shared_no_local_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let group = ctx.client_id("g");
    let filter = format!("$share/{group}/{}", ctx.topic("t"));
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(&Subscribe::v5(id).filter(&filter, 1 | NO_LOCAL).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82]))
        .await
        .map_err(|f| f.context("after SUBSCRIBE $share/... with No Local 1"))
}

async fn options_reserved_bit(ctx: &mut Ctx, bit: u8) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(&Subscribe::v5(id).filter(&topic, 1 | bit).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context(&format!("after Subscription Options 0x{:02x}", 1 | bit)))
}

/// Subscription Options bit 6 set (reserved): a Malformed Packet; close, maybe DISCONNECT 0x81.
async fn options_bit6_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    options_reserved_bit(ctx, 0x40).await
}

/// Subscription Options bit 7 set (reserved): a Malformed Packet; close, maybe DISCONNECT 0x81.
async fn options_bit7_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    options_reserved_bit(ctx, 0x80).await
}

/// Three SUBSCRIBEs sent back to back with packet identifiers 7, 300 and 65535: each is answered
/// by one SUBACK carrying its identifier.
async fn each_answered_with_its_packet_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    let ids = [7u16, 300, 65535];
    for (i, id) in ids.iter().enumerate() {
        let topic = ctx.topic(&format!("t{i}"));
        c.send_bytes(&Subscribe::v5(*id).filter(&topic, 0).build())
            .await?;
    }
    let mut seen = Vec::new();
    for _ in ids {
        let got = c.expect_type(packet_type::SUBACK).await?;
        let (id, codes) = wire::suback(&got, true)
            .map_err(|e| Fail::new("a well-formed SUBACK", format!("{e}")))?;
        ensure!(
            codes.len() == 1,
            "one reason code in each SUBACK",
            format!("SUBACK {id} with codes {codes:02x?}")
        );
        seen.push(id);
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    ensure!(
        sorted == ids,
        format!("one SUBACK for each of the packet identifiers {ids:?}"),
        format!("SUBACKs for packet identifiers {seen:?}")
    );
    c.expect_silence().await?;
    c.disconnect().await
}

/// One SUBSCRIBE with a filter the broker refuses between two it accepts: one SUBACK, one code
/// per filter, the refused one ≥ 0x80 in its place, and the accepted ones work.
async fn refused_filter_still_gets_suback(ctx: &mut Ctx) -> Result<(), Fail> {
    let refused = ctx
        .target_file()
        .refused_topic
        .clone()
        .ok_or_else(|| ctx.skip("no refused topic"))?;
    let a = ctx.topic("a");
    let b = ctx.topic("b");
    let mut c = ctx.connected("client", |c| c).await?;
    let codes = c.subscribe_many(&[(&a, 1), (&refused, 1), (&b, 0)]).await?;
    if codes.len() == 3 && codes[1] < 0x80 {
        // A server may refuse only publishing to a topic and still grant subscriptions to it
        // (Mosquitto's ACLs do): then there is no refused filter here to check.
        return Err(ctx.skip(format!(
            "the target granted a subscription to its refused_topic (code {:#04x})",
            codes[1]
        )));
    }
    ensure!(
        codes.len() == 3 && codes[0] <= 1 && codes[1] >= 0x80 && codes[2] == 0,
        "SUBACK codes (granted ≤ 0x01, ≥ 0x80, 0x00)",
        format!("SUBACK codes {codes:02x?}")
    );
    expect_works(ctx, &mut c, &[&a, &b]).await?;
    c.disconnect().await
}

/// Publishes one message to each topic from another client and requires `c` to receive it.
async fn expect_works(ctx: &mut Ctx, c: &mut Client, topics: &[&str]) -> Result<(), Fail> {
    let mut publisher = ctx.connected("publisher", |c| c).await?;
    for t in topics {
        publisher.publish(t, b"m", 0, false).await?;
        let p = c
            .expect_publish()
            .await
            .map_err(|f| f.context(&format!("after a PUBLISH to {t}")))?;
        ensure!(
            p.topic == t.as_bytes(),
            format!("a PUBLISH on {t}"),
            format!("a PUBLISH on {}", String::from_utf8_lossy(&p.topic))
        );
    }
    publisher.disconnect().await
}

/// A SUBACK code granting the subscription.
fn granted(codes: Vec<u8>) -> Result<u8, Fail> {
    match codes.as_slice() {
        [c] if *c <= 2 => Ok(*c),
        other => Err(Fail::new(
            "SUBACK granting the subscription",
            format!("SUBACK codes {other:02x?}"),
        )),
    }
}

/// Subscribing again to the same filter replaces the subscription: after QoS 2 then QoS 0, a
/// QoS 2 message arrives once, at QoS 0.
async fn resubscribe_replaces(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut c = ctx.connected("sub", |c| c).await?;
    c.subscribed(&topic, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    ctx.under_test(); // the re-SUBSCRIBE is checked: its refusal is a failure
    c.subscribed(&topic, 0).await?;
    publisher.publish(&topic, b"once", 2, false).await?;
    let p = c.expect_publish().await?;
    ensure!(
        p.qos == 0 && p.payload == b"once",
        "the message once, at QoS 0 (the replacing subscription's maximum)",
        format!(
            "PUBLISH QoS {} payload {:?}",
            p.qos,
            String::from_utf8_lossy(&p.payload)
        )
    );
    c.expect_silence()
        .await
        .map_err(|f| f.context("a second copy would mean the subscription was not replaced"))?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// Re-subscribing with Retain Handling 0 to an existing filter sends the retained message again.
async fn resubscribe_resends_retained(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("ret");
    ctx.retained(&topic);
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"kept", 1, true).await?;
    let mut c = ctx.connected("sub", |c| c).await?;
    for round in ["first SUBSCRIBE", "second SUBSCRIBE (replacing)"] {
        // The retained PUBLISH may come before or after the SUBACK.
        let id = c.packet_id();
        c.send_bytes(&Subscribe::v5(id).filter(&topic, 1).build())
            .await?;
        let (mut suback, mut retained) = (false, false);
        while !(suback && retained) {
            let r = c
                .recv(crate::EXPECT)
                .await
                .map_err(|e| Fail::from(e).context(round))?;
            match r.bytes.first().map(|b| b >> 4) {
                Some(packet_type::SUBACK) if !suback => suback = true,
                Some(packet_type::PUBLISH) if !retained => {
                    let p = wire::publish(&r.bytes, true)
                        .map_err(|e| Fail::new("a well-formed PUBLISH", e.to_string()))?;
                    ensure!(
                        p.retain && p.payload == b"kept",
                        format!("the retained message after the {round}"),
                        wire::describe(&r.bytes)
                    );
                    if let Some(id) = p.packet_id {
                        c.send_bytes(&raw_client::build::Puback::v5(id).build())
                            .await?;
                    }
                    retained = true;
                }
                _ => {
                    return Err(Fail::new(
                        format!("SUBACK and the retained message after the {round}"),
                        wire::describe(&r.bytes),
                    ))
                }
            }
        }
    }
    c.expect_silence().await?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// One SUBSCRIBE with three filters (QoS 1, 0, 2): one SUBACK with three codes, each a granted
/// QoS ≤ the requested one or ≥ 0x80, and each granted filter delivers.
async fn multi_filter_one_suback(ctx: &mut Ctx) -> Result<(), Fail> {
    let topics = [ctx.topic("a"), ctx.topic("b"), ctx.topic("c")];
    let asked = [1u8, 0, 2];
    let mut c = ctx.connected("client", |c| c).await?;
    let pairs: Vec<(&str, u8)> = topics
        .iter()
        .map(String::as_str)
        .zip(asked.iter().copied())
        .collect();
    let codes = c.subscribe_many(&pairs).await?;
    ensure!(
        codes.len() == 3,
        "3 reason codes, one per filter",
        format!("SUBACK codes {codes:02x?}")
    );
    for (i, code) in codes.iter().enumerate() {
        ensure!(
            *code <= asked[i] || *code >= 0x80,
            format!(
                "code {} a granted QoS ≤ {} or a failure ≥ 0x80",
                i + 1,
                asked[i]
            ),
            format!("SUBACK codes {codes:02x?}")
        );
    }
    let granted: Vec<&str> = topics
        .iter()
        .zip(&codes)
        .filter(|(_, c)| **c <= 2)
        .map(|(t, _)| t.as_str())
        .collect();
    if granted.len() < 3 {
        ctx.choice(format!("refused some of three plain filters: {codes:02x?}"));
    }
    expect_works(ctx, &mut c, &granted).await?;
    c.expect_silence().await?;
    c.disconnect().await
}

/// Messages are delivered at min(published QoS, granted QoS): QoS 2 to a QoS 1 subscription
/// arrives as QoS 1, QoS 0 stays QoS 0, QoS 1 stays QoS 1.
async fn delivered_at_min_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut c = ctx.connected("sub", |c| c).await?;
    let g = c.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for qos in [2u8, 0, 1] {
        publisher.publish(&topic, &[qos], qos, false).await?;
        let p = c.expect_publish().await?;
        ensure!(
            p.qos == qos.min(g) && p.payload == [qos],
            format!("the QoS {qos} message at QoS {} (granted {g})", qos.min(g)),
            format!("PUBLISH QoS {} payload {:02x?}", p.qos, p.payload)
        );
    }
    publisher.disconnect().await?;
    c.disconnect().await
}

/// Messages published while the subscription is being replaced are not lost: 20 QoS 1 PUBLISHes
/// are sent back to back while the subscriber re-subscribes (same filter, QoS 1) in the middle;
/// each of the 20 arrives.
async fn resubscribe_loses_nothing(ctx: &mut Ctx) -> Result<(), Fail> {
    const N: u8 = 20;
    let topic = ctx.topic("flow");
    let mut c = ctx.connected("sub", |c| c).await?;
    if c.subscribed(&topic, 1).await? < 1 {
        return Err(ctx.skip("QoS 1 not granted"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    let mut burst = Vec::new();
    for i in 0..N {
        burst.extend(
            raw_client::build::Publish::v5(&topic, [i])
                .qos(1)
                .packet_id(u16::from(i) + 1)
                .build(),
        );
    }
    let half = burst.len() / 2;
    publisher.send_bytes(&burst[..half]).await?;
    let id = c.packet_id();
    c.send_bytes(&Subscribe::v5(id).filter(&topic, 1).build())
        .await?;
    publisher.send_bytes(&burst[half..]).await?;
    let mut seen = vec![false; usize::from(N)];
    let mut suback = false;
    while !(suback && seen.iter().all(|s| *s)) {
        let r = c.recv(crate::EXPECT).await.map_err(|e| {
            let missing: Vec<usize> = (0..seen.len()).filter(|i| !seen[*i]).collect();
            Fail::from(e).context(&format!("messages still missing: {missing:?}"))
        })?;
        match r.bytes.first().map(|b| b >> 4) {
            Some(packet_type::SUBACK) => suback = true,
            Some(packet_type::PUBLISH) => {
                let p = wire::publish(&r.bytes, true)
                    .map_err(|e| Fail::new("a well-formed PUBLISH", e.to_string()))?;
                if let Some(pid) = p.packet_id {
                    c.send_bytes(&raw_client::build::Puback::v5(pid).build())
                        .await?;
                }
                if let Some(slot) = p
                    .payload
                    .first()
                    .and_then(|i| seen.get_mut(usize::from(*i)))
                {
                    *slot = true;
                }
            }
            _ => return Err(Fail::new("PUBLISH or SUBACK", wire::describe(&r.bytes))),
        }
    }
    // Drain the publisher's PUBACKs.
    for _ in 0..N {
        publisher.expect_type(packet_type::PUBACK).await?;
    }
    publisher.disconnect().await?;
    c.disconnect().await
}
