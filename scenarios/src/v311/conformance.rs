//! MQTT 3.1.1 section 7: conformance.

use crate::{ensure, Ctx, Fail, Scenario, Version::V3_1_1};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario::server(
        V3_1_1,
        "v311.conformance.plain_client_interoperates",
        &["MQTT-7.0.0-2", "MQTT-7.1.1-1"],
        plain_client_interoperates,
    )]
}

/// A plain 3.1.1 client over TCP, using no extension: connects, subscribes, exchanges messages
/// at QoS 0, 1 and 2, unsubscribes and disconnects.
async fn plain_client_interoperates(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("x");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for qos in 0..=2u8 {
        publisher.publish(&topic, &[qos], qos, false).await?;
        let p = sub.expect_publish().await?;
        ensure!(
            p.payload == [qos] && p.topic == topic.as_bytes(),
            format!("the QoS {qos} message"),
            format!("payload {:?}", p.payload)
        );
    }
    let codes = sub.subscribe(&topic, 0).await?;
    ensure!(codes.len() == 1, "one SUBACK code", format!("{codes:02x?}"));
    publisher.disconnect().await?;
    sub.disconnect().await
}
