//! How a [`RawClient`](crate::RawClient) dials: plain TCP, TLS over TCP, WebSocket over TCP,
//! WebSocket over TLS or QUIC ([`Connector`]), and
//! the rustls client configuration from a CA file or, for testing only, with no verification
//! at all ([`AcceptAnyCertificate`]).
//!
//! Every configuration names the `ring` provider explicitly rather than rustls' process-wide
//! default, whose lookup panics when a binary links two providers.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The ALPN protocol id offered on TLS connections (the one IANA registered for MQTT).
pub const ALPN_MQTT: &[u8] = b"mqtt";

/// The ALPN protocol id offered on `wss://` connections: WebSocket starts as HTTP/1.1, and a
/// server that offers ALPN but none of the client's protocols must refuse the handshake
/// (RFC 7301), so offering `mqtt` to an HTTPS endpoint could fail where a browser succeeds.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// How to reach the peer.
#[derive(Clone)]
pub enum Connector {
    /// `mqtt://`: TCP.
    Tcp,
    /// `mqtts://`: TLS over TCP.
    Tls {
        /// The rustls client configuration ([`tls_config`]).
        config: Arc<rustls::ClientConfig>,
        /// The name the server's certificate must carry (a DNS name or an IP address).
        server_name: ServerName<'static>,
    },
    /// `ws://`: WebSocket over TCP, upgraded at this HTTP path (`/mqtt`), offering the
    /// subprotocol `mqtt` (see [`crate::ws`]).
    Ws {
        /// The HTTP path of the upgrade request.
        path: String,
    },
    /// `wss://`: WebSocket over TLS over TCP: the TLS handshake of [`Connector::Tls`], then the
    /// upgrade of [`Connector::Ws`].
    Wss {
        /// The rustls client configuration ([`tls_config`]).
        config: Arc<rustls::ClientConfig>,
        /// The name the server's certificate must carry (a DNS name or an IP address).
        server_name: ServerName<'static>,
        /// The HTTP path of the upgrade request.
        path: String,
    },
    /// `quic://`: one bidirectional stream of a QUIC connection (see [`crate::quic`]).
    Quic {
        /// The rustls client configuration: TLS 1.3 is used, and its ALPN protocols are
        /// offered (`mqtt` from [`Connector::quic`]).
        config: Arc<rustls::ClientConfig>,
        /// The name the server's certificate must carry (a DNS name or an IP address).
        server_name: String,
    },
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connector::Tcp => f.write_str("Tcp"),
            Connector::Tls { server_name, .. } => write!(f, "Tls({server_name:?})"),
            Connector::Ws { path } => write!(f, "Ws({path:?})"),
            Connector::Wss {
                server_name, path, ..
            } => write!(f, "Wss({server_name:?}, {path:?})"),
            Connector::Quic { server_name, .. } => write!(f, "Quic({server_name:?})"),
        }
    }
}

impl Connector {
    /// TLS to `server_name` with `config`.
    ///
    /// # Errors
    /// [`TlsConfigError::ServerName`] when `server_name` is neither a DNS name nor an IP address.
    pub fn tls(
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Result<Connector, TlsConfigError> {
        Ok(Connector::Tls {
            config,
            server_name: parse_server_name(server_name)?,
        })
    }

    /// WebSocket at `path` over TLS to `server_name` with `config`, offering ALPN
    /// [`ALPN_HTTP1`] instead of `config`'s (see there why).
    ///
    /// # Errors
    /// [`TlsConfigError::ServerName`] when `server_name` is neither a DNS name nor an IP address.
    pub fn wss(
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
        path: &str,
    ) -> Result<Connector, TlsConfigError> {
        let mut config = rustls::ClientConfig::clone(&config);
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Connector::Wss {
            config: Arc::new(config),
            server_name: parse_server_name(server_name)?,
            path: path.to_owned(),
        })
    }
}

impl Connector {
    /// QUIC to `server_name` with `config`, offering ALPN [`ALPN_MQTT`] (whatever `config`
    /// offers: QUIC requires ALPN, and MQTT's is `mqtt`).
    ///
    /// # Errors
    /// [`TlsConfigError::ServerName`] when `server_name` is neither a DNS name nor an IP address.
    pub fn quic(
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Result<Connector, TlsConfigError> {
        parse_server_name(server_name)?;
        Ok(Connector::Quic {
            config: with_alpn(&config, &[ALPN_MQTT]),
            server_name: server_name.to_owned(),
        })
    }
}

/// `config` offering `protocols` by ALPN instead of its own (a scenario may offer a wrong one).
pub fn with_alpn(
    config: &Arc<rustls::ClientConfig>,
    protocols: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::clone(config);
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsConfigError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsConfigError::ServerName(name.to_owned()))
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Against the CA certificates of this PEM file.
    CaFile(PathBuf),
    /// Not at all: [`AcceptAnyCertificate`]. For testing only.
    Insecure,
}

/// A TLS client configuration that could not be built.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The CA file could not be read.
    #[error("{path}: cannot read: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The CA file is not PEM, holds no certificate, or one that cannot be a trust anchor.
    #[error("{path}: {message}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The server name is neither a DNS name nor an IP address.
    #[error("`{0}` is not a DNS name or IP address to check the server certificate against")]
    ServerName(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

#[allow(deprecated)] // ring has no post-quantum key exchange; aws-lc-rs needs cmake and clang.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration: TLS 1.2 and 1.3, ALPN `mqtt` offered, the server checked as
/// `trust` says, no client certificate.
///
/// # Errors
/// [`TlsConfigError`] naming the CA file.
pub fn tls_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
    let mut config = match trust {
        Trust::CaFile(path) => builder
            .with_root_certificates(load_roots(path)?)
            .with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new()))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_MQTT.to_vec()];
    Ok(Arc::new(config))
}

fn load_roots(path: &Path) -> Result<rustls::RootCertStore, TlsConfigError> {
    let bytes = std::fs::read(path).map_err(|error| TlsConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    let ca = |message: String| TlsConfigError::Ca {
        path: path.to_owned(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| ca(format!("not a valid PEM certificate file: {e}")))?;
        roots.add(cert).map_err(|e| ca(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found".into()
        ));
    }
    Ok(roots)
}

/// **For testing only.** A server certificate verifier that accepts any certificate chain for
/// any name, expired or self-signed: it protects against nothing but a passive eavesdropper.
/// It exists so that a conformance run can reach a broker whose CA is not at hand
/// (`--insecure`). The handshake signatures are still checked, so the peer does hold the key
/// of the certificate it sent.
#[derive(Debug)]
pub struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl AcceptAnyCertificate {
    /// The verifier, with the ring provider's signature algorithms.
    pub fn new() -> Self {
        AcceptAnyCertificate {
            provider: provider(),
        }
    }
}

impl Default for AcceptAnyCertificate {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
