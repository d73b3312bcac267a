//! MQTT 5.0 section 6: WebSocket transport.
//!
//! These run only against a `ws://` target (`Capability::WebSocket`; skipped otherwise with
//! "target is not a WebSocket transport"). Each `send_bytes` of the raw client is one binary
//! frame, so a scenario chooses the framing by how it splits its bytes. The bodies are shared
//! with 3.1.1 (`v311::websocket`), whose section 6 has the same statements. MQTT-6.0.0-3
//! binds the client and is not server-observable.

use crate::{ensure, Capability, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, Pingreq};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.websocket.text_frame_closes",
            &["MQTT-6.0.0-1"],
            text_frame_closes,
        )
        .needs(Capability::WebSocket),
        Scenario::server(
            V5_0,
            "v5.websocket.packets_ignore_frame_edges",
            &["MQTT-6.0.0-2"],
            packets_ignore_frame_edges,
        )
        .needs(Capability::WebSocket),
        Scenario::server(
            V5_0,
            "v5.websocket.subprotocol_mqtt_selected",
            &["MQTT-6.0.0-4"],
            subprotocol_mqtt_selected,
        )
        .needs(Capability::WebSocket),
    ]
}

/// A text frame after CONNACK: MQTT goes in binary frames only, and the server closes the
/// connection (a DISCONNECT before the close is tolerated: 0x81 Malformed Packet or 0x82
/// Protocol Error in 5.0).
pub(crate) async fn text_frame_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_ws_text("PINGREQ").await?;
    let closing = if ctx.is_v5() {
        Closing::silently().or_disconnect(&[0x81, 0x82])
    } else {
        Closing::silently()
    };
    c.expect_closed(closing).await
}

/// The CONNECT split across two binary frames is answered with CONNACK; two PINGREQs in one
/// frame are answered with two PINGRESPs.
pub(crate) async fn packets_ignore_frame_edges(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect = ctx.connect_packet("client").build();
    let mut c = ctx.connect("client").await?;
    let (first, rest) = connect.split_at(3.min(connect.len()));
    c.send_bytes(first).await?;
    c.send_bytes(rest).await?;
    c.expect_connack(0x00)
        .await
        .map_err(|f| f.context("after a CONNECT split across two frames"))?;
    let ping = Pingreq::new().build();
    c.send_bytes(&[ping.as_slice(), ping.as_slice()].concat())
        .await?;
    for n in ["first", "second"] {
        c.expect_type(packet_type::PINGRESP)
            .await
            .map_err(|f| f.context(&format!("{n} of two PINGREQs in one frame")))?;
    }
    c.disconnect().await
}

/// The upgrade offered `mqtt`; the server's 101 response selects exactly `mqtt`.
pub(crate) async fn subprotocol_mqtt_selected(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connect("client").await?;
    let selected = c.ws_subprotocol();
    ensure!(
        selected.as_deref() == Some("mqtt"),
        "Sec-WebSocket-Protocol: mqtt in the upgrade response",
        match selected {
            Some(p) => format!("Sec-WebSocket-Protocol: {p}"),
            None => "no Sec-WebSocket-Protocol".to_owned(),
        }
    );
    Ok(())
}
