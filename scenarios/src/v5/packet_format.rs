//! MQTT 5.0 section 2: MQTT Control Packet format.

use crate::wire::{prop_ids, read_vbi};
use crate::{
    ensure, require, wire, Capability, Client, Closing, Ctx, Fail, Scenario, Setup, Version::V5_0,
};
use raw_client::build::{
    packet_type, prop, Custom, Pingreq, Puback, Pubcomp, Publish, Pubrec, Pubrel, Subscribe,
    Unsubscribe,
};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.packet_format.subscribe_flags_0000_closes",
            &["MQTT-2.1.3-1"],
            subscribe_flags_0000_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.packet_format.unsubscribe_flags_0000_closes",
            &["MQTT-2.1.3-1"],
            unsubscribe_flags_0000_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.packet_format.pingreq_flags_0001_closes",
            &["MQTT-2.1.3-1"],
            pingreq_flags_0001_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.packet_format.pubrel_flags_0000_closes",
            &["MQTT-2.1.3-1"],
            pubrel_flags_0000_closes,
        )
        .lenient_receiver()
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.packet_format.server_fixed_header_flags",
            &["MQTT-2.1.3-1"],
            server_fixed_header_flags,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.packet_format.qos0_publish_has_no_packet_id",
            &["MQTT-2.2.1-2", "MQTT-2.2.2-1"],
            qos0_publish_has_no_packet_id,
        ),
        Scenario::server(
            V5_0,
            "v5.packet_format.server_packet_ids_distinct",
            &["MQTT-2.2.1-4"],
            server_packet_ids_distinct,
        )
        .needs(Capability::MaxQos(1)),
        Scenario::server(
            V5_0,
            "v5.packet_format.server_packet_ids_wrap_without_reuse",
            &["MQTT-2.2.1-4"],
            server_packet_ids_wrap_without_reuse,
        )
        .needs(Capability::MaxQos(2))
        .exclusive(),
        Scenario::server(
            V5_0,
            "v5.packet_format.acks_echo_packet_id",
            &["MQTT-2.2.1-5"],
            acks_echo_packet_id,
        )
        .needs(Capability::MaxQos(2)),
        Scenario::server(
            V5_0,
            "v5.packet_format.suback_unsuback_echo_packet_id",
            &["MQTT-2.2.1-6"],
            suback_unsuback_echo_packet_id,
        ),
        Scenario::server(
            V5_0,
            "v5.packet_format.property_length_always_present",
            &["MQTT-2.2.2-1"],
            property_length_always_present,
        ),
    ]
}

async fn closes_after(ctx: &mut Ctx, what: &str, bytes: Vec<u8>) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&bytes).await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context(&format!("after {what}")))
}

/// SUBSCRIBE with fixed-header flags 0000 (must be 0010): Malformed Packet, the server closes.
async fn subscribe_flags_0000_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = ctx.topic("f");
    let bytes = Subscribe::v5(1)
        .filter(&filter, 0)
        .flags_override(0)
        .build();
    closes_after(ctx, "a SUBSCRIBE with flags 0000", bytes).await
}

/// UNSUBSCRIBE with fixed-header flags 0000 (must be 0010): Malformed Packet, the server closes.
async fn unsubscribe_flags_0000_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = ctx.topic("f");
    let bytes = Unsubscribe::v5(1).filter(&filter).flags_override(0).build();
    closes_after(ctx, "an UNSUBSCRIBE with flags 0000", bytes).await
}

/// PINGREQ with fixed-header flags 0001 (must be 0000): Malformed Packet, the server closes.
async fn pingreq_flags_0001_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let bytes = Custom::new(packet_type::PINGREQ, 0x01).build();
    closes_after(ctx, "a PINGREQ with flags 0001", bytes).await
}

/// PUBREL with fixed-header flags 0000 (must be 0010), in a live QoS 2 exchange: Malformed
/// Packet, the server closes.
async fn pubrel_flags_0000_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q2");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v5(&topic, b"x").qos(2).packet_id(7).build())
        .await?;
    c.expect_type(packet_type::PUBREC).await?;
    c.send_bytes(&Pubrel::v5(7).flags_override(0).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context("after a PUBREL with flags 0000"))
}

