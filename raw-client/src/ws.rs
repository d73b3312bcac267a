//! WebSocket (`ws://`, `wss://`, MQTT 5.0 / 3.1.1 section 6) for the raw client: the upgrade
//! ([`handshake`]) offering the subprotocol `mqtt` over any stream (TCP, or TLS for `wss://`),
//! and [`WsStream`], the connection as a byte stream.
//!
//! # Framing is the test's to choose
//! Each write is one binary frame, and [`RawClient::send_bytes`](crate::RawClient::send_bytes)
//! is one write: so one call sends one frame, and a scenario picks the framing by how it
//! splits its bytes — one MQTT packet across two calls is one packet across two frames, two
//! packets in one call are two packets in one frame [MQTT-6.0.0-2]. A text frame, which MQTT
//! forbids [MQTT-6.0.0-1], is [`RawClient::send_ws_text`](crate::RawClient::send_ws_text).
//!
//! Reads concatenate binary payloads; pings are answered by tungstenite; a close frame ends
//! the stream; a text frame from the server fails the read (MQTT-6.0.0-1 binds it too).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::Stream as ByteStream;

/// The subprotocol offered [MQTT-6.0.0-3].
pub const SUBPROTOCOL: &str = "mqtt";

/// A client-side WebSocket connection as a byte stream, over TCP or TLS (boxed, so that a
/// `ws://` and a `wss://` connection are one type the client can find behind its own box).
pub struct WsStream {
    ws: WebSocketStream<Box<dyn ByteStream>>,
    /// What is left of the last binary frame read.
    pending: Bytes,
    /// The subprotocol the server selected (`Sec-WebSocket-Protocol` of its response).
    subprotocol: Option<String>,
}

impl std::fmt::Debug for WsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsStream")
            .field("subprotocol", &self.subprotocol)
            .finish_non_exhaustive()
    }
}

/// Upgrades `stream` (connected to `host_port`: TCP, or TLS for `wss://`) to a WebSocket at
/// `path`, offering the subprotocol `mqtt`, within `timeout`.
///
/// # Errors
/// The upgrade failed (an HTTP refusal, a bad response) or timed out.
pub async fn handshake(
    stream: impl ByteStream,
    host_port: &str,
    path: &str,
    timeout: Duration,
) -> io::Result<WsStream> {
    let stream: Box<dyn ByteStream> = Box::new(stream);
    let mut request = format!("ws://{host_port}{path}")
        .into_client_request()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let upgrade = tokio_tungstenite::client_async(request, stream);
    let (ws, response) = match tokio::time::timeout(timeout, upgrade).await {
        Ok(Ok(r)) => r,
        Ok(Err(WsError::Http(response))) => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("upgrade refused: HTTP {}", response.status()),
            ))
        }
        Ok(Err(e)) => return Err(ws_error(e)),
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no WebSocket upgrade within {timeout:?}"),
            ))
        }
    };
    let subprotocol = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Ok(WsStream {
        ws,
        pending: Bytes::new(),
        subprotocol,
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

impl WsStream {
    /// The subprotocol the server selected in its upgrade response, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Sends one text frame (which MQTT forbids: for testing that the server closes).
    ///
    /// # Errors
    /// The write failed.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.ws.send(Message::text(text)).await.map_err(ws_error)
    }
}

impl AsyncRead for WsStream {
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
                        "the server sent a WebSocket text frame [MQTT-6.0.0-1]",
                    )))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => return Poll::Ready(Err(ws_error(e))),
            }
        }
    }
}

impl AsyncWrite for WsStream {
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
