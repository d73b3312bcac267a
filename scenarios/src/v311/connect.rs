//! MQTT 3.1.1 section 3.1: CONNECT.

use crate::{
    ensure, wire, Capability, Client, Closing, Ctx, Fail, Scenario, Version::V3_1_1, EXPECT,
};
use raw_client::build::{packet_type as pt, Connect, Custom, Pingreq, Publish, Will, Writer};
use std::time::{Duration, Instant};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.connect.valid_gets_connack_accepted",
            &["MQTT-3.1.4-4"],
            valid_gets_connack_accepted,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.reserved_flag_closes",
            &["MQTT-3.1.2-3"],
            reserved_flag_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.second_connect_closes",
            &["MQTT-3.1.0-2"],
            second_connect_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.protocol_name_wrong_closes",
            &["MQTT-3.1.2-1"],
            protocol_name_wrong_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.unsupported_level_connack_1",
            &["MQTT-3.1.2-2"],
            unsupported_level_connack_1,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.clean_session_0_resumes_session",
            &["MQTT-3.1.2-4", "MQTT-3.1.3-2", "MQTT-3.1.4-3"],
            clean_session_0_resumes_session,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.offline_qos1_qos2_delivered",
            &["MQTT-3.1.2-5"],
            offline_qos1_qos2_delivered,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.clean_session_1_discards_session",
            &["MQTT-3.1.2-6", "MQTT-3.1.4-3"],
            clean_session_1_discards_session,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.retained_outlives_clean_session",
            &["MQTT-3.1.2-7"],
            retained_outlives_clean_session,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_published_once_on_abnormal_close",
            &["MQTT-3.1.2-8", "MQTT-3.1.2-10", "MQTT-3.1.2-16"],
            will_published_once_on_abnormal_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_published_on_takeover",
            &["MQTT-3.1.2-8"],
            will_published_on_takeover,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_published_after_second_connect",
            &["MQTT-3.1.2-8"],
            will_published_after_second_connect,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_not_published_after_disconnect",
            &["MQTT-3.1.2-10"],
            will_not_published_after_disconnect,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.no_will_no_message_on_abnormal_close",
            &["MQTT-3.1.2-12"],
            no_will_no_message_on_abnormal_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_retain_1_retained",
            &["MQTT-3.1.2-17"],
            will_retain_1_retained,
        )
        .needs(Capability::Retain),
        Scenario::server(
            V3_1_1,
            "v311.connect.keep_alive_enforced",
            &["MQTT-3.1.2-24"],
            keep_alive_enforced,
        )
        .exclusive(),
        Scenario::server(
            V3_1_1,
            "v311.connect.client_id_1_and_23_chars_accepted",
            &["MQTT-3.1.3-5"],
            client_id_1_and_23_chars_accepted,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.empty_client_id_clean_1_unique",
            &["MQTT-3.1.3-6"],
            empty_client_id_clean_1_unique,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.empty_client_id_clean_0_rejected",
            &["MQTT-3.1.3-8", "MQTT-3.1.3-9"],
            empty_client_id_clean_0_rejected,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_flag_without_fields_closes",
            &["MQTT-3.1.4-1"],
            will_flag_without_fields_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_qos_without_will_flag_closes",
            &["MQTT-3.1.4-1"],
            will_qos_without_will_flag_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_retain_without_will_flag_closes",
            &["MQTT-3.1.4-1"],
            will_retain_without_will_flag_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.will_qos_3_closes",
            &["MQTT-3.1.4-1"],
            will_qos_3_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.password_without_username_closes",
            &["MQTT-3.1.4-1"],
            password_without_username_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.username_flag_without_field_closes",
            &["MQTT-3.1.4-1"],
            username_flag_without_field_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.password_flag_without_field_closes",
            &["MQTT-3.1.4-1"],
            password_flag_without_field_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.missing_client_id_closes",
            &["MQTT-3.1.4-1"],
            missing_client_id_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.trailing_bytes_close",
            &["MQTT-3.1.4-1"],
            trailing_bytes_close,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.same_client_id_takes_over",
            &["MQTT-3.1.4-2"],
            same_client_id_takes_over,
        ),
        Scenario::server(
            V3_1_1,
            "v311.connect.refused_connect_ignores_publish",
            &["MQTT-3.1.4-5"],
            refused_connect_ignores_publish,
        ),
    ]
}

