//! MQTT 5.0 section 3.5: PUBREC.

use super::puback::{small_limit, ACK_CODES};
use crate::{ensure, Capability, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Publish, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.pubrec.reason_code_valid",
            &["MQTT-3.5.2-1"],
            reason_code_valid,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.pubrec.fits_maximum_packet_size",
            &["MQTT-3.5.2-2", "MQTT-3.5.2-3"],
            fits_maximum_packet_size,
        )
        .needs(Capability::MaxQos(2)),
    ]
}

/// QoS 2 PUBLISH with a subscriber: PUBREC 0x00; without subscribers: 0x00 or 0x10; to the
/// refused topic (if any): a code of the PUBREC set.
async fn reason_code_valid(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a");
    let refused = ctx.caps().refused_topic.clone();
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 2).await?;
    let mut c = ctx.connected("client", |c| c).await?;
    let mut cases = vec![
        (topic, 1u16, vec![0x00u8]),
        (ctx.topic("nobody"), 2, vec![0x00, 0x10]),
    ];
    if let Some(r) = refused {
        cases.push((r, 3, ACK_CODES.to_vec()));
    }
    for (t, id, allowed) in cases {
        c.send_bytes(&Publish::v5(&t, b"x").qos(2).packet_id(id).build())
            .await?;
        let (bytes, code) = c.next_ack(5, id).await?;
        ensure!(
            allowed.contains(&code),
            format!("PUBREC with one of {allowed:02x?} for {t}"),
            crate::wire::describe(&bytes)
        );
        if id > 1 {
            ctx.choice(format!("PUBREC 0x{code:02X} for {t}"));
        }
        if code < 0x80 {
            c.send_bytes(&Pubrel::v5(id).build()).await?;
            c.next_ack(7, id).await?;
        }
    }
    s.expect_publish().await?;
    Ok(())
}

/// Maximum Packet Size 8 (or the CONNACK's size if larger): PUBRECs still come and fit.
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
        c.send_bytes(&Publish::v5(&t, b"x").qos(2).packet_id(id).build())
            .await?;
        let (bytes, code) = c.next_ack(5, id).await?;
        ensure!(
            bytes.len() <= limit as usize,
            format!("a PUBREC of at most {limit} bytes (the client's Maximum Packet Size)"),
            format!("{} ({} bytes)", crate::wire::describe(&bytes), bytes.len())
        );
        if code < 0x80 {
            c.send_bytes(&Pubrel::v5(id).build()).await?;
            c.next_ack(7, id).await?;
        }
    }
    Ok(())
}