fn check_first(bytes: &[u8], want: u8) -> Result<(), Fail> {
    ensure!(
        bytes.first() == Some(&want),
        format!(
            "{} with first byte 0x{want:02X} (reserved flags as listed)",
            wire::type_name(want)
        ),
        wire::describe(bytes)
    );
    Ok(())
}

/// The server's own packets carry the listed fixed-header flags: CONNACK 0x20, SUBACK 0x90,
/// UNSUBACK 0xB0, PINGRESP 0xD0, PUBACK 0x40, PUBREC 0x50, PUBCOMP 0x70, and PUBREL 0x62 when
/// it sends a QoS 2 message.
async fn server_fixed_header_flags(ctx: &mut Ctx) -> Result<(), Fail> {
    let t_in = ctx.topic("in");
    let t_out = ctx.topic("out");
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    let t = c.timeout;
    let connack = c.recv(t).await?;
    check_first(&connack.bytes, 0x20)?;

    c.send_bytes(&Subscribe::v5(1).filter(&t_in, 2).build())
        .await?;
    check_first(&c.expect_type(packet_type::SUBACK).await?, 0x90)?;
    c.send_bytes(&Pingreq::new().build()).await?;
    check_first(&c.expect_type(packet_type::PINGRESP).await?, 0xD0)?;
    c.send_bytes(&Publish::v5(&t_out, b"1").qos(1).packet_id(2).build())
        .await?;
    check_first(&c.expect_type(packet_type::PUBACK).await?, 0x40)?;
    c.send_bytes(&Publish::v5(&t_out, b"2").qos(2).packet_id(3).build())
        .await?;
    check_first(&c.expect_type(packet_type::PUBREC).await?, 0x50)?;
    c.send_bytes(&Pubrel::v5(3).build()).await?;
    check_first(&c.expect_type(packet_type::PUBCOMP).await?, 0x70)?;

    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&t_in, b"q2", 2, false).await?;
    let got = c.expect_type(packet_type::PUBLISH).await?;
    let p = wire::publish(&got, true).map_err(|e| Fail::new("a well-formed PUBLISH", e.0))?;
    if p.qos == 2 {
        let id = p.packet_id.unwrap_or(0);
        c.send_bytes(&Pubrec::v5(id).build()).await?;
        check_first(&c.expect_type(packet_type::PUBREL).await?, 0x62)?;
        c.send_bytes(&Pubcomp::v5(id).build()).await?;
    } else {
        return Err(Fail::new(
            "the QoS 2 message at QoS 2 (subscription QoS 2, Maximum QoS 2)",
            format!("PUBLISH QoS {}", p.qos),
        ));
    }
    c.send_bytes(&Unsubscribe::v5(4).filter(&t_in).build())
        .await?;
    check_first(&c.expect_type(packet_type::UNSUBACK).await?, 0xB0)?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// A QoS 0 PUBLISH from the server has no Packet Identifier: the Property Length follows the
