//! MQTT 5.0 section 4.7: topic names and topic filters.

use crate::{ensure, wire, Capability, Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{packet_type, Publish, Subscribe};
use std::time::Duration;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.topic_names.wildcard_in_topic_name_closes",
            &["MQTT-4.7.0-1"],
            wildcard_in_topic_name_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.topic_names.hash_not_last_refused",
            &["MQTT-4.7.1-1"],
            hash_not_last_refused,
        )
        .lenient_receiver()
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V5_0,
            "v5.topic_names.plus_not_whole_level_refused",
            &["MQTT-4.7.1-2"],
            plus_not_whole_level_refused,
        )
        .lenient_receiver()
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V5_0,
            "v5.topic_names.wildcards_skip_dollar_topics",
            &["MQTT-4.7.2-1"],
            wildcards_skip_dollar_topics,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V5_0,
            "v5.topic_names.empty_filter_refused",
            &["MQTT-4.7.3-1"],
            empty_filter_refused,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.topic_names.empty_topic_name_closes",
            &["MQTT-4.7.3-1"],
            empty_topic_name_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.topic_names.null_in_filter_closes",
            &["MQTT-4.7.3-2"],
            null_in_filter_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.topic_names.null_in_topic_name_closes",
            &["MQTT-4.7.3-2"],
            null_in_topic_name_closes,
        )
        .lenient_receiver(),
        Scenario::server(
            V5_0,
            "v5.topic_names.no_case_folding_or_normalization",
            &["MQTT-4.7.3-4"],
            no_case_folding_or_normalization,
        ),
        Scenario::server(
            V5_0,
            "v5.topic_names.longest_topic_round_trips",
            &["MQTT-4.7.3-3"],
            longest_topic_round_trips,
        ),
    ]
}

/// Subscribes to the invalid `filter` on a fresh connection: the broker refuses it, with a SUBACK
/// code ≥ 0x80 or by closing (maybe after DISCONNECT 0x81, 0x82 or 0x8F). Never a grant.
pub(super) async fn expect_refused(ctx: &mut Ctx, label: &str, filter: &[u8]) -> Result<(), Fail> {
    let shown = String::from_utf8_lossy(filter).into_owned();
    let mut c = ctx.connected(label, |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(&Subscribe::v5(id).filter(filter, 0).build())
        .await?;
    let r = match c.recv(crate::EXPECT).await {
        Ok(r) => r,
        Err(raw_client::ExpectError::Closed { .. }) => {
            ctx.choice(format!("closed with no packet on SUBSCRIBE {shown:?}"));
            return Ok(());
        }
        Err(e) => {
            return Err(Fail::from(e).with_expected(&format!(
                "SUBACK ≥ 0x80 or the close, for SUBSCRIBE {shown:?}"
            )))
        }
    };
    match r.bytes.first().map(|b| b >> 4) {
        Some(packet_type::SUBACK) => {
            let (_, codes) = wire::suback(&r.bytes, true)
                .map_err(|e| Fail::new("a well-formed SUBACK", e.to_string()))?;
            ensure!(
                matches!(codes.as_slice(), [c] if *c >= 0x80),
                format!("the invalid filter {shown:?} refused (SUBACK ≥ 0x80, or a close)"),
                format!("SUBACK codes {codes:02x?}")
            );
            ctx.choice(format!("refused {shown:?} with SUBACK 0x{:02X}", codes[0]));
            c.disconnect().await
        }
        Some(packet_type::DISCONNECT) => {
            let reason = wire::disconnect_reason(&r.bytes).unwrap_or(0);
            ensure!(
                [0x81, 0x82, 0x8F].contains(&reason),
                format!("DISCONNECT 0x81, 0x82 or 0x8F for the invalid filter {shown:?}"),
                wire::describe(&r.bytes)
            );
            c.expect_closed(Closing::silently()).await?;
            ctx.choice(format!(
                "sent DISCONNECT 0x{reason:02X} then closed on SUBSCRIBE {shown:?}"
            ));
            Ok(())
        }
        _ => Err(Fail::new(
            format!("SUBACK ≥ 0x80 or the close, for SUBSCRIBE {shown:?}"),
            wire::describe(&r.bytes),
        )),
    }
}

/// A PUBLISH whose Topic Name is `topic` makes the server close (maybe after DISCONNECT with one
/// of `codes`).
async fn publish_closes(
    ctx: &mut Ctx,
    label: &str,
    topic: &[u8],
    codes: &[u8],
) -> Result<(), Fail> {
    let mut c = ctx.connected(label, |c| c).await?;
    c.send_bytes(&Publish::v5(topic, b"x").build()).await?;
    c.expect_closed(Closing::silently().or_disconnect(codes))
        .await
        .map_err(|f| {
            f.context(&format!(
                "after PUBLISH to {:?}",
                String::from_utf8_lossy(topic)
            ))
        })
}

/// Topic Names with '+' or '#' in a PUBLISH: the server closes (maybe DISCONNECT 0x81, 0x82 or
/// 0x90 Topic Name invalid).
async fn wildcard_in_topic_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let plus = ctx.topic("a/+");
    let hash = ctx.topic("a/#");
    publish_closes(ctx, "plus", plus.as_bytes(), &[0x81, 0x82, 0x90]).await?;
    publish_closes(ctx, "hash", hash.as_bytes(), &[0x81, 0x82, 0x90]).await
}

