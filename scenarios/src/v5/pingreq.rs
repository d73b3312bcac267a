//! MQTT 5.0 section 3.12: PINGREQ.

use crate::{Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, Pingreq};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario::server(
        V5_0,
        "v5.pingreq.gets_pingresp",
        &["MQTT-3.12.4-1"],
        gets_pingresp,
    )]
}

/// PINGREQ is answered with PINGRESP.
async fn gets_pingresp(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Pingreq::new().build()).await?;
    c.expect_type(packet_type::PINGRESP).await?;
    c.disconnect().await
}
