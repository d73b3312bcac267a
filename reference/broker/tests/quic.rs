//! `quic://` listeners with real parts: an rcgen CA and server certificate in a temp dir, the
//! broker on QUIC (and TCP beside it), and quinn clients. The failure cases: a client offering
//! the wrong ALPN protocol, a handshake that never completes, a client that never opens its
//! stream, and the connection cap shared with the other listeners.

mod listeners;
mod pki;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use listeners::start;
use mqttref_broker::{Broker, Transport};
use mqttref_client::quic::{QuicDialer, QuicError};
use mqttref_client::{Client, ClientError, ClientOptions, Dialer, ReasonCode, ReconnectPolicy};
use pki::Pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(5);
/// 3.1.1 CONNECT, clean session, keep alive 0, client id `q`.
const CONNECT: &[u8] = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01q";
const CONNACK: &[u8] = b"\x20\x02\x00\x00";

/// A QUIC dialer trusting the test CA, offering `alpn`.
fn dialer(pki: &Pki, alpn: &[&[u8]]) -> QuicDialer {
    QuicDialer::new(pki.client_config(false, alpn), Some("localhost".into()), 7).unwrap()
}

/// Everything logged (at `debug` and above) while the guard lives, on this thread: the tests
/// run on a current-thread runtime, so the broker's tasks log here too.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until the runtime has at most `n` live tasks; returns the last count.
async fn settle_to(n: usize) -> usize {
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let alive = metrics.num_alive_tasks();
        if alive <= n || tokio::time::Instant::now() > deadline {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client offering another ALPN protocol, or none, gets the typed
/// `QuicError::NoApplicationProtocol` (as a refused connection); the broker logs a line naming
/// the peer and leaves no task behind; a right client then still gets its CONNACK.
#[tokio::test]
async fn wrong_alpn_is_refused_with_a_typed_error_and_a_log_line() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let pki = Pki::new("quic-alpn");
    let at_start = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let b = start(pki.config(&["quic://127.0.0.1:0"])).await;
    let port = b.addr(Transport::Quic).port();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    for alpn in [&[&b"mqttv3.1"[..]][..], &[b"http/1.1", b"h3"], &[]] {
        let err = dialer(&pki, alpn)
            .dial("127.0.0.1", port)
            .await
            .expect_err("a handshake without ALPN mqtt must fail");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        let typed = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<QuicError>())
            .unwrap_or_else(|| panic!("not a QuicError: {err:?}"));
        assert!(
            matches!(typed, QuicError::NoApplicationProtocol { .. }),
            "{alpn:?}: {typed:?}"
        );
        assert!(err.to_string().contains("ALPN"), "{err}");
    }
    // Every task of the refused connections (theirs and the broker's) has ended: after about
    // 3 s, as quinn keeps a closed connection draining for three probe timeouts.
    let after = settle_to(before).await;
    assert!(after <= before, "tasks before {before}, after {after}");
    let text = logs.text();
    assert_eq!(
        text.matches("QUIC handshake refused").count(),
        3,
        "one line per refused client:\n{text}"
    );
    assert!(text.contains("peer=127.0.0.1:"), "{text}");
    // The listener still serves.
    let mut s = dialer(&pki, &[b"mqtt"])
        .dial("127.0.0.1", port)
        .await
        .unwrap();
    s.write_all(CONNECT).await.unwrap();
    let mut ack = [0u8; 4];
    tokio::time::timeout(T, s.read_exact(&mut ack))
        .await
        .expect("CONNACK in time")
        .unwrap();
    assert_eq!(ack, CONNACK);
    s.shutdown().await.unwrap();
    drop(s);
    b.stop_within(T).await;
    // Stopped, the broker leaves nothing running: not the endpoint's driver, not a connection.
    let left = settle_to(at_start).await;
    assert!(
        left <= at_start,
        "tasks at start {at_start}, after the stop {left}"
    );
}

