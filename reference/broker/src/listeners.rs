//! [`Listeners`]: every configured listener (TCP, TLS, WebSocket, WebSocket over TLS, QUIC) as
//! one [`Listener`], so that one
//! `serve` — one engine, one accept loop, one connection cap — serves them all.
//!
//! # Why one listener over many, not one accept loop per listener
//! `serve` already owns the connection cap, the connection ids and the engine channel; a
//! listener that accepts from whichever socket is ready keeps all of that in one place and
//! leaves `serve` unchanged. Accepting is cheap (the TLS handshake and the WebSocket upgrade
//! happen later, in the connection's task: see [`crate::tls`], [`crate::ws`], and the QUIC
//! handshake too), so one loop does not slow any listener down. The
//! sockets are polled round-robin, starting after the one that last accepted, so a busy
//! listener cannot starve the others.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{Endpoint, Transport};
use crate::tls::{TlsListener, TlsServerStream};
use crate::ws::{WsListener, WsServerStream};
use crate::Listener;

/// One bound socket and its layer, if any.
struct Bound {
    socket: Socket,
    endpoint: Endpoint,
}

/// What a listener accepts from.
enum Socket {
    /// A TCP socket, and what goes over its streams.
    Tcp(TcpListener, Layer),
    /// A QUIC endpoint on a UDP socket.
    #[cfg(feature = "quic")]
    Quic(crate::quic::QuicListener),
}

/// What goes over an accepted TCP stream (each a listener used only to wrap what `tcp`
/// accepts).
enum Layer {
    /// `mqtt://`: nothing.
    None,
    /// `mqtts://`.
    Tls(TlsListener<()>),
    /// `ws://`.
    Ws(WsListener<()>),
    /// `wss://`: the same two layers as `mqtts://` and `ws://`, WebSocket over TLS.
    Wss(TlsListener<()>, WsListener<()>),
}

/// Several bound listeners, accepted from as one.
pub struct Listeners {
    bound: Vec<Bound>,
    /// Where the next accept starts looking (round-robin).
    next: usize,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.bound.iter().map(|b| &b.endpoint))
            .finish()
    }
}

impl Listeners {
    /// Binds every endpoint, each with its TLS server configuration (for the `mqtts://`,
    /// `wss://` and `quic://` ones); `seed` seeds the QUIC endpoints' RNG.
    ///
    /// # Errors
    /// The first bind that fails, naming its endpoint; a TLS endpoint without a configuration.
    pub async fn bind(
        endpoints: &[(Endpoint, Option<Arc<rustls::ServerConfig>>)],
        seed: u64,
    ) -> Result<Listeners, crate::BindError> {
        let mut bound = Vec::with_capacity(endpoints.len());
        for (endpoint, tls) in endpoints {
            let tls_layer = |alpn: &[u8]| {
                tls.as_ref()
                    .map(|config| TlsListener::new((), crate::tls::with_alpn(config, &[alpn])))
                    .ok_or_else(|| crate::BindError::NoTls(endpoint.clone()))
            };
            let ws_layer = || WsListener::new((), endpoint.path.as_deref().unwrap_or("/"));
            let bind_err = |source| crate::BindError::Bind {
                endpoint: endpoint.clone(),
                source,
            };
            let layer = match endpoint.transport {
                Transport::Mqtt => Layer::None,
                Transport::Mqtts => Layer::Tls(tls_layer(crate::tls::ALPN_MQTT)?),
                Transport::Ws => Layer::Ws(ws_layer()),
                Transport::Wss => Layer::Wss(tls_layer(crate::ws::ALPN_HTTP1)?, ws_layer()),
                #[cfg(feature = "quic")]
                Transport::Quic => {
                    let tls = tls
                        .as_ref()
                        .ok_or_else(|| crate::BindError::NoTls(endpoint.clone()))?;
                    let quic = crate::quic::QuicListener::bind(endpoint.addr, tls, seed)
                        .map_err(bind_err)?;
                    let addr = quic.local_addr().map_err(bind_err)?;
                    bound.push(Bound {
                        socket: Socket::Quic(quic),
                        endpoint: Endpoint {
                            addr,
                            ..endpoint.clone()
                        },
                    });
                    continue;
                }
                #[cfg(not(feature = "quic"))]
                Transport::Quic => {
                    let _ = seed;
                    return Err(crate::BindError::QuicUnavailable(endpoint.clone()));
                }
            };
            let tcp = TcpListener::bind(endpoint.addr).await.map_err(bind_err)?;
            let addr = tcp.local_addr().map_err(bind_err)?;
            bound.push(Bound {
                socket: Socket::Tcp(tcp, layer),
                endpoint: Endpoint {
                    addr,
                    ..endpoint.clone()
                },
            });
        }
        Ok(Listeners { bound, next: 0 })
    }

