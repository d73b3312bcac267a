//! MQTT 5.0 section 4.12: enhanced authentication.

use crate::{ensure, wire, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, prop, Connect, Pingreq};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.unknown_method_refused",
            &["MQTT-4.12.0-1"],
            unknown_method_refused,
        ),
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.no_method_no_auth",
            &["MQTT-4.12.0-6"],
            no_method_no_auth,
        ),
    ]
}

/// CONNECT with an Authentication Method the server does not support: the server closes, maybe
/// after CONNACK 0x8C (Bad authentication method) or 0x87 (Not authorized); never CONNACK 0x00.
async fn unknown_method_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect: Connect = ctx
        .connect_packet("client")
        .property(prop::authentication_method("mqttconf-unknown-method"))
        .property(prop::authentication_data(b"x"));
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&connect.build()).await?;
    c.expect_closed(Closing::silently().or_connack(&[0x8C, 0x87]))
        .await
        .map_err(|f| f.context("after CONNECT with Authentication Method mqttconf-unknown-method"))
}

/// CONNECT without Authentication Method: the CONNACK carries no Authentication Method (0x15),
/// and no AUTH follows (a PINGREQ gets its PINGRESP as next packet, then silence).
async fn no_method_no_auth(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    let connack = c.connack.clone().unwrap_or_else(|| wire::Connack {
        flags: 0,
        code: 0,
        properties: Vec::new(),
    });
    ensure!(
        !connack
            .properties
            .iter()
            .any(|(id, _)| *id == prop::AUTHENTICATION_METHOD || *id == prop::AUTHENTICATION_DATA),
        "a CONNACK without Authentication Method or Data",
        format!("CONNACK properties {:?}", connack.properties)
    );
    c.send_bytes(&Pingreq::new().build()).await?;
    c.expect_type(packet_type::PINGRESP)
        .await
        .map_err(|f| f.context("no AUTH may come before it"))?;
    c.expect_silence().await?;
    c.disconnect().await
}
