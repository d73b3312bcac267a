//! MQTT 3.1.1 section 2: MQTT Control Packet format.

use crate::{ensure, wire, Client, Closing, Ctx, Fail, Scenario, Version::V3_1_1, EXPECT};
use raw_client::build::{
    malformed, packet_type as pt, Custom, Pingreq, Puback, Pubcomp, Publish, Pubrec, Pubrel,
    Subscribe, Unsubscribe,
};
use raw_client::ProtocolVersion::V3_1_1 as P311;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.packet_format.server_fixed_header_flags",
            &["MQTT-2.2.2-1"],
            server_fixed_header_flags,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.pingreq_bad_flags_closes",
            &["MQTT-2.2.2-2"],
            pingreq_bad_flags_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.subscribe_bad_flags_closes",
            &["MQTT-2.2.2-2"],
            subscribe_bad_flags_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.unsubscribe_bad_flags_closes",
            &["MQTT-2.2.2-2"],
            unsubscribe_bad_flags_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.pubrel_bad_flags_closes",
            &["MQTT-2.2.2-2"],
            pubrel_bad_flags_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.connect_bad_header_flags_closes",
            &["MQTT-2.2.2-2"],
            connect_bad_header_flags_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.disconnect_bad_flags_closes",
            &["MQTT-2.2.2-2"],
            disconnect_bad_flags_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.server_publish_packet_ids",
            &["MQTT-2.3.1-1", "MQTT-2.3.1-5"],
            server_publish_packet_ids,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.server_ids_distinct_and_kept_on_resend",
            &["MQTT-2.3.1-4"],
            server_ids_distinct_and_kept_on_resend,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.server_packet_ids_wrap_without_reuse",
            &["MQTT-2.3.1-4"],
            crate::v5::packet_format::server_packet_ids_wrap_without_reuse,
        )
        .needs(crate::Capability::MaxQos(2))
        .exclusive(),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.publish_acks_echo_packet_id",
            &["MQTT-2.3.1-6"],
            publish_acks_echo_packet_id,
        ),
        Scenario::server(
            V3_1_1,
            "v311.packet_format.suback_unsuback_echo_packet_id",
            &["MQTT-2.3.1-7"],
            suback_unsuback_echo_packet_id,
        ),
    ]
}

/// Receives the next packet and requires its first byte (type and flags) to be `first`.
async fn expect_first_byte(c: &mut Client, first: u8) -> Result<Vec<u8>, Fail> {
    let expected = format!(
        "{} with fixed header byte 0x{first:02X}",
        wire::type_name(first)
    );
    let r = c
        .recv(EXPECT)
        .await
        .map_err(|e| Fail::from(e).with_expected(&expected))?;
    ensure!(
        r.bytes.first() == Some(&first),
        expected,
        wire::describe(&r.bytes)
    );
    Ok(r.bytes)
}

/// Reads a packet identifier (bytes 2-3 after a one-byte remaining length) from an ack.
fn ack_id(bytes: &[u8]) -> Result<u16, Fail> {
    wire::ack(bytes)
        .map(|(id, _)| id)
        .map_err(|e| Fail::new("a well-formed acknowledgement", format!("{e}")))
}

