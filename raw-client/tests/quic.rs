//! `Connector::Quic` against a small quinn server (ALPN `mqtt`, a self-signed rcgen
//! certificate): a refused ALPN protocol is the typed `QuicError::NoApplicationProtocol`; a
//! right one carries packets both ways on one stream, and the server's close (stream finished,
//! connection closed with code 0) reads as end-of-stream, as a TCP FIN would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use raw_client::quic::QuicError;
use raw_client::{CloseKind, Connector, PacketType, ProtocolVersion, RawClient, RawError, Trust};

const T: Duration = Duration::from_secs(5);
const CONNECT: &[u8] = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01q";

/// A QUIC server on a free port: per connection, it reads one CONNECT (15 bytes), answers
/// CONNACK, finishes its stream and closes the connection once the client has it all.
fn server() -> SocketAddr {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    tls.alpn_protocols = vec![b"mqtt".to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                    return;
                };
                let mut connect = [0u8; 15];
                if recv.read_exact(&mut connect).await.is_err() {
                    return;
                }
                let _ = send.write_all(b"\x20\x02\x00\x00").await;
                let _ = send.finish();
                let _ = send.stopped().await;
                conn.close(0u32.into(), b"");
            });
        }
    });
    addr
}

fn connector(alpn: &[&[u8]]) -> Connector {
    let Connector::Quic {
        config,
        server_name,
    } = Connector::quic(
        raw_client::tls_config(&Trust::Insecure).unwrap(),
        "localhost",
    )
    .unwrap()
    else {
        unreachable!("Connector::quic makes a Quic connector")
    };
    Connector::Quic {
        config: raw_client::tls::with_alpn(&config, alpn),
        server_name,
    }
}

#[tokio::test]
async fn a_refused_alpn_is_a_typed_error() {
    let addr = server().to_string();
    for alpn in [&[&b"mqttv5"[..]][..], &[]] {
        match RawClient::connect(&addr, &connector(alpn), ProtocolVersion::V3_1_1, "c").await {
            Err(RawError::Quic {
                source: QuicError::NoApplicationProtocol { offered },
                ..
            }) => assert_eq!(
                offered,
                alpn.iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => panic!("{alpn:?}: expected NoApplicationProtocol, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn packets_both_ways_and_the_close_reads_as_eof() {
    let addr = server().to_string();
    let mut c = RawClient::connect(&addr, &connector(&[b"mqtt"]), ProtocolVersion::V3_1_1, "c")
        .await
        .unwrap();
    c.send_bytes(CONNECT).await.unwrap();
    c.expect_kind(PacketType::ConnAck, T).await.unwrap();
    let close = c.expect_close(T).await.unwrap();
    assert_eq!(close.how, CloseKind::Eof, "{}", c.transcript().render());
}
