//! MQTT 3.1.1 section 4.8: handling errors.

use crate::{Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::Custom;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.errors.client_connack_closes",
            &["MQTT-4.8.0-1"],
            client_connack_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.errors.client_suback_closes",
            &["MQTT-4.8.0-1"],
            client_suback_closes,
        ),
    ]
}

/// A client sending CONNACK (20 02 00 00) to the server: a protocol violation, closed.
async fn client_connack_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Custom::new(2, 0).body([0, 0]).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// A client sending SUBACK (90 03 00 01 00) to the server: a protocol violation, closed.
async fn client_suback_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Custom::new(9, 0).body([0, 1, 0]).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}
