//! MQTT 5.0 section 4.3: Quality of Service levels and protocol flows.

use super::publish::publish_with;
use crate::{ensure, Capability, Client, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Pubcomp, Publish, Pubrec, Pubrel};
use std::collections::BTreeSet;
use std::time::Duration;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.qos.qos0_has_dup_0",
            &["MQTT-4.3.1-1"],
            qos0_dup_clear,
        ),
        Scenario::server(
            V5_0,
            "v5.qos.qos1_inflight_ids_distinct",
            &["MQTT-4.3.2-1", "MQTT-4.3.2-2"],
            qos1_inflight_ids,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.qos.qos1_resent_after_reconnect",
            &["MQTT-4.3.2-3", "MQTT-3.3.1-1"],
            qos1_resent,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.qos.puback_carries_packet_id",
            &["MQTT-4.3.2-4"],
            puback_carries_id,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.qos.qos1_id_reused_after_puback_is_new",
            &["MQTT-4.3.2-5"],
            qos1_id_reuse,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.qos.qos2_inflight_ids_distinct",
            &["MQTT-4.3.3-1", "MQTT-4.3.3-2"],
            qos2_inflight_ids,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.qos2_resent_after_reconnect",
            &["MQTT-4.3.3-3", "MQTT-3.3.1-1"],
            qos2_resent,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.pubrel_carries_publish_id",
            &["MQTT-4.3.3-4"],
            pubrel_same_id,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.pubrel_resent_not_publish",
            &["MQTT-4.3.3-5", "MQTT-4.3.3-6"],
            pubrel_resent,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.sent_qos2_not_expired",
            &["MQTT-4.3.3-7"],
            sent_qos2_not_expired,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.pubrec_carries_packet_id",
            &["MQTT-4.3.3-8"],
            pubrec_carries_id,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.id_reused_after_failed_pubrec_is_new",
            &["MQTT-4.3.3-9"],
            failed_pubrec_id_reuse,
        )
        .needs(Capability::MaxQos(2))
        .needs(Capability::RefusedTopic),
        Scenario::server(
            V5_0,
            "v5.qos.qos2_duplicate_before_pubrel_delivered_once",
            &["MQTT-4.3.3-10"],
            qos2_duplicate_once,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.pubcomp_carries_pubrel_id",
            &["MQTT-4.3.3-11"],
            pubcomp_carries_id,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.qos2_id_reused_after_pubcomp_is_new",
            &["MQTT-4.3.3-12"],
            qos2_id_reuse,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.qos.pubrel_after_expiry_completed",
            &["MQTT-4.3.3-13"],
            pubrel_after_expiry,
        )
        .needs(Capability::MaxQos(2)),
    ]
}

/// QoS 0 deliveries have DUP 0: a QoS 0 message, and a QoS 1 message published with DUP 1 and
/// downgraded to a QoS 0 subscription.
async fn qos0_dup_clear(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("z");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 0).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.send_bytes(&Publish::v5(&topic, b"a").build()).await?;
    p.send_bytes(
        &Publish::v5(&topic, b"b")
            .qos(1)
            .packet_id(3)
            .dup(true)
            .build(),
    )
    .await?;
    p.next_ack(4, 3).await?;
    for _ in 0..2 {
        let (first, m) = s.next_publish_frame().await?;
        ensure!(
            m.qos == 0 && first & 0x08 == 0,
            "a QoS 0 PUBLISH with DUP 0 (first byte 0x30)",
            format!("first byte {first:#04x}: {}", m.show())
        );
    }
    Ok(())
}

