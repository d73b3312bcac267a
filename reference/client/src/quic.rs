//! QUIC for `quic://`: [`QuicDialer`] opens a QUIC connection (TLS 1.3 inside, ALPN `mqtt`)
//! and one bidirectional stream that carries the whole MQTT session — the mapping EMQX, NanoMQ
//! and mqtt-lib's `ControlOnly` strategy use — and [`QuicStream`] is that stream as the byte
//! stream the driver reads and writes. The broker's QUIC listener hands out the same
//! [`QuicStream`].
//!
//! # Closing
//! Closing a QUIC connection discards the stream data the peer has not acknowledged yet, so a
//! plain close could lose the last DISCONNECT (or a refusing CONNACK). [`QuicStream`]'s
//! shutdown therefore finishes the stream, waits until the peer has acknowledged every byte,
//! and only then closes the connection with code 0 (the caller bounds the wait). A peer's close
//! with code 0 reads as the end of the stream, as a TCP FIN does.
//!
//! # Idle timeout
//! Neither side sets QUIC's idle timeout: MQTT's Keep Alive is the liveness check, as over TCP
//! (quinn's default of 30 s would end a quiet session with a 60 s Keep Alive).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::dialer::Dialer;

/// The ALPN protocol id offered and required on QUIC connections (the one IANA registered for
/// MQTT; QUIC makes ALPN mandatory).
pub const ALPN_MQTT: &[u8] = b"mqtt";

/// The TLS alert `no_application_protocol` (RFC 7301), which QUIC carries as the transport
/// error 0x100 + 120 when the two sides have no ALPN protocol in common.
const NO_APPLICATION_PROTOCOL: u8 = 120;

/// Why a QUIC connection could not be set up.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The two sides have no ALPN protocol in common (TLS alert 120).
    #[error("no ALPN protocol in common with the peer (this side: {offered}); MQTT over QUIC uses `mqtt`")]
    NoApplicationProtocol {
        /// This side's protocols, comma-separated.
        offered: String,
    },
    /// The TLS configuration's crypto provider has no cipher suite for QUIC's initial packets
    /// (QUIC carries TLS 1.3 only).
    #[error("QUIC needs TLS 1.3: {0}")]
    NeedsTls13(String),
    /// The host name resolved to no address.
    #[error("{0}: no address found")]
    Resolve(String),
    /// quinn refused to start the connection (e.g. an invalid server name).
    #[error("QUIC: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The handshake failed: certificate not trusted, the peer closed, no answer.
    #[error("QUIC handshake: {0}")]
    Handshake(quinn::ConnectionError),
    /// The connection was made but the MQTT stream could not be opened or accepted.
    #[error("QUIC stream: {0}")]
    Stream(quinn::ConnectionError),
    /// The local UDP socket could not be opened.
    #[error("UDP socket: {0}")]
    Socket(#[from] io::Error),
}

impl QuicError {
    /// A failed handshake, classified: [`QuicError::NoApplicationProtocol`] when the failure
    /// is TLS alert 120 (either side may detect it), [`QuicError::Handshake`] otherwise.
    pub fn handshake(error: quinn::ConnectionError, offered: &[Vec<u8>]) -> QuicError {
        if is_no_application_protocol(&error) {
            QuicError::NoApplicationProtocol {
                offered: offered
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        } else {
            QuicError::Handshake(error)
        }
    }

    /// The [`io::ErrorKind`] the dialer reports it with.
    fn kind(&self) -> io::ErrorKind {
        match self {
            QuicError::NoApplicationProtocol { .. } => io::ErrorKind::ConnectionRefused,
            QuicError::NeedsTls13(_) | QuicError::Connect(_) => io::ErrorKind::InvalidInput,
            QuicError::Resolve(_) => io::ErrorKind::NotFound,
            QuicError::Handshake(quinn::ConnectionError::TimedOut) => io::ErrorKind::TimedOut,
            QuicError::Handshake(_) | QuicError::Stream(_) => io::ErrorKind::ConnectionAborted,
            QuicError::Socket(e) => e.kind(),
        }
    }
}

impl From<QuicError> for io::Error {
    fn from(e: QuicError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// Whether `error` is the end of a handshake that found no common ALPN protocol, sent by the
/// peer or detected here.
pub fn is_no_application_protocol(error: &quinn::ConnectionError) -> bool {
    let code = quinn::TransportErrorCode::crypto(NO_APPLICATION_PROTOCOL);
    match error {
        quinn::ConnectionError::ConnectionClosed(close) => close.error_code == code,
        quinn::ConnectionError::TransportError(e) => e.code == code,
        _ => false,
    }
}

/// The transport settings of both sides: no idle timeout (see the module doc), one
/// bidirectional stream the peer may open (the MQTT session), no unidirectional ones.
/// `peer_streams` is what the peer may open: 1 on the server, 0 on the client.
pub fn transport_config(peer_streams: u32) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(None)
        .max_concurrent_bidi_streams(peer_streams.into())
        .max_concurrent_uni_streams(0u32.into());
    Arc::new(t)
}

/// quinn's 32-byte RNG seed from a `u64` (SplitMix64, as the reconnect jitter).
pub fn rng_seed(seed: u64) -> [u8; 32] {
    let mut state = seed;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// QUIC to the server: a UDP socket and quinn endpoint per connection, the handshake with the
/// rustls configuration given (its ALPN protocols are offered as they are: `mqtt` from
/// [`crate::tls::client_config`]), then one bidirectional stream.
///
/// Each dial seeds quinn's RNG from the dialer's seed, how many dials it made and the local
/// UDP port: a fixed seed makes the choices reproducible where the ports are, and two clients
/// built from one seed still never offer the same initial connection id (the server routes
/// first packets by it).
pub struct QuicDialer {
    config: quinn::ClientConfig,
    offered: Vec<Vec<u8>>,
    server_name: Option<String>,
    seed: u64,
    dials: AtomicU64,
}

impl std::fmt::Debug for QuicDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicDialer")
            .field("server_name", &self.server_name)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl QuicDialer {
    /// QUIC with the TLS configuration `tls` (see [`crate::tls::client_config`]; it must allow
    /// TLS 1.3, or every handshake fails), checking the certificate against `server_name` (the
    /// host dialled when `None`).
    ///
    /// # Errors
    /// [`QuicError::NeedsTls13`] when `tls`'s crypto provider has no cipher suite for QUIC's
    /// initial packets.
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        server_name: Option<String>,
        seed: u64,
    ) -> Result<QuicDialer, QuicError> {
        let offered = tls.alpn_protocols.clone();
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| QuicError::NeedsTls13(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(transport_config(0));
        Ok(QuicDialer {
            config,
            offered,
            server_name,
            seed,
            dials: AtomicU64::new(0),
        })
    }

    async fn connect(&self, host: &str, port: u16) -> Result<QuicStream, QuicError> {
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| QuicError::Resolve(format!("{host}:{port}")))?;
        let local: SocketAddr = match addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = std::net::UdpSocket::bind(local)?;
        let local_port = socket.local_addr()?.port();
        let dial = self.dials.fetch_add(1, Ordering::Relaxed);
        let mut endpoint_config = quinn::EndpointConfig::default();
        endpoint_config.rng_seed(Some(rng_seed(
            self.seed ^ dial.rotate_left(32) ^ u64::from(local_port),
        )));
        let endpoint =
            quinn::Endpoint::new(endpoint_config, None, socket, Arc::new(quinn::TokioRuntime))?;
        let name = self.server_name.as_deref().unwrap_or(host);
        let conn = endpoint
            .connect_with(self.config.clone(), addr, name)?
            .await
            .map_err(|e| QuicError::handshake(e, &self.offered))?;
        let (send, recv) = conn.open_bi().await.map_err(QuicError::Stream)?;
        Ok(QuicStream::new(conn, send, recv).with_endpoint(endpoint))
    }
}

impl Dialer for QuicDialer {
    type Stream = QuicStream;