/// A well-formed CONNECT is acknowledged with CONNACK return code 0.
async fn valid_gets_connack_accepted(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_connack(0).await?;
    c.disconnect().await
}

/// Connect Flags bit 0 set: the server disconnects the client, without CONNACK (MQTT-3.1.4-1).
async fn reserved_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect = ctx.connect_packet("client");
    let flags = connect.computed_connect_flags() | 0x01;
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&connect.connect_flags_override(flags).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// A second CONNECT is a protocol violation: the server disconnects the client.
async fn second_connect_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after a second CONNECT"))
}

/// Sends `packet` on a fresh connection and expects the server to close it with no CONNACK.
async fn connect_closes(ctx: &mut Ctx, packet: Vec<u8>, what: &str) -> Result<(), Fail> {
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context(what))
}

/// Requires the next packet to be a PUBLISH with this topic and payload (acknowledged).
async fn expect_message(
    c: &mut Client,
    topic: &str,
    payload: &[u8],
) -> Result<wire::Publish, Fail> {
    let expected = format!("PUBLISH {:?} on {topic}", String::from_utf8_lossy(payload));
    let p = c
        .expect_publish()
        .await
        .map_err(|f| f.with_expected(&expected))?;
    ensure!(
        p.topic == topic.as_bytes() && p.payload == payload,
        expected,
        format!(
            "PUBLISH {:?} on {}",
            String::from_utf8_lossy(&p.payload),
            String::from_utf8_lossy(&p.topic)
        )
    );
    Ok(p)
}

/// Requires the CONNACK kept by `expect_connack` to have Session Present `present`.
fn check_session_present(c: &Client, present: bool, when: &str) -> Result<(), Fail> {
    let got = c.connack.as_ref().map_or(0, |a| a.flags);
    ensure!(
        (got & 1 == 1) == present,
        format!("CONNACK with Session Present {} {when}", u8::from(present)),
        format!("acknowledge flags 0x{got:02X}")
    );
    Ok(())
}

/// Protocol name "XQTT" with level 4: never accepted as 3.1.1. The server closes, possibly
/// after a refusal (CONNACK 0x01) if it reads the CONNECT by another specification.
async fn protocol_name_wrong_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let packet = ctx.connect_packet("client").protocol_name("XQTT").build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently().or_connack(&[0x01]))
        .await
        .map_err(|f| f.context("after CONNECT with protocol name \"XQTT\""))
}

/// Protocol name "MQTT" with level 7 (no MQTT version): CONNACK 0x01, then the close.
async fn unsupported_level_connack_1(ctx: &mut Ctx) -> Result<(), Fail> {
    let packet = ctx.connect_packet("client").protocol_level(7).build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::connack(&[0x01]))
        .await
        .map_err(|f| f.context("after CONNECT with protocol level 7"))
}

/// Clean Session 0: the session (here a subscription) outlives the connection; the same Client
/// Identifier resumes it (Session Present 1, messages delivered), another one does not.
async fn clean_session_0_resumes_session(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("cs0");
    let mut c = ctx.connected("sub", |c| c.clean_start(false)).await?;
    check_session_present(&c, false, "for a new Client Identifier")?;
    c.subscribed(&topic, 1).await?;
    c.disconnect().await?;
    drop(c);

    let mut other = ctx.connected("other", |c| c.clean_start(false)).await?;
    check_session_present(&other, false, "for a different Client Identifier")?;
    other.disconnect().await?;
    drop(other);

    let mut c = ctx.connected("sub", |c| c.clean_start(false)).await?;
    check_session_present(&c, true, "when resuming the session")?;
    let mut publ = ctx.connected("pub", |c| c).await?;
    publ.publish(&topic, b"kept", 1, false).await?;
    expect_message(&mut c, &topic, b"kept")
        .await
        .map_err(|f| f.context("the subscription of the resumed session"))?;
    publ.disconnect().await?;
    c.disconnect().await?;
    ctx.end_session("sub").await?;
    ctx.end_session("other").await
}

