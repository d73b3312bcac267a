//! `ws://` listeners with real parts: the broker on a WebSocket and a plain listener at once,
//! and a real WebSocket client (tokio-tungstenite).

mod listeners;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use listeners::Running;
use mqttref_broker::{BrokerConfig, Endpoint, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const T: Duration = Duration::from_secs(5);
/// 3.1.1 CONNECT, clean session, keep alive 0, client id `id` (one byte).
fn connect(id: u8) -> Vec<u8> {
    vec![
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x01, id,
    ]
}
const CONNACK: &[u8] = b"\x20\x02\x00\x00";
const SUBSCRIBE_T: &[u8] = b"\x82\x06\x00\x01\x00\x01t\x00";
const SUBACK: &[u8] = b"\x90\x03\x00\x01\x00";
const PUBLISH_T_HI: &[u8] = b"\x30\x05\x00\x01thi";
const PINGREQ: &[u8] = b"\xc0\x00";
const PINGRESP: &[u8] = b"\xd0\x00";

type Ws = WebSocketStream<TcpStream>;

async fn start(listen: &[&str]) -> Running {
    listeners::start(BrokerConfig {
        listen: listen.iter().map(|s| s.to_string()).collect(),
        ..BrokerConfig::default()
    })
    .await
}

/// Opens `ws://addr{path}` offering `protocols` (none if empty).
async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    protocols: &str,
) -> Result<(Ws, Option<String>), WsError> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocols).unwrap(),
        );
    }
    let tcp = TcpStream::connect(addr).await.map_err(WsError::Io)?;
    let (ws, response) = tokio::time::timeout(T, tokio_tungstenite::client_async(request, tcp))
        .await
        .expect("handshake in time")?;
    let selected = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((ws, selected))
}

async fn send_binary(ws: &mut Ws, bytes: &[u8]) {
    ws.send(Message::Binary(Bytes::copy_from_slice(bytes)))
        .await
        .unwrap();
}

/// Reads binary frames until `want.len()` bytes have come, and compares.
async fn expect_ws(ws: &mut Ws, want: &[u8]) {
    let mut got = Vec::new();
    while got.len() < want.len() {
        match tokio::time::timeout(T, ws.next()).await.expect("in time") {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected binary, got {other:?}"),
        }
    }
    assert_eq!(got, want);
}

/// After the server decided to close: the stream ends (a close frame, then nothing, or a reset).
async fn expect_ws_closed(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(T, ws.next())
            .await
            .expect("closed in time")
        {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(m)) => panic!("expected the connection to close, got {m:?}"),
        }
    }
}

