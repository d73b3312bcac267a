//! WebSocket for `ws://` listeners (MQTT 5.0 section 6, 3.1.1 section 6): a layer over any
//! [`Listener`] ([`WsListener`]) and its stream ([`WsServerStream`]), which does the HTTP
//! upgrade lazily and then presents the engine driver with a plain byte stream.
//!
//! # Why the handshake happens in the stream, not in `accept`
//! As for TLS (see [`crate::tls`]): the accept loop is shared, so a peer that sends its HTTP
//! request slowly (or never) must not hold up the next accept. `accept` only wraps the socket;
//! the upgrade runs on the first read or write, in the connection's own task, bounded by
//! [`WsListener`]'s handshake timeout.
//!
//! # The upgrade
//! - The request path must be the listener's path: `404 Not Found` otherwise.
//! - The client must offer the subprotocol `mqtt` [MQTT-6.0.0-3] (both); the server selects `mqtt`
//!   [MQTT-6.0.0-4] (both). `mqttv3.1` (what MQTT 3.1 clients offer) is accepted and selected when
//!   `mqtt` is not offered. A request that offers neither is refused (`400 Bad Request`): the
//!   client broke MQTT-6.0.0-3 (both), and the server could not select `mqtt` as MQTT-6.0.0-4
//!   (both) says it must.
//!
//! # The byte stream
//! Reads concatenate the payloads of binary frames: an MQTT packet may span frames, and a frame
//! may hold several packets, or parts of them [MQTT-6.0.0-2] (both); the engine's decoder
//! already works on a byte stream, so it needs nothing more. A text frame fails the read, so the
//! connection is closed [MQTT-6.0.0-1] (both). Pings are answered by tungstenite; pongs are
//! ignored; a close frame (answered by tungstenite) ends the stream. Each write becomes one binary
//! frame.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use crate::Listener;

/// How long the HTTP upgrade may take, from accept to the end of the handshake, by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The subprotocols the listeners accept, in order of preference: `mqtt` (MQTT 3.1.1 and 5.0)
/// and `mqttv3.1` (MQTT 3.1 clients).
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// The ALPN protocol a `wss://` listener offers: WebSocket starts as HTTP/1.1 (RFC 6455), and a
/// client that offers ALPN (every browser does) offers `http/1.1`, never `mqtt`. A TLS server
/// that offers ALPN and shares no protocol with the client must refuse the handshake
/// (RFC 7301), so offering `mqtt` there would lock browsers out.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// WebSocket over any [`Listener`]: accepts what the inner listener accepts and hands out
/// streams that do the upgrade on first use (see the module doc).
pub struct WsListener<L> {
    inner: L,
    path: Arc<str>,
    handshake_timeout: Duration,
}

impl<L> WsListener<L> {
    /// Wraps `inner`, serving the HTTP path `path` (e.g. `/mqtt`); upgrades get
    /// [`HANDSHAKE_TIMEOUT`].
    pub fn new(inner: L, path: &str) -> Self {
        WsListener {
            inner,
            path: path.into(),
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// Sets how long an upgrade may take.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Wraps one accepted stream (no I/O yet).
    // The callback's `Result<Response, ErrorResponse>` is tungstenite's `Callback` signature.
    #[allow(clippy::result_large_err)]
    pub fn wrap<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        &self,
        stream: S,
    ) -> WsServerStream<S> {
        let path = self.path.clone();
        let callback =
            move |request: &Request, response: Response| upgrade(&path, request, response);
        WsServerStream {
            state: State::Handshaking {
                accept: Box::pin(tokio_tungstenite::accept_hdr_async(stream, callback)),
                deadline: Box::pin(tokio::time::sleep(self.handshake_timeout)),
            },
            pending: Bytes::new(),
        }
    }
}

/// The answer to an upgrade request: `response` with the subprotocol selected, or a refusal.
/// (The large error type is tungstenite's `Callback` signature.)
#[allow(clippy::result_large_err)]
fn upgrade(
    path: &str,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let refuse = |status: StatusCode, why: &str| {
        tracing::debug!(uri = %request.uri(), why, "WebSocket upgrade refused");
        let mut r = ErrorResponse::new(Some(format!("{why}\n")));
        *r.status_mut() = status;
        r
    };
    if request.uri().path() != path {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "no MQTT endpoint at this path",
        ));
    }
    let offered: Vec<&str> = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let Some(selected) = SUBPROTOCOLS
        .iter()
        .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)))
    else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the WebSocket subprotocol `mqtt` must be offered [MQTT-6.0.0-3] (both)",
        ));
    };
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(selected),
    );
    Ok(response)
}

