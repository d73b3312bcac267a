//! [`Dialer`]: how the driver opens a network connection, so that the same client runs on
//! `tokio::net` in production and on `turmoil::net` in the simulator.

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