/// Every packet the server sends has the fixed-header flags of Table 2.2: CONNACK 0x20,
/// PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70, SUBACK 0x90, UNSUBACK 0xB0, PINGRESP 0xD0.
async fn server_fixed_header_flags(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("flags");
    let mut sub = ctx.connect("sub").await?;
    sub.send_bytes(&ctx.connect_packet("sub").build()).await?;
    expect_first_byte(&mut sub, 0x20).await?;
    sub.send_bytes(&Subscribe::v311(7).filter(&topic, 2).build())
        .await?;
    expect_first_byte(&mut sub, 0x90).await?;

    let mut publ = ctx.connected("pub", |c| c).await?;
    // QoS 1: PUBACK to the publisher.
    publ.send_bytes(&Publish::v311(&topic, b"q1").qos(1).packet_id(1).build())
        .await?;
    expect_first_byte(&mut publ, 0x40).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.payload == b"q1",
        "the QoS 1 message \"q1\"",
        format!("payload {:?}", String::from_utf8_lossy(&p.payload))
    );
    // QoS 2: PUBREC and PUBCOMP to the publisher.
    publ.send_bytes(&Publish::v311(&topic, b"q2").qos(2).packet_id(2).build())
        .await?;
    expect_first_byte(&mut publ, 0x50).await?;
    publ.send_bytes(&Pubrel::v311(2).build()).await?;
    expect_first_byte(&mut publ, 0x70).await?;
    // QoS 2 delivery: PUBREL to the subscriber.
    let got = sub.expect_type(pt::PUBLISH).await?;
    let p = wire::publish(&got, false)
        .map_err(|e| Fail::new("a well-formed PUBLISH", format!("{e}")))?;
    let id = match (p.qos, p.packet_id) {
        (2, Some(id)) => id,
        _ => {
            return Err(Fail::new(
                "the message \"q2\" at QoS 2",
                wire::describe(&got),
            ))
        }
    };
    sub.send_bytes(&Pubrec::v311(id).build()).await?;
    expect_first_byte(&mut sub, 0x62).await?;
    sub.send_bytes(&Pubcomp::v311(id).build()).await?;
    sub.send_bytes(&Unsubscribe::v311(8).filter(&topic).build())
        .await?;
    expect_first_byte(&mut sub, 0xB0).await?;
    sub.send_bytes(&Pingreq::new().build()).await?;
    expect_first_byte(&mut sub, 0xD0).await?;
    publ.disconnect().await?;
    sub.disconnect().await
}

/// PINGREQ with flags 0001 (first byte 0xC1): the server closes without answering.
async fn pingreq_bad_flags_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Pingreq::new().flags_override(0x1).build())
        .await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after PINGREQ with first byte 0xC1"))
}

/// SUBSCRIBE with flags 0000 (first byte 0x80): the server closes without a SUBACK.
async fn subscribe_bad_flags_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("f");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&malformed::subscribe_reserved_flags(P311, 1, &topic))
        .await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after SUBSCRIBE with flags 0000"))
}

/// UNSUBSCRIBE with flags 0000 (first byte 0xA0): the server closes without an UNSUBACK.
async fn unsubscribe_bad_flags_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("f");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Unsubscribe::v311(1)
            .filter(&topic)
            .flags_override(0x0)
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after UNSUBSCRIBE with flags 0000"))
}

/// PUBREL with flags 0000 (first byte 0x60) in a QoS 2 flow: the server closes without PUBCOMP.
async fn pubrel_bad_flags_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("f");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"x").qos(2).packet_id(5).build())
        .await?;
    let rec = c.expect_type(pt::PUBREC).await?;
    ensure!(
        ack_id(&rec)? == 5,
        "PUBREC for packet identifier 5",
        wire::describe(&rec)
    );
    c.send_bytes(&Pubrel::v311(5).flags_override(0x0).build())
        .await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after PUBREL with flags 0000"))
}

/// CONNECT with fixed-header flags 0001 (first byte 0x11): the server closes without CONNACK.
async fn connect_bad_header_flags_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let packet = ctx.connect_packet("client").flags_override(0x1).build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after CONNECT with first byte 0x11"))
}

/// DISCONNECT with flags 0001 (first byte 0xE1): the server closes the connection.
async fn disconnect_bad_flags_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Custom::new(pt::DISCONNECT, 0x1).build())
        .await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after DISCONNECT with first byte 0xE1"))
}

