//! MQTT 3.1.1 sections 4.4-4.5: message delivery retry, receipt.

use crate::wire::{self, Publish as Got};
use crate::{ensure, Client, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Puback, Pubcomp, Pubrec};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.delivery.qos1_resent_on_reconnect",
            &["MQTT-4.4.0-1"],
            qos1_resent_on_reconnect,
        ),
        Scenario::server(
            V3_1_1,
            "v311.delivery.pubrel_resent_on_reconnect",
            &["MQTT-4.4.0-1"],
            pubrel_resent_on_reconnect,
        ),
        Scenario::server(
            V3_1_1,
            "v311.delivery.queued_for_offline_subscriber",
            &["MQTT-4.5.0-1"],
            queued_for_offline_subscriber,
        ),
    ]
}

fn show(p: &Got) -> String {
    format!(
        "PUBLISH payload {:?} QoS {} DUP {} id {:?}",
        String::from_utf8_lossy(&p.payload),
        p.qos,
        u8::from(p.dup),
        p.packet_id
    )
}

/// Reconnects `label` with CleanSession 0 and expects CONNACK 0.
async fn resume(ctx: &mut Ctx, label: &str) -> Result<Client, Fail> {
    let packet = ctx.connect_packet(label).clean_start(false).build();
    let mut c = ctx.connect(label).await?;
    c.send_bytes(&packet).await?;
    c.expect_connack(0).await?;
    Ok(c)
}

/// Two QoS 1 messages left unacknowledged: after a CleanSession 0 reconnect both are resent
/// with DUP 1 and their original packet identifiers, in order.
async fn qos1_resent_on_reconnect(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let res = async {
        let mut sub = ctx.connected("sub", |c| c.clean_start(false)).await?;
        if sub.subscribed(&topic, 1).await? < 1 {
            return Err(ctx.skip("the server granted QoS 0"));
        }
        let mut publisher = ctx.connected("pub", |c| c).await?;
        publisher.publish(&topic, b"a", 1, false).await?;
        publisher.publish(&topic, b"b", 1, false).await?;
        let first = [sub.next_publish().await?, sub.next_publish().await?];
        sub.close().await;
        drop(sub);
        let mut sub = resume(ctx, "sub").await?;
        for orig in &first {
            let p = sub
                .next_publish()
                .await
                .map_err(|f| f.context("the unacknowledged messages after reconnecting"))?;
            ensure!(
                p.dup && p.qos == 1 && p.packet_id == orig.packet_id && p.payload == orig.payload,
                format!("the resend of {} with DUP 1", show(orig)),
                show(&p)
            );
            sub.send_bytes(&Puback::v311(p.packet_id.unwrap_or(0)).build())
                .await?;
        }
        publisher.disconnect().await?;
        sub.disconnect().await
    }
    .await;
    let end = ctx.end_session("sub").await;
    res.and(end)
}

/// A QoS 2 delivery left after PUBREC/PUBREL: after a CleanSession 0 reconnect the server
/// resends the PUBREL (same id), not the PUBLISH.
async fn pubrel_resent_on_reconnect(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let res = async {
        let mut sub = ctx.connected("sub", |c| c.clean_start(false)).await?;
        if sub.subscribed(&topic, 2).await? < 2 {
            return Err(ctx.skip("the server granted less than QoS 2"));
        }
        let mut publisher = ctx.connected("pub", |c| c).await?;
        publisher.publish(&topic, b"x", 2, false).await?;
        let p = sub.next_publish().await?;
        let id = p.packet_id.unwrap_or(0);
        sub.send_bytes(&Pubrec::v311(id).build()).await?;
        sub.expect_type(packet_type::PUBREL).await?;
        sub.close().await;
        drop(sub);
        let mut sub = resume(ctx, "sub").await?;
        let b = sub
            .expect_type(packet_type::PUBREL)
            .await
            .map_err(|f| f.context("the unacknowledged PUBREL after reconnecting"))?;
        let [hi, lo] = id.to_be_bytes();
        ensure!(
            b == [0x62, 0x02, hi, lo],
            format!("PUBREL 62 02 {hi:02x} {lo:02x}"),
            wire::describe(&b)
        );
        sub.send_bytes(&Pubcomp::v311(id).build()).await?;
        sub.expect_silence().await?;
        publisher.disconnect().await?;
        sub.disconnect().await
    }
    .await;
    let end = ctx.end_session("sub").await;
    res.and(end)
}

/// Messages acknowledged to the publisher (QoS 1 PUBACK, QoS 2 PUBCOMP) while a CleanSession 0
/// subscriber is offline are delivered when it reconnects; an online subscriber gets them too.
async fn queued_for_offline_subscriber(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("o");
    let res = async {
        let mut off = ctx.connected("offline", |c| c.clean_start(false)).await?;
        off.subscribed(&topic, 2).await?;
        off.disconnect().await?;
        let mut on = ctx.connected("online", |c| c).await?;
        on.subscribed(&topic, 2).await?;
        let mut publisher = ctx.connected("pub", |c| c).await?;
        publisher.publish(&topic, b"q1", 1, false).await?;
        publisher.publish(&topic, b"q2", 2, false).await?;
        let mut got_on = Vec::new();
        for _ in 0..2 {
            got_on.push(on.expect_publish().await?.payload);
        }
        let mut off = resume(ctx, "offline").await?;
        let mut got_off = Vec::new();
        for _ in 0..2 {
            got_off.push(
                off.expect_publish()
                    .await
                    .map_err(|f| f.context("the messages queued while offline"))?
                    .payload,
            );
        }
        let want = vec![b"q1".to_vec(), b"q2".to_vec()];
        ensure!(
            got_on == want && got_off == want,
            "\"q1\" and \"q2\" for both subscribers",
            format!("online {got_on:?}, offline {got_off:?}")
        );
        publisher.disconnect().await?;
        on.disconnect().await?;
        off.disconnect().await
    }
    .await;
    let end = ctx.end_session("offline").await;
    res.and(end)
}
