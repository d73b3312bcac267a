//! MQTT 3.1.1 section 3.1: CONNECT.

use crate::{Closing, Ctx, Fail, Scenario, Version::V3_1_1};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.connect.valid_gets_connack_accepted",
            &["MQTT-3.1.4-4"],
            valid_gets_connack_accepted,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.reserved_flag_closes",
            &["MQTT-3.1.2-3"],
            reserved_flag_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.second_connect_closes",
            &["MQTT-3.1.0-2"],
            second_connect_closes,
        ),
    ]
}

/// A well-formed CONNECT is acknowledged with CONNACK return code 0.
async fn valid_gets_connack_accepted(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_connack(0).await?;
    c.disconnect().await
}

/// Connect Flags bit 0 set: the server disconnects the client, without CONNACK (MQTT-3.1.4-1).
async fn reserved_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect = ctx.connect_packet("client");
    let flags = connect.computed_connect_flags() | 0x01;
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&connect.connect_flags_override(flags).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// A second CONNECT is a protocol violation: the server disconnects the client.
async fn second_connect_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after a second CONNECT"))
}
