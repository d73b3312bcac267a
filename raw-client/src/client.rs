//! [`RawClient`]: one connection, driven step by step by a scenario.
//!
//! There is no background task. Bytes are read only inside the `recv`/`expect*` calls, into a
//! buffer that keeps whatever follows the frame it returns, so frames split across reads or
//! several frames in one read come out one at a time, in order. Every wait has an explicit
//! timeout measured with `tokio::time` (so paused or simulated time works). All reads are
//! cancel-safe: a call dropped mid-wait loses no bytes.
//!
//! Once the peer has closed (EOF or an error), the client remembers how, and every later
//! expectation answers from that state without touching the stream.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use mqttref_core::codec::{Decoded, Malformed};

use crate::decode;
use crate::frame::{self, Scan};
use crate::transcript::{Direction, Transcript};
use crate::{DecodeError, EncodeError, Packet, PacketType, ProtocolVersion};

/// Any byte stream: TCP, TLS, WebSocket, a QUIC stream.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {
    /// The stream as `Any`, so the client can reach a transport's own operations (a WebSocket
    /// text frame) behind the box.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// How long [`RawClient::connect`] waits for a TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`RawClient::connect`] waits for a WebSocket upgrade.
pub const WS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound on one received frame (and so on the read buffer): 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Errors of connecting and sending.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// The TCP connection could not be made.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The TCP connection was made but the TLS handshake failed (certificate not trusted,
    /// wrong name, no common protocol version, ...) or timed out.
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        /// The address dialled.
        addr: String,
        /// Why it failed (rustls' reason inside).
        source: io::Error,
    },
    /// The TCP connection was made but the WebSocket upgrade was refused (an HTTP status),
    /// failed or timed out.
    #[error("WebSocket upgrade with {addr}: {source}")]
    WebSocket {
        /// The address dialled.
        addr: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The QUIC connection could not be made: no common ALPN protocol
    /// ([`crate::quic::QuicError::NoApplicationProtocol`]), an untrusted certificate, no
    /// answer within [`TLS_HANDSHAKE_TIMEOUT`], ...
    #[error("QUIC connection to {addr}: {source}")]
    Quic {
        /// The address dialled.
        addr: String,
        /// Why it failed.
        source: crate::quic::QuicError,
    },
    /// [`RawClient::send_ws_text`] on a connection that is not a WebSocket.
    #[error("not a WebSocket connection")]
    NotWebSocket,
    /// Writing to the stream failed (often: the peer has closed).
    #[error("write: {0}")]
    Io(#[from] io::Error),
    /// The core could not encode the packet given to [`RawClient::send`].
    #[error("encode: {0}")]
    Encode(EncodeError),
}

/// Why an expectation was not met.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpectError {
    /// Nothing (or not the close) arrived in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was expected.
        what: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The connection closed while a packet was expected (or during `expect_nothing`).
    #[error("connection closed while waiting for {what}")]
    Closed {
        /// What was expected.
        what: String,
    },
    /// A packet arrived that did not satisfy the check, or arrived during `expect_nothing`.
    #[error("expected {what}, got {got}")]
    Unexpected {
        /// What was expected.
        what: String,
        /// What arrived, rendered, and why it did not match.
        got: String,
    },
    /// Reading failed in a way that is not a close, or the peer sent a frame over the limit.
    #[error("i/o error: {0}")]
    Io(String),
}

/// One received frame, owned. A frame the core cannot decode is still a `Received`, with the
/// error, so a scenario can judge the peer's malformed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Time since the client was created.
    pub at: Duration,
    /// The whole frame, fixed header included.
    pub bytes: Vec<u8>,
    /// The packet type from the first byte, if it is one (0 is not).
    pub kind: Option<PacketType>,
    /// Why the core refused the frame, if it did.
    pub error: Option<DecodeError>,
    /// The version it was decoded as (the client's).
    pub version: ProtocolVersion,
    /// One-line rendering, as in the transcript.
    pub decoded: String,
}