/// Subscriber at `qos` that acknowledges nothing; `n` messages published at `qos`. Returns the
/// subscriber and the PUBLISHes it got until silence (first byte, read): all `n`, unless the
/// server keeps fewer in flight (recorded).
async fn withheld(
    ctx: &mut Ctx,
    qos: u8,
    n: u8,
) -> Result<(Client, Vec<(u8, crate::wire::Publish)>), Fail> {
    let topic = ctx.topic("w");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, qos).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    for i in 0..n {
        p.publish(&topic, &[b'0' + i], qos, false).await?;
    }
    let mut got = vec![s.next_publish_frame().await?];
    loop {
        let quiet = s.quiet;
        match s.recv(quiet).await {
            Ok(r) => {
                let m = crate::wire::publish(&r.bytes, true).map_err(|e| {
                    Fail::new(
                        "only PUBLISH packets",
                        format!("{}: {e}", crate::wire::describe(&r.bytes)),
                    )
                })?;
                got.push((r.bytes[0], m));
            }
            Err(raw_client::ExpectError::Timeout { .. }) => break,
            Err(e) => return Err(Fail::from(e).with_expected("PUBLISH packets")),
        }
    }
    if got.len() < usize::from(n) {
        ctx.choice(format!(
            "kept {} of {n} QoS {qos} messages in flight without acknowledgements",
            got.len()
        ));
    }
    Ok((s, got))
}

/// Acknowledges the withheld PUBLISHes and takes whatever follows.
async fn release(s: &mut Client, got: &[(u8, crate::wire::Publish)]) -> Result<(), Fail> {
    let mut pending = Vec::new();
    for (_, m) in got {
        let id = m.packet_id.unwrap_or(0);
        if m.qos == 2 {
            s.send_bytes(&Pubrec::v5(id).build()).await?;
            pending.push(id);
        } else {
            s.send_bytes(&raw_client::build::Puback::v5(id).build())
                .await?;
        }
    }
    s.collect_pending(pending).await.map(|_| ())
}

fn check_inflight(got: &[(u8, crate::wire::Publish)], qos: u8) -> Result<(), Fail> {
    let mut ids = BTreeSet::new();
    for (first, m) in got {
        ensure!(
            m.qos == qos && first & 0x08 == 0,
            format!("first transmission: QoS {qos}, DUP 0"),
            format!("first byte {first:#04x}: {}", m.show())
        );
        let id = m.packet_id.unwrap_or(0);
        ensure!(
            id != 0 && ids.insert(id),
            "a non-zero packet identifier not used by another unacknowledged PUBLISH",
            format!(
                "{:?}",
                got.iter().map(|(_, m)| m.packet_id).collect::<Vec<_>>()
            )
        );
    }
    Ok(())
}

/// Five QoS 1 messages to a subscriber that withholds PUBACK: QoS 1, DUP 0, distinct ids.
async fn qos1_inflight_ids(ctx: &mut Ctx) -> Result<(), Fail> {
    let (mut s, got) = withheld(ctx, 1, 5).await?;
    check_inflight(&got, 1)?;
    release(&mut s, &got).await
}

/// Five QoS 2 messages to a subscriber that withholds PUBREC: QoS 2, DUP 0, distinct ids.
async fn qos2_inflight_ids(ctx: &mut Ctx) -> Result<(), Fail> {
    let (mut s, got) = withheld(ctx, 2, 5).await?;
    check_inflight(&got, 2)?;
    release(&mut s, &got).await
}

/// A persistent subscriber gets a message at `qos` and does not acknowledge it; after a
/// reconnect with Clean Start 0 the PUBLISH comes again with the same id and DUP 1.
async fn resent(ctx: &mut Ctx, qos: u8, expiry: Option<u32>) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&topic, qos).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    let props = expiry
        .map(prop::message_expiry_interval)
        .into_iter()
        .collect();
    publish_with(&mut p, &topic, b"once", qos, false, props).await?;
    let first = s.next_publish().await?;
    s.close().await;
    if expiry.is_some() {
        tokio::time::sleep(Duration::from_millis(2200)).await; // let the expiry pass
    }
    let mut s = ctx.resumed("sub", 60).await?;
    let r = s
        .next_publish_frame()
        .await
        .map_err(|f| f.context("after reconnecting with Clean Start 0"));
    let out = match r {
        Ok((byte, m)) => {
            let ok =
                m.dup && m.packet_id == first.packet_id && m.payload == b"once" && m.qos == qos;
            s.ack(&m).await?;
            if ok {
                Ok(())
            } else {
                Err(Fail::new(
                    format!(
                        "the PUBLISH resent with DUP 1, QoS {qos} and the same packet identifier {:?}",
                        first.packet_id
                    ),
                    format!("first byte {byte:#04x}: {}", m.show()),
                ))
            }
        }
        Err(f) => Err(f),
    };
    s.end_session().await?;
    out
}

