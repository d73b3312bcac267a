//! QUIC for [`Connector::Quic`](crate::Connector::Quic): a quinn endpoint per connection, the
//! handshake (TLS 1.3, the ALPN protocols of the configuration: `mqtt` unless a scenario wants
//! another), then one bidirectional stream that carries everything ([`QuicStream`]).
//!
//! The stream closes as a TCP stream would look to the peer: [`QuicStream`]'s shutdown
//! finishes the stream, waits (at most [`CLOSE_WAIT`]) for the peer to acknowledge every byte,
//! then closes the connection with code 0, which the peer reads as the end of the stream.
//! Reading a close with code 0 from the peer is end-of-stream here too; any other close is a
//! reset. (The reference client has the same type; this crate may not depend on it.)

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a shutdown waits for the peer to acknowledge what was written.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The TLS alert `no_application_protocol` (RFC 7301), carried by QUIC as transport error
/// 0x100 + 120.
const NO_APPLICATION_PROTOCOL: u8 = 120;

/// Why a QUIC connection could not be set up.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The server accepts none of the ALPN protocols offered (TLS alert 120).
    #[error("the server accepts none of the ALPN protocols offered ({offered})")]
    NoApplicationProtocol {
        /// What was offered, comma-separated.
        offered: String,
    },
    /// The handshake failed another way (certificate, timeout, the server closed).
    #[error("QUIC handshake: {0}")]
    Handshake(quinn::ConnectionError),
    /// quinn refused to start (a bad server name, no TLS 1.3 cipher suite).
    #[error("QUIC: {0}")]
    Config(String),
    /// The stream could not be opened.
    #[error("QUIC stream: {0}")]
    Stream(quinn::ConnectionError),
    /// The address or the local UDP socket.
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn is_no_application_protocol(error: &quinn::ConnectionError) -> bool {
    let code = quinn::TransportErrorCode::crypto(NO_APPLICATION_PROTOCOL);
    match error {
        quinn::ConnectionError::ConnectionClosed(close) => close.error_code == code,
        quinn::ConnectionError::TransportError(e) => e.code == code,
        _ => false,
    }
}

/// Connects to `addr` (`host:port`) with `config` (its ALPN protocols offered as they are),
/// checking the certificate against `server_name`, and opens the stream. Not bounded in time:
/// the caller bounds it.
///
/// # Errors
/// [`QuicError`].
pub async fn connect(
    addr: &str,
    config: &Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<QuicStream, QuicError> {
    let remote = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address found"))
    })?;
    let local: SocketAddr = match remote {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(config.clone())
        .map_err(|e| QuicError::Config(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // MQTT's Keep Alive is the liveness check (scenarios wait out keep-alive timeouts).
    transport
        .max_idle_timeout(None)
        .max_concurrent_bidi_streams(0u32.into())
        .max_concurrent_uni_streams(0u32.into());
    client.transport_config(Arc::new(transport));
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        std::net::UdpSocket::bind(local)?,
        Arc::new(quinn::TokioRuntime),
    )?;
    let conn = endpoint
        .connect_with(client, remote, server_name)
        .map_err(|e| QuicError::Config(e.to_string()))?
        .await
        .map_err(|e| {
            if is_no_application_protocol(&e) {
                QuicError::NoApplicationProtocol {
                    offered: config
                        .alpn_protocols
                        .iter()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            } else {
                QuicError::Handshake(e)
            }
        })?;
    let (send, recv) = conn.open_bi().await.map_err(QuicError::Stream)?;
    Ok(QuicStream {
        send,
        recv,
        conn,
        endpoint,
        closing: Closing::Open,
    })
}

/// One bidirectional stream of a QUIC connection, as a byte stream.
pub struct QuicStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    conn: quinn::Connection,
    endpoint: quinn::Endpoint,
    closing: Closing,
}

enum Closing {
    Open,
    Acknowledging(Pin<Box<dyn Future<Output = ()> + Send + Sync>>),
    Closed,
}

impl std::fmt::Debug for QuicStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicStream")
            .field("remote", &self.conn.remote_address())
            .finish_non_exhaustive()
    }
}

impl QuicStream {
    /// The connection (negotiated ALPN, statistics).
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }
}

impl Drop for QuicStream {
    fn drop(&mut self) {
        self.conn.close(0u32.into(), b"");
        self.endpoint.close(0u32.into(), b"");
    }
}

impl AsyncRead for QuicStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match ready!(self.get_mut().recv.poll_read_buf(cx, buf)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(quinn::ReadError::ConnectionLost(quinn::ConnectionError::ApplicationClosed(
                close,
            ))) if close.error_code == quinn::VarInt::from_u32(0) => Poll::Ready(Ok(())),
            Err(quinn::ReadError::ConnectionLost(quinn::ConnectionError::LocallyClosed)) => {
                Poll::Ready(Ok(()))
            }
            Err(quinn::ReadError::ConnectionLost(e)) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, e)))
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
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.closing {
                Closing::Open => {
                    let _ = this.send.finish();
                    let stopped = this.send.stopped();
                    this.closing = Closing::Acknowledging(Box::pin(async move {
                        let _ = tokio::time::timeout(CLOSE_WAIT, stopped).await;
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