/// A UDP relay that forwards the client's first datagram to `server` and drops the rest, and
/// everything the server sends back: the server sees a handshake start that never completes.
async fn first_datagram_only(server: SocketAddr) -> SocketAddr {
    let relay = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = relay.local_addr().unwrap();
    let upstream = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    upstream.connect(server).await.unwrap();
    tokio::spawn(async move {
        let (mut a, mut b) = ([0u8; 2048], [0u8; 2048]);
        let mut client = None;
        loop {
            tokio::select! {
                biased;
                r = relay.recv_from(&mut a) => {
                    let Ok((n, from)) = r else { return };
                    if client.is_none() {
                        client = Some(from);
                        let _ = upstream.send(&a[..n]).await;
                    }
                }
                r = upstream.recv(&mut b) => {
                    let Ok(n) = r else { return };
                    if let Some(c) = client {
                        let _ = relay.send_to(&b[..n], c).await;
                    }
                }
            }
        }
    });
    addr
}

/// The engine's connect timeout bounds a QUIC connection that never gets as far as CONNECT:
/// one whose handshake never completes (the client's handshake packets are lost), and one that
/// completes it but never opens its stream. Both are closed well before the listener's own
/// 10 s handshake bound.
#[tokio::test]
async fn the_connect_timeout_bounds_a_handshake_that_never_completes() {
    let pki = Pki::new("quic-timeout");
    let mut config = pki.config(&["quic://127.0.0.1:0"]);
    config.engine.connect_timeout_ms = 300;
    let b = start(config).await;
    let server = b.addr(Transport::Quic);

    // The stream is opened on the client only: nothing is sent on it, so the broker never
    // sees it.
    let started = tokio::time::Instant::now();
    let silent = dialer(&pki, &[b"mqtt"])
        .dial("127.0.0.1", server.port())
        .await
        .unwrap();
    let closed = tokio::time::timeout(T, silent.connection().closed())
        .await
        .expect("the broker closes a connection that never opens its stream");
    assert!(started.elapsed() < Duration::from_secs(3), "{closed:?}");

    let relay = first_datagram_only(server).await;
    let started = tokio::time::Instant::now();
    let outcome = tokio::time::timeout(T, dialer(&pki, &[b"mqtt"]).dial("127.0.0.1", relay.port()))
        .await
        .expect("the dial ends: the broker gives up on the handshake");
    match outcome {
        // The client's side of the handshake finished: the broker's close follows.
        Ok(s) => {
            tokio::time::timeout(T, s.connection().closed())
                .await
                .expect("closed by the broker");
        }
        Err(e) => assert!(e.to_string().contains("QUIC"), "{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    b.stop_within(T).await;
}

/// `max_connections` counts connections of every listener together: with room for one, a TCP
/// client keeps a QUIC client out (CONNACK 0x97) and the other way round.
#[tokio::test]
async fn the_connection_cap_spans_tcp_and_quic() {
    let pki = Pki::new("quic-cap");
    let mut config = pki.config(&["mqtt://127.0.0.1:0", "quic://127.0.0.1:0"]);
    config.engine.max_connections = 1;
    let b = start(config).await;
    let url = |t: Transport| {
        let scheme = t.scheme();
        format!("{scheme}://localhost:{}", b.addr(t).port())
    };
    let opts = |t: Transport, id: &str| {
        let mut o = ClientOptions::from_url(&url(t), id)
            .unwrap()
            .with_reconnect(ReconnectPolicy::disabled());
        o.tls.ca_file = Some(pki.ca.clone());
        o
    };
    for (first, second) in [
        (Transport::Mqtt, Transport::Quic),
        (Transport::Quic, Transport::Mqtt),
    ] {
        let (c, _) = Client::connect(opts(first, "first")).await.unwrap();
        match Client::connect(opts(second, "second")).await {
            Err(ClientError::Refused { reason_code, .. }) => {
                assert_eq!(reason_code, ReasonCode::QuotaExceeded, "{second:?}")
            }
            other => panic!("{second:?} past the cap: {other:?}"),
        }
        c.disconnect().await.unwrap();
    }
    b.stop_within(T).await;
}

/// Whether a QUIC client trusting `pki`'s CA completes a handshake and gets its CONNACK.
async fn quic_trusts(pki: &Pki, port: u16) -> bool {
    let Ok(mut s) = dialer(pki, &[b"mqtt"]).dial("127.0.0.1", port).await else {
        return false;
    };
    let mut ack = [0u8; 4];
    s.write_all(CONNECT).await.is_ok()
        && matches!(
            tokio::time::timeout(T, s.read_exact(&mut ack)).await,
            Ok(Ok(_))
        )
        && ack == CONNACK
}

/// Whether a TLS client trusting `pki`'s CA completes a handshake.
async fn tls_trusts(pki: &Pki, addr: SocketAddr) -> bool {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    pki.client(false).connect(name, tcp).await.is_ok()
}

/// `CertReloader::reload` swaps the certificate of the TLS and the QUIC listener at once: new
/// handshakes then chain to the new CA only; files that cannot be used are a typed error and
/// leave the certificate in use.
#[tokio::test]
async fn certificate_reload_applies_to_tls_and_quic() {
    let (old, new) = (Pki::new("reload-old"), Pki::new("reload-new"));
    let b_config = old.config(&["mqtts://127.0.0.1:0", "quic://127.0.0.1:0"]);
    let broker = Broker::bind(b_config).await.unwrap();
    let reloader = broker
        .cert_reloader()
        .expect("TLS listeners have a reloader");
    let b = listeners::run(broker);
    let (tls, quic) = (b.addr(Transport::Mqtts), b.addr(Transport::Quic).port());
    assert!(tls_trusts(&old, tls).await && quic_trusts(&old, quic).await);
    assert!(!tls_trusts(&new, tls).await && !quic_trusts(&new, quic).await);

    std::fs::copy(&new.server_cert, &old.server_cert).unwrap();
    std::fs::copy(&new.server_key, &old.server_key).unwrap();
    reloader.reload().unwrap();
    assert!(tls_trusts(&new, tls).await, "TLS after the reload");
    assert!(quic_trusts(&new, quic).await, "QUIC after the reload");
    assert!(!tls_trusts(&old, tls).await && !quic_trusts(&old, quic).await);

    std::fs::write(&old.server_cert, "not a certificate").unwrap();
    match reloader.reload() {
        Err(mqttref_broker::TlsError::Pem { path, .. }) => assert_eq!(path, old.server_cert),
        other => panic!("expected a PEM error naming the file, got {other:?}"),
    }
    // A key that is not the certificate's is refused too.
    std::fs::copy(&new.server_cert, &old.server_cert).unwrap();
    std::fs::copy(&new.client_key, &old.server_key).unwrap();
    assert!(matches!(
        reloader.reload(),
        Err(mqttref_broker::TlsError::Refused { .. })
    ));
    assert!(tls_trusts(&new, tls).await && quic_trusts(&new, quic).await);
    b.stop_within(T).await;
}

/// A listener with `?cert=FILE&key=FILE` serves its own certificate while the others serve the
/// configuration's; a reload swaps both.
#[tokio::test]
async fn per_listener_certificates() {
    let (main, own) = (Pki::new("per-main"), Pki::new("per-own"));
    let quic_url = format!(
        "quic://127.0.0.1:0?cert={}&key={}",
        own.server_cert.display(),
        own.server_key.display()
    );
    let config = main.config(&["mqtts://127.0.0.1:0", &quic_url]);
    let broker = Broker::bind(config).await.unwrap();
    let reloader = broker.cert_reloader().unwrap();
    assert_eq!(reloader.files().count(), 2);
    let endpoints = broker.endpoints();
    assert!(
        endpoints[1].to_string().contains("?cert="),
        "{}",
        endpoints[1]
    );
    let b = listeners::run(broker);
    let (tls, quic) = (b.addr(Transport::Mqtts), b.addr(Transport::Quic).port());
    assert!(tls_trusts(&main, tls).await && !tls_trusts(&own, tls).await);
    assert!(quic_trusts(&own, quic).await && !quic_trusts(&main, quic).await);
    // The QUIC listener's files now hold the main certificate: after a reload it serves it.
    std::fs::copy(&main.server_cert, &own.server_cert).unwrap();
    std::fs::copy(&main.server_key, &own.server_key).unwrap();
    reloader.reload().unwrap();
    assert!(quic_trusts(&main, quic).await && tls_trusts(&main, tls).await);
    b.stop_within(T).await;
}