/// topic directly, then the properties (here a User Property we sent) and the payload. A
/// message published with no properties still has its Property Length (0) when forwarded.
async fn qos0_publish_has_no_packet_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("q0");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher
        .send_bytes(
            &Publish::v5(&topic, b"payload-one")
                .property(prop::user_property("key", "value"))
                .build(),
        )
        .await?;
    let got = sub.expect_type(packet_type::PUBLISH).await?;
    let layout = qos0_layout(&got).map_err(|e| {
        Fail::new(
            "QoS 0 PUBLISH: topic, Property Length, properties, payload",
            format!("{e}: {}", wire::describe(&got)),
        )
    })?;
    // A server may add properties of its own (a User Property naming the publisher, say): the
    // statements are about the Packet Identifier and the Property Length, not about that.
    ensure!(
        layout.0.contains(&prop::USER_PROPERTY) && layout.1 == b"payload-one",
        "the Property Length right after the topic, the User Property among the properties, then payload \"payload-one\"",
        format!(
            "properties {:02x?}, payload {:?}",
            layout.0,
            String::from_utf8_lossy(&layout.1)
        )
    );
    if layout.0.len() > 1 {
        ctx.choice(format!(
            "added properties to a forwarded PUBLISH: {:02x?}",
            layout.0
        ));
    }
    publisher.publish(&topic, b"payload-two", 0, false).await?;
    let got = sub.expect_type(packet_type::PUBLISH).await?;
    let layout = qos0_layout(&got).map_err(|e| {
        Fail::new(
            "QoS 0 PUBLISH: topic, Property Length, properties, payload",
            format!("{e}: {}", wire::describe(&got)),
        )
    })?;
    ensure!(
        layout.1 == b"payload-two",
        "a Property Length after the topic, then payload \"payload-two\"",
        format!(
            "properties {:02x?}, payload {:?} ({})",
            layout.0,
            String::from_utf8_lossy(&layout.1),
            wire::describe(&got)
        )
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// Splits a QoS 0 PUBLISH as laid out without a Packet Identifier: (property ids, payload).
fn qos0_layout(bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    if bytes.first().map(|b| (b >> 1) & 3) != Some(0) {
        return Err("not QoS 0".into());
    }
    let (len, n, _) = read_vbi(bytes, 1)?;
    let body = bytes
        .get(1 + n..1 + n + len as usize)
        .ok_or("frame shorter than its Remaining Length")?;
    let tlen = usize::from(u16::from_be_bytes([
        *body.first().ok_or("no topic")?,
        *body.get(1).ok_or("no topic")?,
    ]));
    let at = 2 + tlen;
    let (plen, pn, _) = read_vbi(body, at)?;
    let block = body
        .get(at + pn..at + pn + plen as usize)
        .ok_or("property block longer than the packet")?;
    let ids = prop_ids(block)?;
    Ok((ids, body[at + pn + plen as usize..].to_vec()))
}

/// Three QoS 1 messages in flight to a subscriber that does not acknowledge: each PUBLISH has a
/// non-zero Packet Identifier, and no two are the same.
async fn server_packet_ids_distinct(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("ids");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for i in 0..3u8 {
        publisher.publish(&topic, &[b'0' + i], 1, false).await?;
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        let got = sub.expect_type(packet_type::PUBLISH).await?;
        let p = wire::publish(&got, true).map_err(|e| Fail::new("a well-formed PUBLISH", e.0))?;
        ensure!(
            p.qos == 1,
            "PUBLISH at QoS 1",
            format!("PUBLISH QoS {}", p.qos)
        );
        ids.push(p.packet_id.unwrap_or(0));
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    ensure!(
        !ids.contains(&0) && sorted.len() == 3,
        "three unacknowledged QoS 1 PUBLISH with distinct non-zero Packet Identifiers",
        format!("Packet Identifiers {ids:?}")
    );
    for id in ids {
        sub.send_bytes(&Puback::v5(id).build()).await?;
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// QoS 1 messages forwarded to the subscriber while one PUBLISH is held unacknowledged: one more
/// than there are non-zero packet identifiers besides the held one, so that a server counting
/// its identifiers up passes 65,535, wraps to 1 and comes round to the held one once.
const WRAP_MESSAGES: usize = 65_536;

/// QoS 1 PUBLISHes the publisher keeps unacknowledged at most (and fewer when the server's
/// Receive Maximum is lower).
const WRAP_WINDOW: usize = 64;

/// Both versions (3.1.1: MQTT-2.3.1-4). The subscriber keeps one QoS 2 delivery unfinished —
/// PUBREC sent, the server's PUBREL received, no PUBCOMP — so its packet identifier stays in use,
/// while 65,536 QoS 1 messages are forwarded to it and acknowledged at once: the server's
/// identifiers run through the whole 16-bit space, past 65,535 and round again, and none may be
/// the held one, 0, or another one not yet acknowledged. The held flow is QoS 2 because a client
/// must send its PUBACKs in the order of the PUBLISHes (5.0 MQTT-4.6.0-2, 3.1.1 MQTT-4.6.0-2) and
/// its PUBRECs too (-3), while no order binds its PUBCOMPs. Runs alone: about 260,000 packets.
pub(crate) async fn server_packet_ids_wrap_without_reuse(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("wrap");
    let version = ctx.protocol();
    let mut sub = ctx.connected("sub", |c| c).await?;
    require!(
        sub.subscribed(&topic, 2).await? == 2,
        "QoS 2 granted (setup)",
        "a lower QoS granted"
    );
    let mut publisher = ctx.connected("pub", |c| c).await?;
    let window = usize::from(ctx.caps().receive_maximum).clamp(1, WRAP_WINDOW);
    for c in [&mut sub, &mut publisher] {
        c.limit_transcript(40, 40);
    }
    // The first message, held at PUBREL: its identifier stays in use until the end.
    publisher.publish(&topic, b"held", 2, false).await.setup()?;
    let held = sub.next_publish().await.setup()?;
    require!(
        held.qos == 2 && held.packet_id.is_some(),
        "the first message at QoS 2 (setup)",
        held.show()
    );
    let held_id = held.packet_id.unwrap_or(0);
    sub.send_bytes(&raw_client::build::Pubrec::new(version, held_id).build())
        .await?;
    sub.next_ack(packet_type::PUBREL, held_id).await.setup()?;
    sub.note(format!(
        "holding packet identifier {held_id} (PUBREL received, no PUBCOMP sent); \
         {WRAP_MESSAGES} QoS 1 messages follow"
    ));
    let (sent, received) = tokio::join!(
        pump_qos1(&mut publisher, &topic, version, WRAP_MESSAGES, window),
        receive_ids(&mut sub, version, held_id, WRAP_MESSAGES)
    );
    // An identifier reused is the failure; messages that stopped coming (the subscriber's
    // block) are better explained by the publisher's side when that failed too.
    let (count, wrapped) = match (sent, received) {
        (_, Err(f)) if !f.is_blocked() => return Err(f),
        (Err(f), _) => return Err(f.setup(None)),
        (Ok(()), received) => received?,
    };
    require!(
        count >= usize::from(u16::MAX),
        format!("{WRAP_MESSAGES} messages forwarded while one is held (setup)"),
        format!("{count}: the rest dropped, the identifier space not run through")
    );
    ctx.choice(format!(
        "packet identifiers: {}",
        if wrapped {
            "counted past 65535 and wrapped to low values"
        } else {
            "did not run up to 65535 in order (another allocation)"
        }
    ));
    sub.send_bytes(&raw_client::build::Pubcomp::new(version, held_id).build())
        .await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// Publishes `n` QoS 1 messages (payload: the index, 4 bytes) with at most `window`
/// unacknowledged, packet identifiers 1, 2, ... wrapping past 65,535 (skipping 0 and any still
/// unacknowledged); returns when every PUBACK is in.
async fn pump_qos1(
    c: &mut Client,
    topic: &str,
    version: raw_client::ProtocolVersion,
    n: usize,
    window: usize,
) -> Result<(), Fail> {
    let mut unacked: std::collections::VecDeque<u16> = std::collections::VecDeque::new();
    let mut next: u16 = 0;
    let mut sent = 0usize;
    while sent < n || !unacked.is_empty() {
        if sent < n && unacked.len() < window {
            next = next.checked_add(1).unwrap_or(1);
            while unacked.contains(&next) {
                next = next.checked_add(1).unwrap_or(1);
            }
            let payload = (sent as u32).to_be_bytes();
            let p = raw_client::build::Publish::new(version, topic, payload)
                .qos(1)
                .packet_id(next);
            c.send_bytes(&p.build()).await?;
            unacked.push_back(next);
            sent += 1;
            continue;
        }
        let got = c.expect_type(packet_type::PUBACK).await?;
        let (id, _) = wire::ack(&got).map_err(|e| Fail::new("a PUBACK", e.0))?;
        match unacked.iter().position(|&x| x == id) {
            Some(i) => {
                unacked.remove(i);
            }
            None => {
                return Err(Fail::new(
                    format!("a PUBACK for one of the unacknowledged identifiers {unacked:?}"),
                    wire::describe(&got),
                ))
            }
        }
    }
    Ok(())
}

/// Reads the QoS 1 PUBLISHes of [`pump_qos1`] (payload: the index) until the last one, `n - 1`,
/// acknowledging each at once, and checks that none carries 0 or the `held` identifier
/// (unacknowledged all along). Returns how many arrived and whether the identifiers wrapped (one
/// of 65,535 followed by a lower one). Messages that stop coming block the scenario: that is not
/// this statement's failure.
async fn receive_ids(
    c: &mut Client,
    version: raw_client::ProtocolVersion,
    held: u16,
    n: usize,
) -> Result<(usize, bool), Fail> {
    let v5 = version == raw_client::ProtocolVersion::V5;
    let mut wrapped = false;
    let mut previous = held;
    let mut count = 0usize;
    loop {
        let got = c.expect_type(packet_type::PUBLISH).await.map_err(|f| {
            f.context(&format!(
                "all {n} messages forwarded ({count} so far; setup)"
            ))
            .setup(None)
        })?;
        let p = wire::publish(&got, v5).map_err(|e| Fail::new("a well-formed PUBLISH", e.0))?;
        let id = p.packet_id.unwrap_or(0);
        count += 1;
        // A QoS 1 message delivered at QoS 2 through the QoS 2 subscription breaks another
        // statement, and would make the exchange one of PUBRECs: nothing learnt about this one.
        require!(
            p.qos == 1,
            format!(
                "a QoS 1 message delivered at QoS 1 (setup; message {count} after the held one)"
            ),
            wire::describe(&got),
            if v5 { "MQTT-3.8.4-8" } else { "MQTT-3.8.4-6" }
        );
        ensure!(
            id != 0 && id != held,
            format!(
                "a non-zero packet identifier other than {held}, which is still \
                 in use (no PUBCOMP sent; message {count} after it)"
            ),
            wire::describe(&got)
        );
        if previous == u16::MAX && id < previous {
            wrapped = true;
        }
        previous = id;
        c.send_bytes(&Puback::new(version, id).build()).await?;
        let index = <[u8; 4]>::try_from(p.payload.as_slice())
            .ok()
            .map(u32::from_be_bytes);
        if index == Some(n as u32 - 1) {
            return Ok((count, wrapped));
        }
    }
}

async fn expect_ack_id(c: &mut Client, ty: u8, id: u16) -> Result<(), Fail> {
    let got = c.expect_type(ty).await?;
    let (got_id, _) = wire::ack(&got).map_err(|e| Fail::new("an acknowledgement", e.0))?;
    ensure!(
        got_id == id,
        format!("{} for Packet Identifier {id}", wire::type_name(ty << 4)),
        wire::describe(&got)
    );
    Ok(())
}

/// PUBACK, PUBREC and PUBCOMP from the server carry the Packet Identifier of the client's
/// PUBLISH / PUBREL; the server's PUBREL carries the one of its own QoS 2 PUBLISH.
async fn acks_echo_packet_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let t_in = ctx.topic("in");
    let t_out = ctx.topic("out");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&t_in, 2).await?;
    c.send_bytes(&Publish::v5(&t_out, b"1").qos(1).packet_id(0x1234).build())
        .await?;
    expect_ack_id(&mut c, packet_type::PUBACK, 0x1234).await?;
    c.send_bytes(&Publish::v5(&t_out, b"2").qos(2).packet_id(0xBEEF).build())
        .await?;
    expect_ack_id(&mut c, packet_type::PUBREC, 0xBEEF).await?;
    c.send_bytes(&Pubrel::v5(0xBEEF).build()).await?;
    expect_ack_id(&mut c, packet_type::PUBCOMP, 0xBEEF).await?;

    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&t_in, b"3", 2, false).await?;
    let got = c.expect_type(packet_type::PUBLISH).await?;
    let p = wire::publish(&got, true).map_err(|e| Fail::new("a well-formed PUBLISH", e.0))?;
    ensure!(
        p.qos == 2,
        "the message at QoS 2",
        format!("PUBLISH QoS {}", p.qos)
    );
    let id = p.packet_id.unwrap_or(0);
    c.send_bytes(&Pubrec::v5(id).build()).await?;
    expect_ack_id(&mut c, packet_type::PUBREL, id).await?;
    c.send_bytes(&Pubcomp::v5(id).build()).await?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// Two SUBSCRIBE and an UNSUBSCRIBE sent back to back with distinct Packet Identifiers: each
/// SUBACK / UNSUBACK carries the identifier of the packet it answers.
async fn suback_unsuback_echo_packet_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = ctx.topic("a");
    let b = ctx.topic("b");
    let mut c = ctx.connected("client", |c| c).await?;
    let mut bytes = Subscribe::v5(0x0101).filter(&a, 0).build();
    bytes.extend(Subscribe::v5(0x7FFF).filter(&b, 1).build());
    bytes.extend(Unsubscribe::v5(0x0202).filter(&a).build());
    c.send_bytes(&bytes).await?;
    let mut subacks = Vec::new();
    let mut unsubacks = Vec::new();
    for _ in 0..3 {
        let t = c.timeout;
        let r = c.recv(t).await?;
        let ty = r.bytes.first().map_or(0, |b| b >> 4);
        let (id, _) = wire::suback(&r.bytes, true).map_err(|e| Fail::new("an ack", e.0))?;
        match ty {
            9 => subacks.push(id),
            11 => unsubacks.push(id),
            _ => return Err(Fail::new("SUBACK or UNSUBACK", wire::describe(&r.bytes))),
        }
    }
    subacks.sort_unstable();
    ensure!(
        subacks == [0x0101, 0x7FFF] && unsubacks == [0x0202],
        "SUBACKs for 0x0101 and 0x7FFF, UNSUBACK for 0x0202",
        format!("SUBACK ids {subacks:04x?}, UNSUBACK ids {unsubacks:04x?}")
    );
    c.disconnect().await
}

/// Checks that the Property Length of a packet with no further fields before it than `skip`
/// bytes is present, and that exactly `tail` bytes follow the property block.
fn check_property_length(bytes: &[u8], skip: usize, tail: usize) -> Result<(), String> {
    let (len, n, _) = read_vbi(bytes, 1)?;
    let body = bytes
        .get(1 + n..1 + n + len as usize)
        .ok_or("frame shorter than its Remaining Length")?;
    let (plen, pn, _) = read_vbi(body, skip).map_err(|e| format!("no Property Length: {e}"))?;
    let end = skip + pn + plen as usize;
    if end > body.len() {
        return Err(format!(
            "Property Length {plen} runs past the end of the packet"
        ));
    }
    if body.len() - end != tail {
        return Err(format!(
            "{} bytes after the property block, {tail} expected",
            body.len() - end
        ));
    }
    prop_ids(&body[skip + pn..end])?;
    Ok(())
}

/// CONNACK, SUBACK and UNSUBACK always carry their Property Length, even with no properties:
/// CONNACK is flags, reason code, Property Length and properties, nothing after; SUBACK and
/// UNSUBACK are the identifier, Property Length, properties, then one code per filter.
async fn property_length_always_present(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("p");
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    let t = c.timeout;
    let r = c.recv(t).await?;
    ensure!(
        r.bytes.first() == Some(&0x20),
        "CONNACK",
        wire::describe(&r.bytes)
    );
    check_property_length(&r.bytes, 2, 0).map_err(|e| {
        Fail::new(
            "CONNACK with a Property Length",
            format!("{e}: {}", wire::describe(&r.bytes)),
        )
    })?;
    c.send_bytes(&Subscribe::v5(1).filter(&topic, 1).build())
        .await?;
    let got = c.expect_type(packet_type::SUBACK).await?;
    check_property_length(&got, 2, 1).map_err(|e| {
        Fail::new(
            "SUBACK: identifier, Property Length, properties, one reason code",
            format!("{e}: {}", wire::describe(&got)),
        )
    })?;
    c.send_bytes(&Unsubscribe::v5(2).filter(&topic).build())
        .await?;
    let got = c.expect_type(packet_type::UNSUBACK).await?;
    check_property_length(&got, 2, 1).map_err(|e| {
        Fail::new(
            "UNSUBACK: identifier, Property Length, properties, one reason code",
            format!("{e}: {}", wire::describe(&got)),
        )
    })?;
    c.disconnect().await
}
