//! `mqtts://` listeners with real parts: an rcgen CA and server certificate in a temp dir, the
//! broker on a TLS and a plain listener at once, and a real rustls client.

mod listeners;
mod pki;

use std::net::SocketAddr;
use std::time::Duration;

use listeners::start;
use mqttref_broker::{BindError, Broker, BrokerConfig, TlsError, Transport};
use pki::Pki;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

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

async fn expect<S: AsyncRead + Unpin>(s: &mut S, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(T, s.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(got, want);
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) {
    s.write_all(bytes).await.unwrap();
    s.flush().await.unwrap();
}

async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// A TLS subscriber receives what a plain-TCP publisher sends: one engine behind both
/// listeners. The TLS side negotiated ALPN `mqtt`.
#[tokio::test]
async fn tls_and_plain_listeners_share_one_engine() {
    let pki = Pki::new("shared");
    let b = start(pki.config(&["mqtt://127.0.0.1:0", "mqtts://127.0.0.1:0"])).await;
    assert_eq!(b.endpoints.len(), 2);
    assert_eq!(b.endpoints[0].transport, Transport::Mqtt);
    assert_eq!(b.endpoints[1].transport, Transport::Mqtts);

    let mut sub = tls_connect(&pki.client(false), b.addr(Transport::Mqtts))
        .await
        .expect("TLS handshake");
    assert_eq!(sub.get_ref().1.alpn_protocol(), Some(&b"mqtt"[..]));
    send(&mut sub, &connect(b's')).await;
    expect(&mut sub, CONNACK).await;
    send(&mut sub, SUBSCRIBE_T).await;
    expect(&mut sub, SUBACK).await;

    let mut publisher = TcpStream::connect(b.addr(Transport::Mqtt)).await.unwrap();
    send(&mut publisher, &connect(b'p')).await;
    expect(&mut publisher, CONNACK).await;
    send(&mut publisher, PUBLISH_T_HI).await;
    expect(&mut sub, PUBLISH_T_HI).await;

    // And the other way round.
    send(&mut publisher, SUBSCRIBE_T).await;
    expect(&mut publisher, SUBACK).await;
    send(&mut sub, PUBLISH_T_HI).await;
    expect(&mut publisher, PUBLISH_T_HI).await;
    expect(&mut sub, PUBLISH_T_HI).await;
    b.stop().await;
}

/// A peer that connects to the TLS port and sends nothing holds up no one: the handshake runs
/// in its connection's task, not in the accept loop.
#[tokio::test]
async fn silent_tls_peer_does_not_block_accepts() {
    let pki = Pki::new("silent");
    let b = start(pki.config(&["mqtts://127.0.0.1:0"])).await;
    let addr = b.addr(Transport::Mqtts);
    let _silent: Vec<TcpStream> = futures_join(addr, 3).await;
    let mut c = tokio::time::timeout(T, tls_connect(&pki.client(false), addr))
        .await
        .expect("accepted while others stall")
        .expect("handshake");
    send(&mut c, &connect(b'c')).await;
    expect(&mut c, CONNACK).await;
    b.stop().await;
}

async fn futures_join(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(TcpStream::connect(addr).await.unwrap());
    }
    v
}

/// With `require_certificate`, a client without a certificate gets no CONNACK (the handshake
/// or the first read fails); one with a certificate from the CA connects.
#[tokio::test]
async fn require_certificate_refuses_clients_without_one() {
    let pki = Pki::new("mtls");
    let config = BrokerConfig {
        cafile: Some(pki.ca.clone()),
        require_certificate: true,
        ..pki.config(&["mqtts://127.0.0.1:0"])
    };
    let b = start(config).await;
    let addr = b.addr(Transport::Mqtts);

    match tls_connect(&pki.client(false), addr).await {
        Err(_) => {}
        // TLS 1.3: the client's side of the handshake ends before the server has judged its
        // (missing) certificate; the refusal arrives as an alert on the first read.
        Ok(mut c) => {
            let _ = c.write_all(&connect(b'n')).await;
            let _ = c.flush().await;
            let mut buf = [0u8; 4];
            let r = tokio::time::timeout(T, c.read(&mut buf))
                .await
                .expect("refused in time");
            assert!(
                matches!(r, Err(_) | Ok(0)),
                "a client without a certificate read {r:?}"
            );
        }
    }

    let mut c = tls_connect(&pki.client(true), addr)
        .await
        .expect("handshake with a client certificate");
    send(&mut c, &connect(b'y')).await;
    expect(&mut c, CONNACK).await;
    b.stop().await;
}

/// Unusable files are a typed error at bind naming the file, never a panic.
#[tokio::test]
async fn bad_tls_files_are_typed_errors_naming_the_file() {
    let pki = Pki::new("bad");
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = pki.dir.join("missing.pem");

    let err = Broker::bind(BrokerConfig {
        cert: Some(garbage.clone()),
        ..pki.config(&["mqtts://127.0.0.1:0"])
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, BindError::Tls(TlsError::Pem { path, .. }) if path == &garbage),
        "{err:?}"
    );
    assert!(err.to_string().contains("garbage.pem"), "{err}");

    let err = Broker::bind(BrokerConfig {
        key: Some(missing.clone()),
        ..pki.config(&["mqtts://127.0.0.1:0"])
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, BindError::Tls(TlsError::Read { path, .. }) if path == &missing),
        "{err:?}"
    );

    // A key that is not the certificate's.
    let err = Broker::bind(BrokerConfig {
        key: Some(pki.client_key.clone()),
        ..pki.config(&["mqtts://127.0.0.1:0"])
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, BindError::Tls(TlsError::Refused { .. })),
        "{err:?}"
    );

    let err = Broker::bind(BrokerConfig {
        cafile: Some(garbage.clone()),
        ..pki.config(&["mqtts://127.0.0.1:0"])
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("garbage.pem"), "{err}");

    // mqtts:// without cert: a config error naming the field.
    let err = Broker::bind(BrokerConfig {
        listen: vec!["mqtts://127.0.0.1:0".into()],
        ..BrokerConfig::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("`cert`"), "{err}");
}
