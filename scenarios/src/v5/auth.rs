//! MQTT 5.0 section 3.15: AUTH.
//!
//! Every statement of this section needs a connection using enhanced authentication: the
//! target file's `[auth]` (see `enhanced_auth`). MQTT-3.15.2-1 (the codes of the AUTH the
//! server sends) is checked by `v5.enhanced_auth.exchange` and `.reauthentication`. An AUTH on
//! a connection without an Authentication Method is a Protocol Error whatever its flags (see
//! `v5.errors.auth_without_method_closes`), so the reserved-flag check runs inside an exchange.

use super::enhanced_auth::{
    auth_packet, client_final, expect_auth, scram, settings, start_exchange,
};
use crate::caps::Capability;
use crate::{ensure, Closing, Ctx, Fail, Scenario, Setup, Version::V5_0};
use raw_client::build::prop;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.auth.reserved_flags_malformed",
            &["MQTT-3.15.1-1"],
            reserved_flags_malformed,
        )
        .needs(Capability::EnhancedAuth),
        Scenario::server(
            V5_0,
            "v5.auth.within_maximum_packet_size",
            &["MQTT-3.15.2-2", "MQTT-3.15.2-3"],
            within_maximum_packet_size,
        )
        .needs(Capability::EnhancedAuth),
    ]
}

/// During an exchange, the client's AUTH (a valid client-final) with first byte 0xF1: a
/// malformed packet, so the server closes, at most after CONNACK or DISCONNECT 0x81 (Malformed
/// Packet) or 0x82 (Protocol Error); never CONNACK 0x00.
async fn reserved_flags_malformed(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = settings(ctx)?;
    let mut s = scram(&a, false);
    let mut c = start_exchange(ctx, "client", &a, &mut s, |c| c).await?;
    let (_, auth) = expect_auth(&mut c).await.setup()?;
    let fin = client_final(&mut s, &auth)?;
    let mut bytes = auth_packet(0x18, &a.method, &fin);
    bytes[0] |= 0x01;
    c.send_bytes(&bytes).await?;
    c.expect_closed(
        Closing::silently()
            .or_connack(&[0x81, 0x82])
            .or_disconnect(&[0x81, 0x82]),
    )
    .await
    .map_err(|f| f.context("after an AUTH with first byte 0xF1 (reserved flag set)"))
}

/// Maximum Packet Size of CONNECT, low but enough for a SCRAM server-first.
const LIMIT: u32 = 512;

/// CONNECT with Maximum Packet Size 512: the server's AUTH fits in it — a Reason String or
/// User Property that would not fit is left out ([MQTT-3.15.2-2], [MQTT-3.15.2-3]), and the
/// AUTH itself still comes. Holds trivially for a server that adds neither.
async fn within_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = settings(ctx)?;
    let mut s = scram(&a, false);
    let mut c = start_exchange(ctx, "client", &a, &mut s, |c| {
        c.property(prop::maximum_packet_size(LIMIT))
    })
    .await?;
    let (bytes, auth) = expect_auth(&mut c)
        .await
        .map_err(|f| f.context(&format!("with Maximum Packet Size {LIMIT}")))?;
    ensure!(
        bytes.len() <= LIMIT as usize,
        format!("an AUTH of at most {LIMIT} bytes"),
        format!("{} bytes", bytes.len())
    );
    let extras = auth
        .properties
        .iter()
        .filter(|(id, _)| *id == prop::REASON_STRING || *id == prop::USER_PROPERTY)
        .count();
    ctx.choice(format!(
        "the AUTH carried {extras} Reason String / User Property"
    ));
    c.disconnect().await
}
