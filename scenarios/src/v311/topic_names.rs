//! MQTT 3.1.1 section 4.7: topic names and topic filters.

use crate::wire::{self, Publish as Got};
use crate::{ensure, Capability, Closing, Ctx, Fail, Scenario, Version::V3_1_1};
use raw_client::build::{Publish, Subscribe};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.topic_names.hash_in_topic_name_closes",
            &["MQTT-4.7.1-1"],
            hash_in_topic_name_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.misplaced_hash_refused",
            &["MQTT-4.7.1-2"],
            misplaced_hash_refused,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.valid_hash_matches",
            &["MQTT-4.7.1-2"],
            valid_hash_matches,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.misplaced_plus_refused",
            &["MQTT-4.7.1-3"],
            misplaced_plus_refused,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.plus_matches_one_level",
            &["MQTT-4.7.1-3"],
            plus_matches_one_level,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.dollar_topics_not_matched_by_leading_wildcard",
            &["MQTT-4.7.2-1"],
            dollar_topics_not_matched_by_leading_wildcard,
        )
        .needs(Capability::WildcardSubscriptions),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.empty_topic_name_closes",
            &["MQTT-4.7.3-1"],
            empty_topic_name_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.empty_filter_refused",
            &["MQTT-4.7.3-1"],
            empty_filter_refused,
        ),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.null_in_topic_name_closes",
            &["MQTT-4.7.3-2"],
            null_in_topic_name_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.null_in_filter_closes",
            &["MQTT-4.7.3-2"],
            null_in_filter_closes,
        ),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.longest_topic_round_trips",
            &["MQTT-4.7.3-3"],
            longest_topic_round_trips,
        ),
        Scenario::server(
            V3_1_1,
            "v311.topic_names.matching_is_byte_exact",
            &["MQTT-4.7.3-4"],
            matching_is_byte_exact,
        ),
    ]
}

fn show(p: &Got) -> String {
    format!(
        "PUBLISH topic {:?} payload {:?}",
        String::from_utf8_lossy(&p.topic),
        String::from_utf8_lossy(&p.payload)
    )
}

/// Subscribes to an invalid `filter` on a fresh connection: SUBACK 0x80 or the connection
/// closed (3.1.1 does not say which); records the choice.
async fn invalid_filter(ctx: &mut Ctx, label: &str, filter: &[u8]) -> Result<(), Fail> {
    let mut c = ctx.connected(label, |c| c).await?;
    c.send_bytes(&Subscribe::v311(3).filter(filter, 0).build())
        .await?;
    let shown = String::from_utf8_lossy(filter).to_string();
    match c.recv(crate::EXPECT).await {
        Ok(r) => {
            let ok = r.bytes.first() == Some(&0x90)
                && wire::suback(&r.bytes, false)
                    .is_ok_and(|(id, codes)| id == 3 && codes == [0x80]);
            ensure!(
                ok,
                format!("SUBACK 0x80 or the connection closed for filter {shown:?}"),
                wire::describe(&r.bytes)
            );
            ctx.choice(format!("refused {shown:?} with SUBACK 0x80"));
            c.disconnect().await
        }
        Err(raw_client::ExpectError::Closed { .. }) => {
            ctx.choice(format!("closed the connection for filter {shown:?}"));
            Ok(())
        }
        Err(e) => Err(Fail::from(e).with_expected(&format!(
            "SUBACK 0x80 or the connection closed for {shown:?}"
        ))),
    }
}

/// Publishes `topic` (raw bytes) and requires the close.
async fn publish_closes(ctx: &mut Ctx, topic: &[u8]) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Publish::v311(topic, b"x").build()).await?;
    c.expect_closed(Closing::silently())
        .await
        .map_err(|f| f.context(&format!("PUBLISH to {:?}", String::from_utf8_lossy(topic))))
}

/// A PUBLISH to a/# closes the connection.
async fn hash_in_topic_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("a/#");
    publish_closes(ctx, topic.as_bytes()).await
}

