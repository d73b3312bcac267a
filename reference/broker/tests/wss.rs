//! `wss://` listeners: the WebSocket layer over the TLS layer, with an rcgen PKI, a real rustls
//! client and a real WebSocket client (tokio-tungstenite) on top of it.

mod listeners;
mod pki;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use listeners::start;
use mqttref_broker::{BrokerConfig, Transport};
use pki::Pki;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
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

type Wss = WebSocketStream<TlsStream<TcpStream>>;

/// TLS to `addr` (checked against the test CA), then the upgrade at `path` offering
/// `protocols` (none if empty). The subprotocol the server selected comes back with the stream.
async fn wss_connect(
    pki: &Pki,
    with_cert: bool,
    addr: SocketAddr,
    path: &str,
    protocols: &str,
) -> Result<(Wss, Option<String>), WsError> {
    let tcp = TcpStream::connect(addr).await.map_err(WsError::Io)?;
    // What browsers offer: WebSocket starts as HTTP/1.1.
    let tls = pki
        .client_alpn(with_cert, &[b"http/1.1"])
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(WsError::Io)?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut request = format!("wss://localhost:{}{path}", addr.port())
        .into_client_request()
        .unwrap();
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocols).unwrap(),
        );
    }
    let (ws, response) = tokio::time::timeout(T, tokio_tungstenite::client_async(request, tls))
        .await
        .expect("handshake in time")?;
    let selected = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((ws, selected))
}

async fn send_binary(ws: &mut Wss, bytes: &[u8]) {
    ws.send(Message::Binary(Bytes::copy_from_slice(bytes)))
        .await
        .unwrap();
}