/// QoS 1 and 2 messages published while a Clean Session 0 subscriber is away are delivered
/// when it reconnects.
async fn offline_qos1_qos2_delivered(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("offline");
    let mut c = ctx.connected("sub", |c| c.clean_start(false)).await?;
    c.subscribed(&topic, 2).await?;
    c.disconnect().await?;
    drop(c);

    let mut publ = ctx.connected("pub", |c| c).await?;
    publ.publish(&topic, b"qos1", 1, false).await?;
    publ.publish(&topic, b"qos2", 2, false).await?;
    publ.disconnect().await?;

    let mut c = ctx.connected("sub", |c| c.clean_start(false)).await?;
    check_session_present(&c, true, "when resuming the session")?;
    let mut got: Vec<(Vec<u8>, u8)> = Vec::new();
    for _ in 0..2 {
        let p = c
            .expect_publish()
            .await
            .map_err(|f| f.context("delivering the messages queued while offline"))?;
        got.push((p.payload, p.qos));
    }
    got.sort();
    ensure!(
        got == [(b"qos1".to_vec(), 1), (b"qos2".to_vec(), 2)],
        "\"qos1\" at QoS 1 and \"qos2\" at QoS 2",
        format!(
            "{:?}",
            got.iter()
                .map(|(p, q)| format!("{:?} at QoS {q}", String::from_utf8_lossy(p)))
                .collect::<Vec<_>>()
        )
    );
    c.disconnect().await?;
    ctx.end_session("sub").await
}

/// Clean Session 1 discards a stored session (Session Present 0, its subscription gone), and
/// its own state is not kept for a later Clean Session 0 connection.
async fn clean_session_1_discards_session(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("cs1");
    let mut c = ctx.connected("sub", |c| c.clean_start(false)).await?;
    c.subscribed(&topic, 1).await?;
    c.disconnect().await?;
    drop(c);

    let mut publ = ctx.connected("pub", |c| c).await?;
    let mut c = ctx.connected("sub", |c| c.clean_start(true)).await?;
    check_session_present(&c, false, "with Clean Session 1")?;
    publ.publish(&topic, b"old", 1, false).await?;
    c.expect_silence()
        .await
        .map_err(|f| f.context("the old session's subscription must be gone"))?;
    // A subscription made under Clean Session 1 dies with that connection.
    c.subscribed(&topic, 1).await?;
    c.disconnect().await?;
    drop(c);

    let mut c = ctx.connected("sub", |c| c.clean_start(false)).await?;
    check_session_present(&c, false, "after a Clean Session 1 connection")?;
    publ.publish(&topic, b"new", 1, false).await?;
    c.expect_silence()
        .await
        .map_err(|f| f.context("the Clean Session 1 subscription must be gone"))?;
    c.disconnect().await?;
    publ.disconnect().await?;
    ctx.end_session("sub").await
}

/// A retained message set by a Clean Session 1 client is still sent to new subscribers after
/// that client has gone.
async fn retained_outlives_clean_session(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("keep");
    ctx.retained(&topic);
    let mut publ = ctx.connected("pub", |c| c).await?;
    publ.publish(&topic, b"stays", 1, true).await?;
    publ.disconnect().await?;
    drop(publ);

    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let p = expect_message(&mut sub, &topic, b"stays").await?;
    ensure!(p.retain, "RETAIN 1 on the retained message", "RETAIN 0");
    sub.disconnect().await
}

/// Will (Retain 0) and an abnormal close: the subscriber gets the Will once; a later
/// subscriber gets no retained copy of it.
async fn will_published_once_on_abnormal_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut w = ctx
        .connected("will", |c| c.will(Will::new(&topic, b"gone").qos(1)))
        .await?;
    w.close().await;
    expect_message(&mut sub, &topic, b"gone")
        .await
        .map_err(|f| f.context("the Will after the connection closed without DISCONNECT"))?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("the Will is published once"))?;

    let mut later = ctx.connected("later", |c| c).await?;
    later.subscribed(&topic, 1).await?;
    later
        .expect_silence()
        .await
        .map_err(|f| f.context("a later subscriber: a Will with Retain 0 is not retained"))?;
    later.disconnect().await?;
    sub.disconnect().await
}

