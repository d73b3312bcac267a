//! The raw client over WebSocket against a real tokio-tungstenite server: the subprotocol
//! offered and selected, one `send_bytes` per binary frame, text frames on demand, and the
//! server's binary payloads read as one byte stream.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use raw_client::{Connector, PacketType, ProtocolVersion, RawClient};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Message};

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn frames_follow_the_writes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        #[allow(clippy::result_large_err)] // tungstenite's Callback signature
        let callback = |req: &Request, mut resp: Response| {
            assert_eq!(req.uri().path(), "/mqtt");
            assert_eq!(req.headers()["Sec-WebSocket-Protocol"], "mqtt");
            resp.headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(ws.next().await.unwrap().unwrap());
        }
        // Two packets (PINGRESP, PINGRESP) in one frame, then one split across two.
        ws.send(Message::Binary(Bytes::from_static(b"\xd0\x00\xd0\x00")))
            .await
            .unwrap();
        ws.send(Message::Binary(Bytes::from_static(b"\xd0")))
            .await
            .unwrap();
        ws.send(Message::Binary(Bytes::from_static(b"\x00")))
            .await
            .unwrap();
        got
    });

    let connector = Connector::Ws {
        path: "/mqtt".into(),
    };
    let mut c = RawClient::connect(&addr.to_string(), &connector, ProtocolVersion::V5, "c")
        .await
        .unwrap();
    assert!(c.is_ws());
    assert_eq!(c.ws_subprotocol().as_deref(), Some("mqtt"));
    c.send_bytes(b"\xc0").await.unwrap();
    c.send_bytes(b"\x00").await.unwrap();
    c.send_ws_text("hello").await.unwrap();
    for _ in 0..3 {
        c.expect_kind(PacketType::PingResp, T).await.unwrap();
    }
    let got = server.await.unwrap();
    assert_eq!(
        got,
        vec![
            Message::Binary(Bytes::from_static(b"\xc0")),
            Message::Binary(Bytes::from_static(b"\x00")),
            Message::text("hello"),
        ]
    );
    assert!(c
        .transcript()
        .render()
        .contains("subprotocol \"mqtt\" selected"));
}

#[tokio::test]
async fn text_frame_needs_a_websocket() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut c = RawClient::connect_tcp(&addr.to_string(), ProtocolVersion::V5, "c")
        .await
        .unwrap();
    assert!(!c.is_ws());
    assert!(matches!(
        c.send_ws_text("x").await,
        Err(raw_client::RawError::NotWebSocket)
    ));
}