/// '#' not last or not a whole level ("a/#/b", "a#") is refused.
async fn hash_not_last_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let f1 = ctx.topic("a/#/b");
    let f2 = ctx.topic("a#");
    expect_refused(ctx, "inner", f1.as_bytes()).await?;
    expect_refused(ctx, "glued", f2.as_bytes()).await
}

/// '+' not filling a whole level ("a+/b", "a/b+") is refused; "a/+/b" and "+" are granted.
async fn plus_not_whole_level_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let f1 = ctx.topic("a+/b");
    let f2 = ctx.topic("a/b+");
    expect_refused(ctx, "before", f1.as_bytes()).await?;
    expect_refused(ctx, "after", f2.as_bytes()).await?;
    let good = ctx.topic("a/+/b");
    let mut c = ctx.connected("valid", |c| c).await?;
    c.subscribed(&good, 0).await?;
    c.subscribed("+", 0).await?;
    let codes = c.unsubscribe(&["+"]).await?;
    ensure!(
        codes == [0x00],
        "UNSUBACK 0x00 for \"+\"",
        format!("UNSUBACK codes {codes:02x?}")
    );
    c.disconnect().await
}

/// Filters starting with a wildcard do not match Topic Names starting with '$': "#" and
/// "+/<run>/x" get nothing from "$mqttconf/<run>/x", which "$mqttconf/<run>/#" does get.
async fn wildcards_skip_dollar_topics(ctx: &mut Ctx) -> Result<(), Fail> {
    let run = ctx.topic("x");
    let rest = run.trim_start_matches("mqttconf/").to_string(); // "<run>/x"
    let topic = format!("$mqttconf/{rest}");
    let level = rest.split('/').next().unwrap_or_default().to_string();
    let mut control = ctx.connected("control", |c| c).await?;
    control
        .subscribed(&format!("$mqttconf/{level}/#"), 0)
        .await?;
    let mut plus = ctx.connected("plus", |c| c).await?;
    plus.subscribed(&format!("+/{rest}"), 0).await?;
    let mut hash = ctx.connected("hash", |c| c).await?;
    hash.subscribed("#", 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    let code = publisher.publish(&topic, b"dollar", 1, false).await?;
    if code >= 0x80 {
        return Err(ctx.skip(format!(
            "the broker refuses PUBLISH to {topic} (PUBACK 0x{code:02X})"
        )));
    }
    match control.expect_publish().await {
        Ok(p) if p.topic == topic.as_bytes() => {}
        _ => {
            return Err(ctx.skip(format!(
                "a subscriber to $mqttconf/{level}/# did not get the PUBLISH to {topic}"
            )))
        }
    }
    plus.expect_silence()
        .await
        .map_err(|f| f.context(&format!("subscribed to +/{rest}")))?;
    // "#" gets every other test's traffic: only a '$' topic is a failure.
    let deadline = tokio::time::Instant::now() + crate::QUIET;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left == Duration::ZERO {
            break;
        }
        match hash.recv(left).await {
            Ok(r) => {
                if let Ok(p) = wire::publish(&r.bytes, true) {
                    ensure!(
                        !p.topic.starts_with(b"$"),
                        "no Topic Name starting with '$' for a \"#\" subscription",
                        format!("PUBLISH on {}", String::from_utf8_lossy(&p.topic))
                    );
                    if let Some(id) = p.packet_id {
                        hash.send_bytes(&raw_client::build::Puback::v5(id).build())
                            .await?;
                    }
                }
            }
            Err(raw_client::ExpectError::Timeout { .. }) => break,
            Err(e) => return Err(Fail::from(e).context("subscribed to #")),
        }
    }
    publisher.disconnect().await?;
    hash.disconnect().await?;
    plus.disconnect().await?;
    control.disconnect().await
}

