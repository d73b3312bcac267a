//! MQTT 5.0 section 3.11: UNSUBACK.

use crate::{ensure, wire, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, prop, Unsubscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.unsuback.fits_maximum_packet_size",
            &["MQTT-3.11.2-1", "MQTT-3.11.2-2"],
            fits_maximum_packet_size,
        ),
        Scenario::server(
            V5_0,
            "v5.unsuback.codes_in_filter_order",
            &["MQTT-3.11.3-1", "MQTT-3.11.3-2"],
            codes_in_filter_order,
        ),
    ]
}

/// The UNSUBACK codes the Unsubscribe table allows.
const UNSUBACK_CODES: [u8; 7] = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];

/// With Maximum Packet Size 16 (or the size of the server's CONNACK when larger), an UNSUBSCRIBE (with a long User Property) of a filter never
/// subscribed (a 0x11 the broker may explain in a Reason String) is answered by an UNSUBACK of at
/// most 16 bytes.
async fn fits_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let limit = super::puback::small_limit(ctx).await?.max(16);
    let max = limit as usize;
    let filter = ctx.topic(&"x".repeat(200));
    let mut c = ctx
        .connected("client", |c| c.property(prop::maximum_packet_size(limit)))
        .await?;
    let id = c.packet_id();
    c.send_bytes(
        &Unsubscribe::v5(id)
            .property(prop::user_property("mqttconf", "y".repeat(100)))
            .filter(&filter)
            .build(),
    )
    .await?;
    // No UNSUBACK at all breaks MQTT-3.10.4-5, not the statements about its size.
    let got = c
        .expect_type(packet_type::UNSUBACK)
        .await
        .map_err(|f| f.setup(Some("MQTT-3.10.4-5")))?;
    ensure!(
        got.len() <= max,
        format!("an UNSUBACK of at most {max} bytes (the client's Maximum Packet Size)"),
        format!("{} bytes: {}", got.len(), wire::describe(&got))
    );
    let (got_id, codes) =
        wire::suback(&got, true).map_err(|e| Fail::new("a well-formed UNSUBACK", e.to_string()))?;
    ensure!(
        got_id == id && codes.len() == 1,
        format!("UNSUBACK for packet identifier {id} with one code"),
        wire::describe(&got)
    );
    c.disconnect().await
}

/// Filters (unknown, subscribed, unknown): codes (0x11, 0x00, 0x11), each from the table.
async fn codes_in_filter_order(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = ctx.topic("a");
    let b = ctx.topic("b");
    let d = ctx.topic("d");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&b, 1).await?;
    let codes = c.unsubscribe(&[&a, &b, &d]).await?;
    ensure!(
        codes.iter().all(|c| UNSUBACK_CODES.contains(c)),
        "UNSUBACK codes from the Unsubscribe table",
        format!("UNSUBACK codes {codes:02x?}")
    );
    ensure!(
        codes == [0x11, 0x00, 0x11],
        "UNSUBACK codes in filter order: (0x11, 0x00, 0x11)",
        format!("UNSUBACK codes {codes:02x?}")
    );
    c.disconnect().await
}
