//! MQTT 3.1.1 section 3.6: PUBREL.

use crate::wire;
use crate::{ensure, Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Pubcomp, Publish, Pubrec, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.pubrel.reserved_flags_close",
            &["MQTT-3.6.1-1"],
            reserved_flags_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.pubrel.server_pubrel_has_flags_0010",
            &["MQTT-3.6.1-1"],
            server_pubrel_has_flags_0010,
        ),
    ]
}

/// In a QoS 2 flow, a PUBREL with flags 0000 (first byte 0x60): the server closes.
async fn reserved_flags_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("p");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"x").qos(2).packet_id(5).build())
        .await?;
    c.expect_type(packet_type::PUBREC).await?;
    c.send_bytes(&Pubrel::v311(5).flags_override(0x00).build())
        .await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after PUBREL 60 02 00 05"))
}

/// The PUBREL the server sends to a QoS 2 subscriber starts with 0x62.
async fn server_pubrel_has_flags_0010(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("p");
    let mut sub = ctx.connected("sub", |c| c).await?;
    let granted = sub.subscribed(&topic, 2).await?;
    if granted < 2 {
        return Err(ctx.skip("the server granted less than QoS 2"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"x", 2, false).await?;
    let b = sub.expect_type(packet_type::PUBLISH).await?;
    let p = wire::publish(&b, false).map_err(|e| Fail::new("PUBLISH", e.to_string()))?;
    let id = p.packet_id.unwrap_or(0);
    sub.send_bytes(&Pubrec::v311(id).build()).await?;
    let b = sub.expect_type(packet_type::PUBREL).await?;
    let [hi, lo] = id.to_be_bytes();
    ensure!(
        b == [0x62, 0x02, hi, lo],
        format!("PUBREL 62 02 {hi:02x} {lo:02x}"),
        wire::describe(&b)
    );
    sub.send_bytes(&Pubcomp::v311(id).build()).await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}
