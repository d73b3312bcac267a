//! MQTT 3.1.1 section 3.8: SUBSCRIBE.

use crate::wire::{self, Publish as Got};
use crate::{ensure, Capability, Client, Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Subscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.subscribe.reserved_flags_close",
            &["MQTT-3.8.1-1"],
            reserved_flags_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.wildcards_refused_when_unsupported",
            &["MQTT-3.8.3-2"],
            wildcards_refused_when_unsupported,
        ),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.no_filter_closes",
            &["MQTT-3.8.3-3"],
            no_filter_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.reserved_qos_bits_close",
            &["MQTT-3.8.3-4"],
            reserved_qos_bits_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.qos3_closes",
            &["MQTT-3.8.3-4"],
            qos3_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.refused_still_gets_suback",
            &["MQTT-3.8.4-1"],
            refused_still_gets_suback,
        )
        .needs(Capability::RefusedTopic),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.suback_echoes_packet_id",
            &["MQTT-3.8.4-2"],
            suback_echoes_packet_id,
        ),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.resubscribe_replaces",
            &["MQTT-3.8.4-3"],
            resubscribe_replaces,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.several_filters_one_suback",
            &["MQTT-3.8.4-4", "MQTT-3.8.4-5"],
            several_filters_one_suback,
        ),
        Scenario::server(
            V3_1_1,
            "v311.subscribe.delivery_at_min_qos",
            &["MQTT-3.8.4-6"],
            delivery_at_min_qos,
        ),
    ]
}

fn show(p: &Got) -> String {
    format!(
        "PUBLISH topic {:?} payload {:?} QoS {} RETAIN {}",
        String::from_utf8_lossy(&p.topic),
        String::from_utf8_lossy(&p.payload),
        p.qos,
        u8::from(p.retain)
    )
}

/// Sends a SUBSCRIBE and reads the SUBACK: (packet identifier, codes).
async fn suback_of(c: &mut Client, packet: &[u8]) -> Result<(u16, Vec<u8>), Fail> {
    c.send_bytes(packet).await?;
    let b = c.expect_type(packet_type::SUBACK).await?;
    wire::suback(&b, false).map_err(|e| Fail::new("SUBACK", format!("{}: {e}", wire::describe(&b))))
}

/// SUBSCRIBE with fixed-header flags 0000 (first byte 0x80): closed, no SUBACK.
async fn reserved_flags_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Subscribe::v311(1)
            .filter(&topic, 0)
            .flags_override(0)
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently()).await
}

/// Where the server does not support wildcards, a filter holding one gets return code 0x80.
async fn wildcards_refused_when_unsupported(ctx: &mut Ctx) -> Result<(), Fail> {
    if ctx.caps().wildcard_subscriptions {
        return Err(ctx.skip("the target supports wildcard subscriptions"));
    }
    let mut c = ctx.connected("client", |c| c).await?;
    let (_, codes) = suback_of(
        &mut c,
        &Subscribe::v311(1)
            .filter(ctx.topic("+"), 0)
            .filter(ctx.topic("#"), 0)
            .build(),
    )
    .await?;
    ensure!(
        codes == [0x80, 0x80],
        "SUBACK codes [80, 80]",
        format!("{codes:02x?}")
    );
    c.disconnect().await
}

/// SUBSCRIBE with only a packet identifier: closed, no SUBACK.
async fn no_filter_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Subscribe::v311(1).build()).await?;
    c.expect_closed(Closing::silently()).await
}

/// Requested-QoS byte 0x04 (a reserved bit set): malformed, closed, no SUBACK.
async fn reserved_qos_bits_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Subscribe::v311(1).filter(&topic, 0x04).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// Requested QoS 3: malformed, closed, no SUBACK.
async fn qos3_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Subscribe::v311(1).filter(&topic, 0x03).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// A SUBSCRIBE whose only filter is refused still gets a SUBACK (code 0x80).
async fn refused_still_gets_suback(ctx: &mut Ctx) -> Result<(), Fail> {
    let Some(topic) = ctx.caps().refused_topic.clone() else {
        return Err(ctx.skip("no refused topic"));
    };
    let mut c = ctx.connected("client", |c| c).await?;
    let (id, codes) = suback_of(&mut c, &Subscribe::v311(21).filter(&topic, 1).build()).await?;
    if id == 21 && codes.len() == 1 && codes[0] <= 2 {
        c.disconnect().await?;
        return Err(ctx.skip(format!(
            "the broker granted QoS {} on the target file's refused_topic: it refuses publishing \
             there, not subscribing",
            codes[0]
        )));
    }
    ensure!(
        id == 21 && codes == [0x80],
        "SUBACK for packet identifier 21 with code 0x80",
        format!("SUBACK id {id} codes {codes:02x?}")
    );
    c.disconnect().await
}

