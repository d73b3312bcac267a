//! MQTT 5.0 sections 4.4 (message delivery retry) and 4.5 (message receipt).

use crate::{ensure, Capability, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{Puback, Pubcomp, Pubrec};
use std::time::Duration;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.delivery.resent_only_after_reconnect",
            &["MQTT-4.4.0-1"],
            resent_only_after_reconnect,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.delivery.not_resent_after_clean_start",
            &["MQTT-4.4.0-1"],
            not_resent_after_clean_start,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.delivery.negative_ack_not_resent",
            &["MQTT-4.4.0-2"],
            negative_ack_not_resent,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.delivery.offline_subscriber_gets_message",
            &["MQTT-4.5.0-1"],
            offline_subscriber_gets_message,
        )
        .needs(Capability::MaxQos(2)),
    ]
}

/// A QoS 1 PUBLISH unacknowledged and a QoS 2 exchange stopped after PUBREL: nothing is resent
/// while the connection stays up (1.5 s); after a reconnect with Clean Start 0 the PUBLISH
/// (DUP 1, same id) and the PUBREL (same id) are.
async fn resent_only_after_reconnect(ctx: &mut Ctx) -> Result<(), Fail> {
    let t1 = ctx.topic("one");
    let t2 = ctx.topic("two");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&t1, 1).await?;
    s.subscribed(&t2, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&t1, b"q1", 1, false).await?;
    let a = s.next_publish().await?;
    p.publish(&t2, b"q2", 2, false).await?;
    let b = s.next_publish().await?;
    let a_id = a.packet_id.unwrap_or(0);
    let b_id = b.packet_id.unwrap_or(0);
    s.send_bytes(&Pubrec::v5(b_id).build()).await?;
    // No PUBREL for the PUBREC breaks MQTT-4.3.3-4; no resend to watch for then.
    s.next_ack(6, b_id)
        .await
        .map_err(|f| f.setup(Some("MQTT-4.3.3-4")))?;
    s.quiet = Duration::from_millis(1500);
    s.expect_silence()
        .await
        .map_err(|f| f.context("no resend while the connection stays up"))?;
    s.close().await;
    let mut s = ctx.resumed("sub", 60).await?;
    let r = async {
        let mut saw_publish = false;
        let mut saw_pubrel = false;
        for _ in 0..2 {
            let wait = s.timeout;
            let r = s.recv(wait).await.map_err(|e| {
                Fail::from(e).with_expected("the PUBLISH (DUP 1) and the PUBREL resent")
            })?;
            match r.bytes.first().map(|b| b >> 4) {
                Some(3) => {
                    let m = crate::wire::publish(&r.bytes, true)
                        .map_err(|e| Fail::new("a PUBLISH", e.0))?;
                    ensure!(
                        m.dup && m.packet_id == Some(a_id) && m.qos == 1 && m.payload == b"q1",
                        format!("the QoS 1 PUBLISH resent with DUP 1 and id {a_id}"),
                        m.show()
                    );
                    s.send_bytes(&Puback::v5(a_id).build()).await?;
                    saw_publish = true;
                }
                Some(6) => {
                    let (id, _) =
                        crate::wire::ack(&r.bytes).map_err(|e| Fail::new("a PUBREL", e.0))?;
                    ensure!(
                        id == b_id,
                        format!("the PUBREL resent with id {b_id}"),
                        crate::wire::describe(&r.bytes)
                    );
                    s.send_bytes(&Pubcomp::v5(b_id).build()).await?;
                    saw_pubrel = true;
                }
                _ => {
                    return Err(Fail::new(
                        "the PUBLISH (DUP 1) and the PUBREL resent",
                        crate::wire::describe(&r.bytes),
                    ))
                }
            }
        }
        ensure!(
            saw_publish && saw_pubrel,
            "one resent PUBLISH and one resent PUBREL",
            format!("PUBLISH {saw_publish}, PUBREL {saw_pubrel}")
        );
        s.expect_silence().await
    }
    .await;
    s.end_session().await?;
    r
}

/// An unacknowledged QoS 1 PUBLISH is not resent when the client reconnects with Clean Start 1
/// (no session present).
async fn not_resent_after_clean_start(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("one");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&topic, 1).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"q1", 1, false).await?;
    s.next_publish_frame().await?;
    s.close().await;
    let mut s = ctx.session("sub", true, 60).await?;
    let present = s.connack.as_ref().is_some_and(|a| a.session_present());
    let r = async {
        ensure!(
            !present,
            "CONNACK Session Present 0 after Clean Start 1",
            "Session Present 1"
        );
        s.expect_silence()
            .await
            .map_err(|f| f.context("after reconnecting with Clean Start 1: nothing resent"))
    }
    .await;
    s.end_session().await?;
    r
}

/// PUBACK 0x80 and PUBREC 0x80 from the subscriber end those deliveries: nothing is resent
/// after a reconnect with Clean Start 0.
async fn negative_ack_not_resent(ctx: &mut Ctx) -> Result<(), Fail> {
    let t1 = ctx.topic("one");
    let t2 = ctx.topic("two");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&t1, 1).await?;
    s.subscribed(&t2, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&t1, b"q1", 1, false).await?;
    let a = s.next_publish().await?;
    s.send_bytes(&Puback::v5(a.packet_id.unwrap_or(0)).reason(0x80).build())
        .await?;
    p.publish(&t2, b"q2", 2, false).await?;
    let b = s.next_publish().await?;
    s.send_bytes(&Pubrec::v5(b.packet_id.unwrap_or(0)).reason(0x80).build())
        .await?;
    s.expect_silence()
        .await
        .map_err(|f| f.context("after PUBREC 0x80 no PUBREL"))?;
    s.close().await;
    let mut s = ctx.resumed("sub", 60).await?;
    let r = s
        .expect_silence()
        .await
        .map_err(|f| f.context("after reconnecting: nothing resent for PUBACK/PUBREC 0x80"));
    s.end_session().await?;
    r
}

/// QoS 1 and QoS 2 messages published while a persistent subscriber is offline are delivered
/// when it reconnects with Clean Start 0.
async fn offline_subscriber_gets_message(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("o");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&topic, 2).await?;
    s.disconnect().await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"q1", 1, false).await?;
    p.publish(&topic, b"q2", 2, false).await?;
    let mut s = ctx.resumed("sub", 60).await?;
    let got = s.collect().await;
    s.end_session().await?;
    let got = got?;
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    ensure!(
        payloads == [&b"q1"[..], b"q2"],
        "both messages stored for the offline subscriber and delivered on reconnect",
        crate::wire::show_all(&got)
    );
    Ok(())
}