/// Will, then DISCONNECT: the Will is discarded, nothing is published.
async fn will_not_published_after_disconnect(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut w = ctx
        .connected("will", |c| c.will(Will::new(&topic, b"gone").qos(1)))
        .await?;
    w.disconnect().await?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("no Will after DISCONNECT"))?;
    sub.disconnect().await
}

/// No Will, abrupt close: nothing is published on the scenario's whole topic space.
async fn no_will_no_message_on_abnormal_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let all = ctx.topic("#");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&all, 1).await?;
    let mut c = ctx.connected("client", |c| c).await?;
    c.close().await;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("a client without Will closed without DISCONNECT"))?;
    sub.disconnect().await
}

/// Will with Retain 1: after an abnormal close it is the retained message of its topic.
async fn will_retain_1_retained(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut w = ctx
        .connected("will", |c| {
            c.will(Will::new(&topic, b"gone").qos(1).retain(true))
        })
        .await?;
    w.close().await;
    expect_message(&mut sub, &topic, b"gone")
        .await
        .map_err(|f| f.context("the Will after the connection closed without DISCONNECT"))?;

    let mut later = ctx.connected("later", |c| c).await?;
    later.subscribed(&topic, 1).await?;
    let p = expect_message(&mut later, &topic, b"gone")
        .await
        .map_err(|f| f.context("a later subscriber gets the retained Will"))?;
    ensure!(p.retain, "RETAIN 1 on the retained Will", "RETAIN 0");
    later.disconnect().await?;
    sub.disconnect().await
}

/// Keep Alive 2 s: PINGREQs every 1.2 s keep the connection open past 3 s; then, with no
/// packet, the server closes once 1.5 x 2 s have passed and publishes the Will. The close is
/// accepted up to 500 ms late (3.5 s in all); the measured time is recorded.
async fn keep_alive_enforced(ctx: &mut Ctx) -> Result<(), Fail> {
    // Keep alive 2 s: the close is due 3 s after the last packet. 500 ms of slack covers
    // scheduling on a loaded machine; the same bound as the 5.0 scenario (MQTT-3.1.2-22).
    const DUE: Duration = Duration::from_millis(3000);
    const TICK_MARGIN: Duration = Duration::from_millis(500);
    let topic = ctx.topic("ka");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 0).await?;
    let mut c = ctx
        .connected("client", |c| {
            c.keep_alive(2).will(Will::new(&topic, b"expired"))
        })
        .await?;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        c.send_bytes(&Pingreq::new().build()).await?;
        c.expect_type(pt::PINGRESP)
            .await
            .map_err(|f| f.context("keep alive 2 s, PINGREQ every 1200 ms"))?;
    }
    let start = Instant::now();
    // Wait longer than allowed, so that a late close is reported with its time.
    c.timeout = Duration::from_secs(8);
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("keep alive 2 s, no packet sent: close due after 3 s"))?;
    let took = start.elapsed();
    ensure!(
        took <= DUE + TICK_MARGIN,
        format!(
            "the close within {} ms of the last packet (1.5 x keep alive 2 s, plus {} ms of slack)",
            (DUE + TICK_MARGIN).as_millis(),
            TICK_MARGIN.as_millis()
        ),
        format!("the close {} ms after the last packet", took.as_millis())
    );
    ctx.choice(format!(
        "closed {} ms after the last packet (keep alive 2 s)",
        took.as_millis()
    ));
    expect_message(&mut sub, &topic, b"expired")
        .await
        .map_err(|f| f.context("the Will after the keep-alive close"))?;
    sub.disconnect().await
}

/// Client Identifiers of 1 and of 23 characters of 0-9a-zA-Z are accepted.
async fn client_id_1_and_23_chars_accepted(ctx: &mut Ctx) -> Result<(), Fail> {
    let long = ctx.client_id("MixedCaseLabelForTwentyThreeChars");
    ensure!(
        long.len() == 23,
        "a 23-character client identifier (test setup)",
        long.clone()
    );
    // One character from this run's token (a shared name: keep it per run).
    let short: String = long.chars().take(1).collect::<String>().to_uppercase();
    for id in [short, long] {
        let packet = ctx.connect_packet("client").client_id(&id).build();
        let mut c = ctx.connect("client").await?;
        c.send_bytes(&packet).await?;
        c.expect_connack(0)
            .await
            .map_err(|f| f.context(&format!("client identifier {id:?} ({} chars)", id.len())))?;
        c.disconnect().await?;
    }
    Ok(())
}

