//! MQTT 5.0 section 3.10: UNSUBSCRIBE.

use crate::{ensure, wire, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, Pubrec, Unsubscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.unsubscribe.reserved_flags_close",
            &["MQTT-3.10.1-1"],
            reserved_flags_close,
        ),
        Scenario::server(
            V5_0,
            "v5.unsubscribe.ill_formed_utf8_filter_closes",
            &["MQTT-3.10.3-1"],
            ill_formed_utf8_filter_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.unsubscribe.empty_payload_closes",
            &["MQTT-3.10.3-2"],
            empty_payload_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.unsubscribe.only_identical_filter_removed",
            &["MQTT-3.10.4-1"],
            only_identical_filter_removed,
        ),
        Scenario::server(
            V5_0,
            "v5.unsubscribe.deliveries_stop",
            &["MQTT-3.10.4-2"],
            deliveries_stop,
        ),
        Scenario::server(
            V5_0,
            "v5.unsubscribe.inflight_qos2_completed",
            &["MQTT-3.10.4-3"],
            inflight_qos2_completed,
        )
        .needs(crate::Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.unsubscribe.unsuback_even_without_subscription",
            &["MQTT-3.10.4-4", "MQTT-3.10.4-5"],
            unsuback_even_without_subscription,
        ),
        Scenario::server(
            V5_0,
            "v5.unsubscribe.multi_filter_one_unsuback",
            &["MQTT-3.10.4-6"],
            multi_filter_one_unsuback,
        ),
    ]
}

/// UNSUBSCRIBE with fixed-header flags 0000 instead of 0010: a Malformed Packet; the server
/// closes, may send DISCONNECT 0x81 first.
async fn reserved_flags_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&topic, 0).await?;
    let id = c.packet_id();
    c.send_bytes(&Unsubscribe::v5(id).filter(&topic).flags_override(0).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context("after an UNSUBSCRIBE with first byte 0xA0"))
}

/// A filter holding an encoded surrogate (ED A0 80): a Malformed Packet; close, maybe
/// DISCONNECT 0x81.
async fn ill_formed_utf8_filter_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut filter = ctx.topic("").into_bytes();
    filter.extend_from_slice(&[0xED, 0xA0, 0x80]);
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(&Unsubscribe::v5(id).filter(&filter).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context("after an UNSUBSCRIBE whose filter has bytes ED A0 80"))
}

/// An UNSUBSCRIBE with no filter is a Protocol Error: close, maybe DISCONNECT 0x82 (0x81 also
/// accepted), no UNSUBACK.
async fn empty_payload_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(&Unsubscribe::v5(id).build()).await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82, 0x81]))
        .await
        .map_err(|f| f.context("after an UNSUBSCRIBE with an empty payload"))
}

/// Subscribed to `t/b` and `t/+`: unsubscribing `t/#` removes nothing (0x11); unsubscribing
/// `t/+` (0x00) leaves `t/b` in place (one copy of a
/// message to t/b still arrives) and stops t/+ (a message to t/c no longer arrives).
async fn only_identical_filter_removed(ctx: &mut Ctx) -> Result<(), Fail> {
    let exact = ctx.topic("t/b");
    let wild = ctx.topic("t/+");
    let other = ctx.topic("t/c");
    let mut c = ctx.connected("sub", |c| c).await?;
    c.subscribed(&exact, 0).await?;
    c.subscribed(&wild, 0).await?;
    let hash = ctx.topic("t/#");
    // No UNSUBACK at all for a filter that matches no subscription breaks MQTT-3.10.4-5 (see
    // `v5.unsubscribe.unsuback_even_without_subscription`); the comparison is then not checked.
    let codes = c.unsubscribe(&[&hash]).await.map_err(|f| {
        if f.got().starts_with("nothing") {
            f.setup(Some("MQTT-3.10.4-5"))
        } else {
            f
        }
    })?;
    ensure!(
        codes == [0x11],
        "UNSUBACK 0x11 for t/#, which covers but is not identical to t/b or t/+",
        format!("UNSUBACK codes {codes:02x?}")
    );
    let codes = c.unsubscribe(&[&wild]).await?;
    ensure!(
        codes == [0x00],
        "UNSUBACK 0x00 (Success) for the identical filter",
        format!("UNSUBACK codes {codes:02x?}")
    );
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&other, b"gone", 0, false).await?;
    publisher.publish(&exact, b"kept", 0, false).await?;
    let p = c
        .expect_publish()
        .await
        .map_err(|f| f.context("t/b must still be subscribed"))?;
    ensure!(
        p.payload == b"kept",
        "only the message to t/b (t/c was covered by the removed t/+ alone)",
        format!(
            "PUBLISH {} {:?}",
            String::from_utf8_lossy(&p.topic),
            String::from_utf8_lossy(&p.payload)
        )
    );
    c.expect_silence().await?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// After the UNSUBACK, a message to the topic is not delivered.
