//! Client-role scenarios, 5.0 and 3.1.1: a scripted server plays the broker and the run's
//! adapter drives the client under test (see `CLIENTS.md`). One body serves both versions where
//! the obligation is the same; each registration names its version's statement ids.
//!
//! Names are `v5.client.<what>` / `v311.client.<what>`: the client-role family.

use crate::adapter::{ConnectOptions, Op};
use crate::client_role::{ScriptedServer, DELIVERY};
use crate::{ensure, Client, Closing, Ctx, Fail, Scenario, Setup, Version};
use raw_client::build::{self, prop, Property};
use std::time::{Duration, Instant};
use Version::{V3_1_1, V5_0};

/// The keep alive the keep-alive scenarios ask for: the smallest `mosquitto_pub`/`_sub` accept.
const KEEP_ALIVE: u16 = 5;
/// Scheduling slack allowed on a keep-alive deadline.
const SLACK: Duration = Duration::from_millis(300);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        // CONNECT.
        Scenario::client(
            V5_0,
            "v5.client.connect_first_and_well_formed",
            &[
                "MQTT-3.1.0-1",
                "MQTT-3.1.3-3",
                "MQTT-3.1.2-11",
                "MQTT-3.1.2-13",
                "MQTT-4.2-1",
            ],
            connect_first,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.connect_first_and_well_formed",
            &[
                "MQTT-3.1.0-1",
                "MQTT-3.1.3-3",
                "MQTT-3.1.2-11",
                "MQTT-3.1.2-13",
                "MQTT-3.1.2-15",
                "MQTT-7.1.2-1",
            ],
            connect_first,
        ),
        // Keep alive.
        Scenario::client(
            V5_0,
            "v5.client.keep_alive_pingreq_in_time",
            &["MQTT-3.1.2-20"],
            keep_alive,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.keep_alive_pingreq_in_time",
            &["MQTT-3.1.2-23"],
            keep_alive,
        ),
        Scenario::client(
            V5_0,
            "v5.client.server_keep_alive_used",
            &["MQTT-3.2.2-21", "MQTT-3.1.2-21"],
            server_keep_alive,
        ),
        // CONNACK limits (5.0).
        Scenario::client(
            V5_0,
            "v5.client.maximum_qos_honoured",
            &["MQTT-3.2.2-11"],
            maximum_qos,
        ),
        Scenario::client(
            V5_0,
            "v5.client.retain_available_honoured",
            &["MQTT-3.2.2-14"],
            retain_unavailable,
        ),
        Scenario::client(
            V5_0,
            "v5.client.maximum_packet_size_honoured",
            &["MQTT-3.2.2-15"],
            maximum_packet_size,
        ),
        Scenario::client(
            V5_0,
            "v5.client.no_topic_alias_without_maximum",
            &["MQTT-3.2.2-18"],
            no_topic_alias,
        ),
        Scenario::client(
            V5_0,
            "v5.client.receive_maximum_honoured",
            &["MQTT-3.3.4-7", "MQTT-4.9.0-2"],
            receive_maximum,
        ),
        Scenario::client(
            V5_0,
            "v5.client.session_present_without_session_closes",
            &["MQTT-3.2.2-4"],
            session_present_without_session,
        ),
        // Malformed PUBLISH from the server. In 5.0 the statement binds the sender and a client
        // only SHOULD close (4.13.1): a lenient receiver. 3.1.1 says the client MUST close.
        Scenario::client(
            V5_0,
            "v5.client.publish_qos3_closes",
            &["MQTT-3.3.1-4"],
            publish_qos3,
        )
        .lenient_receiver(),
        Scenario::client(
            V3_1_1,
            "v311.client.publish_qos3_closes",
            &["MQTT-3.3.1-4"],
            publish_qos3,
        ),
        // QoS as receiver.
        Scenario::client(
            V5_0,
            "v5.client.qos1_receiver_acks",
            &[
                "MQTT-3.3.4-1",
                "MQTT-4.3.2-4",
                "MQTT-4.3.2-5",
                "MQTT-2.2.1-5",
            ],
            qos1_receiver,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.qos1_receiver_acks",
            &["MQTT-3.3.4-1", "MQTT-4.3.2-2", "MQTT-2.3.1-6"],
            qos1_receiver,
        ),
        Scenario::client(
            V5_0,
            "v5.client.qos2_receiver_exactly_once",
            &[
                "MQTT-3.3.4-1",
                "MQTT-4.3.3-8",
                "MQTT-4.3.3-10",
                "MQTT-4.3.3-11",
                "MQTT-2.2.1-5",
            ],
            qos2_receiver,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.qos2_receiver_exactly_once",
            &["MQTT-3.3.4-1", "MQTT-4.3.3-2", "MQTT-2.3.1-6"],
            qos2_receiver,
        ),
        Scenario::client(
            V5_0,
            "v5.client.acks_unsubscribed_publish",
            &["MQTT-4.5.0-2"],
            acks_unsubscribed,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.acks_unsubscribed_publish",
            &["MQTT-4.5.0-2"],
            acks_unsubscribed,
        ),
        Scenario::client(
            V5_0,
            "v5.client.puback_order",
            &["MQTT-4.6.0-2"],
            puback_order,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.puback_order",
            &["MQTT-4.6.0-2"],
            puback_order,
        ),
        Scenario::client(
            V5_0,
            "v5.client.pubrec_order",
            &["MQTT-4.6.0-3"],
            pubrec_order,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.pubrec_order",
            &["MQTT-4.6.0-3"],
            pubrec_order,
        ),
        // QoS as sender.
        Scenario::client(
            V5_0,
            "v5.client.qos1_ids_unique_in_flight",
            &["MQTT-2.2.1-3", "MQTT-4.3.2-1", "MQTT-4.3.2-2"],
            qos1_ids_unique,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.qos1_ids_unique_in_flight",
            &["MQTT-2.3.1-1", "MQTT-2.3.1-2"],
            qos1_ids_unique,
        ),
        Scenario::client(
            V5_0,
            "v5.client.qos2_ids_unique_in_flight",
            &["MQTT-4.3.3-1", "MQTT-4.3.3-2"],
            qos2_ids_unique,
        ),
        Scenario::client(
            V5_0,
            "v5.client.resent_in_original_order",
            &["MQTT-4.6.0-1"],
            resend_order,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.resent_in_original_order",
            &["MQTT-4.6.0-1"],
            resend_order,
        ),
        // The resend and its DUP flag are separate scenarios, so that a client resending with
        // DUP 0 fails MQTT-3.3.1-1 only.
        Scenario::client(
            V5_0,
            "v5.client.qos1_resent_on_resume",
            &["MQTT-4.3.2-3", "MQTT-4.4.0-1"],
            qos1_resend,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.qos1_resent_on_resume",
            &["MQTT-2.3.1-3", "MQTT-4.4.0-1"],
            qos1_resend,
        ),
        Scenario::client(
            V5_0,
            "v5.client.qos1_resent_with_dup",
            &["MQTT-3.3.1-1"],
            qos1_resend_dup,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.qos1_resent_with_dup",
            &["MQTT-3.3.1-1"],
            qos1_resend_dup,
        ),
        Scenario::client(
            V5_0,
            "v5.client.pubrel_resent_on_resume",
            &[
                "MQTT-4.3.3-2",
                "MQTT-4.3.3-4",
                "MQTT-4.3.3-5",
                "MQTT-4.3.3-6",
            ],
            pubrel_resend,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.pubrel_resent_on_resume",
            &["MQTT-4.3.3-1"],
            pubrel_resend,
        ),
        Scenario::client(
            V5_0,
            "v5.client.session_present_0_discards_state",
            &["MQTT-3.2.2-5"],
            session_present_0_discards,
        ),
        // DISCONNECT from the client.
        Scenario::client(
            V5_0,
            "v5.client.disconnect_then_close",
            &[
                "MQTT-3.14.1-1",
                "MQTT-3.14.2-1",
                "MQTT-3.14.4-1",
                "MQTT-3.14.4-2",
            ],
            disconnect_then_close,
        ),
        Scenario::client(
            V3_1_1,
            "v311.client.disconnect_then_close",
            &["MQTT-3.14.4-1", "MQTT-3.14.4-2"],
            disconnect_then_close,
        ),
    ]
}