async fn qos1_resent(ctx: &mut Ctx) -> Result<(), Fail> {
    resent(ctx, 1, None).await
}

async fn qos2_resent(ctx: &mut Ctx) -> Result<(), Fail> {
    resent(ctx, 2, None).await
}

/// Message Expiry 1 s, the PUBLISH already sent but not acknowledged: after a reconnect past
/// the expiry it is still resent.
async fn sent_qos2_not_expired(ctx: &mut Ctx) -> Result<(), Fail> {
    resent(ctx, 2, Some(1)).await
}

/// PUBACK carries the PUBLISH's packet identifier (1, 0x8001, 0xFFFF).
async fn puback_carries_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("i");
    let mut c = ctx.connected("client", |c| c).await?;
    for id in [1u16, 0x8001, 0xFFFF] {
        c.send_bytes(&Publish::v5(&topic, b"x").qos(1).packet_id(id).build())
            .await?;
        c.next_ack(4, id).await?;
    }
    Ok(())
}

/// PUBREC carries the PUBLISH's packet identifier.
async fn pubrec_carries_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("i");
    let mut c = ctx.connected("client", |c| c).await?;
    for id in [1u16, 0x8001, 0xFFFF] {
        c.send_bytes(&Publish::v5(&topic, b"x").qos(2).packet_id(id).build())
            .await?;
        c.next_ack(5, id).await?;
        c.send_bytes(&Pubrel::v5(id).build()).await?;
        c.next_ack(7, id).await?;
    }
    Ok(())
}

/// PUBCOMP carries the PUBREL's packet identifier, with two exchanges interleaved.
async fn pubcomp_carries_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("i");
    let mut c = ctx.connected("client", |c| c).await?;
    for id in [0x0102u16, 0x0201] {
        c.send_bytes(&Publish::v5(&topic, b"x").qos(2).packet_id(id).build())
            .await?;
        c.next_ack(5, id).await?;
    }
    for id in [0x0201u16, 0x0102] {
        c.send_bytes(&Pubrel::v5(id).build()).await?;
        c.next_ack(7, id).await?;
    }
    Ok(())
}

/// After PUBACK for id 10, another PUBLISH with id 10 (DUP 1) is a new message: PUBACKed and
/// delivered again.
async fn qos1_id_reuse(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("i");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.send_bytes(&Publish::v5(&topic, b"one").qos(1).packet_id(10).build())
        .await?;
    p.next_ack(4, 10).await?;
    p.send_bytes(
        &Publish::v5(&topic, b"two")
            .qos(1)
            .packet_id(10)
            .dup(true)
            .build(),
    )
    .await?;
    p.next_ack(4, 10).await?;
    let got = s.collect().await?;
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    ensure!(
        payloads == [&b"one"[..], b"two"],
        "both messages delivered (\"one\", \"two\")",
        crate::wire::show_all(&got)
    );
    Ok(())
}

/// After PUBCOMP for id 11, a new QoS 2 PUBLISH with id 11 is delivered again.
async fn qos2_id_reuse(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("i");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    for payload in [&b"one"[..], b"two"] {
        p.send_bytes(&Publish::v5(&topic, payload).qos(2).packet_id(11).build())
            .await?;
        p.next_ack(5, 11).await?;
        p.send_bytes(&Pubrel::v5(11).build()).await?;
        p.next_ack(7, 11).await?;
    }
    let got = s.collect().await?;
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    ensure!(
        payloads == [&b"one"[..], b"two"],
        "both messages delivered (\"one\", \"two\")",
        crate::wire::show_all(&got)
    );
    Ok(())
}

/// The subscriber PUBRECs a QoS 2 delivery: the server's PUBREL carries the same id.
async fn pubrel_same_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"x", 2, false).await?;
    let m = s.next_publish().await?;
    let id = m.packet_id.unwrap_or(0);
    s.send_bytes(&Pubrec::v5(id).build()).await?;
    s.next_ack(6, id).await?;
    s.send_bytes(&Pubcomp::v5(id).build()).await?;
    Ok(())
}

