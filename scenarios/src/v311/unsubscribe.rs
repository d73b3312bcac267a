//! MQTT 3.1.1 section 3.10: UNSUBSCRIBE.

use crate::wire::{self, Publish as Got};
use crate::{ensure, Capability, Client, Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Pubcomp, Pubrec, Unsubscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.unsubscribe.reserved_flags_close",
            &["MQTT-3.10.1-1"],
            reserved_flags_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.unsubscribe.no_filter_closes",
            &["MQTT-3.10.3-2"],
            no_filter_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.unsubscribe.only_identical_filter_removed",
            &["MQTT-3.10.4-1"],
            only_identical_filter_removed,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.unsubscribe.nothing_delivered_after_unsuback",
            &["MQTT-3.10.4-2", "MQTT-3.10.4-4"],
            nothing_delivered_after_unsuback,
        ),
        Scenario::server(
            V3_1_1,
            "v311.unsubscribe.inflight_qos2_completes",
            &["MQTT-3.10.4-3"],
            inflight_qos2_completes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.unsubscribe.unsuback_when_nothing_matched",
            &["MQTT-3.10.4-5"],
            unsuback_when_nothing_matched,
        ),
        Scenario::server(
            V3_1_1,
            "v311.unsubscribe.several_filters_one_unsuback",
            &["MQTT-3.10.4-6"],
            several_filters_one_unsuback,
        ),
    ]
}

fn show(p: &Got) -> String {
    format!(
        "PUBLISH topic {:?} payload {:?}",
        String::from_utf8_lossy(&p.topic),
        String::from_utf8_lossy(&p.payload)
    )
}

/// Sends UNSUBSCRIBE `id` for `filters` and requires UNSUBACK `B0 02 id`.
async fn unsubscribed(c: &mut Client, id: u16, filters: &[&str]) -> Result<(), Fail> {
    let mut u = Unsubscribe::v311(id);
    for f in filters {
        u = u.filter(f);
    }
    c.send_bytes(&u.build()).await?;
    let b = c.expect_type(packet_type::UNSUBACK).await?;
    let [hi, lo] = id.to_be_bytes();
    ensure!(
        b == [0xB0, 0x02, hi, lo],
        format!("UNSUBACK b0 02 {hi:02x} {lo:02x}"),
        wire::describe(&b)
    );
    Ok(())
}

/// UNSUBSCRIBE with flags 0000 (first byte 0xA0): closed, no UNSUBACK.
async fn reserved_flags_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("u");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&topic, 0).await?;
    c.send_bytes(
        &Unsubscribe::v311(2)
            .filter(&topic)
            .flags_override(0)
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently()).await
}

/// UNSUBSCRIBE with only a packet identifier: closed, no UNSUBACK.
async fn no_filter_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Unsubscribe::v311(2).build()).await?;
    c.expect_closed(Closing::silently()).await
}

/// a/+ and a/b subscribed. Unsubscribing a/c (no such subscription) changes nothing;
/// unsubscribing a/+ leaves a/b: a message to a/b still arrives, one to a/x does not.
async fn only_identical_filter_removed(ctx: &mut Ctx) -> Result<(), Fail> {
    let plus = ctx.topic("a/+");
    let ab = ctx.topic("a/b");
    let ax = ctx.topic("a/x");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&plus, 1).await?;
    sub.subscribed(&ab, 1).await?;
    unsubscribed(&mut sub, 10, &[&ctx.topic("a/c")]).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&ax, b"x1", 1, false).await?;
    let p = sub
        .expect_publish()
        .await
        .map_err(|f| f.context("a/+ still subscribed after unsubscribing a/c"))?;
    ensure!(p.payload == b"x1", "\"x1\" on a/x", show(&p));
    unsubscribed(&mut sub, 11, &[&plus]).await?;
    publisher.publish(&ax, b"x2", 1, false).await?;
    publisher.publish(&ab, b"b", 1, false).await?;
    let p = sub
        .expect_publish()
        .await
        .map_err(|f| f.context("a/b still subscribed after unsubscribing a/+"))?;
    ensure!(
        p.payload == b"b",
        "only \"b\" on a/b (a/+ was removed)",
        show(&p)
    );
    sub.expect_silence().await?;
    // And the other way round: with a/+ back, unsubscribing a/b leaves a/+ delivering a/b.
    sub.subscribed(&plus, 1).await?;
    unsubscribed(&mut sub, 12, &[&ab]).await?;
    publisher.publish(&ab, b"b2", 1, false).await?;
    let p = sub
        .expect_publish()
        .await
        .map_err(|f| f.context("a/+ still subscribed after unsubscribing a/b"))?;
    ensure!(p.payload == b"b2", "\"b2\" on a/b through a/+", show(&p));
    sub.expect_silence().await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// UNSUBACK carries the UNSUBSCRIBE's id; after it, new messages are not delivered.
async fn nothing_delivered_after_unsuback(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("n");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    unsubscribed(&mut sub, 0x1234, &[&topic]).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"late", 1, false).await?;
    publisher.publish(&topic, b"late0", 0, false).await?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("messages published after the UNSUBACK"))?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// A QoS 2 delivery begun before the UNSUBSCRIBE completes: PUBREC after the UNSUBACK still
/// gets the PUBREL.
async fn inflight_qos2_completes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("i");
    let mut sub = ctx.connected("sub", |c| c).await?;
    let granted = sub.subscribed(&topic, 2).await?;
    if granted < 2 {
        return Err(ctx.skip("the server granted less than QoS 2"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"m", 2, false).await?;
    let b = sub.expect_type(packet_type::PUBLISH).await?;
    let p = wire::publish(&b, false).map_err(|e| Fail::new("PUBLISH", e.to_string()))?;
    let id = p.packet_id.unwrap_or(0);
    unsubscribed(&mut sub, 500, &[&topic]).await?;
    sub.send_bytes(&Pubrec::v311(id).build()).await?;
    let b = sub
        .expect_type(packet_type::PUBREL)
        .await
        .map_err(|f| f.context("PUBREC sent after unsubscribing"))?;
    let [hi, lo] = id.to_be_bytes();
    ensure!(
        b == [0x62, 0x02, hi, lo],
        format!("PUBREL 62 02 {hi:02x} {lo:02x}"),
        wire::describe(&b)
    );
    sub.send_bytes(&Pubcomp::v311(id).build()).await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// UNSUBSCRIBE for a filter never subscribed: UNSUBACK with the same id.
async fn unsuback_when_nothing_matched(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("never");
    let mut c = ctx.connected("client", |c| c).await?;
    unsubscribed(&mut c, 0xFFFF, &[&topic]).await?;
    c.disconnect().await
}

/// One UNSUBSCRIBE for two filters: one UNSUBACK, and neither delivers afterwards; a third
/// subscription stays.
async fn several_filters_one_unsuback(ctx: &mut Ctx) -> Result<(), Fail> {
    let t = [ctx.topic("s/1"), ctx.topic("s/2"), ctx.topic("s/3")];
    let mut sub = ctx.connected("sub", |c| c).await?;
    for x in &t {
        sub.subscribed(x, 1).await?;
    }
    unsubscribed(&mut sub, 42, &[&t[0], &t[1]]).await?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("after the single UNSUBACK"))?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for x in &t {
        publisher.publish(x, x.as_bytes(), 1, false).await?;
    }
    let p = sub.expect_publish().await?;
    ensure!(
        p.topic == t[2].as_bytes(),
        "only the message on the still-subscribed s/3",
        show(&p)
    );
    sub.expect_silence().await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}
