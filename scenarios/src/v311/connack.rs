//! MQTT 3.1.1 section 3.2: CONNACK.

use crate::{ensure, Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Connect, Will};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.connack.session_present_follows_session_state",
            &["MQTT-3.2.2-1", "MQTT-3.2.2-2", "MQTT-3.2.2-3"],
            session_present_follows_session_state,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connack.first_packet_before_queued_messages",
            &["MQTT-3.2.0-1"],
            first_packet_before_queued_messages,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connack.bad_protocol_level_refused_then_closed",
            &["MQTT-3.2.2-4", "MQTT-3.2.2-5"],
            bad_protocol_level_refused_then_closed,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connack.empty_id_persistent_refused_then_closed",
            &["MQTT-3.2.2-4", "MQTT-3.2.2-5"],
            empty_id_persistent_refused_then_closed,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connack.no_applicable_return_code_closes_without_connack",
            &["MQTT-3.2.2-6"],
            no_applicable_return_code_closes_without_connack,
        ),
    ]
}

fn sp_text(sp: bool) -> String {
    format!("Session Present {}", u8::from(sp))
}

/// Connects `label` with the given CleanSession and returns Session Present (return code 0
/// required), then disconnects normally.
async fn connect_sp(ctx: &mut Ctx, label: &str, clean: bool) -> Result<bool, Fail> {
    let mut c = ctx.connected(label, |c| c.clean_start(clean)).await?;
    let sp = c.connack.as_ref().is_some_and(|a| a.session_present());
    c.disconnect().await?;
    Ok(sp)
}

/// Session Present: 0 for a new CleanSession 0 session, 1 when resuming it, 0 with
/// CleanSession 1 even though a session existed, and 0 again with CleanSession 0 afterwards.
async fn session_present_follows_session_state(ctx: &mut Ctx) -> Result<(), Fail> {
    let sp = connect_sp(ctx, "client", false).await?;
    ensure!(
        !sp,
        "first CONNECT (CleanSession 0, no session): Session Present 0",
        sp_text(sp)
    );
    let sp = connect_sp(ctx, "client", false).await?;
    ensure!(
        sp,
        "second CONNECT (CleanSession 0, session held): Session Present 1",
        sp_text(sp)
    );
    let sp = connect_sp(ctx, "client", true).await?;
    ensure!(
        !sp,
        "CONNECT with CleanSession 1 while a session existed: Session Present 0",
        sp_text(sp)
    );
    let sp = connect_sp(ctx, "client", false).await?;
    // Ends the session just created, whatever the verdict.
    let end = connect_sp(ctx, "client", true).await;
    ensure!(
        !sp,
        "CONNECT with CleanSession 0 after a CleanSession 1 connection: Session Present 0",
        sp_text(sp)
    );
    end.map(|_| ())
}

/// A CleanSession 0 client with a message queued while offline: the first packet on the new
/// connection is the CONNACK, the queued PUBLISH after it.
async fn first_packet_before_queued_messages(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q");
    let mut sub = ctx.connected("sub", |c| c.clean_start(false)).await?;
    sub.subscribed(&topic, 1).await?;
    sub.disconnect().await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"queued", 1, false).await?;
    publisher.disconnect().await?;

    let packet = ctx.connect_packet("sub").clean_start(false).build();
    let mut sub = ctx.connect("sub").await?;
    sub.send_bytes(&packet).await?;
    let first = sub.expect_connack(0).await;
    let next = match &first {
        Ok(_) => sub.expect_publish().await.map(|_| ()),
        Err(_) => Ok(()),
    };
    sub.disconnect().await?;
    let _ = connect_sp(ctx, "sub", true).await;
    first.map_err(|f| f.context("first packet after a CleanSession 0 reconnect"))?;
    next.map_err(|f| f.context("the queued message after the CONNACK"))
}

/// Reads a CONNACK with a non-zero `code` and Session Present 0, then requires the close.
/// Returns the return code.
async fn refused(c: &mut crate::Client, codes: &[u8]) -> Result<u8, Fail> {
    let b = c.expect_type(packet_type::CONNACK).await?;
    refused_ack(c, &b, codes).await
}

/// [`refused`] for a CONNACK already read (`b`).
async fn refused_ack(c: &mut crate::Client, b: &[u8], codes: &[u8]) -> Result<u8, Fail> {
    let ack = crate::wire::connack(b, false)
        .map_err(|e| Fail::new("CONNACK", format!("{}: {e}", crate::wire::describe(b))))?;
    ensure!(
        codes.contains(&ack.code),
        format!("CONNACK return code {codes:?}"),
        format!("CONNACK return code {}", ack.code)
    );
    ensure!(
        ack.flags & 1 == 0,
        format!("CONNACK return code {} with Session Present 0", ack.code),
        format!("acknowledge flags 0x{:02x}", ack.flags)
    );
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after a CONNACK with a non-zero return code"))?;
    Ok(ack.code)
}

/// A session exists for the client id; a CONNECT with protocol level 0x7F is refused with a
/// non-zero return code, Session Present 0, then the connection closes. Which code is
/// MQTT-3.1.2-2's business (`v311.connect.unsupported_level_connack_1`), not these statements':
/// another one is recorded as a choice.
async fn bad_protocol_level_refused_then_closed(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c.clean_start(false)).await?;
    c.disconnect().await?;
    let packet = ctx
        .connect_packet("client")
        .clean_start(false)
        .protocol_level(0x7F)
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    // No CONNACK at all is MQTT-3.1.2-2's failure; these statements are about a CONNACK that
    // was sent, so without one they have nothing to check.
    let ack = match c.expect_type(packet_type::CONNACK).await {
        Ok(b) => b,
        Err(f) => {
            let _ = connect_sp(ctx, "client", true).await;
            return Err(Fail::blocked(
                "a CONNACK refusing protocol level 0x7F",
                f.got().to_string(),
                Some("MQTT-3.1.2-2"),
            ));
        }
    };
    let nonzero: Vec<u8> = (1..=255).collect();
    let res = refused_ack(&mut c, &ack, &nonzero).await.map(|code| {
        if code != 0x01 {
            ctx.choice(format!(
                "refused protocol level 0x7F with return code 0x{code:02x}, not 0x01"
            ));
        }
    });
    let _ = connect_sp(ctx, "client", true).await;
    res
}

/// An empty client id with CleanSession 0: CONNACK 0x02, Session Present 0, then close.
async fn empty_id_persistent_refused_then_closed(ctx: &mut Ctx) -> Result<(), Fail> {
    let packet = Connect::new(ctx.protocol(), "").clean_start(false);
    let packet = match &ctx.target_file().credentials {
        Some(cred) => {
            let mut p = packet;
            if let Some(u) = &cred.username {
                p = p.username(u);
            }
            if let Some(pw) = &cred.password {
                p = p.password(pw);
            }
            p
        }
        None => packet,
    };
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet.build()).await?;
    refused(&mut c, &[0x02]).await.map(|_| ())
}

/// A CONNECT with Will QoS 3 (MQTT-3.1.2-14 forbids it): no row of Table 3.1 applies, not even
/// 0x00 (the server must not accept it, MQTT-3.1.4-1), and no return code names a bad Will, so
/// the server closes the connection without sending any CONNACK.
async fn no_applicable_return_code_closes_without_connack(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    let packet = ctx
        .connect_packet("client")
        .will(Will::new(&topic, b"gone").qos(3))
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after CONNECT with Will QoS 3, which no return code describes"))
}
