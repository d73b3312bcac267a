//! MQTT 5.0 section 1.5: Data representation.
//!
//! Also holds the small byte readers the 1.5 / 2 / 3.1 / 3.2 scenarios share (Variable Byte
//! Integers with their encoded length, property identifiers of a property block, the property
//! block of an acknowledgement).

use crate::wire::read_vbi;
use crate::{ensure, wire, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, prop, Property, Publish, Writer};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.data.invalid_utf8_topic_closes",
            &["MQTT-1.5.4-1"],
            invalid_utf8_topic_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.data.surrogate_in_topic_closes",
            &["MQTT-1.5.4-1"],
            surrogate_in_topic_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.data.null_char_in_topic_closes",
            &["MQTT-1.5.4-2"],
            null_char_in_topic_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.data.bom_in_topic_kept",
            &["MQTT-1.5.4-3"],
            bom_in_topic_kept,
        ),
        Scenario::server(
            V5_0,
            "v5.data.server_vbi_minimal",
            &["MQTT-1.5.5-1"],
            server_vbi_minimal,
        ),
        Scenario::server(
            V5_0,
            "v5.data.user_property_invalid_utf8_closes",
            &["MQTT-1.5.7-1"],
            user_property_invalid_utf8_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.data.user_property_null_char_closes",
            &["MQTT-1.5.7-1"],
            user_property_null_char_closes,
        )
        .lenient_receiver(),
    ]
}

/// Sends `publish` on a fresh connection: the server closes, silently or after DISCONNECT 0x81.
async fn publish_closes(ctx: &mut Ctx, publish: Vec<u8>) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&publish).await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
        .map_err(|f| f.context("after the malformed PUBLISH"))
}

/// A PUBLISH whose topic holds ill-formed UTF-8 (a lone continuation byte, `FF`): Malformed
/// Packet, the server closes (DISCONNECT 0x81 allowed first).
async fn invalid_utf8_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut topic = ctx.topic("bad").into_bytes();
    topic.extend_from_slice(&[0x80, 0xff]);
    publish_closes(ctx, Publish::v5(topic, b"x").build()).await
}

/// A PUBLISH whose topic encodes the surrogate U+D800 (`ED A0 80`): Malformed Packet.
async fn surrogate_in_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut topic = ctx.topic("bad").into_bytes();
    topic.extend_from_slice(&[0xed, 0xa0, 0x80]);
    publish_closes(ctx, Publish::v5(topic, b"x").build()).await
}

/// A PUBLISH whose topic contains U+0000: Malformed Packet.
async fn null_char_in_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut topic = ctx.topic("a").into_bytes();
    topic.extend_from_slice(&[0x00, b'b']);
    publish_closes(ctx, Publish::v5(topic, b"x").build()).await
}

/// U+FEFF (`EF BB BF`) inside a topic is not skipped or stripped: a subscriber to that exact
/// topic gets the message with the topic byte for byte.
async fn bom_in_topic_kept(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a\u{feff}b");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"bom", 0, false).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.topic == topic.as_bytes() && p.payload == b"bom",
        format!("PUBLISH on topic [{}]", wire::hex(topic.as_bytes(), 64)),
        format!("PUBLISH on topic [{}]", wire::hex(&p.topic, 64))
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// Every Variable Byte Integer the server writes is minimal: the Remaining Length of CONNACK,
/// SUBACK and of a forwarded PUBLISH larger than 127 bytes (two-byte length) and larger than
/// 16 383 bytes (three-byte length), and the PUBLISH's Property Length.
async fn server_vbi_minimal(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("v");
    let mut sub = ctx.connect("sub").await?;
    sub.send_bytes(&ctx.connect_packet("sub").build()).await?;
    let t = sub.timeout;
    let r = sub.recv(t).await?;
    check_minimal(&r.bytes, "CONNACK")?;
    ensure!(
        r.bytes.first() == Some(&0x20),
        "CONNACK",
        wire::describe(&r.bytes)
    );
    let id = sub.packet_id();
    sub.send_bytes(
        &raw_client::build::Subscribe::v5(id)
            .filter(&topic, 0)
            .build(),
    )
    .await?;
    let suback = sub.expect_type(packet_type::SUBACK).await?;
    check_minimal(&suback, "SUBACK")?;

    let mut publisher = ctx.connected("pub", |c| c).await?;
    for size in [200usize, 20_000] {
        let payload = vec![b'p'; size];
        publisher
            .send_bytes(
                &Publish::v5(&topic, &payload)
                    .property(prop::user_property("k", "v"))
                    .build(),
            )
            .await?;
        let got = sub.expect_type(packet_type::PUBLISH).await?;
        check_minimal(&got, &format!("PUBLISH of {size} payload bytes"))?;
        let p = wire::publish(&got, true).map_err(|e| Fail::new("a well-formed PUBLISH", e.0))?;
        // The Property Length follows the topic (QoS 0: no packet identifier).
        let (_, n, _) = read_vbi(&got, 1).map_err(|e| Fail::new("a PUBLISH", e))?;
        let at = 1 + n + 2 + p.topic.len();
        let (_, _, minimal) = read_vbi(&got, at).map_err(|e| Fail::new("a PUBLISH", e))?;
        ensure!(
            minimal,
            "a minimal Property Length in the PUBLISH",
            format!("[{}]", wire::hex(&got[at..], 8))
        );
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}

fn check_minimal(bytes: &[u8], what: &str) -> Result<(), Fail> {
    let (_, n, minimal) = read_vbi(bytes, 1).map_err(|e| Fail::new(what.to_string(), e))?;
    ensure!(
        minimal,
        format!("{what} with a minimally encoded Remaining Length"),
        format!(
            "Remaining Length bytes [{}]",
            wire::hex(&bytes[1..1 + n], 8)
        )
    );
    Ok(())
}

/// A PUBLISH whose User Property `pair` is given as raw name and value bytes.
fn publish_with_pair(topic: &str, name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(name).string(value);
    Publish::v5(topic, b"x")
        .property(Property::raw(prop::USER_PROPERTY, w.into_bytes()))
        .build()
}

/// A User Property whose name is ill-formed UTF-8 (`C3 28`): Malformed Packet, close.
async fn user_property_invalid_utf8_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("up");
    publish_closes(ctx, publish_with_pair(&topic, &[b'k', 0xc3, 0x28], b"v")).await
}

/// A User Property whose value contains U+0000: Malformed Packet, close.
async fn user_property_null_char_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("up");
    publish_closes(ctx, publish_with_pair(&topic, b"k", &[b'v', 0x00, b'w'])).await
}
