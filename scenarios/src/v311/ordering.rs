//! MQTT 3.1.1 section 4.6: message ordering.

use crate::wire;
use crate::{ensure, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Publish, Pubrel};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![Scenario::server(
        V3_1_1,
        "v311.ordering.same_topic_in_order",
        &["MQTT-4.6.0-5", "MQTT-4.6.0-6"],
        same_topic_in_order,
    )]
}

/// One publisher sends ten messages back to back on one topic at QoS 0, then 1, then 2; a
/// subscriber at the same QoS receives each series in order.
async fn same_topic_in_order(ctx: &mut Ctx) -> Result<(), Fail> {
    const N: u16 = 10;
    let topic = ctx.topic("o");
    for qos in [0u8, 1, 2] {
        let label = format!("sub{qos}");
        let mut sub = ctx.connected(&label, |c| c).await?;
        let granted = sub.subscribed(&topic, qos).await?;
        let mut publisher = ctx.connected("pub", |c| c).await?;
        for i in 1..=N {
            let mut p = Publish::v311(&topic, format!("{i}")).qos(qos);
            if qos > 0 {
                p = p.packet_id(i);
            }
            publisher.send_bytes(&p.build()).await?;
        }
        match qos {
            1 => {
                for _ in 0..N {
                    publisher.expect_type(packet_type::PUBACK).await?;
                }
            }
            2 => {
                for _ in 0..N {
                    let b = publisher.expect_type(packet_type::PUBREC).await?;
                    let (id, _) = wire::ack(&b).map_err(|e| Fail::new("PUBREC", e.to_string()))?;
                    publisher.send_bytes(&Pubrel::v311(id).build()).await?;
                }
                for _ in 0..N {
                    publisher.expect_type(packet_type::PUBCOMP).await?;
                }
            }
            _ => {}
        }
        let got: Vec<String> = sub
            .collect_n(usize::from(N))
            .await?
            .iter()
            .map(|p| String::from_utf8_lossy(&p.payload).to_string())
            .collect();
        let want: Vec<String> = (1..=N).map(|i| i.to_string()).collect();
        ensure!(
            got == want,
            format!("QoS {qos} (granted {granted}): messages 1..{N} in order"),
            format!("{got:?}")
        );
        publisher.disconnect().await?;
        sub.disconnect().await?;
    }
    Ok(())
}