/// Reads binary frames until `want.len()` bytes have come, and compares.
async fn expect_ws(ws: &mut Wss, want: &[u8]) {
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

/// A `wss://` subscriber receives what a `wss://` publisher sends, and what an `mqtts://` one
/// sends: one engine, one TLS configuration behind both TLS listeners. The server selected the
/// subprotocol `mqtt`.
#[tokio::test]
async fn wss_publish_subscribe_round_trip() {
    let pki = Pki::new("wss-round-trip");
    let b = start(pki.config(&["wss://127.0.0.1:0/mqtt", "mqtts://127.0.0.1:0"])).await;
    assert_eq!(b.endpoints[0].transport, Transport::Wss);
    assert_eq!(b.endpoints[0].path.as_deref(), Some("/mqtt"));
    assert!(b.endpoints[0].to_string().starts_with("wss://127.0.0.1:"));
    let addr = b.addr(Transport::Wss);

    let (mut sub, selected) = wss_connect(&pki, false, addr, "/mqtt", "mqtt")
        .await
        .expect("TLS handshake and upgrade");
    assert_eq!(selected.as_deref(), Some("mqtt"));
    send_binary(&mut sub, &connect(b's')).await;
    expect_ws(&mut sub, CONNACK).await;
    send_binary(&mut sub, SUBSCRIBE_T).await;
    expect_ws(&mut sub, SUBACK).await;

    let (mut publisher, _) = wss_connect(&pki, false, addr, "/mqtt", "mqtt")
        .await
        .expect("second connection");
    send_binary(&mut publisher, &connect(b'p')).await;
    expect_ws(&mut publisher, CONNACK).await;
    // One packet split over two frames [MQTT-6.0.0-2], inside TLS records.
    send_binary(&mut publisher, &PUBLISH_T_HI[..3]).await;
    send_binary(&mut publisher, &PUBLISH_T_HI[3..]).await;
    expect_ws(&mut sub, PUBLISH_T_HI).await;

    // From the mqtts:// listener to the wss:// subscriber.
    let tcp = TcpStream::connect(b.addr(Transport::Mqtts)).await.unwrap();
    let mut tls = pki
        .client(false)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(&connect(b't')).await.unwrap();
    let mut connack = [0u8; 4];
    tokio::time::timeout(T, tls.read_exact(&mut connack))
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(connack, CONNACK);
    tls.write_all(PUBLISH_T_HI).await.unwrap();
    expect_ws(&mut sub, PUBLISH_T_HI).await;
    b.stop().await;
}

/// The upgrade over TLS is checked as over TCP: no MQTT subprotocol gets 400 [MQTT-6.0.0-3],
/// the wrong path 404; `mqttv3.1` alone is accepted.
#[tokio::test]
async fn wss_refuses_wrong_subprotocol_and_path() {
    let pki = Pki::new("wss-refuse");
    let b = start(pki.config(&["wss://127.0.0.1:0/mqtt"])).await;
    let addr = b.addr(Transport::Wss);
    let status = |r: Result<(Wss, Option<String>), WsError>| match r {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected a refusal"),
    };
    assert_eq!(
        status(wss_connect(&pki, false, addr, "/mqtt", "chat").await),
        400
    );
    assert_eq!(
        status(wss_connect(&pki, false, addr, "/mqtt", "").await),
        400
    );
    assert_eq!(
        status(wss_connect(&pki, false, addr, "/other", "mqtt").await),
        404
    );
    let (_, selected) = wss_connect(&pki, false, addr, "/mqtt", "mqttv3.1")
        .await
        .unwrap();
    assert_eq!(selected.as_deref(), Some("mqttv3.1"));
    b.stop().await;
}

/// A plain WebSocket upgrade (no TLS) on a `wss://` port gets no upgrade: the TLS layer is
/// underneath, and refuses what is not a ClientHello.
#[tokio::test]
async fn wss_refuses_plain_websocket() {
    let pki = Pki::new("wss-plain");
    let b = start(pki.config(&["wss://127.0.0.1:0/mqtt"])).await;
    let addr = b.addr(Transport::Wss);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/mqtt").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let r = tokio::time::timeout(T, tokio_tungstenite::client_async(request, tcp))
        .await
        .expect("refused in time");
    assert!(r.is_err(), "a plain upgrade on a wss:// port succeeded");
    b.stop().await;
}

/// ALPN: a `wss://` listener selects `http/1.1` (what browsers offer), an `mqtts://` one
/// `mqtt`; a client that offers no ALPN at all is served by both.
#[tokio::test]
async fn wss_offers_http1_alpn_and_mqtts_offers_mqtt() {
    let pki = Pki::new("wss-alpn");
    let b = start(pki.config(&["wss://127.0.0.1:0/mqtt", "mqtts://127.0.0.1:0"])).await;
    let name = || ServerName::try_from("localhost").unwrap();
    for (transport, offered, selected) in [
        (
            Transport::Wss,
            &[&b"http/1.1"[..]][..],
            Some(&b"http/1.1"[..]),
        ),
        (Transport::Wss, &[][..], None),
        (Transport::Mqtts, &[&b"mqtt"[..]][..], Some(&b"mqtt"[..])),
        (Transport::Mqtts, &[][..], None),
    ] {
        let tcp = TcpStream::connect(b.addr(transport)).await.unwrap();
        let tls = pki
            .client_alpn(false, offered)
            .connect(name(), tcp)
            .await
            .unwrap_or_else(|e| panic!("{transport:?} offering {offered:?}: {e}"));
        assert_eq!(tls.get_ref().1.alpn_protocol(), selected, "{transport:?}");
    }
    b.stop().await;
}

/// With `require_certificate`, the `wss://` listener's TLS layer refuses a client without a
/// certificate, and upgrades one with a certificate from the CA.
#[tokio::test]
async fn wss_with_required_client_certificate() {
    let pki = Pki::new("wss-mtls");
    let config = BrokerConfig {
        cafile: Some(pki.ca.clone()),
        require_certificate: true,
        ..pki.config(&["wss://127.0.0.1:0/mqtt"])
    };
    let b = start(config).await;
    let addr = b.addr(Transport::Wss);
    assert!(wss_connect(&pki, false, addr, "/mqtt", "mqtt")
        .await
        .is_err());
    let (mut c, _) = wss_connect(&pki, true, addr, "/mqtt", "mqtt")
        .await
        .expect("upgrade with a client certificate");
    send_binary(&mut c, &connect(b'c')).await;
    expect_ws(&mut c, CONNACK).await;
    b.stop().await;
}
