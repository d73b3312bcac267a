//! MQTT 5.0 section 3.2: CONNACK.

use super::connect::refused;
use crate::{ensure, wire, Capability, Client, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, prop, Pingreq, Publish, Subscribe, Will};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.connack.packet_at_server_maximum_accepted",
            &["MQTT-3.2.2-15"],
            packet_at_server_maximum_accepted,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.connack.packet_one_over_server_maximum_closes",
            &["MQTT-3.2.2-15"],
            packet_one_over_server_maximum_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.connack.first_packet_after_pipelined_connect",
            &["MQTT-3.2.0-1", "MQTT-3.2.0-2"],
            first_packet_after_pipelined_connect,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.no_second_connack",
            &["MQTT-3.2.0-2"],
            no_second_connack,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.session_present_flags",
            &["MQTT-3.2.2-1", "MQTT-3.2.2-2", "MQTT-3.2.2-3"],
            session_present_flags,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.refusal_session_present_0",
            &["MQTT-3.2.2-6", "MQTT-3.2.2-7", "MQTT-3.2.2-8"],
            refusal_session_present_0,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.refusal_codes_from_table_then_close",
            &["MQTT-3.2.2-6", "MQTT-3.2.2-7", "MQTT-3.2.2-8"],
            refusal_codes_from_table_then_close,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.maximum_qos_announced_or_qos_2_accepted",
            &["MQTT-3.2.2-9"],
            maximum_qos_announced_or_qos_2_accepted,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.subscribe_qos_2_accepted_below_maximum_qos",
            &["MQTT-3.2.2-10"],
            subscribe_qos_2_accepted_below_maximum_qos,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.will_qos_above_maximum_refused",
            &["MQTT-3.2.2-12"],
            will_qos_above_maximum_refused,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.will_retain_without_retain_refused",
            &["MQTT-3.2.2-13"],
            will_retain_without_retain_refused,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.assigned_client_id_unique",
            &["MQTT-3.2.2-16"],
            assigned_client_id_unique,
        ),
        Scenario::server(
            V5_0,
            "v5.connack.no_reason_string_or_user_property_over_maximum_packet_size",
            &["MQTT-3.2.2-19", "MQTT-3.2.2-20"],
            no_reason_string_over_maximum_packet_size,
        ),
    ]
}

/// CONNECT, SUBSCRIBE and PINGREQ in one write: the first packet back is CONNACK 0x00, then the
/// SUBACK and PINGRESP; no second CONNACK.
async fn first_packet_after_pipelined_connect(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("p");
    let mut bytes = ctx.connect_packet("client").build();
    bytes.extend(Subscribe::v5(1).filter(&topic, 0).build());
    bytes.extend(Pingreq::new().build());
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&bytes).await?;
    c.expect_connack(0x00)
        .await
        .map_err(|f| f.context("the first packet after a pipelined CONNECT"))?;
    c.expect_type(packet_type::SUBACK).await?;
    c.expect_type(packet_type::PINGRESP).await?;
    c.expect_silence().await?;
    c.disconnect().await
}

/// After the CONNACK, more traffic and a second CONNECT: no second CONNACK, whatever else the
/// server does with the second CONNECT (recorded).
async fn no_second_connack(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Pingreq::new().build()).await?;
    c.expect_type(packet_type::PINGRESP).await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    // Whether the connection closes is MQTT-3.1.0-2 (`v5.connect.second_connect_closes`); this
    // statement is only about a second CONNACK.
    let wait = c.timeout;
    match c.recv(wait).await {
        Ok(r) if r.bytes.first().map(|b| b >> 4) == Some(packet_type::CONNACK) => Err(Fail::new(
            "a second CONNECT must not get a second CONNACK",
            crate::wire::describe(&r.bytes),
        )),
        Ok(r) => {
            ctx.choice(format!(
                "answered a second CONNECT with {}",
                crate::wire::describe(&r.bytes)
            ));
            Ok(())
        }
        Err(raw_client::ExpectError::Closed { .. }) => {
            ctx.choice("closed the connection on a second CONNECT");
            Ok(())
        }
        Err(raw_client::ExpectError::Timeout { .. }) => {
            ctx.choice("sent nothing after a second CONNECT and left the connection open");
            Ok(())
        }
        Err(e) => Err(Fail::from(e).with_expected("no second CONNACK")),
    }
}