impl Received {
    /// The core's decoded view, borrowing from `bytes` (decoded again on each call; cheap).
    ///
    /// # Errors
    /// The core's [`DecodeError`] when the frame is not a valid packet in `version`.
    pub fn packet(&self) -> Result<Packet<'_>, DecodeError> {
        match mqttref_core::codec::decode(&self.bytes, self.version, u32::MAX)? {
            Decoded::Complete { value, .. } => Ok(value),
            // Only bytes that could not be framed get here.
            Decoded::Incomplete(_) => Err(Malformed::UnexpectedEnd.into()),
        }
    }

    /// The low nibble of the first byte.
    pub fn flags(&self) -> u8 {
        self.bytes.first().map_or(0, |b| b & 0x0f)
    }

    /// Whether this is a packet of type `kind` (decodable or not).
    pub fn is(&self, kind: PacketType) -> bool {
        self.kind == Some(kind)
    }

    /// The body after the fixed header (empty if the frame is cut short).
    pub fn body(&self) -> &[u8] {
        decode::body(&self.bytes)
    }

    /// The reason code a 5.0 CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT or AUTH
    /// carries, read from the bytes (absent byte = 0x00, as the spec says); the return code of
    /// a 3.1.1 CONNACK. `None` for other packets, for 3.1.1 acks and DISCONNECT, or when the
    /// frame is too short to hold one.
    pub fn reason_code(&self) -> Option<u8> {
        decode::reason_code(self.kind?, self.version, self.body())
    }
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseKind {
    /// The peer closed cleanly: we read end-of-stream.
    Eof,
    /// The connection was reset (or aborted) by the peer.
    Reset,
    /// Reading failed some other way (the text says how).
    Error(String),
    /// We closed it ([`RawClient::close`]).
    Local,
}

/// What [`RawClient::expect_close`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The reason code of a DISCONNECT received before the close (5.0; a DISCONNECT with no
    /// reason byte is 0x00). Always `None` in 3.1.1, which has no reason codes: see
    /// `disconnect_seen`.
    pub disconnect_reason: Option<u8>,
    /// Whether a DISCONNECT arrived before the close (either version).
    pub disconnect_seen: bool,
    /// Every packet received before the close, DISCONNECT included.
    pub received_before: Vec<Received>,
    /// How the connection ended.
    pub how: CloseKind,
    /// When the close was seen, since the client was created.
    pub at: Duration,
}

/// What one read step produced.
enum Event {
    Frame(Received),
    Closed(CloseKind),
}