async fn expect_tcp(s: &mut TcpStream, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(T, s.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(got, want);
}

/// A WebSocket subscriber receives what a plain-TCP publisher sends, and the other way round:
/// one engine behind both listeners. The server selected the subprotocol `mqtt`.
#[tokio::test]
async fn ws_and_plain_listeners_share_one_engine() {
    let b = start(&["mqtt://127.0.0.1:0", "ws://127.0.0.1:0/mqtt"]).await;
    assert_eq!(b.endpoints[1].transport, Transport::Ws);
    assert_eq!(b.endpoints[1].path.as_deref(), Some("/mqtt"));
    assert!(b.endpoints[1].to_string().ends_with("/mqtt"));

    let (mut sub, selected) = ws_connect(b.addr(Transport::Ws), "/mqtt", "mqtt")
        .await
        .expect("upgrade");
    assert_eq!(selected.as_deref(), Some("mqtt"));
    send_binary(&mut sub, &connect(b's')).await;
    expect_ws(&mut sub, CONNACK).await;
    send_binary(&mut sub, SUBSCRIBE_T).await;
    expect_ws(&mut sub, SUBACK).await;

    let mut publisher = TcpStream::connect(b.addr(Transport::Mqtt)).await.unwrap();
    publisher.write_all(&connect(b'p')).await.unwrap();
    expect_tcp(&mut publisher, CONNACK).await;
    publisher.write_all(PUBLISH_T_HI).await.unwrap();
    expect_ws(&mut sub, PUBLISH_T_HI).await;

    publisher.write_all(SUBSCRIBE_T).await.unwrap();
    expect_tcp(&mut publisher, SUBACK).await;
    send_binary(&mut sub, PUBLISH_T_HI).await;
    expect_tcp(&mut publisher, PUBLISH_T_HI).await;
    expect_ws(&mut sub, PUBLISH_T_HI).await;

    // A WebSocket ping is answered with a pong, and MQTT goes on.
    sub.send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    send_binary(&mut sub, PINGREQ).await;
    expect_ws(&mut sub, PINGRESP).await;
    b.stop().await;
}

/// Packets split across frames, and several packets in one frame, are understood
/// [MQTT-6.0.0-2]: the payloads are one byte stream.
#[tokio::test]
async fn frames_are_a_byte_stream() {
    let b = start(&["ws://127.0.0.1:0/mqtt"]).await;
    let (mut c, _) = ws_connect(b.addr(Transport::Ws), "/mqtt", "mqtt")
        .await
        .unwrap();
    let connect = connect(b'c');
    send_binary(&mut c, &connect[..3]).await;
    send_binary(&mut c, &connect[3..]).await;
    expect_ws(&mut c, CONNACK).await;
    send_binary(&mut c, &[SUBSCRIBE_T, PINGREQ].concat()).await;
    expect_ws(&mut c, &[SUBACK, PINGRESP].concat()).await;
    b.stop().await;
}

/// A text frame closes the connection [MQTT-6.0.0-1].
#[tokio::test]
async fn text_frame_closes_the_connection() {
    let b = start(&["ws://127.0.0.1:0/mqtt"]).await;
    let (mut c, _) = ws_connect(b.addr(Transport::Ws), "/mqtt", "mqtt")
        .await
        .unwrap();
    send_binary(&mut c, &connect(b'c')).await;
    expect_ws(&mut c, CONNACK).await;
    c.send(Message::text("hello")).await.unwrap();
    expect_ws_closed(&mut c).await;
    b.stop().await;
}

/// The wrong path gets 404; no MQTT subprotocol gets 400; `mqttv3.1` alone is accepted and
/// selected; `mqtt` is preferred when both are offered.
#[tokio::test]
async fn upgrade_checks_path_and_subprotocol() {
    let b = start(&["ws://127.0.0.1:0/mqtt"]).await;
    let addr = b.addr(Transport::Ws);
    let status = |r: Result<(Ws, Option<String>), WsError>| match r {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected a refusal"),
    };
    assert_eq!(status(ws_connect(addr, "/other", "mqtt").await), 404);
    assert_eq!(status(ws_connect(addr, "/mqtt", "").await), 400);
    assert_eq!(status(ws_connect(addr, "/mqtt", "chat").await), 400);
    let (_, selected) = ws_connect(addr, "/mqtt", "mqttv3.1").await.unwrap();
    assert_eq!(selected.as_deref(), Some("mqttv3.1"));
    let (_, selected) = ws_connect(addr, "/mqtt", "mqttv3.1, mqtt").await.unwrap();
    assert_eq!(selected.as_deref(), Some("mqtt"));
    b.stop().await;
}

/// A peer that connects and sends no HTTP request holds up no one: the upgrade runs in its
/// connection's task. Garbage instead of an HTTP request ends only that connection.
#[tokio::test]
async fn silent_or_garbage_peers_do_not_block_accepts() {
    let b = start(&["ws://127.0.0.1:0/mqtt"]).await;
    let addr = b.addr(Transport::Ws);
    let _silent = TcpStream::connect(addr).await.unwrap();
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage.write_all(&connect(b'g')).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(T, garbage.read_to_end(&mut rest))
        .await
        .expect("garbage peer closed in time");
    let (mut c, _) = ws_connect(addr, "/mqtt", "mqtt").await.unwrap();
    send_binary(&mut c, &connect(b'c')).await;
    expect_ws(&mut c, CONNACK).await;
    b.stop().await;
}

/// `ws://` parses with its path (`/` when none); other schemes take none.
#[test]
fn ws_endpoints_parse() {
    let e: Endpoint = "ws://127.0.0.1:8080/mqtt".parse().unwrap();
    assert_eq!(e.transport, Transport::Ws);
    assert_eq!(e.path.as_deref(), Some("/mqtt"));
    assert_eq!(e.to_string(), "ws://127.0.0.1:8080/mqtt");
    let e: Endpoint = "ws://[::1]:80".parse().unwrap();
    assert_eq!(e.path.as_deref(), Some("/"));
    assert!("mqtt://127.0.0.1:1/x".parse::<Endpoint>().is_err());
    let e: Endpoint = "mqtt://127.0.0.1:1".parse().unwrap();
    assert_eq!(e.path, None);
}
