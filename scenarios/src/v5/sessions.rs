//! MQTT 5.0 section 4.1: Session State.

use crate::{ensure, Capability, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Publish, Pubrel};
use std::time::Duration;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.sessions.state_kept_while_connected",
            &["MQTT-4.1.0-1"],
            state_kept_while_connected,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.sessions.session_discarded_after_expiry",
            &["MQTT-4.1.0-2"],
            session_discarded_after_expiry,
        ),
        Scenario::server(
            V5_0,
            "v5.sessions.session_kept_before_expiry",
            &["MQTT-4.1.0-2"],
            session_kept_before_expiry,
        ),
    ]
}

/// While connected the session stays whole: an in-flight QoS 2 id still gets PUBCOMP 0x00 after
/// other traffic, and the subscription keeps delivering.
async fn state_kept_while_connected(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&topic, 1).await?;
    c.subscribed(&ctx.topic("other"), 0).await?;
    c.send_bytes(
        &Publish::v5(ctx.topic("q"), b"q2")
            .qos(2)
            .packet_id(40)
            .build(),
    )
    .await?;
    c.next_ack(5, 40).await?;
    let mut p = ctx.connected("pub", |c| c).await?;
    for i in 0..3u8 {
        p.publish(&topic, &[b'a' + i], 1, false).await?;
    }
    c.send_bytes(&Pubrel::v5(40).build()).await?;
    let got = collect_until_pubcomp(&mut c, 40).await?;
    let mut payloads: Vec<Vec<u8>> = got.iter().map(|m| m.payload.clone()).collect();
    payloads.sort();
    let want: Vec<Vec<u8>> = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
    ensure!(
        payloads == want,
        "the subscription still delivering: a, b, c",
        crate::wire::show_all(&got)
    );
    Ok(())
}

/// Reads PUBLISHes (acknowledged) and requires a PUBCOMP 0x00 for `id` among them; returns the
/// PUBLISHes.
async fn collect_until_pubcomp(
    c: &mut crate::Client,
    id: u16,
) -> Result<Vec<crate::wire::Publish>, Fail> {
    let mut got = Vec::new();
    let mut completed = false;
    loop {
        let quiet = c.quiet;
        match c.recv(quiet).await {
            Ok(r) if r.bytes.first().map(|b| b >> 4) == Some(7) => {
                let (gid, code) =
                    crate::wire::ack(&r.bytes).map_err(|e| Fail::new("PUBCOMP", e.0))?;
                ensure!(
                    gid == id && code == 0,
                    format!("PUBCOMP 0x00 for the in-flight id {id} (not 0x92)"),
                    crate::wire::describe(&r.bytes)
                );
                completed = true;
            }
            Ok(r) => {
                let m = crate::wire::publish(&r.bytes, true).map_err(|e| {
                    Fail::new(
                        "PUBLISH or PUBCOMP",
                        format!("{}: {e}", crate::wire::describe(&r.bytes)),
                    )
                })?;
                c.ack(&m).await?;
                got.push(m);
            }
            Err(raw_client::ExpectError::Timeout { .. }) => break,
            Err(e) => return Err(Fail::from(e).with_expected("PUBLISH or PUBCOMP")),
        }
    }
    ensure!(
        completed,
        format!("PUBCOMP for the in-flight id {id}"),
        "no PUBCOMP"
    );
    Ok(got)
}

/// Session Expiry 1 s; reconnecting with Clean Start 0 after 2.2 s: Session Present 0 and the
/// subscription is gone.
async fn session_discarded_after_expiry(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut s = ctx
        .connected("sub", |c| c.property(prop::session_expiry_interval(1)))
        .await?;
    s.subscribed(&topic, 1).await?;
    s.disconnect().await?;
    tokio::time::sleep(Duration::from_millis(2200)).await; // past the 1 s session expiry
    let mut s = ctx.connected("sub", |c| c.clean_start(false)).await?;
    let present = s.connack.as_ref().is_some_and(|a| a.session_present());
    ensure!(
        !present,
        "CONNACK Session Present 0: the session expired",
        "Session Present 1"
    );
    let mut p = ctx.connected("pub", |c| c).await?;
    p.publish(&topic, b"x", 1, false).await?;
    s.expect_silence()
        .await
        .map_err(|f| f.context("the expired session's subscription must be gone"))
}

/// Session Expiry 60 s; reconnecting with Clean Start 0 at once: Session Present 1 and the
/// subscription still delivers.
async fn session_kept_before_expiry(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut s = ctx.session("sub", true, 60).await?;
    s.subscribed(&topic, 1).await?;
    s.disconnect().await?;
    let mut s = ctx.session("sub", false, 60).await?;
    let present = s.connack.as_ref().is_some_and(|a| a.session_present());
    let r = async {
        ensure!(
            present,
            "CONNACK Session Present 1: the session has not expired",
            "Session Present 0"
        );
        let mut p = ctx.connected("pub", |c| c).await?;
        p.publish(&topic, b"x", 1, false).await?;
        let got = s.collect().await?;
        ensure!(
            got.len() == 1 && got[0].payload == b"x",
            "the message through the kept subscription",
            crate::wire::show_all(&got)
        );
        Ok(())
    }
    .await;
    s.end_session().await?;
    r
}
