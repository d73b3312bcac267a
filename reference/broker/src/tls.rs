//! TLS for `mqtts://` listeners: the rustls server configuration from PEM files
//! ([`server_config`]), a layer over any [`Listener`] ([`TlsListener`]), and its stream
//! ([`TlsServerStream`]), which does the handshake lazily.
//!
//! # Why the handshake happens in the stream, not in `accept`
//! The accept loop is shared by every connection: a peer that opens a socket and then sends
//! its ClientHello slowly (or never) must not hold up the next accept. So `accept` only wraps
//! the new socket; the handshake runs on the first read or write, which happens in the
//! connection's own task, and is bounded by [`TlsListener`]'s handshake timeout. A connection
//! still in its handshake counts, for the engine, as one awaiting CONNECT: the per-address and
//! global caps on those apply to it too.
//!
//! # Reloading the certificate
//! The configuration's certificate resolver holds the chain and key behind a lock
//! ([`CertReloader`]): a reload (SIGHUP in `mqttref broker`) swaps them for every TLS, `wss://`
//! and QUIC listener at once (they share the resolver), new handshakes get the new certificate,
//! established connections keep theirs, and files that cannot be used leave the old one in
//! place. The client CA (`cafile`) is read at start only.
//!
//! # Crypto provider
//! Every configuration names the `ring` provider explicitly instead of relying on rustls'
//! process-wide default: when another crate in the same binary enables a second provider the
//! implicit lookup panics.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Listener;

/// How long a TLS handshake may take, from accept to the end of the handshake, by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ALPN protocol id the listeners offer (the one IANA registered for MQTT).
pub const ALPN_MQTT: &[u8] = b"mqtt";

/// The PEM files of a TLS listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates that client certificates are verified against. Without it clients are
    /// not asked for a certificate.
    pub cafile: Option<PathBuf>,
    /// Refuse clients that present no certificate (needs `cafile`). Without it a client
    /// certificate is optional but, when presented, must verify.
    pub require_certificate: bool,
}

/// A TLS configuration that could not be built. Each names the file at fault.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: cannot read: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// A file is not valid PEM, or holds no item of the kind wanted.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The CA file holds a certificate that cannot be a trust anchor, or none.
    #[error("{path}: CA certificates: {message}")]
    Ca {
        /// The CA file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate chain and key (e.g. the key does not match).
    #[error("certificate {cert} with key {key}: {message}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        message: String,
    },
    /// `require_certificate` without `cafile`: nothing to verify client certificates against.
    #[error(
        "require_certificate needs cafile (the CA that client certificates are checked against)"
    )]
    RequireWithoutCa,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.to_owned(),
        error,
    })
}

/// Every certificate of a PEM file; an error if it holds none.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let pem = |message: String| TlsError::Pem {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(format!("not a valid PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(pem(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found".into(),
        ));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        path: path.to_owned(),
        message: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) found".into()
            }
            e => format!("not a valid PEM private key file: {e}"),
        },
    })
}

/// rustls 0.23.48 deprecates the ring provider because it has no post-quantum key exchange;
/// aws-lc-rs has, but needs cmake and clang to build. Switch here (and in the workspace's
/// feature list) when those are a given.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's chain and key, swapped by [`CertReloader::reload`] (see the module doc).
#[derive(Debug)]
struct ReloadableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Re-reads the certificate and key files of configurations made by
/// [`server_config_reloadable`] (one, or several [`merge`](CertReloader::merge)d: listeners
/// with certificates of their own) and puts them in use for new handshakes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CertReloader {
    entries: Vec<(TlsFiles, Arc<ReloadableCert>)>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl CertReloader {
    /// Loads every `cert` and `key` again and serves each pair that is usable from the next
    /// handshake on.
    ///
    /// # Errors
    /// The first [`TlsError`], naming the file at fault; that configuration keeps the
    /// certificate it had (the others are still reloaded).
    pub fn reload(&self) -> Result<(), TlsError> {
        let mut first_error = None;
        for (files, cert) in &self.entries {
            match certified_key(files, &self.provider) {
                Ok(key) => {
                    *cert.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key)
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The files it reads.
    pub fn files(&self) -> impl Iterator<Item = &TlsFiles> {
        self.entries.iter().map(|(files, _)| files)
    }

    /// Reloads `other`'s configurations too.
    pub fn merge(&mut self, other: CertReloader) {
        self.entries.extend(other.entries);
    }
}

/// The chain and key of `files`, checked to belong together.
fn certified_key(
    files: &TlsFiles,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let certs = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| TlsError::Refused {
        cert: files.cert.clone(),
        key: files.key.clone(),
        message: e.to_string(),
    })
}

/// The rustls server configuration of `files`: TLS 1.2 and 1.3, ALPN `mqtt` offered, client
/// certificates verified against `cafile` when given (and required with
/// `require_certificate`).
///
/// # Errors
/// [`TlsError`], naming the file at fault.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config_reloadable(files).map(|(config, _)| config)
}

/// [`server_config`], and the [`CertReloader`] that swaps its certificate and key.
///
/// # Errors
/// [`TlsError`], naming the file at fault.
pub fn server_config_reloadable(
    files: &TlsFiles,
) -> Result<(Arc<rustls::ServerConfig>, CertReloader), TlsError> {
    let provider = provider();
    let cert = Arc::new(ReloadableCert {
        current: RwLock::new(Arc::new(certified_key(files, &provider)?)),
    });
    let reloader = CertReloader {
        entries: vec![(files.clone(), cert.clone())],
        provider: provider.clone(),
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Refused {
            cert: files.cert.clone(),
            key: files.key.clone(),
            message: e.to_string(),
        })?;
    let builder = match &files.cafile {
        None if files.require_certificate => return Err(TlsError::RequireWithoutCa),
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let ca_err = |message: String| TlsError::Ca {
                path: ca.clone(),
                message,
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in load_certs(ca)? {
                roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if files.require_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| ca_err(e.to_string()))?)
        }
    };
    let mut config = builder.with_cert_resolver(cert);
    config.alpn_protocols = vec![ALPN_MQTT.to_vec()];
    Ok((Arc::new(config), reloader))
}