    /// Not bounded in time by itself: the driver races the whole dial against its connect
    /// timeout, and dropping it drops the half-made connection.
    async fn dial(&self, host: &str, port: u16) -> io::Result<QuicStream> {
        self.connect(host, port).await.map_err(io::Error::from)
    }
}

/// One QUIC bidirectional stream, with its connection, as a byte stream (see the module doc
/// for how it closes).
pub struct QuicStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    conn: quinn::Connection,
    /// The client's own endpoint (its socket and driver); `None` on the server, whose
    /// listener owns the endpoint.
    endpoint: Option<quinn::Endpoint>,
    closing: Closing,
}

enum Closing {
    Open,
    /// Finished; waiting for the peer to acknowledge every byte.
    Acknowledging(Pin<Box<dyn Future<Output = ()> + Send + Sync>>),
    Closed,
}

impl std::fmt::Debug for QuicStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicStream")
            .field("remote", &self.conn.remote_address())
            .field("stream", &self.send.id())
            .finish_non_exhaustive()
    }
}

impl QuicStream {
    /// The stream `send`/`recv` of `conn`.
    pub fn new(conn: quinn::Connection, send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        QuicStream {
            send,
            recv,
            conn,
            endpoint: None,
            closing: Closing::Open,
        }
    }

    /// Keeps `endpoint` alive as long as the stream (a client's endpoint serves one
    /// connection).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: quinn::Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// The QUIC connection (its peer address, the negotiated ALPN, statistics).
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }
}

impl Drop for QuicStream {
    fn drop(&mut self) {
        // A client's endpoint would otherwise linger until the peer's close arrives.
        if let Some(endpoint) = &self.endpoint {
            if !matches!(self.closing, Closing::Closed) {
                self.conn.close(0u32.into(), b"");
            }
            endpoint.close(0u32.into(), b"");
        }
    }
}

impl AsyncRead for QuicStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match ready!(this.recv.poll_read_buf(cx, buf)) {
            Ok(()) => Poll::Ready(Ok(())),
            // The peer closed the connection normally, or we did: the end of the stream.
            Err(quinn::ReadError::ConnectionLost(quinn::ConnectionError::ApplicationClosed(
                close,
            ))) if close.error_code == quinn::VarInt::from_u32(0) => Poll::Ready(Ok(())),
            Err(quinn::ReadError::ConnectionLost(quinn::ConnectionError::LocallyClosed)) => {
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}

impl AsyncWrite for QuicStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().send)
            .poll_write(cx, buf)
            .map_err(io::Error::from)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // quinn sends what was written as soon as congestion control allows.
        Poll::Ready(Ok(()))
    }

    /// Finishes the stream, waits for the peer to acknowledge all of it, then closes the
    /// connection (code 0). Unbounded: the caller bounds it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.closing {
                Closing::Open => {
                    let _ = this.send.finish();
                    let stopped = this.send.stopped();
                    this.closing = Closing::Acknowledging(Box::pin(async move {
                        let _ = stopped.await;
                    }));
                }
                Closing::Acknowledging(acked) => {
                    ready!(acked.as_mut().poll(cx));
                    this.conn.close(0u32.into(), b"");
                    this.closing = Closing::Closed;
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}
