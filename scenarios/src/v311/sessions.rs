//! MQTT 3.1.1 section 4.1: sessions.

use crate::wire;
use crate::{ensure, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Pingreq, Pubcomp, Pubrec};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.sessions.state_survives_reconnect",
            &["MQTT-4.1.0-1"],
            state_survives_reconnect,
        ),
        Scenario::server(
            V3_1_1,
            "v311.sessions.kept_while_connected",
            &["MQTT-4.1.0-2"],
            kept_while_connected,
        ),
    ]
}

/// CleanSession 0: the subscription, a message queued while offline and a QoS 2 flow left at
/// PUBREL all survive a reconnect.
async fn state_survives_reconnect(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let res = async {
        let mut sub = ctx.connected("sub", |c| c.clean_start(false)).await?;
        let granted = sub.subscribed(&topic, 2).await?;
        if granted < 2 {
            return Err(ctx.skip("the server granted less than QoS 2"));
        }
        let mut publisher = ctx.connected("pub", |c| c).await?;
        publisher.publish(&topic, b"inflight", 2, false).await?;
        let b = sub.expect_type(packet_type::PUBLISH).await?;
        let p = wire::publish(&b, false).map_err(|e| Fail::new("PUBLISH", e.to_string()))?;
        let id = p.packet_id.unwrap_or(0);
        sub.send_bytes(&Pubrec::v311(id).build()).await?;
        sub.expect_type(packet_type::PUBREL).await?;
        sub.close().await;
        drop(sub);
        publisher.publish(&topic, b"queued", 1, false).await?;
        publisher.disconnect().await?;

        let packet = ctx.connect_packet("sub").clean_start(false).build();
        let mut sub = ctx.connect("sub").await?;
        sub.send_bytes(&packet).await?;
        sub.expect_connack(0).await?;
        let mut saw_pubrel = false;
        let mut saw_queued = false;
        for _ in 0..2 {
            let r = sub.recv(crate::EXPECT).await.map_err(|e| {
                Fail::from(e).with_expected("the PUBREL resent and the queued message")
            })?;
            match r.bytes.first().map(|b| b >> 4) {
                Some(packet_type::PUBREL) => {
                    let (rid, _) =
                        wire::ack(&r.bytes).map_err(|e| Fail::new("PUBREL", e.to_string()))?;
                    ensure!(
                        rid == id,
                        format!("PUBREL for id {id}"),
                        wire::describe(&r.bytes)
                    );
                    sub.send_bytes(&Pubcomp::v311(id).build()).await?;
                    saw_pubrel = true;
                }
                Some(packet_type::PUBLISH) => {
                    let q = wire::publish(&r.bytes, false)
                        .map_err(|e| Fail::new("PUBLISH", e.to_string()))?;
                    ensure!(
                        q.payload == b"queued",
                        "the queued message (the QoS 2 one was already PUBRECed)",
                        wire::describe(&r.bytes)
                    );
                    if let Some(qid) = q.packet_id {
                        sub.send_bytes(&raw_client::build::Puback::v311(qid).build())
                            .await?;
                    }
                    saw_queued = true;
                }
                _ => return Err(Fail::new("PUBREL or PUBLISH", wire::describe(&r.bytes))),
            }
        }
        ensure!(
            saw_pubrel && saw_queued,
            "the PUBREL resent and the queued message",
            format!("PUBREL {saw_pubrel}, queued PUBLISH {saw_queued}")
        );
        // The subscription itself is still there.
        let mut publisher = ctx.connected("pub", |c| c).await?;
        publisher.publish(&topic, b"after", 1, false).await?;
        let p = sub.expect_publish().await?;
        ensure!(
            p.payload == b"after",
            "\"after\" through the resumed subscription",
            format!("{:?}", String::from_utf8_lossy(&p.payload))
        );
        publisher.disconnect().await?;
        sub.disconnect().await
    }
    .await;
    let end = ctx.end_session("sub").await;
    res.and(end)
}

/// Over one connection, with pauses and PINGREQs between them, the subscription keeps
/// delivering and QoS 1 and 2 flows keep completing.
async fn kept_while_connected(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("k");
    let mut sub = ctx.connected("sub", |c| c.keep_alive(2)).await?;
    let granted = sub.subscribed(&topic, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for round in 0..3u8 {
        for qos in [1u8, 2] {
            publisher.publish(&topic, &[round, qos], qos, false).await?;
            let p = sub.expect_publish().await?;
            ensure!(
                p.payload == [round, qos] && p.qos == qos.min(granted),
                format!("round {round}: the QoS {qos} message"),
                format!("payload {:?} QoS {}", p.payload, p.qos)
            );
        }
        sub.expect_silence().await?;
        sub.send_bytes(&Pingreq::new().build()).await?;
        sub.expect_type(packet_type::PINGRESP).await?;
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}