fn publish_op(ctx: &Ctx, payload: &[u8], qos: u8, retain: bool) -> Op {
    Op::Publish {
        topic: ctx.topic("p"),
        payload: payload.to_vec(),
        qos,
        retain,
    }
}

/// A publisher set up: started with `edit` and `first` (a publish), CONNECT accepted with
/// `connack`. Setup.
async fn publisher(
    ctx: &mut Ctx,
    edit: impl FnOnce(&mut ConnectOptions),
    first: Op,
    connack: build::Connack,
) -> Result<(ScriptedServer, crate::client_role::ClientUnderTest, Client), Fail> {
    let (mut server, cut) = ctx.client_under_test(edit, Some(first)).await?;
    let (mut peer, _) = server.accept_connect().await.map_err(|f| f.setup(None))?;
    peer.send_bytes(&connack.build()).await.setup()?;
    Ok((server, cut, peer))
}

/// The first packet on the connection is a CONNECT the decoder accepts, with the client id
/// first in the payload and no Will QoS / Will Retain bits without a Will.
async fn connect_first(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = ctx.topic("t");
    let (mut server, _cut) = ctx
        .client_under_test(|_| {}, Some(Op::Subscribe { filter, qos: 0 }))
        .await?;
    let want_id = ctx.client_id("cut");
    let mut peer = server.accept().await.map_err(|f| f.setup(None))?;
    let info = peer.expect_connect().await?;
    ensure!(
        info.client_id == want_id,
        format!("the Client Identifier {want_id:?} first in the payload"),
        format!("{:?}", info.client_id)
    );
    // Connect Flags: after the protocol name (6 bytes) and level, in the variable header.
    let flags = connect_flags(&info.bytes);
    ensure!(
        flags.is_some_and(|f| f & 0x04 != 0 || f & 0x38 == 0),
        "Will QoS 0 and Will Retain 0 with Will Flag 0",
        format!("Connect Flags {flags:02x?}")
    );
    Ok(())
}

