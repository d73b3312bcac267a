//! MQTT 5.0 section 3.6: PUBREL.

use crate::{ensure, Capability, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Pubcomp, Publish, Pubrec, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.pubrel.wrong_flags_closes",
            &["MQTT-3.6.1-1"],
            wrong_flags_closes,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.pubrel.server_pubrel_header_and_code",
            &["MQTT-3.6.1-1", "MQTT-3.6.2-1"],
            server_pubrel,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.pubrel.fits_maximum_packet_size",
            &["MQTT-3.6.2-2", "MQTT-3.6.2-3"],
            fits_maximum_packet_size,
        )
        .needs(Capability::MaxQos(2)),
    ]
}

/// A PUBREL with fixed-header flags 0000 (first byte 0x60): Malformed Packet, the server closes.
async fn wrong_flags_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v5(&topic, b"x").qos(2).packet_id(1).build())
        .await?;
    c.next_ack(5, 1).await?;
    c.send_bytes(&Pubrel::v5(1).flags_override(0).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context("PUBREL with first byte 0x60"))
}

/// The PUBREL the server sends a QoS 2 subscriber: first byte 0x62, reason 0x00 or 0x92.
async fn server_pubrel(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 2).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"x", 2, false).await?;
    let m = s.next_publish().await?;
    let id = m.packet_id.unwrap_or(0);
    s.send_bytes(&Pubrec::v5(id).build()).await?;
    let (bytes, code) = s.next_ack(6, id).await?;
    ensure!(
        bytes[0] == 0x62,
        "PUBREL first byte 0x62",
        crate::wire::describe(&bytes)
    );
    ensure!(
        code == 0x00 || code == 0x92,
        "PUBREL Reason Code 0x00 or 0x92",
        crate::wire::describe(&bytes)
    );
    s.send_bytes(&Pubcomp::v5(id).build()).await?;
    Ok(())
}

/// A subscriber whose Maximum Packet Size just fits the PUBLISH as this server forwards it (a
/// server may add properties, such as a User Property naming the publisher: the size is measured
/// on a first subscriber without a limit): the PUBREL still comes and fits.
async fn fits_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut p = ctx.connected("pub", |c| c).await?;
    let mut m = ctx.connected("measure", |c| c).await?;
    m.subscribed(&topic, 2).await?;
    p.publish(&topic, b"x", 2, false).await?;
    let forwarded = m.expect_type(3).await?;
    m.disconnect().await?;
    let own = Publish::v5(&topic, b"x").qos(2).build().len();
    let limit = u32::try_from(forwarded.len().max(own)).unwrap_or(u32::MAX);
    let mut s = ctx
        .connected("sub", |c| c.property(prop::maximum_packet_size(limit)))
        .await?;
    s.subscribed(&topic, 2).await?;
    p.publish(&topic, b"x", 2, false).await?;
    let m = s.next_publish().await?;
    let id = m.packet_id.unwrap_or(0);
    s.send_bytes(&Pubrec::v5(id).build()).await?;
    let (bytes, _) = s.next_ack(6, id).await?;
    ensure!(
        bytes.len() <= limit as usize,
        format!("a PUBREL of at most {limit} bytes (the client's Maximum Packet Size)"),
        format!("{} ({} bytes)", crate::wire::describe(&bytes), bytes.len())
    );
    s.send_bytes(&Pubcomp::v5(id).build()).await?;
    Ok(())
}