/// Empty Client Identifier with Clean Session 1: the server may refuse it (CONNACK 0x02, then
/// close); if it accepts, each such client is its own: a second one does not take over the
/// first.
async fn empty_client_id_clean_1_unique(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("anon");
    let packet = ctx.connect_packet("a").client_id("").build();
    let mut a = ctx.connect("a").await?;
    a.send_bytes(&packet).await?;
    let got = a.recv(EXPECT).await.map_err(|e| {
        Fail::from(e).with_expected("CONNACK 0 (accepted) or 2 (identifier rejected)")
    })?;
    let ack = wire::connack(&got.bytes, false).map_err(|e| {
        Fail::new(
            "CONNACK 0 or 2",
            format!("{}: {e}", wire::describe(&got.bytes)),
        )
    })?;
    match ack.code {
        0x02 => {
            a.expect_closed(Closing::silently())
                .await
                .map_err(|f| f.context("after CONNACK 2"))?;
            ctx.choice("refused the empty client identifier (CONNACK 2)");
            return Ok(());
        }
        0x00 => ctx.choice("accepted the empty client identifier"),
        other => {
            return Err(Fail::new(
                "CONNACK 0 (accepted) or 2 (identifier rejected)",
                format!("CONNACK {other} ({})", wire::return_code_name(other)),
            ))
        }
    }
    a.subscribed(&topic, 1).await?;
    let packet = ctx.connect_packet("b").client_id("").build();
    let mut b = ctx.connect("b").await?;
    b.send_bytes(&packet).await?;
    b.expect_connack(0)
        .await
        .map_err(|f| f.context("a second client with an empty identifier"))?;
    b.publish(&topic, b"both", 1, false).await?;
    expect_message(&mut a, &topic, b"both")
        .await
        .map_err(|f| f.context("the first empty-id client must still be connected"))?;
    a.send_bytes(&Pingreq::new().build()).await?;
    a.expect_type(pt::PINGRESP).await?;
    b.disconnect().await?;
    a.disconnect().await
}

/// Empty Client Identifier with Clean Session 0: CONNACK 0x02, then the close.
async fn empty_client_id_clean_0_rejected(ctx: &mut Ctx) -> Result<(), Fail> {
    let packet = ctx
        .connect_packet("client")
        .client_id("")
        .clean_start(false)
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::connack(&[0x02]))
        .await
        .map_err(|f| f.context("after CONNECT with an empty identifier and Clean Session 0"))
}

/// Will Flag 1 but no Will Topic / Will Message in the payload: close, no CONNACK.
async fn will_flag_without_fields_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = Connect::v311(&id).connect_flags_override(0x06).build();
    connect_closes(
        ctx,
        packet,
        "after CONNECT with Will Flag 1 and no will fields",
    )
    .await
}

/// Will Flag 0 with Will QoS 1: close, no CONNACK.
async fn will_qos_without_will_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = Connect::v311(&id).connect_flags_override(0x0A).build();
    connect_closes(ctx, packet, "after CONNECT with Will Flag 0 and Will QoS 1").await
}

/// Will Flag 0 with Will Retain 1: close, no CONNACK.
async fn will_retain_without_will_flag_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = Connect::v311(&id).connect_flags_override(0x22).build();
    connect_closes(
        ctx,
        packet,
        "after CONNECT with Will Flag 0 and Will Retain 1",
    )
    .await
}

/// Will QoS 3: close, no CONNACK.
async fn will_qos_3_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let topic = ctx.topic("will");
    let packet = Connect::v311(&id)
        .will(Will::new(&topic, b"gone").qos(3))
        .build();
    connect_closes(ctx, packet, "after CONNECT with Will QoS 3").await
}

/// Password Flag 1 with User Name Flag 0: close, no CONNACK.
async fn password_without_username_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = Connect::v311(&id).password(b"secret").build();
    connect_closes(
        ctx,
        packet,
        "after CONNECT with Password Flag 1, User Name Flag 0",
    )
    .await
}