/// A byte-level MQTT client: sends anything, and checks what comes back with explicit timeouts.
pub struct RawClient {
    /// The connection. Boxed so TCP, TLS, WebSocket and simulated streams are one type.
    stream: Box<dyn Stream>,
    /// Bytes read but not yet returned as frames (a partial frame, or frames after the one
    /// returned).
    buf: BytesMut,
    /// How received frames are decoded (and sent ones rendered).
    version: ProtocolVersion,
    /// The name every transcript line carries.
    label: String,
    /// Zero of every `at`.
    started: Instant,
    transcript: Transcript,
    /// Set once the stream has ended; later calls answer from it.
    closed: Option<CloseKind>,
    /// Set when a Remaining Length could not be read: framing is lost, the rest of the stream
    /// is reported in raw chunks.
    unframed: bool,
    /// Largest frame accepted, bounding `buf`.
    max_frame: usize,
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("label", &self.label)
            .field("version", &self.version)
            .field("buffered", &self.buf.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl RawClient {
    /// TCP connect (no MQTT CONNECT is sent). Cancel-safe (nothing is kept on cancel).
    pub async fn connect_tcp(
        addr: &str,
        version: ProtocolVersion,
        label: &str,
    ) -> Result<RawClient, RawError> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|source| RawError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        // Packets are written whole; don't let Nagle merge or delay them.
        let _ = stream.set_nodelay(true);
        Ok(Self::from_stream(stream, version, label))
    }

    /// Connects as `connector` says: TCP, TLS over TCP with the handshake done (bounded by
    /// [`TLS_HANDSHAKE_TIMEOUT`]), WebSocket over TCP with the upgrade done (bounded by
    /// [`WS_HANDSHAKE_TIMEOUT`]), WebSocket over TLS with both done, or QUIC with the handshake
    /// done and the stream opened (bounded by [`TLS_HANDSHAKE_TIMEOUT`]). No MQTT CONNECT is
    /// sent. Cancel-safe (nothing is kept on cancel).
    ///
    /// # Errors
    /// [`RawError::Connect`] for TCP, [`RawError::Tls`] / [`RawError::WebSocket`] /
    /// [`RawError::Quic`] for the handshake.
    pub async fn connect(
        addr: &str,
        connector: &crate::Connector,
        version: ProtocolVersion,
        label: &str,
    ) -> Result<RawClient, RawError> {
        match connector {
            crate::Connector::Tcp => Self::connect_tcp(addr, version, label).await,
            crate::Connector::Ws { path } => {
                let tcp = Self::tcp(addr).await?;
                Self::upgrade(tcp, addr, path, version, label).await
            }
            crate::Connector::Tls {
                config,
                server_name,
            } => {
                let tls = Self::tls(addr, config, server_name).await?;
                Ok(Self::from_stream(tls, version, label))
            }
            crate::Connector::Wss {
                config,
                server_name,
                path,
            } => {
                let tls = Self::tls(addr, config, server_name).await?;
                Self::upgrade(tls, addr, path, version, label).await
            }
            crate::Connector::Quic {
                config,
                server_name,
            } => {
                let quic = crate::quic::connect(addr, config, server_name);
                let quic = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, quic).await {
                    Ok(r) => r,
                    Err(_) => Err(crate::quic::QuicError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
                    ))),
                }
                .map_err(|source| RawError::Quic {
                    addr: addr.to_owned(),
                    source,
                })?;
                Ok(Self::from_stream(quic, version, label))
            }
        }
    }

    /// TCP connect, with `TCP_NODELAY`.
    async fn tcp(addr: &str) -> Result<tokio::net::TcpStream, RawError> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|source| RawError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// TCP connect and TLS handshake (bounded by [`TLS_HANDSHAKE_TIMEOUT`]).
    async fn tls(
        addr: &str,
        config: &std::sync::Arc<rustls::ClientConfig>,
        server_name: &rustls::pki_types::ServerName<'static>,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, RawError> {
        let tcp = Self::tcp(addr).await?;
        let tls =
            tokio_rustls::TlsConnector::from(config.clone()).connect(server_name.clone(), tcp);
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(source)) => Err(RawError::Tls {
                addr: addr.to_owned(),
                source,
            }),
            Err(_) => Err(RawError::Tls {
                addr: addr.to_owned(),
                source: io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
                ),
            }),
        }
    }

    /// WebSocket upgrade of `stream` (TCP or TLS) at `path`, offering the subprotocol `mqtt`
    /// (bounded by [`WS_HANDSHAKE_TIMEOUT`]); the transcript notes the subprotocol the server
    /// selected.
    async fn upgrade(
        stream: impl Stream,
        addr: &str,
        path: &str,
        version: ProtocolVersion,
        label: &str,
    ) -> Result<RawClient, RawError> {
        let ws = crate::ws::handshake(stream, addr, path, WS_HANDSHAKE_TIMEOUT)
            .await
            .map_err(|source| RawError::WebSocket {
                addr: addr.to_owned(),
                source,
            })?;
        let note = match ws.subprotocol() {
            Some(p) => format!("WebSocket upgrade at {path}: subprotocol {p:?} selected"),
            None => format!("WebSocket upgrade at {path}: no subprotocol selected"),
        };
        let mut client = Self::from_stream(ws, version, label);
        client.note(note);
        Ok(client)
    }

    /// The WebSocket under this client, if it is one.
    fn ws(&mut self) -> Option<&mut crate::ws::WsStream> {
        // Through the box: `Box<dyn Stream>` is itself a `Stream`, and would answer as the box.
        (*self.stream).as_any_mut().downcast_mut()
    }

    /// The subprotocol the server selected in its WebSocket upgrade response; `None` when it
    /// selected none or the connection is not a WebSocket.
    pub fn ws_subprotocol(&mut self) -> Option<String> {
        self.ws().and_then(|ws| ws.subprotocol().map(str::to_owned))
    }

    /// Whether the connection is a WebSocket.
    pub fn is_ws(&mut self) -> bool {
        self.ws().is_some()
    }

    /// Sends one WebSocket text frame (MQTT allows only binary ones, MQTT-6.0.0-1); noted in
    /// the transcript. Not cancel-safe, as [`RawClient::send_bytes`].
    ///
    /// # Errors
    /// [`RawError::NotWebSocket`] on another transport; [`RawError::Io`] when the write fails.
    pub async fn send_ws_text(&mut self, text: &str) -> Result<(), RawError> {
        let at = self.elapsed();
        self.transcript
            .note(at, format!("sent a WebSocket text frame {text:?}"));
        let ws = self.ws().ok_or(RawError::NotWebSocket)?;
        let res = ws.send_text(text).await;
        if let Err(e) = &res {
            let at = self.elapsed();
            self.transcript.note(at, format!("write failed: {e}"));
        }
        Ok(res?)
    }

    /// A client over any stream (already connected; TLS or WebSocket layers included).
    pub fn from_stream(stream: impl Stream, version: ProtocolVersion, label: &str) -> RawClient {
        RawClient {
            stream: Box::new(stream),
            buf: BytesMut::with_capacity(4096),
            version,
            label: label.to_owned(),
            started: Instant::now(),
            transcript: Transcript::new(label),
            closed: None,
            unframed: false,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// The protocol version frames are decoded as.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Changes the version frames are decoded as (e.g. after a 5.0 client sent a 3.1.1 CONNECT).
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// The label of this client's transcript lines.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The largest frame accepted from the peer (default [`DEFAULT_MAX_FRAME`]); a larger one
    /// fails the expectation with [`ExpectError::Io`] instead of growing the buffer.
    pub fn set_max_frame(&mut self, bytes: usize) {
        self.max_frame = bytes;
    }

    /// Keeps only the first `head` and last `tail` transcript entries from now on (see
    /// [`Transcript::limit`]).
    pub fn limit_transcript(&mut self, head: usize, tail: usize) {
        self.transcript.limit(head, tail);
    }

    /// The record of everything sent, received and noticed.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// How the connection ended, if it has (as far as reads have seen).
    pub fn closed(&self) -> Option<&CloseKind> {
        self.closed.as_ref()
    }

    /// Time since the client was created.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Adds a note to the transcript (a scenario step, a decision).
    pub fn note(&mut self, text: impl Into<String>) {
        let at = self.elapsed();
        self.transcript.note(at, text);
    }

    /// Writes bytes as they are (valid or not) and flushes; recorded in the transcript first,
    /// so a failed write still shows what was attempted. Not cancel-safe: a cancelled call may
    /// have written part of the bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), RawError> {
        let at = self.elapsed();
        let line = decode::describe(bytes, self.version).line;
        self.transcript.push(at, Direction::Sent, bytes, line);
        let res = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        }
        .await;
        if let Err(e) = &res {
            let at = self.elapsed();
            self.transcript.note(at, format!("write failed: {e}"));
        }
        Ok(res?)
    }

    /// Encodes `packet` with the core (in this client's version) and sends it like
    /// [`RawClient::send_bytes`]. Not cancel-safe.
    pub async fn send(&mut self, packet: &Packet<'_>) -> Result<(), RawError> {
        let bytes = packet
            .encode_to_vec(self.version)
            .map_err(RawError::Encode)?;
        self.send_bytes(&bytes).await
    }

    /// The next packet whatever it is, within `timeout`. Cancel-safe.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Received, ExpectError> {
        self.expect("any packet", timeout, |_| Ok(())).await
    }

    /// The next packet, which must satisfy `check` (`Err(String)` says what differed). A packet
    /// that fails the check fails the expectation: nothing is skipped silently (see
    /// [`RawClient::expect_skip_unrelated`]). Cancel-safe.
    pub async fn expect<F>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<Received, ExpectError>
    where
        F: FnMut(&Received) -> Result<(), String>,
    {
        let deadline = Instant::now() + timeout;
        match self.next_before(deadline).await? {
            Some(Event::Frame(r)) => match check(&r) {
                Ok(()) => Ok(r),
                Err(why) => Err(self.unexpected(what, &r, &why)),
            },
            Some(Event::Closed(_)) => Err(self.closed_while(what)),
            None => Err(self.timed_out(what, timeout)),
        }
    }

    /// The first packet that satisfies `check` within `timeout`; packets that don't are
    /// skipped (they stay in the transcript, marked). For the cases where the spec allows
    /// unrelated traffic in between (e.g. a PUBLISH before the SUBACK). Cancel-safe.
    pub async fn expect_skip_unrelated<F>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<Received, ExpectError>
    where
        F: FnMut(&Received) -> Result<(), String>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_before(deadline).await? {
                Some(Event::Frame(r)) => match check(&r) {
                    Ok(()) => return Ok(r),
                    Err(why) => self.note(format!("skipped while waiting for {what}: {why}")),
                },
                Some(Event::Closed(_)) => return Err(self.closed_while(what)),
                None => return Err(self.timed_out(what, timeout)),
            }
        }
    }

    /// The next packet, which must be of type `kind` (decodable or not: check
    /// [`Received::error`]). Cancel-safe.
    pub async fn expect_kind(
        &mut self,
        kind: PacketType,
        timeout: Duration,
    ) -> Result<Received, ExpectError> {
        self.expect(kind.name(), timeout, |r| {
            if r.is(kind) {
                Ok(())
            } else {
                Err(format!("not a {}", kind.name()))
            }
        })
        .await
    }

    /// Nothing at all arrives, and the connection stays open, for `within`. Cancel-safe.
    pub async fn expect_nothing(&mut self, within: Duration) -> Result<(), ExpectError> {
        let what = "nothing (connection open)";
        let deadline = Instant::now() + within;
        match self.next_before(deadline).await? {
            None => {
                self.note(format!(
                    "nothing received for {:.3}s, as expected",
                    within.as_secs_f64()
                ));
                Ok(())
            }
            Some(Event::Frame(r)) => Err(self.unexpected(what, &r, "a packet arrived")),
            Some(Event::Closed(_)) => Err(self.closed_while(what)),
        }
    }

    /// The peer closes the connection within `timeout`. Reports any DISCONNECT seen before
    /// the close (its reason code in 5.0) and every packet received before it. If the close
    /// was already seen by an earlier call, answers at once (with no packets). Cancel-safe.
    pub async fn expect_close(&mut self, timeout: Duration) -> Result<CloseInfo, ExpectError> {
        let what = "the connection to close";
        let deadline = Instant::now() + timeout;
        let mut info = CloseInfo {
            disconnect_reason: None,
            disconnect_seen: false,
            received_before: Vec::new(),
            how: CloseKind::Local,
            at: Duration::ZERO,
        };
        loop {
            match self.next_before(deadline).await? {
                None => return Err(self.timed_out(what, timeout)),
                Some(Event::Frame(r)) => {
                    if r.is(PacketType::Disconnect) {
                        info.disconnect_seen = true;
                        info.disconnect_reason = r.reason_code();
                    }
                    info.received_before.push(r);
                }
                Some(Event::Closed(how)) => {
                    info.how = how;
                    info.at = self.elapsed();
                    return Ok(info);
                }
            }
        }
    }

    /// Closes our side: shuts down writing (the peer reads EOF) and stops reading. Later
    /// expectations answer "closed" (after any frames already buffered). Cancel-safe in effect:
    /// a cancelled shutdown leaves the stream open and the client usable.
    pub async fn close(&mut self) {
        let res = self.stream.shutdown().await;
        let at = self.elapsed();
        let text = match res {
            Ok(()) => "closed by us".to_owned(),
            Err(e) => format!("closed by us (shutdown: {e})"),
        };
        self.transcript.note(at, text);
        if self.closed.is_none() {
            self.closed = Some(CloseKind::Local);
        }
    }

    /// Records and builds an `Unexpected`.
    fn unexpected(&mut self, what: &str, r: &Received, why: &str) -> ExpectError {
        self.note(format!("expected {what}: {why}"));
        ExpectError::Unexpected {
            what: what.to_owned(),
            got: format!("{} ({why})", r.decoded),
        }
    }

    fn closed_while(&self, what: &str) -> ExpectError {
        ExpectError::Closed {
            what: what.to_owned(),
        }
    }

    /// The next frame or the close, before `deadline`; `None` when the deadline passed.
    async fn next_before(&mut self, deadline: Instant) -> Result<Option<Event>, ExpectError> {
        match tokio::time::timeout_at(deadline, self.next_event()).await {
            Ok(ev) => ev.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Records and builds a `Timeout`.
    fn timed_out(&mut self, what: &str, waited: Duration) -> ExpectError {
        self.note(format!(
            "timed out after {:.3}s waiting for {what}",
            waited.as_secs_f64()
        ));
        ExpectError::Timeout {
            what: what.to_owned(),
            waited,
        }
    }

    /// Reads until one frame is buffered (returning it) or the stream ends. Cancel-safe:
    /// the only await is `read_buf`, which keeps nothing outside `buf`.
    async fn next_event(&mut self) -> Result<Event, ExpectError> {
        loop {
            if let Some(r) = self.take_frame()? {
                return Ok(Event::Frame(r));
            }
            if let Some(how) = &self.closed {
                return Ok(Event::Closed(how.clone()));
            }
            let res = self.stream.read_buf(&mut self.buf).await;
            let at = self.elapsed();
            let how = match res {
                Ok(0) => CloseKind::Eof,
                Ok(_) => continue,
                Err(e) => match e.kind() {
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                        CloseKind::Reset
                    }
                    _ => CloseKind::Error(e.to_string()),
                },
            };
            // A partial frame left at the close is evidence too.
            if !self.buf.is_empty() {
                let rest = self.buf.split().to_vec();
                self.transcript.push(
                    at,
                    Direction::Note,
                    &rest,
                    format!(
                        "{} bytes of an incomplete frame left at the close",
                        rest.len()
                    ),
                );
            }
            let text = match &how {
                CloseKind::Eof => "connection closed by peer (EOF)".to_owned(),
                CloseKind::Reset => "connection reset by peer".to_owned(),
                CloseKind::Error(e) => format!("connection failed: {e}"),
                CloseKind::Local => "closed by us".to_owned(),
            };
            self.transcript.note(at, text);
            self.closed = Some(how);
        }
    }

    /// Cuts one frame off the buffer, if a whole one is there.
    fn take_frame(&mut self) -> Result<Option<Received>, ExpectError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let len = if self.unframed {
            self.buf.len()
        } else {
            match frame::scan(&self.buf) {
                Scan::Frame(n) => n,
                Scan::Incomplete => {
                    if self.buf.len() > self.max_frame {
                        return Err(self.too_large());
                    }
                    if let Some(total) = frame::announced_len(&self.buf) {
                        if total > self.max_frame {
                            return Err(self.too_large());
                        }
                    }
                    return Ok(None);
                }
                Scan::BadLength => {
                    self.unframed = true;
                    self.buf.len()
                }
            }
        };
        let bytes = self.buf.split_to(len).to_vec();
        let at = self.elapsed();
        let decode::Decoded { kind, error, line } = decode::describe(&bytes, self.version);
        self.transcript
            .push(at, Direction::Received, &bytes, line.clone());
        Ok(Some(Received {
            at,
            bytes,
            kind,
            error,
            version: self.version,
            decoded: line,
        }))
    }

    fn too_large(&mut self) -> ExpectError {
        let text = format!("peer's frame exceeds the {} byte limit", self.max_frame);
        self.note(text.clone());
        ExpectError::Io(text)
    }
}
