//! MQTT 5.0 section 4.8: shared subscriptions.

use crate::{ensure, wire, Capability, Client, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Puback, Pubcomp, Pubrec};
use raw_client::Received;
use std::time::Duration;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.shared.empty_share_name_refused",
            &["MQTT-4.8.2-1"],
            empty_share_name_refused,
        )
        .lenient_receiver()
        .needs(Capability::SharedSubscriptions),
        Scenario::server(
            V5_0,
            "v5.shared.bad_share_name_refused",
            &["MQTT-4.8.2-2"],
            bad_share_name_refused,
        )
        .lenient_receiver()
        .needs(Capability::SharedSubscriptions),
        Scenario::server(
            V5_0,
            "v5.shared.member_gets_own_granted_qos",
            &["MQTT-4.8.2-3"],
            member_gets_own_granted_qos,
        )
        .needs(Capability::SharedSubscriptions)
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.shared.interrupted_qos2_resumed_to_same_client",
            &["MQTT-4.8.2-4"],
            interrupted_qos2_resumed_to_same_client,
        )
        .needs(Capability::SharedSubscriptions)
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.shared.ended_session_message_not_sent_to_others",
            &["MQTT-4.8.2-5"],
            ended_session_message_not_sent_to_others,
        )
        .needs(Capability::SharedSubscriptions)
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.shared.negative_ack_not_redelivered",
            &["MQTT-4.8.2-6"],
            negative_ack_not_redelivered,
        )
        .needs(Capability::SharedSubscriptions),
    ]
}

/// `$share/<group unique to this run>/<topic>`.
fn shared(ctx: &mut Ctx, topic: &str) -> String {
    format!("$share/{}/{topic}", ctx.client_id("group"))
}

/// The next packet from whichever of `a` (0) or `b` (1) sends one first, within `within`; `None`
/// when neither does.
async fn next_of_two(
    a: &mut Client,
    b: &mut Client,
    within: Duration,
) -> Result<Option<(usize, Received)>, Fail> {
    tokio::select! {
        r = a.recv(within) => match r {
            Ok(r) => Ok(Some((0, r))),
            Err(raw_client::ExpectError::Timeout { .. }) => Ok(None),
            Err(e) => Err(Fail::from(e).context("member a")),
        },
        r = b.recv(within) => match r {
            Ok(r) => Ok(Some((1, r))),
            Err(raw_client::ExpectError::Timeout { .. }) => Ok(None),
            Err(e) => Err(Fail::from(e).context("member b")),
        },
    }
}

fn read_publish(r: &Received) -> Result<wire::Publish, Fail> {
    wire::publish(&r.bytes, true).map_err(|e| Fail::new("a PUBLISH", format!("{}: {e}", r.decoded)))
}

/// "$share//t" (empty ShareName) is refused.
async fn empty_share_name_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let f = format!("$share//{}", ctx.topic("t"));
    super::topic_names::expect_refused(ctx, "client", f.as_bytes()).await
}

/// ShareNames with '+' or '#', and "$share/g" with no filter after it, are refused.
async fn bad_share_name_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let g = ctx.client_id("group");
    let t = ctx.topic("t");
    for (label, f) in [
        ("plus", format!("$share/{g}+/{t}")),
        ("hash", format!("$share/{g}#/{t}")),
        ("nofilter", format!("$share/{g}")),
    ] {
        super::topic_names::expect_refused(ctx, label, f.as_bytes()).await?;
    }
    Ok(())
}

/// Members granted QoS 0 and QoS 1 in one group; QoS 2 messages reach each member at most at its
/// own granted QoS.
async fn member_gets_own_granted_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let filter = shared(ctx, &topic);
    let mut a = ctx.connected("a", |c| c).await?;
    let ga = a.subscribed(&filter, 0).await?;
    let mut b = ctx.connected("b", |c| c).await?;
    let gb = b.subscribed(&filter, 1).await?;
    let granted = [ga, gb];
    let mut publisher = ctx.connected("pub", |c| c).await?;
    const N: usize = 6;
    for i in 0..N {
        publisher.publish(&topic, &[i as u8], 2, false).await?;
    }
    let mut counts = [0usize; 2];
    let deadline = tokio::time::Instant::now() + crate::EXPECT;
    while counts[0] + counts[1] < N {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some((who, r)) = next_of_two(&mut a, &mut b, left).await? else {
            break;
        };
        let p = read_publish(&r)?;
        ensure!(
            p.qos <= granted[who],
            format!(
                "member {} (granted QoS {}) gets messages at QoS ≤ {}",
                ["a", "b"][who],
                granted[who],
                granted[who]
            ),
            format!("PUBLISH at QoS {}", p.qos)
        );
        if let (1, Some(id)) = (p.qos, p.packet_id) {
            let m = if who == 0 { &mut a } else { &mut b };
            m.send_bytes(&Puback::v5(id).build()).await?;
        }
        counts[who] += 1;
    }
    ensure!(
        counts[0] + counts[1] > 0,
        "the messages delivered to the group",
        "no PUBLISH to either member"
    );
    ctx.choice(format!(
        "delivered {} to the QoS {ga} member and {} to the QoS {gb} member",
        counts[0], counts[1]
    ));
    publisher.disconnect().await?;
    a.disconnect().await?;
    b.disconnect().await
}

