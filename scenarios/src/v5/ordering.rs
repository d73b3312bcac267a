//! MQTT 5.0 section 4.6: Message ordering.

use crate::{ensure, Capability, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{Publish, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.ordering.qos0_in_order",
            &["MQTT-4.6.0-5"],
            qos0_in_order,
        ),
        Scenario::server(
            V5_0,
            "v5.ordering.qos1_in_order",
            &["MQTT-4.6.0-5", "MQTT-4.6.0-6"],
            qos1_in_order,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.ordering.qos2_in_order",
            &["MQTT-4.6.0-5"],
            qos2_in_order,
        )
        .needs(Capability::MaxQos(2)),
    ]
}

/// Publishes `n` messages (at most the server's Receive Maximum) at `qos` back to back (acknowledgements read afterwards) and requires
/// the subscriber (at the same QoS) to get them in order.
async fn in_order(ctx: &mut Ctx, qos: u8, n: u16) -> Result<(), Fail> {
    // The burst must not exceed the server's Receive Maximum (MQTT-3.3.4-7).
    let n = if qos > 0 {
        n.min(ctx.caps().receive_maximum).max(1)
    } else {
        n
    };
    let topic = ctx.topic("o");
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, qos).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    let mut burst = Vec::new();
    for i in 1..=n {
        let mut b = Publish::v5(&topic, i.to_string()).qos(qos);
        if qos > 0 {
            b = b.packet_id(i);
        }
        burst.extend(b.build());
    }
    p.send_bytes(&burst).await?;
    if qos > 0 {
        for i in 1..=n {
            p.next_ack(if qos == 1 { 4 } else { 5 }, i).await?;
        }
    }
    if qos == 2 {
        let rels: Vec<u8> = (1..=n).flat_map(|i| Pubrel::v5(i).build()).collect();
        p.send_bytes(&rels).await?;
        for i in 1..=n {
            p.next_ack(7, i).await?;
        }
    }
    let got = s.collect().await?;
    let order: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    let want: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    ensure!(
        order == want,
        format!("messages 1..{n} in publish order, each once"),
        format!("{order:?}")
    );
    ensure!(
        got.iter().all(|m| m.qos == qos),
        format!("QoS {qos} deliveries"),
        crate::wire::show_all(&got)
    );
    Ok(())
}

async fn qos0_in_order(ctx: &mut Ctx) -> Result<(), Fail> {
    in_order(ctx, 0, 20).await
}

async fn qos1_in_order(ctx: &mut Ctx) -> Result<(), Fail> {
    in_order(ctx, 1, 20).await
}

async fn qos2_in_order(ctx: &mut Ctx) -> Result<(), Fail> {
    in_order(ctx, 2, 20).await
}
