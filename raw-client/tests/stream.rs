//! Over in-memory streams (no broker): framing across tiny and merged reads, the peer's
//! malformed output, close kinds, limits, and the exact transcript text.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use raw_client::build;
use raw_client::{
    CloseKind, DecodeError, Direction, ExpectError, PacketType, ProtocolVersion, RawClient,
};
use tokio::io::{duplex, AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

const T: Duration = Duration::from_secs(2);
const V5: ProtocolVersion = ProtocolVersion::V5;

/// CONNACK (success, no properties), PUBLISH QoS 1 "a" "hi" id 1, PINGRESP.
fn three_frames() -> Vec<Vec<u8>> {
    vec![
        vec![0x20, 0x03, 0x00, 0x00, 0x00],
        build::Publish::v5("a", "hi").qos(1).build(),
        vec![0xd0, 0x00],
    ]
}

#[tokio::test]
async fn frames_split_into_one_byte_reads() {
    let (a, mut b) = duplex(64);
    let frames = three_frames();
    let all: Vec<u8> = frames.concat();
    let writer = tokio::spawn(async move {
        for byte in all {
            b.write_all(&[byte]).await.unwrap();
            b.flush().await.unwrap();
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        b
    });
    let mut c = RawClient::from_stream(a, V5, "c");
    for f in &frames {
        let r = c.recv(T).await.unwrap();
        assert_eq!(&r.bytes, f);
        assert_eq!(r.error, None, "{}", r.decoded);
    }
    let _b = writer.await.unwrap();
    let received = c
        .transcript()
        .entries()
        .iter()
        .filter(|e| e.direction == Direction::Received);
    assert_eq!(received.count(), 3);
}

#[tokio::test]
async fn frames_merged_in_one_read() {
    let (a, mut b) = duplex(1024);
    let frames = three_frames();
    b.write_all(&frames.concat()).await.unwrap();
    let mut c = RawClient::from_stream(a, V5, "c");
    let kinds = [
        PacketType::ConnAck,
        PacketType::Publish,
        PacketType::PingResp,
    ];
    for (f, k) in frames.iter().zip(kinds) {
        let r = c.expect_kind(k, T).await.unwrap();
        assert_eq!(&r.bytes, f);
    }
    c.expect_nothing(Duration::from_millis(50)).await.unwrap();
}

#[tokio::test]
async fn peer_malformed_output_is_still_received() {
    let (a, mut b) = duplex(1024);
    let qos3 = build::malformed::publish_qos3(V5, "t");
    b.write_all(&qos3).await.unwrap();
    b.write_all(&[0x00, 0x00]).await.unwrap(); // reserved type 0
    b.write_all(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01])
        .await
        .unwrap(); // 5-byte length
    let mut c = RawClient::from_stream(a, V5, "c");
    let r = c.recv(T).await.unwrap();
    assert_eq!(r.bytes, qos3);
    assert_eq!(r.kind, Some(PacketType::Publish));
    assert!(
        matches!(r.error, Some(DecodeError::Malformed(_))),
        "{:?}",
        r.error
    );
    assert!(r.packet().is_err());
    let r = c.recv(T).await.unwrap();
    assert_eq!((r.kind, r.bytes.as_slice()), (None, &[0u8, 0][..]));
    assert!(r.error.is_some());
    // No frame boundary after a 5-byte length: the rest comes as one unframed chunk.
    let r = c.recv(T).await.unwrap();
    assert_eq!(r.bytes, [0x30, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert!(r.error.is_some(), "{}", r.decoded);
}

#[tokio::test]
async fn eof_with_a_partial_frame() {
    let (a, mut b) = duplex(1024);
    b.write_all(&[0xe0, 0x01, 0x8e, 0x30, 0x05, 0x00])
        .await
        .unwrap();
    drop(b);
    let mut c = RawClient::from_stream(a, V5, "c");
    let close = c.expect_close(T).await.unwrap();
    assert_eq!(close.how, CloseKind::Eof);
    assert!(close.disconnect_seen);
    assert_eq!(close.disconnect_reason, Some(0x8e));
    assert_eq!(close.received_before.len(), 1);
    let text = c.transcript().render();
    assert!(
        text.contains("c -- 3 bytes of an incomplete frame left at the close\n        30 05 00\n"),
        "{text}"
    );
    assert!(
        text.contains("c -- connection closed by peer (EOF)"),
        "{text}"
    );
    // Later calls answer from the recorded close.
    assert_eq!(c.expect_close(T).await.unwrap().how, CloseKind::Eof);
    assert!(matches!(
        c.expect_nothing(T).await,
        Err(ExpectError::Closed { .. })
    ));
}

/// A stream whose reads fail with a reset after `data` is read.
struct Resetting {
    data: Vec<u8>,
}

impl AsyncRead for Resetting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.data.is_empty() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        let data = std::mem::take(&mut self.data);
        buf.put_slice(&data);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Resetting {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn reset_is_distinguished_from_eof() {
    let mut c = RawClient::from_stream(
        Resetting {
            data: vec![0xe0, 0x00],
        },
        ProtocolVersion::V3_1_1,
        "c",
    );
    let close = c.expect_close(T).await.unwrap();
    assert_eq!(close.how, CloseKind::Reset);
    // 3.1.1: a DISCONNECT is seen but carries no reason code.
    assert!(close.disconnect_seen);
    assert_eq!(close.disconnect_reason, None);
    assert!(c
        .transcript()
        .render()
        .contains("c -- connection reset by peer"));
}

#[tokio::test]
async fn oversized_frame_is_refused_without_buffering_it() {
    let (a, mut b) = duplex(1024);
    b.write_all(&[0x30, 0xe8, 0x07]).await.unwrap(); // announces 1000 bytes
    let mut c = RawClient::from_stream(a, V5, "c");
    c.set_max_frame(100);
    assert!(matches!(c.recv(T).await, Err(ExpectError::Io(_))));
}

#[tokio::test]
async fn skip_unrelated_skips_and_records() {
    let (a, mut b) = duplex(1024);
    b.write_all(&[0xd0, 0x00, 0x20, 0x02, 0x00, 0x00])
        .await
        .unwrap();
    let mut c = RawClient::from_stream(a, ProtocolVersion::V3_1_1, "c");
    let r = c
        .expect_skip_unrelated("CONNACK", T, |r| {
            if r.is(PacketType::ConnAck) {
                Ok(())
            } else {
                Err("not CONNACK".into())
            }
        })
        .await
        .unwrap();
    assert_eq!(r.reason_code(), Some(0));
    assert!(c
        .transcript()
        .render()
        .contains("c -- skipped while waiting for CONNACK: not CONNACK"));
}

#[tokio::test(start_paused = true)]
async fn transcript_renders_as_evidence() {
    let (a, mut b) = duplex(1024);
    let mut c = RawClient::from_stream(a, V5, "c1");
    tokio::time::sleep(Duration::from_millis(12)).await;
    c.send_bytes(&build::Connect::v5("c1").build())
        .await
        .unwrap();
    let peer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(8)).await;
        b.write_all(&[0x20, 0x03, 0x00, 0x00, 0x00]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        b.write_all(&build::Disconnect::v5().reason(0x8e).build())
            .await
            .unwrap();
    });
    c.expect_kind(PacketType::ConnAck, T).await.unwrap();
    c.expect_nothing(Duration::from_millis(500)).await.unwrap();
    assert!(matches!(
        c.recv(Duration::from_millis(100)).await,
        Err(ExpectError::Timeout { .. })
    ));
    let close = c.expect_close(T).await.unwrap();
    peer.await.unwrap();
    assert_eq!(close.disconnect_reason, Some(0x8e));
    assert_eq!(
        c.transcript().render(),
        "\
+0.012s  c1 -> CONNECT(v5, client_id=\"c1\", clean_start=1, keep_alive=30)
        10 0f 00 04 4d 51 54 54 05 02 00 1e 00 00 02 63 31
+0.020s  c1 <- CONNACK(session_present=0, reason=0x00 Success, props{})
        20 03 00 00 00
+0.520s  c1 -- nothing received for 0.500s, as expected
+0.620s  c1 -- timed out after 0.100s waiting for any packet
+1.020s  c1 <- DISCONNECT(reason=0x8e Session taken over)
        e0 01 8e
+1.020s  c1 -- connection closed by peer (EOF)
"
    );
}