fn flags_of(c: &Client) -> u8 {
    c.connack.as_ref().map_or(0xff, |a| a.flags)
}

/// Acknowledge Flags: a new session with Clean Start 0 gives 0x00; resuming it gives 0x01; Clean
/// Start 1 with that session existing gives 0x00 with Success. Bits 7-1 are always 0.
async fn session_present_flags(ctx: &mut Ctx) -> Result<(), Fail> {
    let result = async {
        let mut c = ctx
            .connected("client", |c| {
                c.clean_start(false)
                    .property(prop::session_expiry_interval(60))
            })
            .await?;
        ensure!(
            flags_of(&c) == 0x00,
            "Acknowledge Flags 0x00 (Clean Start 0, no session existed)",
            format!("Acknowledge Flags 0x{:02X}", flags_of(&c))
        );
        c.disconnect().await?;
        let mut c = ctx
            .connected("client", |c| {
                c.clean_start(false)
                    .property(prop::session_expiry_interval(60))
            })
            .await?;
        ensure!(
            flags_of(&c) == 0x01,
            "Acknowledge Flags 0x01 (Clean Start 0, session kept)",
            format!("Acknowledge Flags 0x{:02X}", flags_of(&c))
        );
        c.disconnect().await?;
        Ok(())
    }
    .await;
    let mut c = ctx.connected("client", |c| c.clean_start(true)).await?;
    result?;
    ensure!(
        flags_of(&c) == 0x00,
        "Acknowledge Flags 0x00 (Clean Start 1, session existed)",
        format!("Acknowledge Flags 0x{:02X}", flags_of(&c))
    );
    c.disconnect().await
}

/// Connect reason codes (Table 3-1).
const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];

/// Checks a refusal CONNACK: a code from the table, Session Present 0 (the close was checked by
/// `refused`).
fn check_refusal(ack: &wire::Connack, what: &str) -> Result<(), Fail> {
    ensure!(
        CONNACK_CODES.contains(&ack.code),
        format!("a Connect Reason Code from Table 3-1 ({what})"),
        format!("CONNACK 0x{:02X}", ack.code)
    );
    ensure!(
        !ack.session_present(),
        format!("Session Present 0 with reason 0x{:02X} ({what})", ack.code),
        format!("Acknowledge Flags 0x{:02X}", ack.flags)
    );
    Ok(())
}

/// A client id with a stored session reconnects (Clean Start 0) with an Authentication Method
/// the server does not support: a refusing CONNACK has Session Present 0, a code from the table,
/// and the connection closes.
async fn refusal_session_present_0(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx
        .connected("client", |c| {
            c.clean_start(false)
                .property(prop::session_expiry_interval(60))
        })
        .await?;
    c.disconnect().await?;
    let result = async {
        let bytes = ctx
            .connect_packet("client")
            .clean_start(false)
            .property(prop::session_expiry_interval(60))
            .property(prop::authentication_method("mqttconf-no-such-method"))
            .build();
        let mut c = ctx.connect("client").await?;
        c.send_bytes(&bytes).await?;
        match refused(ctx, &mut c, true).await? {
            Some(ack) => check_refusal(&ack, "unknown Authentication Method, session stored"),
            None => Err(ctx.skip("the server refused without a CONNACK: no flags to check")),
        }
    }
    .await;
    let mut c = ctx.connected("client", |c| c.clean_start(true)).await?;
    c.disconnect().await?;
    result
}