/// PUBREL received, PUBCOMP withheld, reconnect with Clean Start 0: the PUBREL comes again
/// with the same id, and the PUBLISH does not.
async fn pubrel_resent(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&topic, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"x", 2, false).await?;
    let m = s.next_publish().await?;
    let id = m.packet_id.unwrap_or(0);
    s.send_bytes(&Pubrec::v5(id).build()).await?;
    s.next_ack(6, id).await?;
    s.close().await;
    let mut s = ctx.resumed("sub", 60).await?;
    let r = async {
        s.next_ack(6, id)
            .await
            .map_err(|f| f.context("the PUBREL resent after reconnecting with Clean Start 0"))?;
        s.send_bytes(&Pubcomp::v5(id).build()).await?;
        s.expect_silence()
            .await
            .map_err(|f| f.context("no PUBLISH resent once its PUBREL went out"))
    }
    .await;
    s.end_session().await?;
    r
}

/// A PUBREC >= 0x80 for id 20 (refused topic) frees the id: a new PUBLISH with id 20 is
/// processed afresh.
async fn failed_pubrec_id_reuse(ctx: &mut Ctx) -> Result<(), Fail> {
    let refused = ctx.caps().refused_topic.clone().unwrap_or_default();
    let topic = ctx.topic("ok");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.send_bytes(&Publish::v5(&refused, b"no").qos(2).packet_id(20).build())
        .await?;
    let (_, code) = p.next_ack(5, 20).await?;
    if code < 0x80 {
        p.send_bytes(&Pubrel::v5(20).build()).await?;
        p.next_ack(7, 20).await?;
        return Err(ctx.skip(format!(
            "the refused topic got PUBREC 0x{code:02X}, not an error: nothing to reuse"
        )));
    }
    p.send_bytes(&Publish::v5(&topic, b"yes").qos(2).packet_id(20).build())
        .await?;
    let (_, code) = p
        .next_ack(5, 20)
        .await
        .map_err(|f| f.context("the id reused after PUBREC >= 0x80"))?;
    ensure!(
        code < 0x80,
        "PUBREC success for the new message",
        format!("PUBREC 0x{code:02X}")
    );
    p.send_bytes(&Pubrel::v5(20).build()).await?;
    p.next_ack(7, 20).await?;
    let m = s.expect_publish().await?;
    ensure!(m.payload == b"yes", "the new message delivered", m.show());
    Ok(())
}

/// A QoS 2 PUBLISH sent twice (DUP 1) before PUBREL: PUBREC each time, one delivery.
async fn qos2_duplicate_once(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.send_bytes(&Publish::v5(&topic, b"x").qos(2).packet_id(30).build())
        .await?;
    p.next_ack(5, 30).await?;
    p.send_bytes(
        &Publish::v5(&topic, b"x")
            .qos(2)
            .packet_id(30)
            .dup(true)
            .build(),
    )
    .await?;
    p.next_ack(5, 30)
        .await
        .map_err(|f| f.context("the duplicate PUBLISH before PUBREL"))?;
    p.send_bytes(&Pubrel::v5(30).build()).await?;
    p.next_ack(7, 30).await?;
    let got = s.collect().await?;
    ensure!(
        got.len() == 1,
        "the message delivered exactly once",
        crate::wire::show_all(&got)
    );
    Ok(())
}

/// Message Expiry 1 s, PUBREL sent 1.5 s after PUBREC: still PUBCOMP 0x00 for the id.
async fn pubrel_after_expiry(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Publish::v5(&topic, b"x")
            .qos(2)
            .packet_id(40)
            .property(prop::message_expiry_interval(1))
            .build(),
    )
    .await?;
    c.next_ack(5, 40).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await; // past the message's expiry
    c.send_bytes(&Pubrel::v5(40).build()).await?;
    let (_, code) = c.next_ack(7, 40).await?;
    ensure!(
        code == 0,
        "PUBCOMP 0x00: the exchange completes although the message expired",
        format!("PUBCOMP 0x{code:02X}")
    );
    Ok(())
}