/// The Connect Flags byte of a CONNECT frame (after the fixed header, protocol name and level).
fn connect_flags(frame: &[u8]) -> Option<u8> {
    let body = raw_body(frame)?;
    let name_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    body.get(2 + name_len + 1).copied()
}

/// The bytes after the fixed header.
fn raw_body(frame: &[u8]) -> Option<&[u8]> {
    let (_, used, _) = crate::wire::read_vbi(frame, 1).ok()?;
    frame.get(1 + used..)
}

/// With Keep Alive K and nothing else to send, a PINGREQ comes within K of the client's last
/// packet (the SUBSCRIBE), and again within K of that one.
async fn keep_alive(ctx: &mut Ctx) -> Result<(), Fail> {
    let connack = ctx.connack();
    let (_server, _cut, mut peer, _) = ctx
        .subscribed_client(|o| o.keep_alive = KEEP_ALIVE, 0, connack)
        .await?;
    expect_pings(&mut peer, Duration::from_secs(KEEP_ALIVE.into()), 2).await
}

/// `n` PINGREQs, each within `k` (+ slack) of the client's previous packet; answered.
async fn expect_pings(peer: &mut Client, k: Duration, n: usize) -> Result<(), Fail> {
    let mut last = Instant::now();
    peer.timeout = k + SLACK;
    for i in 0..n {
        let got = peer.recv(k + SLACK).await;
        let gap = last.elapsed();
        match got {
            Ok(r) if r.bytes.first() == Some(&0xc0) => {
                peer.send_bytes(&[0xd0, 0x00]).await?;
            }
            Ok(r) => {
                // Any other packet also keeps the connection alive: unexpected here, though.
                return Err(Fail::new(
                    "PINGREQ (nothing else to send)",
                    r.decoded.to_string(),
                ));
            }
            Err(_) => {
                return Err(Fail::new(
                    format!(
                        "PINGREQ {} within {} ms of the client's previous packet (Keep Alive)",
                        i + 1,
                        k.as_millis()
                    ),
                    format!("nothing for {} ms", gap.as_millis()),
                ))
            }
        }
        last = Instant::now();
    }
    Ok(())
}

/// CONNACK Server Keep Alive 5 to a client that asked for 60: the client pings every 5 s.
async fn server_keep_alive(ctx: &mut Ctx) -> Result<(), Fail> {
    let connack = ctx
        .connack()
        .property(Property::u16(prop::SERVER_KEEP_ALIVE, KEEP_ALIVE));
    let (_server, _cut, mut peer, _) = ctx
        .subscribed_client(|o| o.keep_alive = 60, 0, connack)
        .await?;
    expect_pings(&mut peer, Duration::from_secs(KEEP_ALIVE.into()), 1).await
}

/// Reads what the client sends for `quiet`, answering PUBLISHes (PUBACK / PUBREC) and
/// PUBRELs; returns the frames, stopping at a close.
async fn watch(peer: &mut Client, quiet: Duration) -> Result<Vec<Vec<u8>>, Fail> {
    let deadline = tokio::time::Instant::now() + quiet;
    let mut frames = Vec::new();
    let version = peer.version();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(frames);
        }
        match peer.recv(left).await {
            Ok(r) => {
                let ty = r.bytes.first().map_or(0, |b| b >> 4);
                if ty == 3 {
                    if let Ok(p) =
                        crate::wire::publish(&r.bytes, version == raw_client::ProtocolVersion::V5)
                    {
                        match (p.qos, p.packet_id) {
                            (1, Some(id)) => {
                                peer.send_bytes(&build::Puback::new(version, id).build())
                                    .await?
                            }
                            (2, Some(id)) => {
                                peer.send_bytes(&build::Pubrec::new(version, id).build())
                                    .await?
                            }
                            _ => {}
                        }
                    }
                } else if ty == 6 && r.bytes.len() >= 4 {
                    let id = u16::from_be_bytes([r.bytes[2], r.bytes[3]]);
                    peer.send_bytes(&build::Pubcomp::new(version, id).build())
                        .await?;
                } else if ty == 12 {
                    peer.send_bytes(&[0xd0, 0x00]).await?;
                }
                frames.push(r.bytes);
            }
            Err(_) => return Ok(frames),
        }
    }
}

