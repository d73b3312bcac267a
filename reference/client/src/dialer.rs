//! [`Dialer`]: how the driver opens a network connection, so that the same client runs on
//! `tokio::net` in production and on `turmoil::net` in the simulator; [`TlsDialer`] and
//! [`WsDialer`] are layers over any dialer (`wss://` is `WsDialer<TlsDialer<TcpDialer>>`).

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

/// Opens byte streams to a server.
pub trait Dialer: Send + Sync + 'static {
    /// The stream type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Connects to `host:port`. Cancel-safe as far as the driver is concerned: it is only ever
    /// raced against a timeout, and a dropped attempt leaves nothing behind.
    fn dial(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Plain TCP through `tokio::net::TcpStream`, with `TCP_NODELAY` (MQTT packets are small and
/// latency-sensitive).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpDialer;

impl Dialer for TcpDialer {
    type Stream = tokio::net::TcpStream;

    async fn dial(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// TLS over any [`Dialer`] (`mqtts://`, and under [`WsDialer`] `wss://`): dials with `inner`,
/// then does the client handshake, checking the certificate against `server_name` (the host
/// dialled when `None`).
#[derive(Clone)]
pub struct TlsDialer<D> {
    inner: D,
    connector: tokio_rustls::TlsConnector,
    server_name: Option<rustls::pki_types::ServerName<'static>>,
}

impl<D> std::fmt::Debug for TlsDialer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsDialer")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl<D: Dialer> TlsDialer<D> {
    /// TLS with `config` (see [`crate::tls::client_config`]) over `inner`.
    pub fn new(
        inner: D,
        config: std::sync::Arc<rustls::ClientConfig>,
        server_name: Option<rustls::pki_types::ServerName<'static>>,
    ) -> Self {
        TlsDialer {
            inner,
            connector: tokio_rustls::TlsConnector::from(config),
            server_name,
        }
    }
}

impl<D: Dialer> Dialer for TlsDialer<D> {
    type Stream = tokio_rustls::client::TlsStream<D::Stream>;

    async fn dial(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => crate::tls::server_name(host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        };
        let stream = self.inner.dial(host, port).await?;
        self.connector.connect(name, stream).await
    }
}

/// WebSocket over any [`Dialer`] (`ws://` over TCP, `wss://` over [`TlsDialer`]): dials with
/// `inner`, then upgrades at `path` offering the subprotocol `mqtt` (see [`crate::ws`]).
#[derive(Debug, Clone)]
pub struct WsDialer<D> {
    inner: D,
    path: String,
}

impl<D: Dialer> WsDialer<D> {
    /// WebSocket at the HTTP path `path` (e.g. `/mqtt`) over `inner`.
    pub fn new(inner: D, path: impl Into<String>) -> Self {
        WsDialer {
            inner,
            path: path.into(),
        }
    }
}

impl<D: Dialer> Dialer for WsDialer<D> {
    type Stream = crate::ws::WsStream<D::Stream>;

    async fn dial(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        let stream = self.inner.dial(host, port).await?;
        crate::ws::handshake(stream, host, port, &self.path).await
    }
}
