//! MQTT 5.0 section 4.2: Network Connections.

use crate::{ensure, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{Pingreq, Publish};
use std::time::Duration;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario::server(
        V5_0,
        "v5.network.byte_stream_split_and_coalesced",
        &["MQTT-4.2-1"],
        byte_stream,
    )]
}

/// MQTT over an ordered byte stream: a PUBLISH written one byte at a time, and two PUBLISHes
/// and a PINGREQ written at once, are read as the packets they are, in order.
async fn byte_stream(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("n");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    let one = Publish::v5(&topic, b"split").qos(1).packet_id(1).build();
    for b in &one {
        p.send_bytes(&[*b]).await?;
        tokio::time::sleep(Duration::from_millis(5)).await; // separate segments
    }
    p.next_ack(4, 1).await?;
    let mut burst = Publish::v5(&topic, b"a").qos(1).packet_id(2).build();
    burst.extend(Publish::v5(&topic, b"b").qos(1).packet_id(3).build());
    burst.extend(Pingreq::new().build());
    p.send_bytes(&burst).await?;
    p.next_ack(4, 2).await?;
    p.next_ack(4, 3).await?;
    p.expect_type(13).await?;
    let got = s.collect().await?;
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload.as_slice()).collect();
    ensure!(
        payloads == [&b"split"[..], b"a", b"b"],
        "the three messages, in order",
        format!("{payloads:?}")
    );
    Ok(())
}