/// The SUBACK carries the SUBSCRIBE's packet identifier (0x0001 and 0xFFFF).
async fn suback_echoes_packet_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut c = ctx.connected("client", |c| c).await?;
    for want in [0x0001u16, 0xFFFF, 0x8000] {
        let (id, _) = suback_of(&mut c, &Subscribe::v311(want).filter(&topic, 0).build()).await?;
        ensure!(
            id == want,
            format!("SUBACK for packet identifier {want}"),
            format!("SUBACK for packet identifier {id}")
        );
    }
    c.disconnect().await
}

/// Resubscribing to the same filter replaces the subscription: the retained message is sent
/// again (RETAIN 1), the new QoS applies, and a message is delivered once.
async fn resubscribe_replaces(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    ctx.retained(&topic);
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"kept", 2, true).await?;
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 0).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.retain && p.qos == 0 && p.payload == b"kept",
        "the retained message at QoS 0, RETAIN 1",
        show(&p)
    );
    ctx.under_test(); // the re-SUBSCRIBE is checked: its refusal is a failure
    let granted = sub.subscribed(&topic, 2).await?;
    let p = sub
        .expect_publish()
        .await
        .map_err(|f| f.context("the retained message after resubscribing"))?;
    ensure!(
        p.retain && p.qos == granted && p.payload == b"kept",
        format!("the retained message again at QoS {granted}, RETAIN 1"),
        show(&p)
    );
    publisher.publish(&topic, b"live", 2, false).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.qos == granted && p.payload == b"live",
        format!("\"live\" once at the new QoS {granted}"),
        show(&p)
    );
    sub.expect_silence()
        .await
        .map_err(|f| f.context("no second copy after the resubscription"))?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// One SUBSCRIBE with three filters (QoS 0, 1, 2) gets one SUBACK with three codes, each the
/// granted QoS (at most the requested one) or 0x80; each granted subscription delivers.
async fn several_filters_one_suback(ctx: &mut Ctx) -> Result<(), Fail> {
    let topics = [ctx.topic("f0"), ctx.topic("f1"), ctx.topic("f2")];
    let mut sub = ctx.connected("sub", |c| c).await?;
    let packet = Subscribe::v311(77)
        .filter(&topics[0], 0)
        .filter(&topics[1], 1)
        .filter(&topics[2], 2)
        .build();
    let (id, codes) = suback_of(&mut sub, &packet).await?;
    ensure!(
        id == 77
            && codes.len() == 3
            && codes
                .iter()
                .enumerate()
                .all(|(i, c)| *c == 0x80 || usize::from(*c) <= i),
        "one SUBACK (id 77) with three codes, each ≤ the requested QoS (0, 1, 2) or 0x80",
        format!("SUBACK id {id} codes {codes:02x?}")
    );
    sub.expect_silence()
        .await
        .map_err(|f| f.context("after the single SUBACK"))?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for (i, t) in topics.iter().enumerate() {
        if codes[i] == 0x80 {
            ctx.choice(format!("refused filter {i}"));
            continue;
        }
        publisher.publish(t, b"m", 2, false).await?;
        let p = sub.expect_publish().await?;
        ensure!(
            p.topic == t.as_bytes() && p.qos == codes[i],
            format!("a message on filter {i} at its granted QoS {}", codes[i]),
            show(&p)
        );
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// Granted QoS 1: a QoS 2 message arrives at QoS 1, a QoS 0 one at QoS 0.
async fn delivery_at_min_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("m");
    let mut sub = ctx.connected("sub", |c| c).await?;
    let granted = sub.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for qos in [2u8, 0, 1] {
        publisher.publish(&topic, &[b'0' + qos], qos, false).await?;
        let p = sub.expect_publish().await?;
        let want = qos.min(granted);
        ensure!(
            p.qos == want,
            format!("QoS {qos} message delivered at QoS {want} (granted {granted})"),
            show(&p)
        );
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}
