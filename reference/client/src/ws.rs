//! WebSocket for `ws://` and `wss://` (MQTT 5.0 / 3.1.1 section 6): the upgrade
//! ([`handshake`]) offering the subprotocol `mqtt` over any stream, and [`WsStream`], the
//! connection as the byte stream the driver reads and writes.
//!
//! Each write is one binary frame [MQTT-6.0.0-1] (both); reads concatenate the payloads of binary
//! frames, which may split or join MQTT packets [MQTT-6.0.0-2] (both); pings are answered by
//! tungstenite; a close frame ends the stream; a text frame from the server fails the read.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The subprotocol offered [MQTT-6.0.0-3] (both).
pub const SUBPROTOCOL: &str = "mqtt";

/// A client-side WebSocket connection over `S` (TCP or TLS) as a byte stream.
pub struct WsStream<S> {
    ws: WebSocketStream<S>,
    /// What is left of the last binary frame read.
    pending: Bytes,
}

impl<S> std::fmt::Debug for WsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsStream").finish_non_exhaustive()
    }
}

/// Upgrades `stream` (connected to `host:port`) to a WebSocket at `path`, offering the
/// subprotocol `mqtt`. Not bounded in time: the driver races the whole dial against its
/// connect timeout.
///
/// # Errors
/// The upgrade was refused (an HTTP status: [`io::ErrorKind::ConnectionRefused`]) or failed.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    port: u16,
    path: &str,
) -> io::Result<WsStream<S>> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("ws://{authority}{path}")
        .into_client_request()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (ws, _response) = match tokio_tungstenite::client_async(request, stream).await {
        Ok(r) => r,
        Err(WsError::Http(response)) => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("WebSocket upgrade refused: HTTP {}", response.status()),
            ))
        }
        Err(e) => return Err(ws_error(e)),
    };
    Ok(WsStream {
        ws,
        pending: Bytes::new(),
    })
}

fn ws_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket closed")
        }
        e => io::Error::new(io::ErrorKind::InvalidData, e),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
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
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the server sent a WebSocket text frame [MQTT-6.0.0-1] (both)",
                    )))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => return Poll::Ready(Err(ws_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut ws = Pin::new(&mut self.get_mut().ws);
        ready!(ws.as_mut().poll_ready(cx)).map_err(ws_error)?;
        ws.start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(ws_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(ws_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().ws).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(ws_error(e))),
        }
    }
}
