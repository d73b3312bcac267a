//! MQTT 5.0 section 3.7: PUBCOMP.

use super::puback::small_limit;
use crate::{ensure, Capability, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Publish, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.pubcomp.reason_code_valid",
            &["MQTT-3.7.2-1"],
            reason_code_valid,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.pubcomp.fits_maximum_packet_size",
            &["MQTT-3.7.2-2", "MQTT-3.7.2-3"],
            fits_maximum_packet_size,
        ),
    ]
}

/// PUBCOMP for a known id: 0x00; for a PUBREL with an id the server never saw: 0x00 or 0x92.
async fn reason_code_valid(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("c");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v5(&topic, b"x").qos(2).packet_id(1).build())
        .await?;
    c.next_ack(5, 1).await?;
    c.send_bytes(&Pubrel::v5(1).build()).await?;
    let (bytes, code) = c.next_ack(7, 1).await?;
    ensure!(
        code == 0x00,
        "PUBCOMP 0x00 for the known packet identifier",
        crate::wire::describe(&bytes)
    );
    c.send_bytes(&Pubrel::v5(777).build()).await?;
    // No PUBCOMP at all (a close, say) breaks MQTT-4.3.3-11, not the statements about what a
    // PUBCOMP carries: those are then not checked.
    let (bytes, code) = c.next_ack(7, 777).await.map_err(|f| {
        f.context("PUBREL for an unknown packet identifier")
            .setup(Some("MQTT-4.3.3-11"))
    })?;
    ensure!(
        code == 0x00 || code == 0x92,
        "PUBCOMP 0x00 or 0x92 (Packet Identifier not found)",
        crate::wire::describe(&bytes)
    );
    ctx.choice(format!(
        "PUBCOMP 0x{code:02X} for an unknown packet identifier"
    ));
    Ok(())
}

/// Maximum Packet Size 8 (or the CONNACK's size if larger): the PUBCOMP for an unknown id (0x92, where a Reason String is
/// tempting) and for a known one still come and fit.
async fn fits_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("c");
    let limit = small_limit(ctx).await?;
    let mut c = ctx
        .connected("client", |c| c.property(prop::maximum_packet_size(limit)))
        .await?;
    c.send_bytes(&Pubrel::v5(777).build()).await?;
    let (bytes, _) = c.next_ack(7, 777).await.map_err(|f| {
        f.context("PUBREL for an unknown packet identifier")
            .setup(Some("MQTT-4.3.3-11"))
    })?;
    ensure!(
        bytes.len() <= limit as usize,
        format!("a PUBCOMP of at most {limit} bytes (the client's Maximum Packet Size)"),
        format!("{} ({} bytes)", crate::wire::describe(&bytes), bytes.len())
    );
    if ctx.caps().max_qos >= 2 {
        c.send_bytes(&Publish::v5(&topic, b"x").qos(2).packet_id(1).build())
            .await?;
        c.next_ack(5, 1).await?;
        c.send_bytes(&Pubrel::v5(1).build()).await?;
        let (bytes, _) = c.next_ack(7, 1).await?;
        ensure!(
            bytes.len() <= limit as usize,
            format!("a PUBCOMP of at most {limit} bytes"),
            format!("{} ({} bytes)", crate::wire::describe(&bytes), bytes.len())
        );
    }
    Ok(())
}