/// a/b# and a/#/c are refused (0x80) or the connection closes.
async fn misplaced_hash_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let f1 = ctx.topic("a/b#");
    let f2 = ctx.topic("a/#/c");
    invalid_filter(ctx, "c1", f1.as_bytes()).await?;
    invalid_filter(ctx, "c2", f2.as_bytes()).await
}

/// a/# is valid and matches a, a/b and a/b/c (the parent level too).
async fn valid_hash_matches(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&ctx.topic("a/#"), 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    let topics = ["a", "a/b", "a/b/c"];
    for t in topics {
        publisher
            .publish(&ctx.topic(t), t.as_bytes(), 1, false)
            .await?;
    }
    for t in topics {
        let p = sub.expect_publish().await?;
        ensure!(
            p.payload == t.as_bytes(),
            format!("the message on {t}"),
            show(&p)
        );
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// a+/b and a/+b are refused (0x80) or the connection closes.
async fn misplaced_plus_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let f1 = ctx.topic("a+/b");
    let f2 = ctx.topic("a/+b");
    invalid_filter(ctx, "c1", f1.as_bytes()).await?;
    invalid_filter(ctx, "c2", f2.as_bytes()).await
}

/// +/b and a/+/c are valid; '+' matches exactly one level (including an empty one).
async fn plus_matches_one_level(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&ctx.topic("+/b"), 0).await?;
    sub.subscribed(&ctx.topic("a/+/c"), 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for t in ["x/y/b", "b", "a/c", "a/x/y/c", "x/b", "a/q/c", "/b", "a//c"] {
        publisher
            .publish(&ctx.topic(t), t.as_bytes(), 1, false)
            .await?;
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(String::from_utf8_lossy(&sub.expect_publish().await?.payload).to_string());
    }
    sub.expect_silence().await?;
    ensure!(
        got == ["x/b", "a/q/c", "/b", "a//c"],
        "x/b, a/q/c, /b, a//c only",
        format!("{got:?}")
    );
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// `$mqttconf/<run>/d` and `mqttconf/<run>/d`: a `+/<run>/#` subscriber gets only the latter
/// (retained and live); `$mqttconf/<run>/#` gets the former (proving it was accepted). Where the
/// broker keeps no client messages on `$` topics, `$SYS` is used instead: when `$SYS/#` yields
/// messages, a `#` subscriber gets none of them.
async fn dollar_topics_not_matched_by_leading_wildcard(ctx: &mut Ctx) -> Result<(), Fail> {
    let plain = ctx.topic("d");
    let dollar = format!("${plain}");
    let run = plain.split('/').nth(1).unwrap_or_default().to_string();
    ctx.retained(&dollar);
    ctx.retained(&plain);
    // The `$` publish on its own connection: the broker may refuse it (PUBACK and drop, or close).
    let mut dpub = ctx.connected("dpub", |c| c).await?;
    dpub.send_bytes(
        &Publish::v311(&dollar, b"dollar")
            .qos(1)
            .retain(true)
            .build(),
    )
    .await?;
    let _ = dpub.recv(crate::EXPECT).await;
    let mut control = ctx.connected("control", |c| c).await?;
    control
        .subscribed(&format!("${}", ctx.topic("#")), 0)
        .await?;
    let quiet = control.quiet;
    if control.recv(quiet).await.is_err() {
        control.disconnect().await?;
        return sys_not_matched_by_hash(ctx).await;
    }
    let mut publisher = ctx.connected("pub", |c| c).await?;
    publisher.publish(&plain, b"plain", 1, true).await?;
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&format!("+/{run}/#"), 0).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.topic == plain.as_bytes(),
        format!("only {plain:?}"),
        show(&p)
    );
    publisher.publish(&dollar, b"dollar live", 1, false).await?;
    publisher.publish(&plain, b"plain live", 1, false).await?;
    let p = sub.expect_publish().await?;
    ensure!(
        p.payload == b"plain live",
        format!("only {plain:?}"),
        show(&p)
    );
    sub.expect_silence().await?;
    control.disconnect().await?;
    publisher.disconnect().await?;
    sub.disconnect().await
}