/// Several CONNECTs the server must refuse (Will QoS without Will Flag, Will QoS 3, an unknown
/// Authentication Method): each ends with the close, after at most a CONNACK whose code is in
/// Table 3-1 with Session Present 0.
async fn refusal_codes_from_table_then_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let will_topic = ctx.topic("w");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("Will Flag 0 with Will QoS 1", {
            let c = ctx.connect_packet("client");
            let flags = c.computed_connect_flags() | 0x08;
            c.connect_flags_override(flags).build()
        }),
        (
            "Will QoS 3",
            ctx.connect_packet("client")
                .will(Will::new(&will_topic, b"x").qos(3))
                .build(),
        ),
        (
            "unknown Authentication Method",
            ctx.connect_packet("client")
                .property(prop::authentication_method("mqttconf-no-such-method"))
                .build(),
        ),
    ];
    let mut seen = 0;
    for (what, bytes) in cases {
        let mut c = ctx.connect(what).await?;
        c.send_bytes(&bytes).await?;
        match refused(ctx, &mut c, what.contains("Authentication")).await {
            Ok(Some(ack)) => {
                check_refusal(&ack, what)?;
                seen += 1;
            }
            Ok(None) => {}
            Err(f) => return Err(f.context(what)),
        }
    }
    if seen == 0 {
        return Err(ctx.skip("every refusal was a close without CONNACK: no code to check"));
    }
    Ok(())
}

/// Maximum QoS in CONNACK is 0 or 1 when present; when absent (QoS 2 supported), QoS 1 and QoS
/// 2 PUBLISH packets are accepted (PUBACK / PUBREC below 0x80, no disconnect).
async fn maximum_qos_announced_or_qos_2_accepted(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("mq");
    let mut c = ctx.connected("client", |c| c).await?;
    let max = c
        .connack
        .as_ref()
        .and_then(|a| a.property(prop::MAXIMUM_QOS));
    if let Some(m) = max {
        ensure!(
            m <= 1,
            "Maximum QoS 0 or 1 when present",
            format!("Maximum QoS {m}")
        );
        ctx.choice(format!("announces Maximum QoS {m}"));
        return c.disconnect().await;
    }
    for qos in [1u8, 2] {
        let code = c.publish(&topic, b"q", qos, false).await.map_err(|f| {
            f.context(&format!(
                "QoS {qos} PUBLISH with no Maximum QoS announced (so QoS 2 is supported)"
            ))
        })?;
        ensure!(
            code < 0x80 && code != 0x9B,
            format!("QoS {qos} accepted (no Maximum QoS in CONNACK)"),
            format!("reason 0x{code:02X} ({})", wire::reason_name(code))
        );
    }
    c.disconnect().await
}

/// A server with Maximum QoS below 2 accepts a SUBSCRIBE asking QoS 2: SUBACK grants at most
/// its maximum, no failure, the connection stays.
async fn subscribe_qos_2_accepted_below_maximum_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let max = ctx.caps().max_qos;
    if max >= 2 {
        return Err(ctx.skip("Maximum QoS is 2: the statement is about servers with less"));
    }
    let topic = ctx.topic("s");
    let mut c = ctx.connected("client", |c| c).await?;
    let codes = c.subscribe(&topic, 2).await?;
    ensure!(
        codes.len() == 1 && codes[0] <= max,
        format!("SUBACK granting QoS {max} or lower"),
        format!("SUBACK codes {codes:02x?}")
    );
    c.expect_silence().await?;
    c.disconnect().await
}

/// Will QoS above the announced Maximum QoS: the server refuses (CONNACK 0x9B preferred) and
/// closes; never Success.
async fn will_qos_above_maximum_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let max = ctx.caps().max_qos;
    if max >= 2 {
        return Err(ctx.skip("Maximum QoS is 2: no Will QoS exceeds it"));
    }
    let topic = ctx.topic("w");
    let bytes = ctx
        .connect_packet("client")
        .will(Will::new(&topic, b"x").qos(max + 1))
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&bytes).await?;
    refused(ctx, &mut c, false).await.map(|_| ())
}

/// Will Retain 1 to a server without retain support: refused (CONNACK 0x9A preferred) and
/// closed; never Success.
async fn will_retain_without_retain_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    if ctx.caps().retain {
        return Err(ctx.skip("Retain Available: a retained Will is allowed"));
    }
    let topic = ctx.topic("w");
    let bytes = ctx
        .connect_packet("client")
        .will(Will::new(&topic, b"x").retain(true))
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&bytes).await?;
    refused(ctx, &mut c, false).await.map(|_| ())
}

