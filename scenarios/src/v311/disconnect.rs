//! MQTT 3.1.1 section 3.14: DISCONNECT.

use crate::{Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{Disconnect, Will};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.disconnect.reserved_flags_close",
            &["MQTT-3.14.1-1"],
            reserved_flags_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.disconnect.will_discarded",
            &["MQTT-3.14.4-3"],
            will_discarded,
        ),
    ]
}

/// DISCONNECT with flags 0001 (first byte 0xE1): the server closes the connection.
async fn reserved_flags_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Disconnect::v311().flags_override(0x01).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// A client with a Will sends DISCONNECT and closes: the Will is not published.
async fn will_discarded(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let will = Will::new(&topic, b"gone").qos(1);
    let mut c = ctx.connected("client", |c| c.will(will)).await?;
    c.disconnect().await?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("the Will topic after a normal DISCONNECT"))?;
    sub.disconnect().await
}