/// A zero-length Topic Filter is refused (SUBACK ≥ 0x80 or close).
async fn empty_filter_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    expect_refused(ctx, "client", b"").await
}

/// A PUBLISH with a zero-length Topic Name and no Topic Alias: the server closes (maybe after
/// DISCONNECT 0x82, 0x81 or 0x90).
async fn empty_topic_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    publish_closes(ctx, "client", b"", &[0x82, 0x81, 0x90]).await
}

/// A filter containing U+0000 is malformed: close (maybe DISCONNECT 0x81 or 0x82), no SUBACK.
async fn null_in_filter_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut filter = ctx.topic("a").into_bytes();
    filter.extend_from_slice(b"\0b");
    let mut c = ctx.connected("client", |c| c).await?;
    let id = c.packet_id();
    c.send_bytes(&Subscribe::v5(id).filter(&filter, 0).build())
        .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81, 0x82]))
        .await
        .map_err(|f| f.context("after SUBSCRIBE to a filter containing U+0000"))
}

/// A Topic Name containing U+0000 is malformed: close (maybe DISCONNECT 0x81 or 0x82).
async fn null_in_topic_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut topic = ctx.topic("a").into_bytes();
    topic.extend_from_slice(b"\0b");
    publish_closes(ctx, "client", &topic, &[0x81, 0x82]).await
}

/// Matching compares characters exactly: "A" does not match "a", nor precomposed é (C3 A9) the
/// decomposed e + U+0301 (65 CC 81). The exact names match (control).
async fn no_case_folding_or_normalization(ctx: &mut Ctx) -> Result<(), Fail> {
    let upper = ctx.topic("A");
    let lower = ctx.topic("a");
    let composed = ctx.topic("\u{e9}");
    let decomposed = ctx.topic("e\u{301}");
    let mut c = ctx.connected("sub", |c| c).await?;
    c.subscribed(&upper, 0).await?;
    c.subscribed(&composed, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&lower, b"lower", 0, false).await?;
    publisher
        .publish(&decomposed, b"decomposed", 0, false)
        .await?;
    publisher.publish(&upper, b"upper", 0, false).await?;
    publisher.publish(&composed, b"composed", 0, false).await?;
    for (want, topic) in [("upper", &upper), ("composed", &composed)] {
        let p = c.expect_publish().await?;
        ensure!(
            p.payload == want.as_bytes() && p.topic == topic.as_bytes(),
            format!("only the exact-match message {want:?} on {topic}"),
            format!(
                "{:?} on {}",
                String::from_utf8_lossy(&p.payload),
                String::from_utf8_lossy(&p.topic)
            )
        );
    }
    c.expect_silence().await?;
    publisher.disconnect().await?;
    c.disconnect().await
}

/// The longest Topic Name, 65,535 bytes, round-trips: the broker forwards it to the subscriber
/// with the whole name and a correct two-byte length (not truncated, not wrapped). Skipped when
/// the broker's Maximum Packet Size cannot carry the PUBLISH.
async fn longest_topic_round_trips(ctx: &mut Ctx) -> Result<(), Fail> {
    /// The QoS 1 PUBLISH of "long" on a 65,535-byte topic: fixed header 1 + 3 (Remaining
    /// Length), topic 2 + 65,535, packet id 2, properties 1, payload 4.
    const PACKET: u32 = 4 + 2 + 65_535 + 2 + 1 + 4;
    if let Some(max) = ctx.caps().maximum_packet_size.filter(|&m| m < PACKET) {
        return Err(ctx.skip(format!(
            "the broker's Maximum Packet Size {max} is below the {PACKET} bytes of a PUBLISH with \
             a 65,535-byte topic"
        )));
    }
    let mut topic = ctx.topic("");
    while topic.len() < 65_535 {
        topic.push('x');
    }
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&topic, 1).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&topic, b"long", 1, false).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.topic == topic.as_bytes() && p.payload == b"long",
        "\"long\" on the 65535-byte topic",
        format!(
            "a PUBLISH with a {}-byte topic, payload {:?}",
            p.topic.len(),
            p.payload
        )
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}