    /// Every listener with the address it is bound to (the port the OS picked for port 0).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.bound.iter().map(|b| b.endpoint.clone()).collect()
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(AnyStream, SocketAddr)>> {
        let n = self.bound.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let Some(b) = self.bound.get_mut(i) else {
                continue;
            };
            let (tcp, layer) = match &mut b.socket {
                Socket::Tcp(tcp, layer) => (tcp, layer),
                #[cfg(feature = "quic")]
                Socket::Quic(quic) => {
                    if let Poll::Ready((stream, addr)) = quic.poll_accept(cx) {
                        self.next = (i + 1) % n;
                        return Poll::Ready(Ok((AnyStream::Quic(Box::new(stream)), addr)));
                    }
                    continue;
                }
            };
            if let Poll::Ready(r) = tcp.poll_accept(cx) {
                self.next = (i + 1) % n;
                let (stream, addr) = r?;
                // Small packets (acknowledgements, PINGRESP) should not wait for Nagle.
                let _ = stream.set_nodelay(true);
                let stream = match layer {
                    Layer::None => AnyStream::Tcp(stream),
                    Layer::Tls(tls) => AnyStream::Tls(Box::new(tls.wrap(stream))),
                    Layer::Ws(ws) => AnyStream::Ws(Box::new(ws.wrap(stream))),
                    // Both handshakes run in the connection's task: the TLS one on the first
                    // byte the upgrade reads or writes, each within its own deadline (both
                    // set now, so the two together take at most the longer one).
                    Layer::Wss(tls, ws) => AnyStream::Wss(Box::new(ws.wrap(tls.wrap(stream)))),
                };
                return Poll::Ready(Ok((stream, addr)));
            }
        }
        Poll::Pending
    }
}

impl Listener for Listeners {
    type Stream = AnyStream;

    /// Cancel-safe: `poll_accept` of each socket is.
    async fn accept(&mut self) -> io::Result<(AnyStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The first listener's address.
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.bound
            .first()
            .map(|b| b.endpoint.addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no listener"))
    }
}

/// A connection from any of the [`Listeners`].
pub enum AnyStream {
    /// `mqtt://`.
    Tcp(TcpStream),
    /// `mqtts://` (boxed: the TLS state is large, and plain connections should not carry it).
    Tls(Box<TlsServerStream<TcpStream>>),
    /// `ws://` (boxed for the same reason).
    Ws(Box<WsServerStream<TcpStream>>),
    /// `wss://`.
    Wss(Box<WsServerStream<TlsServerStream<TcpStream>>>),
    /// `quic://`.
    #[cfg(feature = "quic")]
    Quic(Box<crate::quic::QuicServerStream>),
}

macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            AnyStream::Tcp($s) => {
                let $s = Pin::new($s);
                $e
            }
            AnyStream::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
            AnyStream::Ws($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
            AnyStream::Wss($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
            #[cfg(feature = "quic")]
            AnyStream::Quic($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for AnyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for AnyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_shutdown(cx))
    }
}