/// The `$SYS` variant: skipped when `$SYS/#` yields nothing within EXPECT.
async fn sys_not_matched_by_hash(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut sys = ctx.connected("sys", |c| c).await?;
    sys.subscribed("$SYS/#", 0).await?;
    if sys.recv(crate::EXPECT).await.is_err() {
        return Err(ctx.skip(
            "no message on a $ topic to observe: client $ topics are not kept and $SYS/# is silent",
        ));
    }
    ctx.choice("refused client messages on $ topics; checked with $SYS");
    let mut sub = ctx.connected("hash", |c| c).await?;
    sub.subscribed("#", 0).await?;
    // Whatever retained messages other runs left arrive now; none may be on a $ topic.
    let quiet = sub.quiet;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        match sub.recv(quiet).await {
            Ok(r) => {
                if let Ok(p) = wire::publish(&r.bytes, false) {
                    ensure!(
                        p.topic.first() != Some(&b'$'),
                        "no $ topic through the # subscription",
                        show(&p)
                    );
                }
            }
            Err(raw_client::ExpectError::Timeout { .. }) => break,
            Err(e) => return Err(Fail::from(e)),
        }
    }
    sys.disconnect().await?;
    sub.disconnect().await
}

/// A PUBLISH with a zero-length topic name closes the connection.
async fn empty_topic_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    publish_closes(ctx, b"").await
}

/// A SUBSCRIBE with a zero-length filter: refused (0x80) or the connection closed.
async fn empty_filter_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    invalid_filter(ctx, "client", b"").await
}

/// A PUBLISH whose topic holds 0x00 closes the connection.
async fn null_in_topic_name_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut topic = ctx.topic("a").into_bytes();
    topic.extend_from_slice(b"\0b");
    publish_closes(ctx, &topic).await
}

/// A SUBSCRIBE whose filter holds 0x00 closes the connection.
async fn null_in_filter_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut filter = ctx.topic("a").into_bytes();
    filter.extend_from_slice(b"\0b");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&Subscribe::v311(3).filter(&filter, 0).build())
        .await?;
    c.expect_closed(Closing::silently()).await
}

/// A 65535-byte topic (subscribed with the same 65535-byte filter) round-trips intact.
async fn longest_topic_round_trips(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut topic = ctx.topic("");
    while topic.len() < 65535 {
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

/// Matching is byte-exact: t/Abc does not match t/abc or t/ABC; t/é (U+00E9) does not match
/// t/e + U+0301; each matches itself.
async fn matching_is_byte_exact(ctx: &mut Ctx) -> Result<(), Fail> {
    let abc = ctx.topic("Abc");
    let e_acute = ctx.topic("\u{e9}");
    let mut sub = ctx.connected("sub", |c| c).await?;
    sub.subscribed(&abc, 0).await?;
    sub.subscribed(&e_acute, 0).await?;
    let mut publisher = ctx.connected("pub", |c| c).await?;
    for t in ["abc", "ABC", "Abc ", "e\u{301}", "E\u{301}"] {
        publisher.publish(&ctx.topic(t), b"no", 1, false).await?;
    }
    sub.expect_silence()
        .await
        .map_err(|f| f.context("topics differing in case or Unicode form"))?;
    publisher.publish(&abc, b"abc", 1, false).await?;
    publisher.publish(&e_acute, b"e", 1, false).await?;
    for want in [&b"abc"[..], b"e"] {
        let p = sub.expect_publish().await?;
        ensure!(p.payload == want, "the exact-topic messages", show(&p));
    }
    publisher.disconnect().await?;
    sub.disconnect().await
}
