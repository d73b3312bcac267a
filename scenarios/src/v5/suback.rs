//! MQTT 5.0 section 3.9: SUBACK.

use crate::{ensure, wire, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, prop, Subscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.suback.fits_maximum_packet_size",
            &["MQTT-3.9.2-1", "MQTT-3.9.2-2"],
            fits_maximum_packet_size,
        ),
        Scenario::server(
            V5_0,
            "v5.suback.refusal_fits_maximum_packet_size",
            &["MQTT-3.9.2-1", "MQTT-3.9.2-2"],
            refusal_fits_maximum_packet_size,
        )
        .needs(crate::Capability::RefusedTopic),
        Scenario::server(
            V5_0,
            "v5.suback.codes_in_filter_order",
            &["MQTT-3.9.3-1", "MQTT-3.9.3-2"],
            codes_in_filter_order,
        ),
    ]
}

/// The SUBACK codes the Subscribe table allows.
const SUBACK_CODES: [u8; 12] = [
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];

/// With Maximum Packet Size 16 in CONNECT (or the size of the server's own CONNACK when that is
/// larger: a server that cannot send its CONNACK under the limit is not what this checks), a SUBSCRIBE carrying a long User Property and a long
/// filter is still answered with a SUBACK, and that SUBACK is at most 16 bytes: any Reason String
/// or User Property the broker would add was left out.
async fn fits_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let limit = super::puback::small_limit(ctx).await?.max(16);
    let max = limit as usize;
    let filter = ctx.topic(&"x".repeat(200));
    let mut c = ctx
        .connected("client", |c| c.property(prop::maximum_packet_size(limit)))
        .await?;
    let id = c.packet_id();
    let s = Subscribe::v5(id)
        .property(prop::user_property("mqttconf", "y".repeat(100)))
        .filter(&filter, 1);
    c.send_bytes(&s.build()).await?;
    let got = c.expect_type(packet_type::SUBACK).await?;
    ensure!(
        got.len() <= max,
        format!("a SUBACK of at most {max} bytes (the client's Maximum Packet Size)"),
        format!("{} bytes: {}", got.len(), wire::describe(&got))
    );
    let (got_id, codes) =
        wire::suback(&got, true).map_err(|e| Fail::new("a well-formed SUBACK", e.to_string()))?;
    ensure!(
        got_id == id && codes.len() == 1,
        format!("SUBACK for packet identifier {id} with one code"),
        wire::describe(&got)
    );
    c.disconnect().await
}

/// Filters asked at QoS (2, 0, 1): one code per filter, each from the Subscribe table, a granted
/// QoS ≤ the one asked or ≥ 0x80; and the codes are in filter order: a QoS 2 message to each
/// topic arrives at exactly the QoS granted in that filter's position.
async fn codes_in_filter_order(ctx: &mut Ctx) -> Result<(), Fail> {
    let topics = [ctx.topic("a"), ctx.topic("b"), ctx.topic("c")];
    let asked = [2u8, 0, 1];
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    let mut s = Subscribe::v5(id);
    for (t, q) in topics.iter().zip(asked) {
        s = s.filter(t, q);
    }
    c.send_bytes(&s.build()).await?;
    let got = c.expect_type(packet_type::SUBACK).await?;
    let (_, codes) =
        wire::suback(&got, true).map_err(|e| Fail::new("a well-formed SUBACK", e.to_string()))?;
    ensure!(
        codes.iter().all(|c| SUBACK_CODES.contains(c)),
        "SUBACK codes from the Subscribe table",
        format!("SUBACK codes {codes:02x?}")
    );
    ensure!(
        codes.len() == 3 && codes.iter().zip(asked).all(|(c, a)| *c <= a || *c >= 0x80),
        "3 codes in filter order, each ≤ the QoS asked (2, 0, 1) or ≥ 0x80",
        format!("SUBACK codes {codes:02x?}")
    );
    if codes != asked {
        ctx.choice(format!("granted {codes:02x?} for QoS (2, 0, 1) asked"));
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for (t, code) in topics.iter().zip(&codes) {
        publisher.publish(t, b"m", 2, false).await?;
        if *code >= 0x80 {
            continue;
        }
        let p = c.expect_publish().await?;
        ensure!(
            p.topic == t.as_bytes() && p.qos == *code,
            format!("the QoS 2 message to {t} at QoS {code}, the code in its filter's position"),
            format!(
                "PUBLISH on {} at QoS {}",
                String::from_utf8_lossy(&p.topic),
                p.qos
            )
        );
    }
    c.expect_silence().await?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// With a small Maximum Packet Size (8 bytes, or the target's CONNACK size if that is larger:
/// a server may close rather than send a CONNACK that does not fit), subscribing to the topic the
/// broker refuses (target file) gets a SUBACK ≥ 0x80 within the limit: no Reason String or User
/// Property that would not fit.
async fn refusal_fits_maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let refused = ctx
        .target_file()
        .refused_topic
        .clone()
        .ok_or_else(|| ctx.skip("no refused topic"))?;
    let limit = super::puback::small_limit(ctx).await?;
    let max = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut c = ctx
        .connected("client", |c| c.property(prop::maximum_packet_size(limit)))
        .await?;
    let id = c.packet_id();
    c.send_bytes(&Subscribe::v5(id).filter(&refused, 1).build())
        .await?;
    let got = c.expect_type(packet_type::SUBACK).await?;
    ensure!(
        got.len() <= max,
        format!("a SUBACK of at most {max} bytes (the client's Maximum Packet Size)"),
        format!("{} bytes: {}", got.len(), wire::describe(&got))
    );
    let (_, codes) =
        wire::suback(&got, true).map_err(|e| Fail::new("a well-formed SUBACK", e.to_string()))?;
    if let [code] = codes.as_slice() {
        if *code < 0x80 {
            // The target refuses publishing there but grants subscriptions (allowed): no
            // refusal to check the size of.
            return Err(ctx.skip(format!(
                "the target granted a subscription to its refused_topic (code {code:#04x})"
            )));
        }
    }
    ensure!(
        matches!(codes.as_slice(), [c] if *c >= 0x80),
        "SUBACK refusing the refused topic (≥ 0x80)",
        format!("SUBACK codes {codes:02x?}")
    );
    c.disconnect().await
}
