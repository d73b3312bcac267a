//! MQTT 3.1.1 section 1.5: Data representation.

use crate::{ensure, wire, Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type as pt, Publish, Subscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.data.surrogate_in_topic_closes",
            &["MQTT-1.5.3-1"],
            surrogate_in_topic_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.data.invalid_utf8_in_filter_closes",
            &["MQTT-1.5.3-1"],
            invalid_utf8_in_filter_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.data.invalid_utf8_client_id_closes",
            &["MQTT-1.5.3-1"],
            invalid_utf8_client_id_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.data.invalid_utf8_will_topic_closes",
            &["MQTT-1.5.3-1"],
            invalid_utf8_will_topic_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.data.invalid_utf8_username_closes",
            &["MQTT-1.5.3-1"],
            invalid_utf8_username_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.data.null_in_topic_closes",
            &["MQTT-1.5.3-2"],
            null_in_topic_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.data.null_in_client_id_closes",
            &["MQTT-1.5.3-2"],
            null_in_client_id_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.data.bom_kept_in_topic",
            &["MQTT-1.5.3-3"],
            bom_kept_in_topic,
        ),
    ]
}

/// `prefix` followed by raw bytes.
fn with_bytes(prefix: &str, bytes: &[u8]) -> Vec<u8> {
    let mut v = prefix.as_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

/// PUBLISH whose topic holds ED A0 80 (the surrogate U+D800): the server closes.
async fn surrogate_in_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = with_bytes(&ctx.topic("s"), &[0xED, 0xA0, 0x80]);
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"x").build()).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after PUBLISH with topic bytes ... ED A0 80"))
}

/// SUBSCRIBE whose filter holds C3 28 (a lead byte followed by an ASCII byte): the server closes.
async fn invalid_utf8_in_filter_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = with_bytes(&ctx.topic("f"), &[0xC3, 0x28]);
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Subscribe::v311(1).filter(&filter, 0).build())
        .await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after SUBSCRIBE with filter bytes ... C3 28"))
}

/// CONNECT whose Client Identifier ends with FF (never valid in UTF-8): the server closes.
/// Refusing the identifier with CONNACK 0x02 before closing also closes the connection
/// (MQTT-3.1.3-9), so both are accepted.
async fn invalid_utf8_client_id_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = with_bytes(&ctx.client_id("client"), &[0xFF]);
    let packet = ctx.connect_packet("client").client_id(&id).build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently().or_connack(&[0x02]))
        .await
        .map_err(|f| f.context("after CONNECT with client identifier bytes ... FF"))
}

/// CONNECT whose Will Topic holds ED A0 80: the server closes without accepting it.
async fn invalid_utf8_will_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = with_bytes(&ctx.topic("w"), &[0xED, 0xA0, 0x80]);
    let packet = ctx
        .connect_packet("client")
        .will(raw_client::build::Will::new(&topic, b"gone"))
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after CONNECT with will topic bytes ... ED A0 80"))
}

/// CONNECT whose User Name holds C3 28: the server closes. A CONNACK 0x04 (bad user name or
/// password) before the close also closes the connection, so it is accepted.
async fn invalid_utf8_username_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = ctx.client_id("client");
    let packet = raw_client::build::Connect::v311(&id)
        .username([b'u', 0xC3, 0x28])
        .build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently().or_connack(&[0x04]))
        .await
        .map_err(|f| f.context("after CONNECT with user name bytes 75 C3 28"))
}

/// PUBLISH whose topic holds a 0x00 byte (U+0000): the server closes.
async fn null_in_topic_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = with_bytes(&ctx.topic("a"), &[0x00, b'b']);
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(&topic, b"x").build()).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context("after PUBLISH with topic bytes ... 61 00 62"))
}

/// CONNECT whose Client Identifier holds a 0x00 byte: the server closes (CONNACK 0x02 first is
/// a refusal of the identifier, also a close).
async fn null_in_client_id_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let id = with_bytes(&ctx.client_id("client"), &[0x00, b'z']);
    let packet = ctx.connect_packet("client").client_id(&id).build();
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&packet).await?;
    c.expect_closed(Closing::silently().or_connack(&[0x02]))
        .await
        .map_err(|f| f.context("after CONNECT with client identifier bytes ... 00 7A"))
}

/// EF BB BF (U+FEFF) inside a topic is an ordinary character: a message published to a topic
/// holding it reaches its subscriber with those bytes intact, and not a subscriber to the same
/// topic without them.
async fn bom_kept_in_topic(ctx: &mut Ctx) -> Result<(), Fail> {
    let plain = ctx.topic("bom");
    let bom = with_bytes(&ctx.topic(""), &[0xEF, 0xBB, 0xBF, b'b', b'o', b'm']);
    let mut with = ctx.connected("with", |c| c).await?;
    with.send_bytes(&Subscribe::v311(1).filter(&bom, 0).build())
        .await?;
    let ack = with.expect_type(pt::SUBACK).await?;
    let (_, codes) =
        wire::suback(&ack, false).map_err(|e| Fail::new("a well-formed SUBACK", format!("{e}")))?;
    ensure!(
        codes == [0],
        "SUBACK granting QoS 0 for the filter holding EF BB BF",
        wire::describe(&ack)
    );
    let mut without = ctx.connected("without", |c| c).await?;
    without.subscribed(&plain, 0).await?;

    let mut publ = ctx.connected("pub", |c| c).await?;
    publ.send_bytes(&Publish::v311(&bom, b"bom").build())
        .await?;
    let p = with.expect_publish().await?;
    ensure!(
        p.topic == bom && p.payload == b"bom",
        format!("PUBLISH with topic bytes [{}]", wire::hex(&bom, 64)),
        format!("topic bytes [{}]", wire::hex(&p.topic, 64))
    );
    without
        .expect_silence()
        .await
        .map_err(|f| f.context("a subscriber to the topic without U+FEFF"))?;
    publ.disconnect().await?;
    without.disconnect().await?;
    with.disconnect().await
}
