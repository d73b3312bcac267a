//! QUIC for `quic://` listeners: [`QuicListener`], a quinn endpoint on a UDP socket whose
//! connections each carry one MQTT session on one bidirectional stream (the mapping EMQX,
//! NanoMQ and mqtt-lib's `ControlOnly` strategy use), ALPN `mqtt`, TLS 1.3 with the TLS
//! listeners' certificate and key.
//!
//! # Why the handshake happens in the stream, not in `accept`
//! As for TLS ([`crate::tls`]): accepting only takes the next connection attempt off the
//! endpoint; the QUIC handshake and the wait for the client's stream run on the first read or
//! write, in the connection's own task, bounded by the handshake timeout (the connect
//! timeout: a client that never completes the handshake, or never opens its stream, is dropped
//! when it expires). Until then the connection counts, for the engine, as one awaiting
//! CONNECT, so the connection caps apply to it as to any other listener's.
//!
//! # Failures
//! A handshake that fails is logged with the peer's address: at `info` when the client offered
//! no ALPN protocol the listener speaks (a client misconfiguration worth seeing), at `debug`
//! otherwise (scanners, timeouts), as the TLS listener does.
//!
//! # Determinism
//! quinn's own randomness (connection ids, tokens) comes from the engine's seed
//! ([`QuicListener::bind`]); rustls' key exchange does not, and need not.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use mqttref_client::quic::{QuicError, QuicStream, ALPN_MQTT};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Listener;

/// How long a QUIC handshake, and the client opening its stream, may take by default.
pub const HANDSHAKE_TIMEOUT: Duration = crate::tls::HANDSHAKE_TIMEOUT;

type Accepting = Pin<Box<dyn Future<Output = Option<quinn::Incoming>> + Send>>;

/// A QUIC endpoint accepting MQTT connections.
pub struct QuicListener {
    endpoint: quinn::Endpoint,
    /// The pending `accept` (it owns a handle to the endpoint, so it is `'static`).
    accepting: Accepting,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for QuicListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicListener")
            .field("addr", &self.endpoint.local_addr().ok())
            .finish_non_exhaustive()
    }
}

fn accepting(endpoint: &quinn::Endpoint) -> Accepting {
    let endpoint = endpoint.clone();
    Box::pin(async move { endpoint.accept().await })
}

/// The quinn server configuration: `tls` offering only ALPN `mqtt`, one bidirectional stream
/// per connection, no idle timeout (MQTT's Keep Alive is the liveness check).
///
/// # Errors
/// `tls`'s provider has no cipher suite for QUIC's initial packets.
pub fn server_config(tls: &Arc<rustls::ServerConfig>) -> Result<quinn::ServerConfig, QuicError> {
    let tls = crate::tls::with_alpn(tls, &[ALPN_MQTT]);
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| QuicError::NeedsTls13(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(mqttref_client::quic::transport_config(1));
    Ok(config)
}

impl QuicListener {
    /// Binds a UDP socket at `addr` and serves QUIC on it with `tls` (its certificate and
    /// client verification; ALPN becomes `mqtt` only), quinn's RNG seeded from `seed`.
    ///
    /// # Errors
    /// The bind fails, or `tls` cannot be used for QUIC (as an `InvalidInput` error).
    pub fn bind(
        addr: SocketAddr,
        tls: &Arc<rustls::ServerConfig>,
        seed: u64,
    ) -> io::Result<QuicListener> {
        let config =
            server_config(tls).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let socket = std::net::UdpSocket::bind(addr)?;
        let mut endpoint_config = quinn::EndpointConfig::default();
        endpoint_config.rng_seed(Some(mqttref_client::quic::rng_seed(seed)));
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        Ok(QuicListener {
            accepting: accepting(&endpoint),
            endpoint,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        })
    }

    /// Sets how long a handshake (and the client opening its stream) may take.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The bound UDP address.
    ///
    /// # Errors
    /// As the socket reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The next connection attempt, wrapped (no handshake yet). Cancel-safe: the pending
    /// accept stays in the listener.
    pub(crate) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<(QuicServerStream, SocketAddr)> {
        let Some(incoming) = std::task::ready!(self.accepting.as_mut().poll(cx)) else {
            // Only `close` ends the endpoint, and nothing here calls it: stay idle.
            return Poll::Pending;
        };
        self.accepting = accepting(&self.endpoint);
        let peer = incoming.remote_address();
        let handshake = async move {
            let conn = incoming
                .await
                .map_err(|e| QuicError::handshake(e, &[ALPN_MQTT.to_vec()]))?;
            let (send, recv) = conn.accept_bi().await.map_err(QuicError::Stream)?;
            Ok(QuicStream::new(conn, send, recv))
        };
        Poll::Ready((
            QuicServerStream {
                peer,
                state: State::Handshaking {
                    handshake: Box::pin(handshake),
                    deadline: Box::pin(tokio::time::sleep(self.handshake_timeout)),
                },
            },
            peer,
        ))
    }
}

impl Listener for QuicListener {
    type Stream = QuicServerStream;

    /// Cancel-safe: see `poll_accept`.
    async fn accept(&mut self) -> io::Result<(QuicServerStream, SocketAddr)> {
        Ok(poll_fn(|cx| self.poll_accept(cx)).await)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        QuicListener::local_addr(self)
    }
}

/// A server-side QUIC connection whose handshake, and the accepting of the client's stream,
/// run on the first read or write, bounded by a deadline set when it was accepted. A failed or
/// timed-out handshake fails that read or write (and every later one) and is logged.
pub struct QuicServerStream {
    peer: SocketAddr,
    state: State,
}

type Handshake = Pin<Box<dyn Future<Output = Result<QuicStream, QuicError>> + Send>>;

enum State {
    Handshaking {
        handshake: Handshake,
        deadline: Pin<Box<tokio::time::Sleep>>,
    },
    Ready(Box<QuicStream>),
    Failed,
}

impl QuicServerStream {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut QuicStream>> {
        if let State::Handshaking {
            handshake,
            deadline,
        } = &mut self.state
        {
            match handshake.as_mut().poll(cx) {
                Poll::Ready(Ok(stream)) => self.state = State::Ready(Box::new(stream)),
                Poll::Ready(Err(e)) => {
                    match &e {
                        QuicError::NoApplicationProtocol { .. } => tracing::info!(
                            peer = %self.peer,
                            "QUIC handshake refused: the client offered no ALPN protocol this listener speaks (`mqtt`)"
                        ),
                        e => {
                            tracing::debug!(peer = %self.peer, error = %e, "QUIC handshake failed")
                        }
                    }
                    self.state = State::Failed;
                    return Poll::Ready(Err(e.into()));
                }
                Poll::Pending => {
                    if deadline.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    tracing::debug!(peer = %self.peer, "QUIC handshake timed out");
                    // Dropping the handshake drops the half-made connection (quinn closes it).
                    self.state = State::Failed;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "QUIC handshake timed out",
                    )));
                }
            }
        }
        match &mut self.state {
            State::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "QUIC handshake failed",
            ))),
        }
    }

    /// The established connection, once the handshake is done (the negotiated ALPN, the
    /// client's certificate chain).
    pub fn connection(&self) -> Option<&quinn::Connection> {
        match &self.state {
            State::Ready(s) => Some(s.connection()),
            _ => None,
        }
    }
}

impl AsyncRead for QuicServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_read(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for QuicServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Ready(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            // Nothing was established: dropping the handshake ends it.
            _ => Poll::Ready(Ok(())),
        }
    }
}
