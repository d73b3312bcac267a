//! MQTT 3.1.1 section 4.3: Quality of Service levels and protocol flows.

use crate::wire::{self, Publish as Got};
use crate::{ensure, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Puback, Pubcomp, Publish, Pubrec, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.qos.qos0_sent_once_unacknowledged",
            &["MQTT-4.3.1-1"],
            qos0_sent_once_unacknowledged,
        ),
        Scenario::server(
            V3_1_1,
            "v311.qos.qos1_sender_distinct_ids_dup_zero",
            &["MQTT-4.3.2-1"],
            qos1_sender_distinct_ids_dup_zero,
        ),
        Scenario::server(
            V3_1_1,
            "v311.qos.qos1_reused_id_is_new_message",
            &["MQTT-4.3.2-2"],
            qos1_reused_id_is_new_message,
        ),
        Scenario::server(
            V3_1_1,
            "v311.qos.qos2_sender_flow",
            &["MQTT-4.3.3-1"],
            qos2_sender_flow,
        ),
        Scenario::server(
            V3_1_1,
            "v311.qos.qos2_duplicate_delivered_once",
            &["MQTT-4.3.3-2"],
            qos2_duplicate_delivered_once,
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

fn exact(b: &[u8], ty: u8, id: u16) -> bool {
    let [hi, lo] = id.to_be_bytes();
    b == [ty, 0x02, hi, lo]
}

/// QoS 0: the subscriber gets one PUBLISH (QoS 0, DUP 0), never resent; the publisher gets no
/// acknowledgement.
async fn qos0_sent_once_unacknowledged(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("z");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher
        .send_bytes(&Publish::v311(&topic, b"once").build())
        .await?;
    let p = sub.next_publish().await?;
    ensure!(
        p.qos == 0 && !p.dup && p.packet_id.is_none() && p.payload == b"once",
        "one QoS 0 PUBLISH with DUP 0",
        show(&p)
    );
    publisher
        .expect_silence()
        .await
        .map_err(|f| f.context("no acknowledgement of a QoS 0 PUBLISH"))?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("no resend of a QoS 0 PUBLISH"))?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// Two QoS 1 messages to an unacknowledging subscriber go out as QoS 1, DUP 0, with distinct
/// non-zero ids; the PUBACKs complete them.
async fn qos1_sender_distinct_ids_dup_zero(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("o");
    let mut sub = ctx.connected("sub", |c| c).await?;
    let granted = sub.subscribed(&topic, 1).await?;
    if granted < 1 {
        return Err(ctx.skip("the server granted QoS 0"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"1", 1, false).await?;
    publisher.publish(&topic, b"2", 1, false).await?;
    let a = sub.next_publish().await?;
    let b = sub.next_publish().await?;
    for p in [&a, &b] {
        ensure!(
            p.qos == 1 && !p.dup && p.packet_id.is_some_and(|i| i != 0),
            "QoS 1, DUP 0, a non-zero packet identifier",
            show(p)
        );
    }
    ensure!(
        a.packet_id != b.packet_id,
        "two unacknowledged messages with different packet identifiers",
        format!("{} / {}", show(&a), show(&b))
    );
    for p in [&a, &b] {
        sub.send_bytes(&Puback::v311(p.packet_id.unwrap_or(0)).build())
            .await?;
    }
    sub.expect_silence().await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// QoS 1 id 7 acknowledged, then id 7 again (DUP 1): a new message, delivered a second time.
async fn qos1_reused_id_is_new_message(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for (payload, dup) in [(&b"first"[..], false), (&b"second"[..], true)] {
        publisher
            .send_bytes(
                &Publish::v311(&topic, payload)
                    .qos(1)
                    .packet_id(7)
                    .dup(dup)
                    .build(),
            )
            .await?;
        let b = publisher.expect_type(packet_type::PUBACK).await?;
        ensure!(exact(&b, 0x40, 7), "PUBACK 40 02 00 07", wire::describe(&b));
        let p = sub.expect_publish().await?;
        ensure!(
            p.payload == payload,
            format!("{:?} delivered", String::from_utf8_lossy(payload)),
            show(&p)
        );
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// To a QoS 2 subscriber: PUBLISH QoS 2 DUP 0; PUBREC → PUBREL (62 02 id); no PUBLISH resent
/// after that; PUBCOMP ends it.
async fn qos2_sender_flow(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut sub = ctx.connected("sub", |c| c).await?;
    let granted = sub.subscribed(&topic, 2).await?;
    if granted < 2 {
        return Err(ctx.skip("the server granted less than QoS 2"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"two", 2, false).await?;
    let p = sub.next_publish().await?;
    let id = p.packet_id.unwrap_or(0);
    ensure!(
        p.qos == 2 && !p.dup && id != 0,
        "QoS 2, DUP 0, a non-zero packet identifier",
        show(&p)
    );
    sub.send_bytes(&Pubrec::v311(id).build()).await?;
    let b = sub.expect_type(packet_type::PUBREL).await?;
    ensure!(
        exact(&b, 0x62, id),
        format!("PUBREL for id {id}"),
        wire::describe(&b)
    );
    sub.expect_silence()
        .await
        .map_err(|f| f.context("nothing (no PUBLISH resend) after the PUBREL"))?;
    sub.send_bytes(&Pubcomp::v311(id).build()).await?;
    sub.expect_silence().await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// QoS 2 id 9 sent twice before PUBREL: PUBREC each time, one delivery; PUBREL → PUBCOMP; id 9
/// is then new: a third PUBLISH with it is delivered again.
async fn qos2_duplicate_delivered_once(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("d");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for dup in [false, true] {
        publisher
            .send_bytes(
                &Publish::v311(&topic, b"one")
                    .qos(2)
                    .packet_id(9)
                    .dup(dup)
                    .build(),
            )
            .await?;
        let b = publisher.expect_type(packet_type::PUBREC).await?;
        ensure!(exact(&b, 0x50, 9), "PUBREC 50 02 00 09", wire::describe(&b));
    }
    publisher.send_bytes(&Pubrel::v311(9).build()).await?;
    let b = publisher.expect_type(packet_type::PUBCOMP).await?;
    ensure!(
        exact(&b, 0x70, 9),
        "PUBCOMP 70 02 00 09",
        wire::describe(&b)
    );
    let p = sub.expect_publish().await?;
    ensure!(p.payload == b"one", "\"one\"", show(&p));
    sub.expect_silence()
        .await
        .map_err(|f| f.context("the message delivered only once"))?;
    publisher.publish(&topic, b"next", 2, false).await?;
    // `publish` picked its own id (1); reuse 9 explicitly too.
    publisher
        .send_bytes(&Publish::v311(&topic, b"again").qos(2).packet_id(9).build())
        .await?;
    let b = publisher.expect_type(packet_type::PUBREC).await?;
    ensure!(exact(&b, 0x50, 9), "PUBREC 50 02 00 09", wire::describe(&b));
    publisher.send_bytes(&Pubrel::v311(9).build()).await?;
    publisher.expect_type(packet_type::PUBCOMP).await?;
    let got: Vec<Vec<u8>> = sub
        .collect_n(2)
        .await?
        .into_iter()
        .map(|p| p.payload)
        .collect();
    ensure!(
        got == [b"next".to_vec(), b"again".to_vec()],
        "\"next\" then \"again\" (id 9 reusable after PUBCOMP)",
        format!("{got:?}")
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}
