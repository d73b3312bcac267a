//! MQTT 5.0 section 3.4: PUBACK.

use crate::{ensure, Capability, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Publish};
use raw_client::ExpectError;

/// The PUBACK (and PUBREC) Reason Codes of 3.4.2.1 / 3.5.2.1.
pub(super) const ACK_CODES: [u8; 9] = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];

/// The smallest Maximum Packet Size the "fits" scenarios announce: room for any ack without
/// properties.
const SMALL_LIMIT: u32 = 8;

/// The Maximum Packet Size the "fits" scenarios announce: [`SMALL_LIMIT`], or the size of the
/// CONNACK the server sends (probed on a separate connection) when that is larger, so the
/// CONNACK itself is not what the limit tests.
pub(super) async fn small_limit(ctx: &mut Ctx) -> Result<u32, Fail> {
    let mut probe = ctx.connect("probe").await?;
    probe
        .send_bytes(&ctx.connect_packet("probe").build())
        .await?;
    let wait = probe.timeout;
    let r = probe
        .recv(wait)
        .await
        .map_err(|e| Fail::from(e).with_expected("CONNACK"))?;
    probe.disconnect().await?;
    Ok(SMALL_LIMIT.max(u32::try_from(r.bytes.len()).unwrap_or(u32::MAX)))
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.puback.reason_code_valid",
            &["MQTT-3.4.2-1"],
            reason_code_valid,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.puback.refused_reason_code_valid",
            &["MQTT-3.4.2-1"],
            refused_reason_code_valid,
        )
        .needs(Capability::MaxQos(1))
        .needs(Capability::RefusedTopic),
        Scenario::server(
            V5_0,
            "v5.puback.fits_maximum_packet_size",
            &["MQTT-3.4.2-2", "MQTT-3.4.2-3"],
            fits_maximum_packet_size,
        )
        .needs(Capability::MaxQos(1)),
    ]
}

/// QoS 1 PUBLISH with a subscriber: PUBACK with a success code of the PUBACK set; without
/// matching subscribers: 0x00 or 0x10 (No matching subscribers).
async fn reason_code_valid(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v5(&topic, b"x").qos(1).packet_id(1).build())
        .await?;
    let (bytes, code) = c.next_ack(4, 1).await?;
    ensure!(
        code == 0x00,
        "PUBACK 0x00 (Success): the message has a subscriber",
        crate::wire::describe(&bytes)
    );
    s.expect_publish().await?;
    c.send_bytes(
        &Publish::v5(ctx.topic("nobody"), b"x")
            .qos(1)
            .packet_id(2)
            .build(),
    )
    .await?;
    let (bytes, code) = c.next_ack(4, 2).await?;
    ensure!(
        code == 0x00 || code == 0x10,
        "PUBACK 0x00 or 0x10 (No matching subscribers)",
        crate::wire::describe(&bytes)
    );
    ctx.choice(format!(
        "PUBACK 0x{code:02X} for a message without subscribers"
    ));
    Ok(())
}

/// QoS 1 PUBLISH to the refused topic: if a PUBACK comes, its code is one of the PUBACK set.
async fn refused_reason_code_valid(ctx: &mut Ctx) -> Result<(), Fail> {
    let refused = ctx.caps().refused_topic.clone().unwrap_or_default();
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v5(&refused, b"x").qos(1).packet_id(1).build())
        .await?;
    let wait = c.timeout;
    match c.recv(wait).await {
        Ok(r) if r.bytes.first().map(|b| b >> 4) == Some(4) => {
            let (id, code) = crate::wire::ack(&r.bytes).map_err(|e| Fail::new("a PUBACK", e.0))?;
            ensure!(
                id == 1 && ACK_CODES.contains(&code),
                "PUBACK for id 1 with a PUBACK Reason Code",
                crate::wire::describe(&r.bytes)
            );
            ctx.choice(format!("PUBACK 0x{code:02X} for the refused topic"));
            Ok(())
        }
        Ok(r) if r.bytes.first().map(|b| b >> 4) == Some(14) => {
            ctx.choice(format!(
                "DISCONNECT for the refused topic: {}",
                crate::wire::describe(&r.bytes)
            ));
            Ok(())
        }
        Ok(r) => Err(Fail::new("PUBACK", crate::wire::describe(&r.bytes))),
        Err(ExpectError::Closed { .. }) => {
            ctx.choice("closed the connection for the refused topic");
            Ok(())
        }
        Err(e) => Err(Fail::from(e).with_expected("PUBACK")),
    }
}

/// Maximum Packet Size 8 (or the CONNACK's size if larger): PUBACKs (accepted, and refused when the target file names a refused
/// topic) still come and fit: no Reason String or User Property pushing them over.
async fn fits_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let refused = ctx.caps().refused_topic.clone();
    let limit = small_limit(ctx).await?;
    let mut c = ctx
        .connected("client", |c| c.property(prop::maximum_packet_size(limit)))
        .await?;
    let mut targets = vec![(topic, 1u16)];
    if let Some(r) = refused {
        targets.push((r, 2));
    }
    for (t, id) in targets {
        c.send_bytes(&Publish::v5(&t, b"x").qos(1).packet_id(id).build())
            .await?;
        let (bytes, _) = c.next_ack(4, id).await?;
        ensure!(
            bytes.len() <= limit as usize,
            format!("a PUBACK of at most {limit} bytes (the client's Maximum Packet Size)"),
            format!("{} ({} bytes)", crate::wire::describe(&bytes), bytes.len())
        );
    }
    Ok(())
}