fn publishes(frames: &[Vec<u8>], v5: bool) -> Vec<crate::wire::Publish> {
    frames
        .iter()
        .filter(|f| f.first().map(|b| b >> 4) == Some(3))
        .filter_map(|f| crate::wire::publish(f, v5).ok())
        .collect()
}

fn describe_all(frames: &[Vec<u8>]) -> String {
    if frames.is_empty() {
        return "nothing".into();
    }
    // Packet names only: the frames carry the run's topics, which must not split findings;
    // the transcripts have the bytes.
    frames
        .iter()
        .map(|f| {
            let name = crate::wire::type_name(f.first().copied().unwrap_or(0));
            if name == "PUBLISH" {
                let b = f.first().copied().unwrap_or(0);
                format!(
                    "PUBLISH(qos={}, dup={}, retain={}, {} bytes)",
                    (b >> 1) & 3,
                    (b >> 3) & 1,
                    b & 1,
                    f.len()
                )
            } else {
                name.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long the CONNACK-limit scenarios watch what the client sends.
const WATCH: Duration = Duration::from_millis(1500);

/// CONNACK Maximum QoS 1; the application publishes at QoS 2: no PUBLISH above QoS 1.
async fn maximum_qos(ctx: &mut Ctx) -> Result<(), Fail> {
    let op = publish_op(ctx, b"q2", 2, false);
    let connack = ctx.connack().property(Property::byte(prop::MAXIMUM_QOS, 1));
    let (_s, _cut, mut peer) = publisher(ctx, |_| {}, op, connack).await?;
    let frames = watch(&mut peer, WATCH).await?;
    let ps = publishes(&frames, true);
    ensure!(
        ps.iter().all(|p| p.qos <= 1),
        "no PUBLISH above the CONNACK's Maximum QoS 1",
        describe_all(&frames)
    );
    ctx.choice(if ps.is_empty() {
        "refused the QoS 2 publish locally (nothing sent)".to_string()
    } else {
        format!("sent it at QoS {}", ps[0].qos)
    });
    Ok(())
}

/// CONNACK Retain Available 0; the application publishes a retained message: no RETAIN 1.
async fn retain_unavailable(ctx: &mut Ctx) -> Result<(), Fail> {
    let op = publish_op(ctx, b"r", 1, true);
    let connack = ctx
        .connack()
        .property(Property::byte(prop::RETAIN_AVAILABLE, 0));
    let (_s, _cut, mut peer) = publisher(ctx, |_| {}, op, connack).await?;
    let frames = watch(&mut peer, WATCH).await?;
    let ps = publishes(&frames, true);
    ensure!(
        ps.iter().all(|p| !p.retain),
        "no PUBLISH with RETAIN 1 after CONNACK Retain Available 0",
        describe_all(&frames)
    );
    ctx.choice(if ps.is_empty() {
        "refused the retained publish locally (nothing sent)".to_string()
    } else {
        "sent it with RETAIN 0".to_string()
    });
    Ok(())
}

/// CONNACK Maximum Packet Size 64; the application publishes 200 bytes: no packet over 64.
async fn maximum_packet_size(ctx: &mut Ctx) -> Result<(), Fail> {
    let op = publish_op(ctx, &[b'x'; 200], 1, false);
    let connack = ctx
        .connack()
        .property(Property::u32(prop::MAXIMUM_PACKET_SIZE, 64));
    let (_s, _cut, mut peer) = publisher(ctx, |_| {}, op, connack).await?;
    let frames = watch(&mut peer, WATCH).await?;
    let big: Vec<String> = frames
        .iter()
        .filter(|f| f.len() > 64)
        .map(|f| {
            format!(
                "{} of {} bytes",
                crate::wire::type_name(f.first().copied().unwrap_or(0)),
                f.len()
            )
        })
        .collect();
    ensure!(
        big.is_empty(),
        "no packet larger than the CONNACK's Maximum Packet Size 64",
        big.join(", ")
    );
    Ok(())
}

/// CONNACK without Topic Alias Maximum: the client's PUBLISH carries no Topic Alias.
async fn no_topic_alias(ctx: &mut Ctx) -> Result<(), Fail> {
    let op = publish_op(ctx, b"a", 1, false);
    let connack = ctx.connack();
    let (_s, _cut, mut peer) = publisher(ctx, |_| {}, op, connack).await?;
    let p = peer.next_publish().await.setup()?;
    ensure!(
        p.props(prop::TOPIC_ALIAS).is_empty(),
        "a PUBLISH without Topic Alias (CONNACK had no Topic Alias Maximum)",
        p.show()
    );
    Ok(())
}

/// CONNACK Receive Maximum 2; the application publishes 4 messages at QoS 1 and the server
/// withholds PUBACK: only 2 PUBLISHes; one PUBACK lets exactly one more through.
async fn receive_maximum(ctx: &mut Ctx) -> Result<(), Fail> {
    let first = publish_op(ctx, b"m1", 1, false);
    let connack = ctx
        .connack()
        .property(Property::u16(prop::RECEIVE_MAXIMUM, 2));
    let (_s, mut cut, mut peer) = publisher(ctx, |_| {}, first, connack).await?;
    for i in 2..=4 {
        cut.perform(publish_op(ctx, format!("m{i}").as_bytes(), 1, false))?;
    }
    let frames = collect_publishes(&mut peer, WATCH).await?;
    let ps = publishes(&frames, true);
    ensure!(
        ps.len() <= 2 && !ps.is_empty(),
        "1 or 2 QoS 1 PUBLISHes in flight (Receive Maximum 2, PUBACKs withheld)",
        describe_all(&frames)
    );
    let id = ps[0].packet_id.unwrap_or(0);
    let version = peer.version();
    peer.send_bytes(&build::Puback::new(version, id).build())
        .await?;
    let more = collect_publishes(&mut peer, WATCH).await?;
    let more_ps = publishes(&more, true);
    ensure!(
        ps.len() + more_ps.len() <= 3,
        "at most one more PUBLISH after one PUBACK (Receive Maximum 2)",
        describe_all(&more)
    );
    Ok(())
}

/// Every PUBLISH the client sends within `quiet`, unacknowledged (PINGREQ answered).
async fn collect_publishes(peer: &mut Client, quiet: Duration) -> Result<Vec<Vec<u8>>, Fail> {
    let deadline = tokio::time::Instant::now() + quiet;
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(frames);
        }
        match peer.recv(left).await {
            Ok(r) if r.bytes.first() == Some(&0xc0) => peer.send_bytes(&[0xd0, 0x00]).await?,
            Ok(r) => frames.push(r.bytes),
            Err(_) => return Ok(frames),
        }
    }
}

/// A client with no session (Clean Start 1) that gets Session Present 1 closes the connection.
async fn session_present_without_session(ctx: &mut Ctx) -> Result<(), Fail> {
    let filter = ctx.topic("t");
    let (mut server, _cut) = ctx
        .client_under_test(|_| {}, Some(Op::Subscribe { filter, qos: 0 }))
        .await?;
    let (mut peer, info) = server.accept_connect().await.map_err(|f| f.setup(None))?;
    crate::require!(
        info.clean_start,
        "a CONNECT with Clean Start 1",
        "Clean Start 0"
    );
    peer.send_bytes(&ctx.connack().session_present(true).build())
        .await
        .setup()?;
    // What the client may send before it closes is not judged (a DISCONNECT is allowed); it
    // must close the connection.
    let frames = watch(&mut peer, Duration::from_secs(2)).await?;
    ensure!(
        peer.closed().is_some(),
        "the client closes the connection (Session Present 1 without a session)",
        format!(
            "{}; the connection still open after 2000 ms",
            describe_all(&frames)
        )
    );
    ctx.choice(format!("sent {} before closing", describe_all(&frames)));
    Ok(())
}

/// A PUBLISH with QoS bits 11 to a subscribed client: it closes (5.0: may send DISCONNECT 0x81).
async fn publish_qos3(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let connack = ctx.connack();
    let (_s, _cut, mut peer, _) = ctx.subscribed_client(|_| {}, 1, connack).await?;
    let version = peer.version();
    peer.send_bytes(&raw_client::build::malformed::publish_qos3(version, &topic))
        .await?;
    let how = if ctx.is_v5() {
        Closing::silently().or_disconnect(&[0x81])
    } else {
        Closing::silently()
    };
    peer.expect_closed(how).await
}

/// QoS 1 PUBLISH id 7: PUBACK 7 and one delivery; the same id again after the PUBACK is a new
/// message: PUBACK 7 and a second delivery.
async fn qos1_receiver(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let connack = ctx.connack();
    let (_s, mut cut, mut peer, _) = ctx.subscribed_client(|_| {}, 1, connack).await?;
    let version = peer.version();
    for (n, payload) in [(1, "one"), (2, "two")] {
        let publish = build::Publish::new(version, &topic, payload)
            .qos(1)
            .packet_id(7)
            .build();
        peer.send_bytes(&publish).await?;
        peer.next_ack(4, 7)
            .await
            .map_err(|f| f.context(&format!("after QoS 1 PUBLISH {n} with id 7")))?;
    }
    let got = cut.messages_within(DELIVERY).await;
    let payloads: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    ensure!(
        payloads == ["one", "two"],
        "the application receives \"one\" then \"two\" (id 7 reused after its PUBACK is a new message)",
        format!("{payloads:?}")
    );
    Ok(())
}

/// QoS 2 PUBLISH id 9, then the same again with DUP 1 before PUBREL: PUBREC 9 both times, PUBREL
/// 9 gets PUBCOMP 9, and the application gets the message once.
async fn qos2_receiver(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let connack = ctx.connack();
    let (_s, mut cut, mut peer, _) = ctx.subscribed_client(|_| {}, 2, connack).await?;
    let version = peer.version();
    let p = build::Publish::new(version, &topic, "once")
        .qos(2)
        .packet_id(9);
    peer.send_bytes(&p.build()).await?;
    peer.next_ack(5, 9).await?;
    peer.send_bytes(&p.dup(true).build()).await?;
    peer.next_ack(5, 9)
        .await
        .map_err(|f| f.context("after the PUBLISH resent with DUP 1"))?;
    peer.send_bytes(&build::Pubrel::new(version, 9).build())
        .await?;
    peer.next_ack(7, 9).await?;
    let got = cut.messages_within(DELIVERY).await;
    ensure!(
        got.len() == 1,
        "the application receives the QoS 2 message exactly once",
        format!("{} deliveries", got.len())
    );
    Ok(())
}

/// A QoS 1 PUBLISH on a topic the client never subscribed to is still acknowledged.
async fn acks_unsubscribed(ctx: &mut Ctx) -> Result<(), Fail> {
    let other = ctx.topic("not-subscribed");
    let connack = ctx.connack();
    let (_s, _cut, mut peer, _) = ctx.subscribed_client(|_| {}, 1, connack).await?;
    let version = peer.version();
    peer.send_bytes(
        &build::Publish::new(version, &other, "x")
            .qos(1)
            .packet_id(5)
            .build(),
    )
    .await?;
    peer.next_ack(4, 5).await?;
    Ok(())
}

/// QoS `qos` PUBLISHes with ids 3, 1, 2 back to back: the acknowledgements come as 3, 1, 2.
async fn ack_order(ctx: &mut Ctx, qos: u8) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let connack = ctx.connack();
    let (_s, _cut, mut peer, _) = ctx.subscribed_client(|_| {}, qos, connack).await?;
    let version = peer.version();
    let mut burst = Vec::new();
    for id in [3u16, 1, 2] {
        burst.extend(
            build::Publish::new(version, &topic, format!("m{id}"))
                .qos(qos)
                .packet_id(id)
                .build(),
        );
    }
    peer.send_bytes(&burst).await?;
    let ack_type = if qos == 1 { 4 } else { 5 };
    for id in [3u16, 1, 2] {
        peer.next_ack(ack_type, id)
            .await
            .map_err(|f| f.context("acknowledgements in the order 3, 1, 2"))?;
    }
    if qos == 2 {
        for id in [3u16, 1, 2] {
            peer.send_bytes(&build::Pubrel::new(version, id).build())
                .await?;
            peer.next_ack(7, id).await.setup()?;
        }
    }
    Ok(())
}

async fn puback_order(ctx: &mut Ctx) -> Result<(), Fail> {
    ack_order(ctx, 1).await
}

async fn pubrec_order(ctx: &mut Ctx) -> Result<(), Fail> {
    ack_order(ctx, 2).await
}

/// Three QoS 1 publishes with PUBACK withheld: three PUBLISHes, QoS 1, DUP 0, distinct non-zero
/// packet identifiers.
async fn qos1_ids_unique(ctx: &mut Ctx) -> Result<(), Fail> {
    ids_unique(ctx, 1).await
}

/// As [`qos1_ids_unique`] at QoS 2, PUBREC withheld.
async fn qos2_ids_unique(ctx: &mut Ctx) -> Result<(), Fail> {
    ids_unique(ctx, 2).await
}

async fn ids_unique(ctx: &mut Ctx, qos: u8) -> Result<(), Fail> {
    let first = publish_op(ctx, b"m1", qos, false);
    let connack = ctx.connack();
    let (_s, mut cut, mut peer) = publisher(ctx, |_| {}, first, connack).await?;
    for i in 2..=3 {
        cut.perform(publish_op(ctx, format!("m{i}").as_bytes(), qos, false))?;
    }
    let frames = collect_publishes(&mut peer, WATCH).await?;
    let ps = publishes(&frames, ctx.is_v5());
    crate::require!(
        ps.len() == 3,
        "3 PUBLISHes (3 publishes asked, no Receive Maximum limit)",
        describe_all(&frames)
    );
    let mut ids: Vec<u16> = ps.iter().filter_map(|p| p.packet_id).collect();
    let fresh = ps.iter().all(|p| p.qos == qos && !p.dup);
    ids.sort_unstable();
    ids.dedup();
    ensure!(
        ids.len() == 3 && !ids.contains(&0) && fresh,
        format!("3 QoS {qos} PUBLISHes with DUP 0 and distinct non-zero Packet Identifiers"),
        describe_all(&frames)
    );
    Ok(())
}

/// Persistent-session options: Clean Start 0, (5.0) Session Expiry 300 s, reconnect on.
fn persistent(o: &mut ConnectOptions) {
    o.clean_start = false;
    if o.version == V5_0 {
        o.session_expiry = Some(300);
    }
    o.reconnect = true;
}

/// Drops the connection, then accepts the reconnection: CONNECT with Clean Start 0, answered
/// with Session Present `present`. Setup.
async fn resume(
    ctx: &Ctx,
    server: &mut ScriptedServer,
    peer: Client,
    present: bool,
) -> Result<Client, Fail> {
    drop(peer);
    let (mut again, info) = server.accept_connect().await.map_err(|f| f.setup(None))?;
    crate::require!(
        !info.clean_start,
        "the reconnection's CONNECT with Clean Start 0",
        "Clean Start 1"
    );
    again
        .send_bytes(&ctx.connack().session_present(present).build())
        .await
        .setup()?;
    Ok(again)
}

/// QoS 1 PUBLISH unacknowledged, link dropped, session resumed: the same PUBLISH again with
/// the same Packet Identifier.
async fn qos1_resend(ctx: &mut Ctx) -> Result<(), Fail> {
    let (first, p, mut again) = qos1_resent(ctx).await?;
    ensure!(
        p.packet_id == first.packet_id && p.payload == first.payload,
        format!(
            "the PUBLISH resent with Packet Identifier {}",
            first.packet_id.unwrap_or(0)
        ),
        p.show()
    );
    puback(&mut again, &p).await
}

/// As [`qos1_resend`]: the resent PUBLISH has DUP 1.
async fn qos1_resend_dup(ctx: &mut Ctx) -> Result<(), Fail> {
    let (_, p, mut again) = qos1_resent(ctx).await?;
    ensure!(p.dup, "the resent PUBLISH with DUP 1", p.show());
    puback(&mut again, &p).await
}

/// Setup of the QoS 1 resend scenarios: a QoS 1 PUBLISH unacknowledged, the link dropped, the
/// session resumed; (the first PUBLISH, the next PUBLISH on the new connection, that one).
async fn qos1_resent(
    ctx: &mut Ctx,
) -> Result<(crate::wire::Publish, crate::wire::Publish, Client), Fail> {
    let op = publish_op(ctx, b"again", 1, false);
    let connack = ctx.connack();
    let (mut server, _cut, mut peer) = publisher(ctx, persistent, op, connack).await?;
    let first = peer.next_publish().await.setup()?;
    crate::require!(
        first.qos == 1 && first.packet_id.is_some(),
        "a QoS 1 PUBLISH",
        first.show()
    );
    let mut again = resume(ctx, &mut server, peer, true).await?;
    let p = again.next_publish().await?;
    Ok((first, p, again))
}

async fn puback(peer: &mut Client, p: &crate::wire::Publish) -> Result<(), Fail> {
    let version = peer.version();
    peer.send_bytes(&build::Puback::new(version, p.packet_id.unwrap_or(0)).build())
        .await?;
    Ok(())
}

/// Two QoS 1 PUBLISHes unacknowledged, link dropped, session resumed: both resent, in the order
/// they were first sent.
async fn resend_order(ctx: &mut Ctx) -> Result<(), Fail> {
    let op = publish_op(ctx, b"first", 1, false);
    let connack = ctx.connack();
    let (mut server, mut cut, mut peer) = publisher(ctx, persistent, op, connack).await?;
    let one = peer.next_publish().await.setup()?;
    cut.perform(publish_op(ctx, b"second", 1, false))?;
    let two = peer.next_publish().await.setup()?;
    let sent: Vec<Option<u16>> = vec![one.packet_id, two.packet_id];
    let mut again = resume(ctx, &mut server, peer, true).await?;
    // Each resent PUBLISH is acknowledged as it comes: the statement binds the order, not the
    // pacing, and a client may resend the next one only after the previous one's PUBACK
    // (MQTT.js does).
    let frames = watch(&mut again, WATCH).await?;
    let resent: Vec<Option<u16>> = publishes(&frames, ctx.is_v5())
        .iter()
        .map(|p| p.packet_id)
        .take(sent.len())
        .collect();
    ensure!(
        resent == sent,
        format!("the PUBLISHes resent in their original order, ids {sent:?}"),
        format!("ids {resent:?}")
    );
    Ok(())
}

/// QoS 2: PUBREC answered with PUBREL (same id); link dropped before PUBCOMP; on resume the
/// client resends the PUBREL (same id) and never the PUBLISH.
async fn pubrel_resend(ctx: &mut Ctx) -> Result<(), Fail> {
    let op = publish_op(ctx, b"two", 2, false);
    let connack = ctx.connack();
    let (mut server, _cut, mut peer) = publisher(ctx, persistent, op, connack).await?;
    let (first_byte, first) = peer.next_publish_frame().await?;
    let id = first.packet_id.unwrap_or(0);
    ensure!(
        first.qos == 2 && !first.dup && id != 0,
        "the first transmission: PUBLISH QoS 2, DUP 0, non-zero Packet Identifier",
        format!("first byte {first_byte:02x}: {}", first.show())
    );
    let version = peer.version();
    peer.send_bytes(&build::Pubrec::new(version, id).build())
        .await?;
    peer.next_ack(6, id).await?;
    let mut again = resume(ctx, &mut server, peer, true).await?;
    let r = again.recv(again.timeout).await.map_err(|e| {
        Fail::from(e).context(&format!("expected the PUBREL {id} resent on resume"))
    })?;
    ensure!(
        r.bytes.first().map(|b| b >> 4) == Some(6)
            && r.bytes.get(2..4) == Some(&id.to_be_bytes()[..]),
        format!("PUBREL {id} resent on resume (and no PUBLISH: its PUBREL went out)"),
        r.decoded.to_string()
    );
    again
        .send_bytes(&build::Pubcomp::new(version, id).build())
        .await?;
    let later = watch(&mut again, Duration::from_millis(500)).await?;
    ensure!(
        publishes(&later, ctx.is_v5()).is_empty(),
        "no PUBLISH of the completed message",
        describe_all(&later)
    );
    Ok(())
}

/// QoS 1 PUBLISH unacknowledged, link dropped, reconnection answered with Session Present 0:
/// the client discards its session state and resends nothing of it.
async fn session_present_0_discards(ctx: &mut Ctx) -> Result<(), Fail> {
    let op = publish_op(ctx, b"lost", 1, false);
    let connack = ctx.connack();
    let (mut server, _cut, mut peer) = publisher(ctx, persistent, op, connack).await?;
    let first = peer.next_publish().await.setup()?;
    let mut again = resume(ctx, &mut server, peer, false).await?;
    let frames = watch(&mut again, WATCH).await?;
    let resent: Vec<_> = publishes(&frames, true)
        .into_iter()
        .filter(|p| p.dup || p.packet_id == first.packet_id)
        .collect();
    ensure!(
        resent.is_empty(),
        "no resent PUBLISH after Session Present 0 (the session state is discarded)",
        describe_all(&frames)
    );
    Ok(())
}

/// The application disconnects: DISCONNECT (first byte 0xE0; 5.0 reason from the table), then
/// nothing, and the client closes the connection itself.
async fn disconnect_then_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let connack = ctx.connack();
    let (_s, mut cut, mut peer, _) = ctx.subscribed_client(|_| {}, 0, connack).await?;
    cut.perform(Op::Disconnect)?;
    let bytes = peer.expect_skipping_pings(14).await?;
    ensure!(
        bytes.first() == Some(&0xe0),
        "DISCONNECT first byte 0xE0",
        crate::wire::describe(&bytes)
    );
    if ctx.is_v5() {
        let reason = crate::wire::disconnect_reason(&bytes).unwrap_or(0xff);
        ensure!(
            matches!(
                reason,
                0x00 | 0x04
                    | 0x80
                    | 0x81
                    | 0x82
                    | 0x83
                    | 0x90
                    | 0x93
                    | 0x94
                    | 0x95
                    | 0x96
                    | 0x97
                    | 0x98
                    | 0x99
            ),
            "a DISCONNECT reason code a client may send",
            crate::wire::describe(&bytes)
        );
    }
    peer.expect_closed(Closing::silently()).await
}
