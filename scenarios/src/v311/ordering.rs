//! MQTT 3.1.1 section 4.6: message ordering.

use crate::wire::{self, Publish as Got};
use crate::{ensure, Client, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Puback, Pubcomp, Publish, Pubrec, Pubrel};

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
        let got: Vec<String> = collect(&mut sub, usize::from(N))
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

/// Reads until `n` PUBLISH packets have arrived and every QoS 2 flow they began is complete,
/// acknowledging as the receiver (PUBACK; PUBREC, then PUBCOMP for each PUBREL), whatever the
/// interleaving. Returns the PUBLISHes in arrival order.
async fn collect(c: &mut Client, n: usize) -> Result<Vec<Got>, Fail> {
    let mut out = Vec::new();
    let mut pending: Vec<u16> = Vec::new();
    while out.len() < n || !pending.is_empty() {
        let timeout = c.timeout;
        let r = c.recv(timeout).await.map_err(|e| {
            Fail::from(e).with_expected(&format!(
                "{n} PUBLISH packets and their QoS 2 flows ({} so far)",
                out.len()
            ))
        })?;
        match r.bytes.first().map(|b| b >> 4) {
            Some(packet_type::PUBLISH) => {
                let p = wire::publish(&r.bytes, false)
                    .map_err(|e| Fail::new("a well-formed PUBLISH", e.to_string()))?;
                match (p.qos, p.packet_id) {
                    (1, Some(id)) => c.send_bytes(&Puback::v311(id).build()).await?,
                    (2, Some(id)) => {
                        c.send_bytes(&Pubrec::v311(id).build()).await?;
                        pending.push(id);
                    }
                    _ => {}
                }
                out.push(p);
            }
            Some(packet_type::PUBREL) => {
                let (id, _) =
                    wire::ack(&r.bytes).map_err(|e| Fail::new("PUBREL", e.to_string()))?;
                pending.retain(|x| *x != id);
                c.send_bytes(&Pubcomp::v311(id).build()).await?;
            }
            _ => return Err(Fail::new("PUBLISH or PUBREL", wire::describe(&r.bytes))),
        }
    }
    Ok(out)
}