/// A shared QoS 2 delivery cut by the member's disconnect resumes to that member when it
/// reconnects with its session (PUBLISH with DUP 1, same packet identifier); another member who
/// joined meanwhile does not get it.
async fn interrupted_qos2_resumed_to_same_client(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let filter = shared(ctx, &topic);
    let mut m = ctx
        .connected("member", |c| c.property(prop::session_expiry_interval(60)))
        .await?;
    m.subscribed(&filter, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"q2", 2, false).await?;
    let first = m.expect_type(3).await?;
    let p = wire::publish(&first, true).map_err(|e| Fail::new("a PUBLISH", e.to_string()))?;
    let Some(pid) = p.packet_id.filter(|_| p.qos == 2) else {
        return Err(Fail::new("a QoS 2 PUBLISH", wire::describe(&first)));
    };
    let mut other = ctx.connected("other", |c| c).await?;
    other.subscribed(&filter, 2).await?;
    m.close().await;
    drop(m);
    other
        .expect_silence()
        .await
        .map_err(|f| f.context("the message belongs to the disconnected member's session"))?;
    let mut m = ctx.resumed("member", 0).await?;
    let again = m
        .expect_type(3)
        .await
        .map_err(|f| f.context("after reconnecting with the session"))?;
    let q = wire::publish(&again, true).map_err(|e| Fail::new("a PUBLISH", e.to_string()))?;
    ensure!(
        q.packet_id == Some(pid) && q.dup && q.payload == b"q2",
        format!("the interrupted PUBLISH again: packet identifier {pid}, DUP 1"),
        wire::describe(&again)
    );
    m.send_bytes(&Pubrec::v5(pid).build()).await?;
    m.expect_type(6).await?;
    m.send_bytes(&Pubcomp::v5(pid).build()).await?;
    other.expect_silence().await?;
    m.disconnect().await?;
    other.disconnect().await?;
    publisher.disconnect().await
}

/// Two members; the one that gets a QoS 2 message closes without acknowledging it and its
/// session ends (Session Expiry 0): the other member does not get the message.
async fn ended_session_message_not_sent_to_others(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let filter = shared(ctx, &topic);
    let mut a = ctx.connected("a", |c| c).await?;
    a.subscribed(&filter, 2).await?;
    let mut b = ctx.connected("b", |c| c).await?;
    b.subscribed(&filter, 2).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"q2", 2, false).await?;
    let Some((who, r)) = next_of_two(&mut a, &mut b, crate::EXPECT).await? else {
        return Err(Fail::new(
            "the QoS 2 message delivered to one member",
            "no PUBLISH to either member",
        ));
    };
    read_publish(&r)?;
    let (gone, mut stays) = if who == 0 { (a, b) } else { (b, a) };
    let mut gone = gone;
    gone.close().await;
    drop(gone);
    stays.quiet = Duration::from_millis(800);
    stays
        .expect_silence()
        .await
        .map_err(|f| f.context("the member that got the message closed and its session ended"))?;
    stays.disconnect().await?;
    publisher.disconnect().await
}

/// The member that gets a QoS 1 message answers PUBACK 0x80: the message is dropped, no member
/// (neither it nor the other) gets it again.
async fn negative_ack_not_redelivered(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let filter = shared(ctx, &topic);
    let mut a = ctx.connected("a", |c| c).await?;
    let ga = a.subscribed(&filter, 1).await?;
    let mut b = ctx.connected("b", |c| c).await?;
    let gb = b.subscribed(&filter, 1).await?;
    if ga < 1 || gb < 1 {
        return Err(ctx.skip("QoS 1 not granted on the shared subscription"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"q1", 1, false).await?;
    let Some((who, r)) = next_of_two(&mut a, &mut b, crate::EXPECT).await? else {
        return Err(Fail::new(
            "the QoS 1 message delivered to one member",
            "no PUBLISH to either member",
        ));
    };
    let p = read_publish(&r)?;
    let Some(pid) = p.packet_id else {
        return Err(Fail::new("a QoS 1 PUBLISH", r.decoded.clone()));
    };
    let (mut got, mut other) = if who == 0 { (a, b) } else { (b, a) };
    got.send_bytes(&Puback::v5(pid).reason(0x80).build())
        .await?;
    other
        .expect_silence()
        .await
        .map_err(|f| f.context("the other member, after PUBACK 0x80"))?;
    got.expect_silence()
        .await
        .map_err(|f| f.context("the member that answered PUBACK 0x80"))?;
    got.disconnect().await?;
    other.disconnect().await?;
    publisher.disconnect().await
}