impl<L: Listener> Listener for WsListener<L>
where
    L::Stream: Send,
{
    type Stream = WsServerStream<L::Stream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        // Cancel-safe as the inner accept is: nothing happens after it but the wrapping.
        let (stream, addr) = self.inner.accept().await?;
        Ok((self.wrap(stream), addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

type Handshake<S> = Pin<
    Box<
        dyn Future<Output = Result<WebSocketStream<S>, tokio_tungstenite::tungstenite::Error>>
            + Send,
    >,
>;

/// A server-side WebSocket connection as a byte stream, upgraded on the first read or write
/// within a deadline set when it was accepted. A failed or timed-out upgrade fails that read
/// or write (and every later one).
pub struct WsServerStream<S> {
    state: State<S>,
    /// What is left of the last binary frame read.
    pending: Bytes,
}

enum State<S> {
    Handshaking {
        accept: Handshake<S>,
        deadline: Pin<Box<tokio::time::Sleep>>,
    },
    Ready(Box<WebSocketStream<S>>),
    Failed,
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Io(e) => e,
        Error::ConnectionClosed | Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket closed")
        }
        e => io::Error::new(io::ErrorKind::InvalidData, e),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsServerStream<S> {
    /// The established WebSocket, driving the upgrade until it is.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut WebSocketStream<S>>> {
        if let State::Handshaking { accept, deadline } = &mut self.state {
            match accept.as_mut().poll(cx) {
                Poll::Ready(Ok(ws)) => self.state = State::Ready(Box::new(ws)),
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "WebSocket upgrade failed");
                    self.state = State::Failed;
                    return Poll::Ready(Err(ws_error(e)));
                }
                Poll::Pending => {
                    if deadline.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    tracing::debug!("WebSocket upgrade timed out");
                    self.state = State::Failed;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "WebSocket upgrade timed out",
                    )));
                }
            }
        }
        match &mut self.state {
            State::Ready(ws) => Poll::Ready(Ok(ws)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "WebSocket upgrade failed",
            ))),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsServerStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            let ws = ready!(this.poll_ready(cx))?;
            match ready!(Pin::new(ws).poll_next(cx)) {
                // End of stream: after a close frame, or the TCP connection ended.
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    this.state = State::Failed;
                    // [MQTT-6.0.0-1] (both)
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "WebSocket text frame: MQTT goes in binary frames",
                    )));
                }
                // Pings are answered by tungstenite itself; pongs and raw frames carry nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => return Poll::Ready(Err(ws_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsServerStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let ws = ready!(self.get_mut().poll_ready(cx))?;
        let mut ws = Pin::new(ws);
        ready!(ws.as_mut().poll_ready(cx)).map_err(ws_error)?;
        ws.start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(ws_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let ws = ready!(self.get_mut().poll_ready(cx))?;
        Pin::new(ws).poll_flush(cx).map_err(ws_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            // Sends a close frame and flushes it; closing an already closed socket is done.
            State::Ready(ws) => match ready!(Pin::new(ws.as_mut()).poll_close(cx)) {
                Ok(()) | Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => {
                    Poll::Ready(Ok(()))
                }
                Err(e) => Poll::Ready(Err(ws_error(e))),
            },
            // Nothing was established: dropping the stream closes the socket.
            _ => Poll::Ready(Ok(())),
        }
    }
}