/// `config` offering `protocols` by ALPN instead of its own (a `wss://` listener offers
/// `http/1.1`, where an `mqtts://` one offers `mqtt`).
pub fn with_alpn(
    config: &Arc<rustls::ServerConfig>,
    protocols: &[&[u8]],
) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::clone(config);
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// TLS over any [`Listener`]: accepts what the inner listener accepts and hands out streams
/// that do the server handshake on first use (see the module doc for why).
pub struct TlsListener<L> {
    inner: L,
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
}

impl<L> TlsListener<L> {
    /// Wraps `inner`; handshakes get [`HANDSHAKE_TIMEOUT`].
    pub fn new(inner: L, config: Arc<rustls::ServerConfig>) -> Self {
        TlsListener {
            inner,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// Sets how long a handshake may take.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Wraps one accepted stream (no I/O yet).
    pub fn wrap<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> TlsServerStream<S> {
        TlsServerStream {
            state: State::Handshaking {
                accept: Box::new(self.acceptor.accept(stream)),
                deadline: Box::pin(tokio::time::sleep(self.handshake_timeout)),
            },
        }
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    type Stream = TlsServerStream<L::Stream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        // Cancel-safe as the inner accept is: nothing happens after it but the wrapping.
        let (stream, addr) = self.inner.accept().await?;
        Ok((self.wrap(stream), addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A server-side TLS stream whose handshake runs on the first read or write, bounded by a
/// deadline set when it was accepted. A failed or timed-out handshake fails that read or write
/// (and every later one).
pub struct TlsServerStream<S> {
    state: State<S>,
}

enum State<S> {
    Handshaking {
        /// Boxed like `Ready`: the rustls state is over a kilobyte.
        accept: Box<tokio_rustls::Accept<S>>,
        deadline: Pin<Box<tokio::time::Sleep>>,
    },
    Ready(Box<tokio_rustls::server::TlsStream<S>>),
    Failed,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsServerStream<S> {
    /// The established TLS stream, driving the handshake until it is.
    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<S>>> {
        if let State::Handshaking { accept, deadline } = &mut self.state {
            match Pin::new(accept.as_mut()).poll(cx) {
                Poll::Ready(Ok(stream)) => self.state = State::Ready(Box::new(stream)),
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    self.state = State::Failed;
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    if deadline.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    tracing::debug!("TLS handshake timed out");
                    self.state = State::Failed;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "TLS handshake timed out",
                    )));
                }
            }
        }
        match &mut self.state {
            State::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS handshake failed",
            ))),
        }
    }

    /// The negotiated ALPN protocol and the client's certificate chain, once the handshake is
    /// done.
    pub fn session(&self) -> Option<&rustls::ServerConnection> {
        match &self.state {
            State::Ready(s) => Some(s.get_ref().1),
            _ => None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsServerStream<S> {
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

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsServerStream<S> {
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
            // Nothing was established: dropping the stream closes the socket.
            _ => Poll::Ready(Ok(())),
        }
    }
}
