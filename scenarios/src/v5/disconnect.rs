//! MQTT 5.0 section 3.14: DISCONNECT.

use crate::{ensure, wire, Client, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Connect, Disconnect, Publish, Will};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.disconnect.none_before_connack",
            &["MQTT-3.14.0-1"],
            none_before_connack,
        ),
        Scenario::server(
            V5_0,
            "v5.disconnect.reserved_flags_malformed_will_sent",
            &["MQTT-3.14.1-1"],
            reserved_flags_malformed_will_sent,
        ),
        Scenario::server(
            V5_0,
            "v5.disconnect.takeover_disconnect_well_formed",
            &[
                "MQTT-3.14.2-1",
                "MQTT-3.14.2-2",
                "MQTT-3.14.4-1",
                "MQTT-3.14.4-2",
            ],
            takeover_disconnect_well_formed,
        ),
        Scenario::server(
            V5_0,
            "v5.disconnect.error_disconnects_well_formed",
            &[
                "MQTT-3.14.2-1",
                "MQTT-3.14.2-2",
                "MQTT-3.14.2-3",
                "MQTT-3.14.2-4",
                "MQTT-3.14.4-1",
                "MQTT-3.14.4-2",
            ],
            error_disconnects_well_formed,
        ),
        Scenario::server(
            V5_0,
            "v5.disconnect.normal_discards_will",
            &["MQTT-3.14.4-3"],
            normal_discards_will,
        ),
    ]
}

/// Disconnect Reason Codes a server may send (section 3.14.2.1; 0x04 is client-only).
const SERVER_DISCONNECT_CODES: [u8; 28] = [
    0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];

