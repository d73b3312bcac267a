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
            "v5.sessions.session_expires_at_its_interval",
            &["MQTT-4.1.0-2", "MQTT-3.1.2-23"],
            session_expires_at_its_interval,
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

/// The Session Expiry Interval of the boundary scenario (seconds), unless the server's CONNACK
/// returns another.
const BOUNDARY_EXPIRY: u32 = 2;
/// How far before its interval the session must still be there, and how far after it must be
/// gone (ms). The interval is counted in whole seconds; a server whose clock ticks in seconds
/// may start counting up to a second late, so the "after" side allows that second and a little
/// more for the two connections' own delays.
const BEFORE_EXPIRY_MS: u64 = 500;
const AFTER_EXPIRY_MS: u64 = 1300;

/// Session Expiry Interval 2 s (or what the CONNACK returns, up to 5 s): reconnecting with
/// Clean Start 0 0.5 s before it ran out finds the session (Session Present 1, the subscription
/// delivering: 3.1.2-23); after a second DISCONNECT, reconnecting 1.3 s after it ran out finds
/// none (Session Present 0, no subscription: 4.1.0-2). Both sides of the boundary, as close as
/// a server counting whole seconds can be held to.
async fn session_expires_at_its_interval(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("s");
    let mut s = ctx.session("sub", true, BOUNDARY_EXPIRY).await?;
    let expiry = s
        .connack
        .as_ref()
        .and_then(|a| a.property(0x11))
        .unwrap_or(BOUNDARY_EXPIRY);
    if expiry == 0 || expiry > 5 {
        s.end_session().await?;
        return Err(ctx.skip(format!(
            "the CONNACK sets Session Expiry Interval {expiry} s in place of {BOUNDARY_EXPIRY} s"
        )));
    }
    if expiry != BOUNDARY_EXPIRY {
        ctx.choice(format!(
            "Session Expiry Interval {expiry} s returned in CONNACK"
        ));
    }
    let interval = Duration::from_secs(u64::from(expiry));
    s.subscribed(&topic, 1).await?;
    s.disconnect().await?;
    let closed = tokio::time::Instant::now();
    tokio::time::sleep_until(closed + interval - Duration::from_millis(BEFORE_EXPIRY_MS)).await;
    let mut s = ctx.session("sub", false, expiry).await?;
    let present = s.connack.as_ref().is_some_and(|a| a.session_present());
    let kept = async {
        ensure!(
            present,
            format!(
                "CONNACK Session Present 1: {BEFORE_EXPIRY_MS} ms before the Session Expiry \
                 Interval of {expiry} s ran out the session is still kept"
            ),
            "Session Present 0"
        );
        let mut p = ctx.connected("pub", |c| c).await?;
        p.publish(&topic, b"kept", 1, false).await?;
        p.disconnect().await?;
        let m = s
            .expect_publish()
            .await
            .map_err(|f| f.context("the kept session's subscription delivers"))?;
        ensure!(m.payload == b"kept", "the message \"kept\"", m.show());
        Ok(())
    }
    .await;
    if let Err(f) = kept {
        s.end_session().await?;
        return Err(f);
    }
    // The interval starts again at this second close.
    s.disconnect().await?;
    let closed = tokio::time::Instant::now();
    tokio::time::sleep_until(closed + interval + Duration::from_millis(AFTER_EXPIRY_MS)).await;
    let mut s = ctx.connected("sub", |c| c.clean_start(false)).await?;
    let present = s.connack.as_ref().is_some_and(|a| a.session_present());
    let gone = async {
        ensure!(
            !present,
            format!(
                "CONNACK Session Present 0: {AFTER_EXPIRY_MS} ms after the Session Expiry \
                 Interval of {expiry} s ran out the session is discarded"
            ),
            "Session Present 1"
        );
        let mut p = ctx.connected("pub", |c| c).await?;
        p.publish(&topic, b"gone", 1, false).await?;
        p.disconnect().await?;
        s.expect_silence()
            .await
            .map_err(|f| f.context("the expired session's subscription is gone"))
    }
    .await;
    s.disconnect().await?;
    gone
}
