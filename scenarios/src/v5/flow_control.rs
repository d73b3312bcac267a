//! MQTT 5.0 section 4.9: flow control.

use crate::{ensure, wire, Capability, Client, Closing, Ctx, Fail, Scenario, Setup, Version::V5_0};
use raw_client::build::{
    packet_type, prop, Pingreq, Puback, Pubcomp, Publish, Pubrec, Pubrel, Subscribe,
};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.flow_control.server_receive_maximum_used_exactly",
            &["MQTT-3.3.4-7"],
            server_receive_maximum_used_exactly,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.flow_control.server_receive_maximum_exceeded_by_one_closes",
            &["MQTT-3.3.4-7"],
            server_receive_maximum_exceeded_by_one_closes,
        )
        .needs(Capability::MaxQos(2))
        .lenient_receiver(),
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

/// The largest server Receive Maximum the boundary scenarios fill: above it they are skipped
/// (65,535 unreleased QoS 2 messages is a load test, not a boundary check).
const LARGEST_FILLED_RECEIVE_MAXIMUM: u16 = 4096;

/// The CONNACK's Receive Maximum (65,535 when absent), or a skip when it is too large to fill.
fn server_receive_maximum(ctx: &Ctx, c: &Client) -> Result<u16, Fail> {
    let r = c
        .connack
        .as_ref()
        .and_then(|a| a.property(0x21))
        .map_or(u16::MAX, |v| u16::try_from(v).unwrap_or(u16::MAX));
    if r > LARGEST_FILLED_RECEIVE_MAXIMUM {
        return Err(ctx.skip(format!(
            "Receive Maximum {r}: more unreleased QoS 2 messages than this suite holds \
             ({LARGEST_FILLED_RECEIVE_MAXIMUM})"
        )));
    }
    Ok(r)
}

/// Sends QoS 2 PUBLISHes with identifiers `ids` and requires a PUBREC for each (Reason Code
/// below 0x80), leaving them unreleased: each holds one unit of the server's receive quota.
async fn unreleased_qos2(
    c: &mut Client,
    topic: &str,
    ids: std::ops::RangeInclusive<u16>,
) -> Result<(), Fail> {
    let (first, last) = (*ids.start(), *ids.end());
    let mut batch = Vec::new();
    for id in ids.clone() {
        batch.extend(
            Publish::v5(topic, id.to_be_bytes())
                .qos(2)
                .packet_id(id)
                .build(),
        );
    }
    c.send_bytes(&batch).await?;
    for id in ids {
        let (got, code) = c.next_ack(packet_type::PUBREC, id).await.map_err(|f| {
            f.context(&format!(
                "QoS 2 PUBLISH {id} of {first}..={last}, none released"
            ))
        })?;
        ensure!(
            code < 0x80,
            format!(
                "PUBREC with a success code for QoS 2 PUBLISH {id} (within the Receive Maximum)"
            ),
            wire::describe(&got)
        );
    }
    Ok(())
}

/// The server's Receive Maximum R used exactly: R QoS 2 PUBLISHes left unreleased (PUBREC, no
/// PUBREL) are what the client may send (the boundary of 3.3.4-7): each is answered with a
/// success PUBREC, the connection stays open, and once one is completed (PUBREL, PUBCOMP) one
/// more is accepted. Not lenient: refusing them is refusing what the client is allowed to send.
/// Skipped when R is above 4096.
async fn server_receive_maximum_used_exactly(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("rm");
    let mut c = ctx.connected("client", |c| c).await?;
    let r = server_receive_maximum(ctx, &c)?;
    c.limit_transcript(60, 60);
    c.note(format!(
        "{r} QoS 2 PUBLISHes, none released: the Receive Maximum {r} used exactly"
    ));
    unreleased_qos2(&mut c, &topic, 1..=r).await?;
    c.send_bytes(&Pingreq::new().build()).await?;
    c.expect_type(packet_type::PINGRESP).await.map_err(|f| {
        f.context(&format!(
            "the connection open with {r} QoS 2 messages unreleased"
        ))
    })?;
    c.send_bytes(&Pubrel::v5(1).build()).await?;
    c.next_ack(packet_type::PUBCOMP, 1).await?;
    c.note("one completed: the quota has room for exactly one more");
    unreleased_qos2(&mut c, &topic, 1..=1).await?;
    for id in 1..=r {
        c.send_bytes(&Pubrel::v5(id).build()).await?;
        c.next_ack(packet_type::PUBCOMP, id).await?;
    }
    c.disconnect().await
}

/// The server's Receive Maximum R exceeded by one: R QoS 2 PUBLISHes unreleased, then one more,
/// which the client must not send (3.3.4-7). The server closes, with DISCONNECT 0x93 (Receive
/// Maximum exceeded) where it sends one (0x81/0x82 accepted and recorded); a lenient receiver
/// may accept it. Skipped when R is above 4096.
async fn server_receive_maximum_exceeded_by_one_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("rm");
    let mut c = ctx.connected("client", |c| c).await?;
    let r = server_receive_maximum(ctx, &c)?;
    c.limit_transcript(60, 60);
    unreleased_qos2(&mut c, &topic, 1..=r).await.setup()?;
    let over = r + 1; // r <= LARGEST_FILLED_RECEIVE_MAXIMUM
    c.note(format!(
        "QoS 2 PUBLISH {over}: one more than the Receive Maximum {r}"
    ));
    c.send_bytes(&Publish::v5(&topic, b"over").qos(2).packet_id(over).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x93, 0x81, 0x82]))
        .await
        .map_err(|f| {
            f.context(&format!(
                "QoS 2 PUBLISH {over} while {r} (the Receive Maximum) are unreleased"
            ))
        })
}