/// Server deliveries: QoS 1 and 2 PUBLISH carry a non-zero Packet Identifier; a QoS 0 PUBLISH
/// has none (the payload follows the topic directly).
async fn server_publish_packet_ids(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("ids");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 2).await?;
    let mut publ = ctx.connected("pub", |c| c).await?;
    for (qos, payload) in [(0u8, &b"qos0"[..]), (1, b"qos1"), (2, b"qos2")] {
        publ.publish(&topic, payload, qos, false).await?;
        let got = sub.expect_type(pt::PUBLISH).await?;
        let p = wire::publish(&got, false)
            .map_err(|e| Fail::new("a well-formed PUBLISH", format!("{e}")))?;
        let expected = format!(
            "PUBLISH {:?} at QoS {qos}",
            String::from_utf8_lossy(payload)
        );
        ensure!(
            p.qos == qos,
            expected,
            format!("QoS {}: {}", p.qos, wire::describe(&got))
        );
        if qos == 0 {
            // No identifier: the topic is followed by the payload, and the frame is exactly
            // fixed header + topic + payload.
            let len = 2 + topic.len() + payload.len();
            ensure!(
                p.packet_id.is_none() && p.payload == payload && got.len() == 2 + len,
                format!("QoS 0 PUBLISH without Packet Identifier (remaining length {len})"),
                wire::describe(&got)
            );
        } else {
            let id = p.packet_id.unwrap_or(0);
            ensure!(
                id != 0 && p.payload == payload,
                format!("{expected} with a non-zero Packet Identifier"),
                format!("Packet Identifier {id}: {}", wire::describe(&got))
            );
            if qos == 1 {
                sub.send_bytes(&Puback::v311(id).build()).await?;
            } else {
                sub.send_bytes(&Pubrec::v311(id).build()).await?;
                let rel = sub.expect_type(pt::PUBREL).await?;
                ensure!(
                    ack_id(&rel)? == id,
                    format!("PUBREL for packet identifier {id}"),
                    wire::describe(&rel)
                );
                sub.send_bytes(&Pubcomp::v311(id).build()).await?;
            }
        }
    }
    publ.disconnect().await?;
    sub.disconnect().await
}

/// A subscriber that withholds its PUBACKs gets distinct identifiers for the messages in
/// flight; after it reconnects (Clean Session 0) the server resends each with its original
/// identifier.
async fn server_ids_distinct_and_kept_on_resend(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("inflight");
    let payloads: [&[u8]; 4] = [b"m1", b"m2", b"m3", b"m4"];
    let mut sub = ctx.connected("sub", |c| c.clean_start(false)).await?;
    sub.subscribed(&topic, 1).await?;
    let mut publ = ctx.connected("pub", |c| c).await?;
    for p in payloads {
        publ.publish(&topic, p, 1, false).await?;
    }
    publ.disconnect().await?;

    let mut first: Vec<(Vec<u8>, u16)> = Vec::new();
    for _ in payloads {
        let got = sub.expect_type(pt::PUBLISH).await?;
        let p = wire::publish(&got, false)
            .map_err(|e| Fail::new("a well-formed PUBLISH", format!("{e}")))?;
        let id = p.packet_id.unwrap_or(0);
        ensure!(
            id != 0 && first.iter().all(|(_, other)| *other != id),
            "a Packet Identifier not used by another unacknowledged PUBLISH",
            format!(
                "Packet Identifier {id}; in flight already: {:?}",
                first.iter().map(|(_, i)| *i).collect::<Vec<_>>()
            )
        );
        first.push((p.payload, id));
    }
    // Drop the connection without acknowledging anything.
    sub.close().await;
    drop(sub);

    let mut sub = ctx.connect("sub").await?;
    sub.send_bytes(&ctx.connect_packet("sub").clean_start(false).build())
        .await?;
    sub.expect_connack(0).await?;
    let mut resent = 0;
    while resent < first.len() {
        let got = sub
            .expect_type(pt::PUBLISH)
            .await
            .map_err(|f| f.context("resending the unacknowledged messages after reconnect"))?;
        let p = wire::publish(&got, false)
            .map_err(|e| Fail::new("a well-formed PUBLISH", format!("{e}")))?;
        let id = p.packet_id.unwrap_or(0);
        sub.send_bytes(&Puback::v311(id).build()).await?;
        match first.iter().find(|(payload, _)| *payload == p.payload) {
            Some((_, orig)) => {
                ensure!(
                    *orig == id,
                    format!(
                        "the resent {:?} with its original Packet Identifier {orig}",
                        String::from_utf8_lossy(&p.payload)
                    ),
                    format!("Packet Identifier {id}")
                );
                resent += 1;
            }
            None => {
                return Err(Fail::new(
                    "only the unacknowledged messages resent",
                    wire::describe(&got),
                ))
            }
        }
    }
    sub.disconnect().await?;
    // End the persistent session.
    let mut end = ctx.connected("sub", |c| c.clean_start(true)).await?;
    end.disconnect().await
}

