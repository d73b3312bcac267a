//! MQTT 5.0 section 3.1: CONNECT.

use crate::{Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::Connect;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.connect.valid_gets_connack_success",
            &["MQTT-3.1.4-5"],
            valid_gets_connack_success,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.reserved_flag_closes",
            &["MQTT-3.1.2-3"],
            reserved_flag_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.connect.second_connect_closes",
            &["MQTT-3.1.0-2"],
            second_connect_closes,
        ),
    ]
}

/// A well-formed CONNECT is acknowledged with CONNACK 0x00 (Success).
async fn valid_gets_connack_success(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_connack(0x00).await?;
    c.disconnect().await
}

/// Connect Flags bit 0 set: a Malformed Packet. The server closes the connection, and may send
/// CONNACK 0x81 (Malformed Packet) first (section 4.13.1).
async fn reserved_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect: Connect = ctx.connect_packet("client");
    let flags = connect.computed_connect_flags() | 0x01;
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&connect.connect_flags_override(flags).build())
        .await?;
    c.expect_closed(Closing::silently().or_connack(&[0x81]))
        .await
}

/// A second CONNECT on a connection is a Protocol Error: the server closes the connection, and may
/// send DISCONNECT 0x82 (Protocol Error) first (section 4.13.1).
async fn second_connect_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82]))
        .await
        .map_err(|f| f.context("after a second CONNECT"))
}
