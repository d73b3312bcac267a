//! Mosquitto's `try_private` bridge mark for 3.1.1 remotes: the CONNECT's protocol level goes
//! out with its top bit set (0x84 for 3.1.1). A broker that knows the convention (Mosquitto)
//! treats the connection as a bridge: its subscriptions get No Local and Retain As Published,
//! which 3.1.1 cannot ask for. The client's codec has no such field, so the mark is set by a
//! layer over the stream: it rewrites that one byte of the first packet written, nothing else.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use mqttref_client::{
    Client, ClientError, ClientOptions, Dialer, Incoming, TcpDialer, TlsDialer, Transport, WsDialer,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Connects as [`Client::connect`] does, with the mark ([`OuterMark`]) over the options' transport.
///
/// # Errors
/// As [`Client::connect`].
pub(crate) async fn connect(options: ClientOptions) -> Result<(Client, Incoming), ClientError> {
    let tls = |alpn: &[u8]| -> Result<TlsDialer<TcpDialer>, ClientError> {
        let config = mqttref_client::tls::client_config(&options.tls, alpn)?;
        let name = match &options.tls.server_name {
            Some(n) => Some(mqttref_client::tls::server_name(n)?),
            None => None,
        };
        Ok(TlsDialer::new(TcpDialer, config, name))
    };
    // The mark goes on the MQTT bytes, so it wraps the outermost stream (above TLS and
    // WebSocket).
    match options.transport.clone() {
        Transport::Tcp => Client::connect_with(options, OuterMark(TcpDialer)).await,
        Transport::Tls => {
            let d = OuterMark(tls(mqttref_client::tls::ALPN_MQTT)?);
            Client::connect_with(options, d).await
        }
        Transport::Ws { path } => {
            Client::connect_with(options, OuterMark(WsDialer::new(TcpDialer, path))).await
        }
        Transport::Wss { path } => {
            let d = OuterMark(WsDialer::new(tls(mqttref_client::tls::ALPN_HTTP1)?, path));
            Client::connect_with(options, d).await
        }
        #[cfg(feature = "quic")]
        Transport::Quic => {
            let config =
                mqttref_client::tls::client_config(&options.tls, mqttref_client::quic::ALPN_MQTT)?;
            let d = mqttref_client::quic::QuicDialer::new(
                config,
                options.tls.server_name.clone(),
                options.seed,
            )
            .map_err(|e| ClientError::Connect {
                addr: format!("{}:{}", options.host, options.port),
                message: e.to_string(),
                kind: io::ErrorKind::InvalidInput,
            })?;
            Client::connect_with(options, OuterMark(d)).await
        }
        #[cfg(not(feature = "quic"))]
        Transport::Quic => Err(ClientError::Unsupported(
            "quic:// (this build has no `quic` feature)",
        )),
    }
}

/// Marks the MQTT bytes written into `D`'s stream (above TLS and WebSocket).
#[derive(Debug, Clone)]
pub(crate) struct OuterMark<D>(D);

impl<D: Dialer> Dialer for OuterMark<D> {
    type Stream = Marked<D::Stream>;

    async fn dial(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        Ok(Marked::new(self.0.dial(host, port).await?))
    }
}

/// A stream whose first packet (a CONNECT) has its protocol level's top bit set.
#[derive(Debug)]
pub(crate) struct Marked<S> {
    inner: S,
    /// Bytes written so far, until the mark is out.
    written: usize,
    /// The first bytes written (up to 5: the fixed header), until the level's offset is known.
    head: Vec<u8>,
    /// Where the protocol level byte is, once known; `usize::MAX`: nothing (more) to mark.
    level_at: Option<usize>,
}

impl<S> Marked<S> {
    pub(crate) fn new(inner: S) -> Self {
        Marked {
            inner,
            written: 0,
            head: Vec::new(),
            level_at: None,
        }
    }
}

/// Offset of the protocol level in a CONNECT starting at `buf[0]`: fixed header byte, the
/// Remaining Length (1 to 4 bytes), the protocol name `00 04 MQTT`, then the level.
fn level_offset(buf: &[u8]) -> Option<usize> {
    if buf.first() != Some(&0x10) {
        return None;
    }
    let len_bytes = buf.iter().skip(1).take(4).position(|b| b & 0x80 == 0)? + 1;
    Some(1 + len_bytes + 6)
}

impl<S: AsyncRead + Unpin> AsyncRead for Marked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Marked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.level_at.is_none() {
            let mut head = this.head.clone();
            head.extend(buf.iter().take(5usize.saturating_sub(head.len())));
            this.level_at = match level_offset(&head) {
                Some(at) => Some(at),
                None if head.len() >= 5 || head.first().is_some_and(|b| *b != 0x10) => {
                    Some(usize::MAX)
                }
                None => None,
            };
        }
        let at = this.level_at.unwrap_or(usize::MAX);
        let result = match at.checked_sub(this.written) {
            Some(rel) if rel < buf.len() => {
                let mut copy = buf.to_vec();
                if let Some(b) = copy.get_mut(rel) {
                    *b |= 0x80;
                }
                Pin::new(&mut this.inner).poll_write(cx, &copy)
            }
            _ => Pin::new(&mut this.inner).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = &result {
            if this.level_at.is_none() {
                this.head.extend(buf.iter().take(*n));
            }
            if this.level_at != Some(usize::MAX) {
                this.written += n;
                if this.written > at {
                    this.level_at = Some(usize::MAX);
                }
            }
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Only the protocol level of the first packet changes, even when it is written one byte
    /// at a time; later bytes pass untouched.
    #[tokio::test]
    async fn sets_the_top_bit_of_the_protocol_level_only() {
        let connect = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a";
        let (a, mut b) = tokio::io::duplex(1024);
        let mut m = Marked::new(a);
        for byte in connect.iter() {
            m.write_all(&[*byte]).await.unwrap();
        }
        m.write_all(b"\xc0\x00\x04").await.unwrap();
        drop(m);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        let mut want = connect.to_vec();
        want[8] = 0x84;
        want.extend_from_slice(b"\xc0\x00\x04");
        assert_eq!(got, want);
    }
}