/// With a client connected under its own id, two zero-length-id clients: each CONNACK carries
/// an Assigned Client Identifier, different from each other and from the connected client's.
async fn assigned_client_id_unique(ctx: &mut Ctx) -> Result<(), Fail> {
    let existing = ctx.client_id("existing");
    let mut keep = ctx.connected("existing", |c| c).await?;
    let mut assigned = vec![existing.clone().into_bytes()];
    let mut clients = Vec::new();
    for label in ["anon1", "anon2"] {
        let mut c = ctx.connect(label).await?;
        c.send_bytes(&ctx.connect_packet(label).client_id("").build())
            .await?;
        let t = c.timeout;
        let r = c.recv(t).await?;
        let ack = wire::connack(&r.bytes, true)
            .map_err(|e| Fail::new("CONNACK", format!("{e}: {}", wire::describe(&r.bytes))))?;
        if ack.code != 0 {
            return Err(ctx.skip(format!(
                "the server refuses a zero-length client id (CONNACK 0x{:02X})",
                ack.code
            )));
        }
        let Some(id) = ack
            .property_bytes(prop::ASSIGNED_CLIENT_IDENTIFIER)
            .filter(|a| !a.is_empty())
            .map(<[u8]>::to_vec)
        else {
            return Err(Fail::new(
                "CONNACK with an Assigned Client Identifier",
                wire::describe(&r.bytes),
            ));
        };
        ensure!(
            !assigned.contains(&id),
            "an Assigned Client Identifier used by no other current session",
            format!("{:?}, already in use", String::from_utf8_lossy(&id))
        );
        assigned.push(id);
        clients.push(c);
    }
    keep.expect_silence().await?;
    for mut c in clients {
        c.disconnect().await?;
    }
    keep.disconnect().await
}

/// Maximum Packet Size 16 in CONNECT (with Request Problem Information 1), or the size of the
/// CONNACK the server sends with no limit when that is larger (the properties it always sends are
/// not what the statements are about), for an accepted and a refused connection: a CONNACK
/// carrying a Reason String or User Property is never larger than the limit.
async fn no_reason_string_over_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let limit = super::puback::small_limit(ctx).await?.max(16);
    let max = limit as usize;
    let ok = ctx
        .connect_packet("ok")
        .property(prop::maximum_packet_size(limit))
        .build();
    let bad = ctx
        .connect_packet("bad")
        .property(prop::maximum_packet_size(limit))
        .property(prop::authentication_method("mqttconf-no-such-method"))
        .build();
    for (label, bytes) in [("ok", ok), ("bad", bad)] {
        let mut c = ctx.connect(label).await?;
        c.send_bytes(&bytes).await?;
        let t = c.timeout;
        let r = match c.recv(t).await {
            Ok(r) => r,
            Err(raw_client::ExpectError::Closed { .. }) if label == "bad" => continue,
            Err(e) => return Err(Fail::from(e).with_expected("CONNACK")),
        };
        if r.bytes.first().map(|b| b >> 4) != Some(packet_type::CONNACK) {
            continue;
        }
        let ack = wire::connack(&r.bytes, true)
            .map_err(|e| Fail::new("CONNACK", format!("{e}: {}", wire::describe(&r.bytes))))?;
        let optional = ack
            .properties
            .iter()
            .any(|(id, _)| *id == prop::REASON_STRING || *id == prop::USER_PROPERTY);
        ensure!(
            !optional || r.bytes.len() <= max,
            format!("no Reason String or User Property that takes CONNACK over {max} bytes"),
            format!("{} bytes: {}", r.bytes.len(), wire::describe(&r.bytes))
        );
        if label == "ok" {
            c.disconnect().await?;
        }
    }
    Ok(())
}

/// The largest server Maximum Packet Size the boundary scenarios send a packet of: a larger one
/// is skipped (16 MiB on loopback takes long enough already).
const LARGEST_TESTED_MAXIMUM: u32 = 16 * 1024 * 1024;

/// The Maximum Packet Size of this connection's CONNACK, when the scenario can test it: a skip
/// otherwise (none announced: the protocol's own limit, 256 MiB, is not a test; or too large).
fn server_maximum(ctx: &Ctx, c: &Client) -> Result<usize, Fail> {
    let announced = c.connack.as_ref().and_then(|a| a.property(0x27));
    match announced {
        None => Err(ctx.skip(
            "the CONNACK announces no Maximum Packet Size: the only limit is the protocol's \
             (a Remaining Length of 268,435,455 bytes), which is not sent in a test",
        )),
        Some(m) if m > LARGEST_TESTED_MAXIMUM => Err(ctx.skip(format!(
            "Maximum Packet Size {m} is above the {LARGEST_TESTED_MAXIMUM} bytes this suite sends"
        ))),
        Some(m) => Ok(m as usize),
    }
}

