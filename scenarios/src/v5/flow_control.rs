//! MQTT 5.0 section 4.9: flow control.

use crate::{ensure, wire, Capability, Client, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{
    packet_type, prop, Pingreq, Puback, Pubcomp, Publish, Pubrec, Pubrel, Subscribe,
};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.flow_control.receive_maximum_qos1",
            &["MQTT-4.9.0-1", "MQTT-4.9.0-2"],
            receive_maximum_qos1,
        ),
        Scenario::server(
            V5_0,
            "v5.flow_control.receive_maximum_qos2_released_by_pubcomp",
            &["MQTT-4.9.0-1", "MQTT-4.9.0-2"],
            receive_maximum_qos2_released_by_pubcomp,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.flow_control.other_packets_while_quota_zero",
            &["MQTT-4.9.0-3"],
            other_packets_while_quota_zero,
        )
        .needs(Capability::MaxQos(2)),
    ]
}

/// Every PUBLISH that arrives within `c.quiet` of the previous one (none acknowledged).
async fn publishes_until_quiet(c: &mut Client) -> Result<Vec<wire::Publish>, Fail> {
    let mut out = Vec::new();
    let quiet = c.quiet;
    loop {
        match c.recv(quiet).await {
            Ok(r) => {
                let p = wire::publish(&r.bytes, true).map_err(|e| {
                    Fail::new("only PUBLISH packets", format!("{}: {e}", r.decoded))
                })?;
                out.push(p);
            }
            Err(raw_client::ExpectError::Timeout { .. }) => return Ok(out),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receive Maximum 2, QoS 1 subscription, 5 messages queued: 1 or 2 PUBLISHes arrive, no more
/// while none is acknowledged; each PUBACK lets more come, never more than 2 unacknowledged; all 5
/// arrive in the end.
async fn receive_maximum_qos1(ctx: &mut Ctx) -> Result<(), Fail> {
    const R: usize = 2;
    const N: usize = 5;
    let topic = ctx.topic("t");
    let mut sub = ctx
        .connected("sub", |c| c.property(prop::receive_maximum(R as u16)))
        .await?;
    let g = sub.subscribed(&topic, 1).await?;
    if g < 1 {
        return Err(ctx.skip("QoS 1 not granted"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for i in 0..N {
        publisher.publish(&topic, &[i as u8], 1, false).await?;
    }
    let mut unacked: Vec<u16> = Vec::new();
    let mut received = 0usize;
    let mut first = true;
    while received < N {
        let batch = publishes_until_quiet(&mut sub).await?;
        for p in &batch {
            ensure!(
                p.qos == 1,
                "QoS 1 PUBLISHes",
                format!("a PUBLISH at QoS {}", p.qos)
            );
            unacked.push(p.packet_id.unwrap_or(0));
            ensure!(
                unacked.len() <= R,
                format!("at most {R} unacknowledged QoS 1 PUBLISHes (Receive Maximum {R})"),
                format!("{} unacknowledged", unacked.len())
            );
        }
        received += batch.len();
        ensure!(
            !batch.is_empty(),
            format!(
                "{}: messages are pending and the send quota is above 0",
                if first {
                    "the first PUBLISHes"
                } else {
                    "a PUBLISH after the PUBACK"
                }
            ),
            format!(
                "nothing within {} ms ({received} of {N} received)",
                sub.quiet.as_millis()
            )
        );
        first = false;
        // Acknowledge one, letting exactly one more in.
        let id = unacked.remove(0);
        sub.send_bytes(&Puback::v5(id).build()).await?;
    }
    for id in unacked {
        sub.send_bytes(&Puback::v5(id).build()).await?;
    }
    sub.expect_silence().await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// Receive Maximum 1, QoS 2: after the first PUBLISH nothing more comes, also not after our
/// PUBREC (a PUBREC < 0x80 does not free the quota); our PUBCOMP lets the next one in.
async fn receive_maximum_qos2_released_by_pubcomp(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut sub = ctx
        .connected("sub", |c| c.property(prop::receive_maximum(1)))
        .await?;
    if sub.subscribed(&topic, 2).await? < 2 {
        return Err(ctx.skip("QoS 2 not granted"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for i in 0..2u8 {
        publisher.publish(&topic, &[i], 2, false).await?;
    }
    let got = sub.expect_type(packet_type::PUBLISH).await?;
    let p = wire::publish(&got, true).map_err(|e| Fail::new("a PUBLISH", e.to_string()))?;
    let pid = p.packet_id.unwrap_or(0);
    sub.expect_silence()
        .await
        .map_err(|f| f.context("Receive Maximum 1, one QoS 2 PUBLISH unacknowledged"))?;
    sub.send_bytes(&Pubrec::v5(pid).build()).await?;
    sub.expect_type(packet_type::PUBREL).await?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("after PUBREC: the quota is freed only by PUBCOMP"))?;
    sub.send_bytes(&Pubcomp::v5(pid).build()).await?;
    let next = sub
        .expect_publish()
        .await
        .map_err(|f| f.context("after PUBCOMP the next message may come"))?;
    ensure!(
        next.payload == [1],
        "the second message",
        format!("payload {:02x?}", next.payload)
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// The next packet of type `ty`, letting PUBLISHes (of the queue) pass; returns its bytes.
async fn expect_ignoring_publish(c: &mut Client, ty: u8) -> Result<Vec<u8>, Fail> {
    let expected = wire::type_name(ty << 4);
    loop {
        let r = c
            .recv(crate::EXPECT)
            .await
            .map_err(|e| Fail::from(e).with_expected(expected))?;
        match r.bytes.first().map(|b| b >> 4) {
            Some(t) if t == ty => return Ok(r.bytes),
            Some(packet_type::PUBLISH) => c.note("a PUBLISH of the queue, not judged here"),
            _ => return Err(Fail::new(expected, wire::describe(&r.bytes))),
        }
    }
}

/// Receive Maximum 1 and one unacknowledged QoS 1 PUBLISH (send quota 0): the server still
/// answers PINGREQ, SUBSCRIBE, and our QoS 2 PUBLISH flow (PUBREC, then PUBCOMP for our PUBREL).
async fn other_packets_while_quota_zero(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let other = ctx.topic("other");
    let mut sub = ctx
        .connected("sub", |c| c.property(prop::receive_maximum(1)))
        .await?;
    if sub.subscribed(&topic, 1).await? < 1 {
        return Err(ctx.skip("QoS 1 not granted"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for i in 0..3u8 {
        publisher.publish(&topic, &[i], 1, false).await?;
    }
    let got = sub.expect_type(packet_type::PUBLISH).await?;
    let p = wire::publish(&got, true).map_err(|e| Fail::new("a PUBLISH", e.to_string()))?;
    sub.send_bytes(&Pingreq::new().build()).await?;
    expect_ignoring_publish(&mut sub, packet_type::PINGRESP)
        .await
        .map_err(|f| f.context("PINGREQ with send quota 0"))?;
    sub.send_bytes(&Subscribe::v5(100).filter(&other, 0).build())
        .await?;
    expect_ignoring_publish(&mut sub, packet_type::SUBACK)
        .await
        .map_err(|f| f.context("SUBSCRIBE with send quota 0"))?;
    sub.send_bytes(&Publish::v5(&other, b"in").qos(2).packet_id(200).build())
        .await?;
    expect_ignoring_publish(&mut sub, packet_type::PUBREC)
        .await
        .map_err(|f| f.context("our QoS 2 PUBLISH with send quota 0"))?;
    sub.send_bytes(&Pubrel::v5(200).build()).await?;
    expect_ignoring_publish(&mut sub, packet_type::PUBCOMP)
        .await
        .map_err(|f| f.context("our PUBREL with send quota 0"))?;
    if let Some(id) = p.packet_id {
        sub.send_bytes(&Puback::v5(id).build()).await?;
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}