/// PUBACK, PUBREC and PUBREL carry the Packet Identifier of their PUBLISH: the server's acks to
/// a publisher (ids 0x1234 and 0xFFFF) and the server's PUBREL to a QoS 2 subscriber.
async fn publish_acks_echo_packet_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("acks");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 2).await?;
    let mut publ = ctx.connected("pub", |c| c).await?;

    publ.send_bytes(
        &Publish::v311(&topic, b"one")
            .qos(1)
            .packet_id(0x1234)
            .build(),
    )
    .await?;
    let ack = publ.expect_type(pt::PUBACK).await?;
    ensure!(
        ack_id(&ack)? == 0x1234,
        "PUBACK for packet identifier 0x1234",
        wire::describe(&ack)
    );
    sub.expect_publish().await?;

    publ.send_bytes(
        &Publish::v311(&topic, b"two")
            .qos(2)
            .packet_id(0xFFFF)
            .build(),
    )
    .await?;
    let rec = publ.expect_type(pt::PUBREC).await?;
    ensure!(
        ack_id(&rec)? == 0xFFFF,
        "PUBREC for packet identifier 0xFFFF",
        wire::describe(&rec)
    );
    publ.send_bytes(&Pubrel::v311(0xFFFF).build()).await?;
    let comp = publ.expect_type(pt::PUBCOMP).await?;
    ensure!(
        ack_id(&comp)? == 0xFFFF,
        "PUBCOMP for packet identifier 0xFFFF",
        wire::describe(&comp)
    );

    let got = sub.expect_type(pt::PUBLISH).await?;
    let p = wire::publish(&got, false)
        .map_err(|e| Fail::new("a well-formed PUBLISH", format!("{e}")))?;
    let id = match (p.qos, p.packet_id) {
        (2, Some(id)) => id,
        _ => return Err(Fail::new("PUBLISH \"two\" at QoS 2", wire::describe(&got))),
    };
    sub.send_bytes(&Pubrec::v311(id).build()).await?;
    let rel = sub.expect_type(pt::PUBREL).await?;
    ensure!(
        ack_id(&rel)? == id,
        format!("PUBREL for packet identifier {id} (that of the PUBLISH)"),
        wire::describe(&rel)
    );
    sub.send_bytes(&Pubcomp::v311(id).build()).await?;
    publ.disconnect().await?;
    sub.disconnect().await
}

/// SUBACK and UNSUBACK carry the Packet Identifier of the SUBSCRIBE / UNSUBSCRIBE they answer.
async fn suback_unsuback_echo_packet_id(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("echo");
    let mut c = ctx.connected("client", |c| c).await?;
    for id in [0x1234u16, 0xFFFF, 1] {
        c.send_bytes(&Subscribe::v311(id).filter(&topic, 1).build())
            .await?;
        let got = c.expect_type(pt::SUBACK).await?;
        let (got_id, _) = wire::suback(&got, false)
            .map_err(|e| Fail::new("a well-formed SUBACK", format!("{e}")))?;
        ensure!(
            got_id == id,
            format!("SUBACK for packet identifier 0x{id:04X}"),
            wire::describe(&got)
        );
        c.send_bytes(&Unsubscribe::v311(id).filter(&topic).build())
            .await?;
        let got = c.expect_type(pt::UNSUBACK).await?;
        ensure!(
            ack_id(&got)? == id,
            format!("UNSUBACK for packet identifier 0x{id:04X}"),
            wire::describe(&got)
        );
    }
    c.disconnect().await
}
