//! MQTT 3.1.1 section 3.12: PINGREQ.

use crate::{Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Pingreq};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario::server(
        V3_1_1,
        "v311.pingreq.gets_pingresp",
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