/// A QoS 1 PUBLISH to `topic` with identifier `id` whose whole packet is `size` bytes, or `None`
/// when no payload makes it that size (smaller than an empty one).
pub(super) fn publish_of_size(topic: &str, id: u16, size: usize) -> Option<Vec<u8>> {
    let build = |n: usize| {
        Publish::v5(topic, vec![b'x'; n])
            .qos(1)
            .packet_id(id)
            .build()
    };
    let mut n = size.checked_sub(build(0).len())?;
    // The Remaining Length's own size grows with the payload: at most a few corrections.
    for _ in 0..4 {
        let len = build(n).len();
        if len == size {
            return Some(build(n));
        }
        n = (n + size).checked_sub(len)?;
    }
    None
}

/// A QoS 1 PUBLISH exactly as large as the CONNACK's Maximum Packet Size does not exceed it: the
/// client may send it (the boundary of 3.2.2-15), and the server answers it with PUBACK and keeps
/// the connection. Not lenient: refusing it is refusing what the client is allowed to send.
/// Tagged with the statement whose boundary it is rather than 3.3.4-1, which its skip (no
/// Maximum Packet Size announced) would turn `skipped` on most brokers. Skipped without one.
async fn packet_at_server_maximum_accepted(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("mps");
    let mut c = ctx.connected("client", |c| c).await?;
    let max = server_maximum(ctx, &c)?;
    let Some(packet) = publish_of_size(&topic, 1, max) else {
        return Err(ctx.skip(format!(
            "Maximum Packet Size {max} is below an empty PUBLISH"
        )));
    };
    c.note(format!(
        "a {max}-byte QoS 1 PUBLISH: exactly the Maximum Packet Size"
    ));
    c.send_bytes(&packet).await?;
    c.timeout = c.timeout.max(std::time::Duration::from_secs(5));
    let (_, code) = c.next_ack(packet_type::PUBACK, 1).await.map_err(|f| {
        f.context(&format!(
            "a PUBLISH of exactly the Maximum Packet Size {max} bytes"
        ))
    })?;
    if code != 0 {
        ctx.choice(format!(
            "PUBACK 0x{code:02X} ({}) for a PUBLISH at the Maximum Packet Size",
            wire::reason_name(code)
        ));
    }
    c.send_bytes(&Pingreq::new().build()).await?;
    c.expect_type(packet_type::PINGRESP)
        .await
        .map_err(|f| f.context("the connection still open after it"))?;
    c.disconnect().await
}

/// A QoS 1 PUBLISH one byte larger than the CONNACK's Maximum Packet Size, which the client must
/// not send (3.2.2-15): a Protocol Error the server closes on, with DISCONNECT 0x95 (Packet too
/// large) where it sends one (0x81/0x82 accepted and recorded). A lenient receiver may accept
/// it. Skipped without a Maximum Packet Size.
async fn packet_one_over_server_maximum_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("mps");
    let mut c = ctx.connected("client", |c| c).await?;
    let max = server_maximum(ctx, &c)?;
    let Some(packet) = publish_of_size(&topic, 1, max + 1) else {
        return Err(ctx.skip(format!(
            "Maximum Packet Size {max} is below an empty PUBLISH"
        )));
    };
    c.note(format!(
        "a {}-byte QoS 1 PUBLISH: one byte over the Maximum Packet Size",
        max + 1
    ));
    // The server may close as soon as it reads the Remaining Length: a write cut short by that
    // close is the answer, not an error of the scenario.
    if let Err(e) = c.send_bytes(&packet).await {
        c.note(format!("the write did not complete: {e}"));
    }
    c.timeout = c.timeout.max(std::time::Duration::from_secs(5));
    c.expect_closed(Closing::silently().or_disconnect(&[0x95, 0x81, 0x82]))
        .await
        .map_err(|f| {
            f.context(&format!(
                "a PUBLISH of {} bytes, Maximum Packet Size {max}",
                max + 1
            ))
        })
}