async fn deliveries_stop(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut c = ctx.connected("sub", |c| c).await?;
    c.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"before", 1, false).await?;
    c.expect_publish()
        .await
        .map_err(|f| f.context("control: while subscribed"))?;
    let codes = c.unsubscribe(&[&topic]).await?;
    ensure!(
        codes == [0x00],
        "UNSUBACK 0x00",
        format!("UNSUBACK codes {codes:02x?}")
    );
    publisher.publish(&topic, b"after", 1, false).await?;
    c.expect_silence()
        .await
        .map_err(|f| f.context("after the UNSUBACK"))?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// A QoS 2 delivery started before the UNSUBSCRIBE is completed: our PUBREC sent after it still
/// gets the PUBREL.
async fn inflight_qos2_completed(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut c = ctx.connected("sub", |c| c).await?;
    c.subscribed(&topic, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"m", 2, false).await?;
    let got = c.expect_type(packet_type::PUBLISH).await?;
    let p =
        wire::publish(&got, true).map_err(|e| Fail::new("a well-formed PUBLISH", e.to_string()))?;
    let pid = match (p.qos, p.packet_id) {
        (2, Some(id)) => id,
        _ => {
            return Err(Fail::new(
                "a QoS 2 PUBLISH (subscription granted QoS 2)",
                wire::describe(&got),
            ))
        }
    };
    let codes = c.unsubscribe(&[&topic]).await?;
    ensure!(
        codes == [0x00],
        "UNSUBACK 0x00",
        format!("UNSUBACK codes {codes:02x?}")
    );
    c.send_bytes(&Pubrec::v5(pid).build()).await?;
    let got = c
        .expect_type(packet_type::PUBREL)
        .await
        .map_err(|f| f.context("after PUBREC sent once unsubscribed"))?;
    let (id, _) = wire::ack(&got).map_err(|e| Fail::new("a PUBREL", e.to_string()))?;
    ensure!(
        id == pid,
        format!("PUBREL for packet identifier {pid}"),
        wire::describe(&got)
    );
    c.send_bytes(&raw_client::build::Pubcomp::v5(pid).build())
        .await?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// An UNSUBSCRIBE for a filter never subscribed is still answered: UNSUBACK with its packet
/// identifier and 0x11 (No subscription existed).
async fn unsuback_even_without_subscription(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("never");
    let mut c = ctx.connected("client", |c| c).await?;
    for _ in 0..2 {
        let codes = c.unsubscribe(&[&topic]).await?;
        ensure!(
            codes == [0x11],
            "UNSUBACK 0x11 (No subscription existed)",
            format!("UNSUBACK codes {codes:02x?}")
        );
    }
    c.disconnect().await
}

/// One UNSUBSCRIBE for (subscribed a, unknown b, subscribed c): one UNSUBACK (0x00, 0x11, 0x00),
/// and both subscriptions are gone.
async fn multi_filter_one_unsuback(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = ctx.topic("a");
    let b = ctx.topic("b");
    let t = ctx.topic("c");
    let mut c = ctx.connected("sub", |c| c).await?;
    c.subscribed(&a, 0).await?;
    c.subscribed(&t, 0).await?;
    let codes = c.unsubscribe(&[&a, &b, &t]).await?;
    ensure!(
        codes == [0x00, 0x11, 0x00],
        "one UNSUBACK with codes (0x00, 0x11, 0x00)",
        format!("UNSUBACK codes {codes:02x?}")
    );
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&a, b"x", 0, false).await?;
    publisher.publish(&t, b"x", 0, false).await?;
    c.expect_silence()
        .await
        .map_err(|f| f.context("both filters were unsubscribed"))?;
    publisher.disconnect().await?;
    c.disconnect().await
}