/// User Name Flag 1 but no User Name in the payload: close, no CONNACK.
async fn username_flag_without_field_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = Connect::v311(&id).connect_flags_override(0x82).build();
    connect_closes(
        ctx,
        packet,
        "after CONNECT with User Name Flag 1 and no user name",
    )
    .await
}

/// Password Flag 1 but no Password after the User Name: close, no CONNACK.
async fn password_flag_without_field_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = Connect::v311(&id)
        .username("user")
        .connect_flags_override(0xC2)
        .build();
    connect_closes(
        ctx,
        packet,
        "after CONNECT with Password Flag 1 and no password",
    )
    .await
}

/// A CONNECT that ends after the variable header (no Client Identifier): close, no CONNACK.
async fn missing_client_id_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut body = Writer::new();
    body.string("MQTT").u8(4).u8(0x02).u16(30);
    let packet = Custom::new(pt::CONNECT, 0).body(body.as_bytes()).build();
    connect_closes(ctx, packet, "after CONNECT without a payload").await
}

/// Bytes after the last field the flags announce: close, no CONNACK.
async fn trailing_bytes_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = Connect::v311(&id).append_body([0x00, 0x01, b'x']).build();
    connect_closes(
        ctx,
        packet,
        "after CONNECT with 3 bytes after the Client Identifier",
    )
    .await
}

/// A second connection with the same Client Identifier is accepted and the first is closed.
async fn same_client_id_takes_over(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut first = ctx.connected("dup", |c| c).await?;
    ctx.under_test(); // the second connection must be accepted
    let mut second = ctx
        .connected("dup", |c| c)
        .await
        .map_err(|f| f.context("a second connection with the same client identifier"))?;
    first
        .expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("the first connection, taken over"))?;
    second.send_bytes(&Pingreq::new().build()).await?;
    second.expect_type(pt::PINGRESP).await?;
    second.disconnect().await
}

/// A refused CONNECT (level 7) and a retained PUBLISH in one write: a refusing CONNACK (any
/// non-zero code: which one is MQTT-3.1.2-2's business) or none, then the close; the PUBLISH
/// reaches neither a subscriber nor the retained store.
async fn refused_connect_ignores_publish(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("refused");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;

    let mut bytes = ctx.connect_packet("client").protocol_level(7).build();
    bytes.extend(
        Publish::v311(&topic, b"ignored")
            .qos(1)
            .packet_id(1)
            .retain(true)
            .build(),
    );
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&bytes).await?;
    let nonzero: Vec<u8> = (1..=255).collect();
    c.expect_closed(Closing::silently().or_connack(&nonzero))
        .await
        .map_err(|f| f.context("after a refused CONNECT followed by PUBLISH"))?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("the PUBLISH sent after a refused CONNECT"))?;
    // Subscribing again delivers retained messages: there must be none.
    sub.subscribed(&topic, 1).await?;
    sub.expect_silence()
        .await
        .map_err(|f| f.context("no retained message from the refused connection"))?;
    sub.disconnect().await
}

/// A connection with a Will taken over by a new connection with the same Client Identifier
/// ends without DISCONNECT: its Will is published.
async fn will_published_on_takeover(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut first = ctx
        .connected("dup", |c| c.will(Will::new(&topic, b"taken over").qos(1)))
        .await?;
    let mut second = ctx.connected("dup", |c| c).await?;
    first
        .expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("the first connection, taken over"))?;
    expect_message(&mut sub, &topic, b"taken over")
        .await
        .map_err(|f| f.context("the Will of the connection closed by the takeover"))?;
    second.disconnect().await?;
    sub.disconnect().await
}

/// A second CONNECT closes the connection without DISCONNECT: its Will is published.
async fn will_published_after_second_connect(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("will");
    ctx.retained(&topic);
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut c = ctx
        .connected("client", |c| c.will(Will::new(&topic, b"second").qos(1)))
        .await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after a second CONNECT"))?;
    expect_message(&mut sub, &topic, b"second")
        .await
        .map_err(|f| f.context("the Will of the connection closed for a second CONNECT"))?;
    sub.disconnect().await
}