/// The property identifiers of a DISCONNECT frame (empty when it has no property block).
fn disconnect_property_ids(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut at = 1;
    let mut len = 0usize;
    for i in 0..4 {
        let b = *bytes.get(at).ok_or("truncated remaining length")?;
        at += 1;
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    let body = bytes.get(at..at + len).ok_or("truncated body")?;
    if body.len() < 2 {
        return Ok(Vec::new());
    }
    let mut c = 1;
    let mut plen = 0usize;
    for i in 0..4 {
        let b = *body.get(c).ok_or("truncated property length")?;
        c += 1;
        plen |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    let props = body.get(c..c + plen).ok_or("truncated properties")?;
    let mut ids = Vec::new();
    let mut p = 0;
    let two = |p: usize| -> Result<usize, String> {
        let s = props.get(p..p + 2).ok_or("truncated property")?;
        Ok(usize::from(u16::from_be_bytes([s[0], s[1]])))
    };
    while p < props.len() {
        let id = props[p];
        p += 1;
        ids.push(id);
        p += match id {
            0x11 => 4,
            0x1F | 0x1C => 2 + two(p)?,
            0x26 => {
                let k = 2 + two(p)?;
                k + 2 + two(p + k)?
            }
            other => return Err(format!("property 0x{other:02x} not allowed in DISCONNECT")),
        };
    }
    Ok(ids)
}

/// Reads what a server sends when it ends the connection: `None` for a close with no packet,
/// `Some(frame)` for a DISCONNECT, which must be well formed (a table code, no Session Expiry
/// Interval, at most `max` bytes) and followed by the close with nothing else.
async fn server_disconnect(c: &mut Client, max: Option<usize>) -> Result<Option<Vec<u8>>, Fail> {
    let r = match c.recv(crate::EXPECT).await {
        Ok(r) => r,
        Err(raw_client::ExpectError::Closed { .. }) => return Ok(None),
        Err(e) => return Err(Fail::from(e).with_expected("DISCONNECT or the close")),
    };
    ensure!(
        r.bytes.first() == Some(&0xE0),
        "DISCONNECT (first byte 0xE0) or the close",
        wire::describe(&r.bytes)
    );
    let reason =
        wire::disconnect_reason(&r.bytes).map_err(|e| Fail::new("a DISCONNECT", e.to_string()))?;
    ensure!(
        SERVER_DISCONNECT_CODES.contains(&reason),
        "a Disconnect Reason Code a server may send (section 3.14.2.1)",
        format!("DISCONNECT 0x{reason:02X}")
    );
    let ids = disconnect_property_ids(&r.bytes)
        .map_err(|e| Fail::new("well-formed DISCONNECT properties", e))?;
    ensure!(
        !ids.contains(&prop::SESSION_EXPIRY_INTERVAL),
        "no Session Expiry Interval in a server's DISCONNECT",
        wire::describe(&r.bytes)
    );
    if let Some(max) = max {
        ensure!(
            r.bytes.len() <= max,
            format!("a DISCONNECT of at most {max} bytes (the client's Maximum Packet Size)"),
            format!("{} bytes: {}", r.bytes.len(), wire::describe(&r.bytes))
        );
    }
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after the server's DISCONNECT: nothing more, then the close"))?;
    Ok(Some(r.bytes))
}

/// Reads everything until the server closes; fails on a DISCONNECT (no CONNACK < 0x80 was sent,
/// so none may come). Returns what came, for the record.
async fn closed_without_disconnect(c: &mut Client, step: &str) -> Result<String, Fail> {
    let expected =
        "a close (a CONNACK ≥ 0x80 may come first), no DISCONNECT before a CONNACK < 0x80";
    let mut seen = Vec::new();
    loop {
        match c.recv(crate::EXPECT).await {
            Ok(r) => {
                ensure!(
                    r.bytes.first().map(|b| b >> 4) != Some(14),
                    expected,
                    format!("{} {step}", wire::describe(&r.bytes))
                );
                seen.push(wire::describe(&r.bytes));
            }
            Err(raw_client::ExpectError::Closed { .. }) => break,
            Err(e) => return Err(Fail::from(e).with_expected(expected).context(step)),
        }
    }
    Ok(if seen.is_empty() {
        "nothing".to_string()
    } else {
        seen.join(", ")
    })
}

/// Errors before the CONNACK end with a close (maybe after a CONNACK), never a DISCONNECT: a
/// PUBLISH as first packet, then a CONNECT with protocol version 6.
async fn none_before_connack(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut c = ctx.connect("publish-first").await?;
    c.send_bytes(&Publish::v5(&topic, b"x").build()).await?;
    let a = closed_without_disconnect(&mut c, "after a PUBLISH as first packet").await?;
    let mut c = ctx.connect("version-6").await?;
    let connect: Connect = ctx.connect_packet("version-6").protocol_level(6);
    c.send_bytes(&connect.build()).await?;
    let b = closed_without_disconnect(&mut c, "after a CONNECT with protocol version 6").await?;
    ctx.choice(format!(
        "PUBLISH first: {a} then close; CONNECT version 6: {b} then close"
    ));
    Ok(())
}

/// A DISCONNECT with first byte 0xE1 is malformed, not a normal disconnection: the server closes
/// (maybe after DISCONNECT 0x81) and, the Will not being discarded, publishes it.
async fn reserved_flags_malformed_will_sent(ctx: &mut Ctx) -> Result<(), Fail> {
    let will_topic = ctx.topic("will");
    let mut watcher = ctx.connected("watcher", |c| c).await?;
    watcher.subscribed(&will_topic, 0).await?;
    let t = will_topic.clone();
    let mut c = ctx
        .connected("client", move |c| c.will(Will::new(&t, b"gone")))
        .await?;
    c.send_bytes(&Disconnect::v5().reason(0).flags_override(0x01).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context("after a DISCONNECT with first byte 0xE1"))?;
    let p = watcher
        .expect_publish()
        .await
        .map_err(|f| f.context("the Will: a malformed DISCONNECT does not discard it"))?;
    ensure!(
        p.payload == b"gone",
        "the Will message \"gone\"",
        format!("payload {:?}", String::from_utf8_lossy(&p.payload))
    );
    watcher.disconnect().await
}

/// A second connection with the same client id takes the session over: the first connection gets
/// a well-formed DISCONNECT (table code, no Session Expiry Interval), then nothing, then the close
/// by the server (or just the close).
async fn takeover_disconnect_well_formed(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut first = ctx.connected("client", |c| c).await?;
    let mut second = ctx.connected("client", |c| c).await?;
    match server_disconnect(&mut first, None).await? {
        Some(d) => ctx.choice(format!(
            "sent DISCONNECT 0x{:02X} on takeover",
            wire::disconnect_reason(&d).unwrap_or(0)
        )),
        None => ctx.choice("closed the taken-over connection with no DISCONNECT"),
    }
    second.disconnect().await
}

/// `f` as a setup failure breaking `statement` when the server sent no DISCONNECT and did not
/// close (nothing, or an answer as if the packet were fine): the error was not acted on, so
/// there is no DISCONNECT to judge. A DISCONNECT that is wrong stays `f`.
fn silent_open(f: Fail, statement: &str) -> Fail {
    if !f.got().starts_with("DISCONNECT") && !f.got().contains("DISCONNECT [") {
        f.setup(Some(statement))
    } else {
        f
    }
}

/// Errors the server ends with a DISCONNECT, with Maximum Packet Size 16 (or the size of the
/// server's CONNACK when larger): a protocol error (a second CONNECT) and a malformed packet
/// (SUBSCRIBE with header flags 0000). The server's DISCONNECT, if any, is well formed, fits the
/// limit (no oversize Reason String or User Property), and is the last thing before the server
/// closes.
async fn error_disconnects_well_formed(ctx: &mut Ctx) -> Result<(), Fail> {
    // 16, or the server's own CONNACK size when larger: a server that cannot send its CONNACK
    // under the limit is not what these statements are about.
    let limit = super::puback::small_limit(ctx).await?.max(16);
    let max = limit as usize;
    let mut c = ctx
        .connected("second-connect", |c| {
            c.property(prop::maximum_packet_size(limit))
        })
        .await?;
    c.send_bytes(&ctx.connect_packet("second-connect").build())
        .await?;
    // No DISCONNECT and no close at all is MQTT-3.1.0-2's failure (and MQTT-3.8.1-1's below):
    // these statements are about the DISCONNECT, so they are then not checked.
    let a = server_disconnect(&mut c, Some(max))
        .await
        .map_err(|f| silent_open(f, "MQTT-3.1.0-2").context("after a second CONNECT"))?;
    let topic = ctx.topic("t");
    let mut c = ctx
        .connected("bad-subscribe", |c| {
            c.property(prop::maximum_packet_size(limit))
        })
        .await?;
    c.send_bytes(
        &raw_client::build::Subscribe::v5(1)
            .filter(&topic, 0)
            .flags_override(0)
            .build(),
    )
    .await?;
    let b = server_disconnect(&mut c, Some(max)).await.map_err(|f| {
        silent_open(f, "MQTT-3.8.1-1").context("after a SUBSCRIBE with first byte 0x80")
    })?;
    let show = |d: Option<Vec<u8>>| match d {
        Some(d) => format!(
            "DISCONNECT 0x{:02X}",
            wire::disconnect_reason(&d).unwrap_or(0)
        ),
        None => "no DISCONNECT".to_string(),
    };
    ctx.choice(format!(
        "second CONNECT: {}; malformed SUBSCRIBE: {}",
        show(a),
        show(b)
    ));
    Ok(())
}

/// Connects with a Will on `will_topic`, sends DISCONNECT with `reason`, closes.
async fn connect_will_disconnect(ctx: &mut Ctx, will_topic: &str, reason: u8) -> Result<(), Fail> {
    let t = will_topic.to_string();
    let label = format!("client{reason:02x}");
    let mut c = ctx
        .connected(&label, move |c| c.will(Will::new(&t, b"will")))
        .await?;
    c.send_bytes(&Disconnect::v5().reason(reason).build())
        .await?;
    c.close().await;
    Ok(())
}

/// DISCONNECT 0x00 (Normal disconnection) discards the Will: its subscriber gets nothing. First,
/// as a control, DISCONNECT 0x04 (Disconnect with Will Message) must get the Will published;
/// without that the scenario cannot tell and is skipped.
async fn normal_discards_will(ctx: &mut Ctx) -> Result<(), Fail> {
    let control_topic = ctx.topic("will04");
    let will_topic = ctx.topic("will00");
    let mut watcher = ctx.connected("watcher", |c| c).await?;
    watcher.subscribed(&control_topic, 0).await?;
    watcher.subscribed(&will_topic, 0).await?;
    connect_will_disconnect(ctx, &control_topic, 0x04).await?;
    match watcher.expect_publish().await {
        Ok(p) if p.topic == control_topic.as_bytes() => {}
        _ => {
            return Err(ctx.skip(
                "no Will published after DISCONNECT 0x04 (control), so a missing Will after 0x00 proves nothing",
            ))
        }
    }
    connect_will_disconnect(ctx, &will_topic, 0x00).await?;
    watcher
        .expect_silence()
        .await
        .map_err(|f| f.context("after DISCONNECT 0x00 from a client with a Will"))?;
    watcher.disconnect().await
}
