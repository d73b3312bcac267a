//! The broker under load and abuse, over real TCP: an acknowledged QoS 1 message is never lost
//! by a subscriber that keeps up, whatever the publishers and the other subscribers do, and a
//! peer that does not read cannot make the broker hold unbounded replies. (The heavy versions,
//! with memory figures beside Mosquitto's, are `cargo xtask soak`.)

mod common;

use std::time::{Duration, Instant};

use common::{connect_packet, publish, start, subscribe, Raw};
use mqttref_broker::BrokerConfig;
use mqttref_core::broker::testwire::{self, kind, Packet, Props, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads `n` QoS 1 PUBLISHes, acknowledging each; returns their payloads as counters.
async fn read_and_ack(mut r: Raw, n: usize) -> Vec<u32> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match r.recv_within(Duration::from_secs(30)).await {
            Some(Packet::Publish(p)) => {
                r.send(&Packet::Ack {
                    kind: kind::PUBACK,
                    pid: p.pid,
                    code: 0,
                    props: Props::default(),
                })
                .await;
                got.push(u32::from_be_bytes(p.payload[..4].try_into().unwrap()));
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    got
}

/// A 3.1.1 publisher with no flow control of its own (it writes its whole burst without
/// waiting, as a raw script does) sends `n` QoS 1 messages; returns how many PUBACKs it got.
async fn blast(addr: std::net::SocketAddr, topic: &str, n: u32) -> usize {
    let (mut p, _) = Raw::connect(addr, connect_packet(ProtocolVersion::V3_1_1, "blaster")).await;
    let stream = std::mem::replace(&mut p.stream, TcpStream::connect(addr).await.unwrap());
    let (mut rd, mut wr) = stream.into_split();
    let topic = topic.to_owned();
    let writer = tokio::spawn(async move {
        let mut buf = Vec::new();
        for i in 0..n {
            let pid = (i % 65_535 + 1) as u16;
            buf.extend_from_slice(&testwire::encode(
                &publish(&topic, 1, pid, &i.to_be_bytes()),
                ProtocolVersion::V3_1_1,
            ));
            if buf.len() > 32 * 1024 {
                wr.write_all(&buf).await.unwrap();
                buf.clear();
            }
        }
        wr.write_all(&buf).await.unwrap();
        wr
    });
    // PUBACKs are 4 bytes each: 40 02 id id.
    let mut acks = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut partial = 0usize;
    while acks < n as usize {
        match tokio::time::timeout(Duration::from_secs(30), rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(k)) => {
                partial += k;
                acks += partial / 4;
                partial %= 4;
            }
        }
    }
    let _ = writer.await;
    acks
}

/// 20,000 QoS 1 messages as fast as one publisher can write them, a subscriber that reads and
/// acknowledges everything, and one that never reads: the healthy one gets every message, in
/// order, and the publisher every PUBACK. The stuck one is disconnected after
/// `slow_subscriber_timeout_ms` (5 s here, 10 s by default). Before backpressure the healthy
/// subscriber got about a fifth of them (issue: 9,087 of 50,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_burst_loses_nothing_acknowledged_to_a_healthy_subscriber() {
    const N: u32 = 20_000;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_default())
        .with_test_writer()
        .try_init();
    let mut config = BrokerConfig::default();
    config.engine.slow_subscriber_timeout_ms = 5_000;
    let b = start(config).await;
    let (mut good, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "good")).await;
    subscribe(&mut good, "burst", 1).await;
    let (mut stuck, _) =
        Raw::connect(b.addr, connect_packet(ProtocolVersion::V3_1_1, "stuck")).await;
    subscribe(&mut stuck, "burst", 1).await;
    let started = Instant::now();
    let reader = tokio::spawn(read_and_ack(good, N as usize));
    let acks = blast(b.addr, "burst", N).await;
    let got = reader.await.unwrap();
    assert_eq!(acks, N as usize, "PUBACKs the publisher received");
    assert_eq!(
        got.len(),
        N as usize,
        "messages the healthy subscriber received"
    );
    assert!(got.iter().copied().eq(0..N), "in publish order");
    // The stuck subscriber was cut off: its socket ends with DISCONNECT-less close (3.1.1).
    let mut rest = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(10), stuck.stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(_))), "stuck subscriber closed");
    eprintln!("{N} messages in {:?}", started.elapsed());
}

/// A client that sends PINGREQs and never reads: the broker stops reading it once its unread
/// replies pass the bound, so the client's writes stall (TCP backpressure) instead of the broker
/// queueing a PINGRESP per PINGREQ; another client is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingreq_flood_from_a_peer_that_never_reads_is_paused() {
    let mut config = BrokerConfig::default();
    config.engine.max_outbound_bytes = 64 * 1024;
    let b = start(config).await;
    let (flood, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V3_1_1, "flood")).await;
    let mut stream = flood.stream;
    let chunk = [0xC0u8, 0x00].repeat(32 * 1024);
    // 512 MiB of PINGREQs would be 256 Mi PINGRESPs; the writes stall long before.
    let sent = tokio::time::timeout(Duration::from_secs(3), async {
        let mut sent = 0usize;
        while sent < 512 << 20 {
            stream.write_all(&chunk).await.unwrap();
            sent += chunk.len();
        }
        sent
    })
    .await;
    assert!(
        sent.is_err(),
        "the broker kept reading a peer that never reads"
    );
    let (mut other, _) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "other")).await;
    let t = Instant::now();
    other.send(&Packet::PingReq).await;
    assert_eq!(other.recv().await, Some(Packet::PingResp));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}
