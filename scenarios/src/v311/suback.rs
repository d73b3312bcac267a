//! MQTT 3.1.1 section 3.9: SUBACK.

use crate::wire;
use crate::{ensure, Capability, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{packet_type, Subscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.suback.codes_in_filter_order",
            &["MQTT-3.9.3-1"],
            codes_in_filter_order,
        ),
        Scenario::server(
            V3_1_1,
            "v311.suback.refused_code_in_its_position",
            &["MQTT-3.9.3-1"],
            refused_code_in_its_position,
        )
        .needs(Capability::RefusedTopic),
        Scenario::server(
            V3_1_1,
            "v311.suback.only_allowed_codes",
            &["MQTT-3.9.3-2"],
            only_allowed_codes,
        ),
    ]
}

async fn suback_codes(
    ctx: &mut Ctx,
    filters: &[(String, u8)],
) -> Result<(crate::Client, Vec<u8>), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    let mut s = Subscribe::v311(9);
    for (f, q) in filters {
        s = s.filter(f, *q);
    }
    c.send_bytes(&s.build()).await?;
    let b = c.expect_type(packet_type::SUBACK).await?;
    let (_, codes) = wire::suback(&b, false)
        .map_err(|e| Fail::new("SUBACK", format!("{}: {e}", wire::describe(&b))))?;
    Ok((c, codes))
}

/// Filters requesting QoS 2, 0, 1 (in that order): the codes answer them in the same order. A
/// server granting less than asked is recorded; the positions are then checked as far as the
/// codes allow (each ≤ its request or 0x80).
async fn codes_in_filter_order(ctx: &mut Ctx) -> Result<(), Fail> {
    let filters = vec![
        (ctx.topic("o/2"), 2u8),
        (ctx.topic("o/0"), 0),
        (ctx.topic("o/1"), 1),
    ];
    let (mut c, codes) = suback_codes(ctx, &filters).await?;
    ensure!(
        codes.len() == 3
            && codes
                .iter()
                .zip(&filters)
                .all(|(c, (_, q))| *c == 0x80 || c <= q),
        "codes for QoS 2, 0, 1 in that order (each ≤ its request, or 0x80)",
        format!("{codes:02x?}")
    );
    if codes != [2, 0, 1] {
        ctx.choice(format!("granted {codes:02x?} for requests [2, 0, 1]"));
    }
    c.disconnect().await
}

/// Filters (valid QoS 2, refused, valid QoS 0): the 0x80 is in the second position.
async fn refused_code_in_its_position(ctx: &mut Ctx) -> Result<(), Fail> {
    let Some(refused) = ctx.caps().refused_topic.clone() else {
        return Err(ctx.skip("no refused topic"));
    };
    let filters = vec![(ctx.topic("o/2"), 2u8), (refused, 1), (ctx.topic("o/0"), 0)];
    let (mut c, codes) = suback_codes(ctx, &filters).await?;
    if codes.len() == 3 && codes[0] <= 2 && codes[1] <= 1 && codes[2] == 0 {
        c.disconnect().await?;
        return Err(ctx.skip(format!(
            "the broker granted the target file's refused_topic (codes {codes:02x?}): it refuses \
             publishing there, not subscribing"
        )));
    }
    ensure!(
        codes.len() == 3 && codes[0] <= 2 && codes[1] == 0x80 && codes[2] == 0,
        "codes [≤2, 80, 00]",
        format!("{codes:02x?}")
    );
    c.disconnect().await
}

/// Every SUBACK code is 0x00, 0x01, 0x02 or 0x80, whatever was asked (valid and wildcard
/// filters at every QoS).
async fn only_allowed_codes(ctx: &mut Ctx) -> Result<(), Fail> {
    let filters = vec![
        (ctx.topic("v/a"), 0u8),
        (ctx.topic("v/+"), 1),
        (ctx.topic("v/#"), 2),
        (ctx.topic("v/b"), 2),
        (ctx.topic("v/b"), 1),
    ];
    let (mut c, codes) = suback_codes(ctx, &filters).await?;
    ensure!(
        codes.len() == filters.len() && codes.iter().all(|c| matches!(c, 0 | 1 | 2 | 0x80)),
        "five codes, each 00, 01, 02 or 80",
        format!("{codes:02x?}")
    );
    c.disconnect().await
}
