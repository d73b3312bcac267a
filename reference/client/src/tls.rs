//! TLS for `mqtts://` and `wss://`: [`TlsOptions`] (Mosquitto's `--cafile`, `--capath`,
//! `--cert`, `--key`, `--insecure`, `--tls-version`) and the rustls client configuration built
//! from them ([`client_config`]), with [`TlsConfigError`] naming the file at fault.
//!
//! Every configuration names the `ring` provider explicitly instead of rustls' process-wide
//! default, whose lookup panics when a binary links two providers (the broker's crate, the raw
//! client and this one all use ring).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The ALPN protocol offered on `mqtts://` connections (the one IANA registered for MQTT).
pub const ALPN_MQTT: &[u8] = b"mqtt";
/// The ALPN protocol offered on `wss://` connections: WebSocket starts as HTTP/1.1, and a
/// server that offers ALPN but none of the client's protocols must refuse the handshake
/// (RFC 7301).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Where the system's CA certificates are looked for when neither `ca_file` nor `ca_path` is
/// given (Debian, Ubuntu, Alpine, Arch: a directory of PEM files).
pub const SYSTEM_CA_PATH: &str = "/etc/ssl/certs";

/// A TLS protocol version to insist on (Mosquitto's `--tls-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl std::str::FromStr for TlsVersion {
    type Err = TlsConfigError;

    /// `tlsv1.2` or `tlsv1.3` (Mosquitto's spelling; `tlsv1.1` and older are not supported).
    fn from_str(s: &str) -> Result<Self, TlsConfigError> {
        match s {
            "tlsv1.2" => Ok(TlsVersion::Tls12),
            "tlsv1.3" => Ok(TlsVersion::Tls13),
            other => Err(TlsConfigError::Version(other.to_owned())),
        }
    }
}

/// How the client does TLS. The default checks the server against the system's CA
/// certificates ([`SYSTEM_CA_PATH`]), offers no client certificate, and allows TLS 1.2 and 1.3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificates (one PEM file) the server's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// A directory of PEM files, each read for CA certificates (files that hold none are
    /// skipped).
    pub ca_path: Option<PathBuf>,
    /// The client's certificate chain (PEM, leaf first), for mutual TLS; needs `key`.
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
    /// Accept any server certificate, for any name. Testing only: it protects against nothing
    /// but a passive eavesdropper.
    pub insecure: bool,
    /// Check the server's certificate against the CAs but not its name (Mosquitto's
    /// `--insecure`): for a broker reached by an address its certificate does not list.
    pub skip_hostname_check: bool,
    /// Only this TLS version; both 1.2 and 1.3 when `None`.
    pub version: Option<TlsVersion>,
    /// The name the server's certificate must carry; the host dialled when `None`.
    pub server_name: Option<String>,
}

/// A TLS client configuration that could not be built. Each names the file or value at fault.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    /// A file or directory could not be read.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, as text (`io::Error` is not `Clone`).
        message: String,
        /// Its kind.
        kind: io::ErrorKind,
    },
    /// A file is not valid PEM, or holds no item of the kind wanted.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No CA certificate was found: none given, and none in the system's directory.
    #[error("no CA certificates: give --cafile or --capath (or --insecure to check nothing)")]
    NoCa,
    /// `cert` without `key`, or `key` without `cert`.
    #[error("a client certificate needs both --cert and --key")]
    CertWithoutKey,
    /// rustls refused the client certificate and key (e.g. the key is not the certificate's).
    #[error("client certificate {cert} with key {key}: {message}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        message: String,
    },
    /// A TLS version this client does not speak.
    #[error("unsupported TLS version `{0}`: use tlsv1.2 or tlsv1.3")]
    Version(String),
    /// The server name is neither a DNS name nor an IP address.
    #[error("`{0}` is not a DNS name or IP address to check the server certificate against")]
    ServerName(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| TlsConfigError::Read {
        path: path.to_owned(),
        message: e.to_string(),
        kind: e.kind(),
    })
}

/// Every certificate of a PEM file; an error if it holds none.
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = read(path)?;
    let pem = |message: String| TlsConfigError::Pem {
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

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsConfigError::Pem {
        path: path.to_owned(),
        message: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) found".into()
            }
            e => format!("not a valid PEM private key file: {e}"),
        },
    })
}

/// Adds every certificate of `file` to `roots`; a certificate that cannot be a trust anchor
/// is an error naming the file.
fn add_ca_file(roots: &mut rustls::RootCertStore, file: &Path) -> Result<(), TlsConfigError> {
    for cert in load_certs(file)? {
        roots.add(cert).map_err(|e| TlsConfigError::Pem {
            path: file.to_owned(),
            message: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(())
}

/// Adds the certificates of every readable PEM file in `dir`, skipping the others (a CA
/// directory also holds hash links, CRLs, READMEs).
fn add_ca_path(roots: &mut rustls::RootCertStore, dir: &Path) -> Result<(), TlsConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TlsConfigError::Read {
        path: dir.to_owned(),
        message: e.to_string(),
        kind: e.kind(),
    })?;
    // Sorted, so that which duplicate is kept does not depend on the directory's order.
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for file in files {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for cert in CertificateDer::pem_slice_iter(&bytes).flatten() {
            let _ = roots.add(cert);
        }
    }
    Ok(())
}

#[allow(deprecated)] // ring has no post-quantum key exchange; aws-lc-rs needs cmake and clang.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration of `options`, offering `alpn` ([`ALPN_MQTT`] for
/// `mqtts://`, [`ALPN_HTTP1`] for `wss://`).
///
/// # Errors
/// [`TlsConfigError`], naming the file at fault. Never panics on a bad file.
pub fn client_config(
    options: &TlsOptions,
    alpn: &[u8],
) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match options.version {
        None => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
        Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TlsConfigError::Version(e.to_string()))?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new()))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(file) = &options.ca_file {
            add_ca_file(&mut roots, file)?;
        }
        if let Some(dir) = &options.ca_path {
            add_ca_path(&mut roots, dir)?;
        }
        if options.ca_file.is_none() && options.ca_path.is_none() {
            let _ = add_ca_path(&mut roots, Path::new(SYSTEM_CA_PATH));
        }
        if roots.is_empty() {
            return Err(match (&options.ca_file, &options.ca_path) {
                (None, Some(dir)) => TlsConfigError::Pem {
                    path: dir.clone(),
                    message: "no PEM certificate found in any file of this directory".into(),
                },
                _ => TlsConfigError::NoCa,
            });
        }
        if options.skip_hostname_check {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| TlsConfigError::Pem {
                path: options.ca_file.clone().unwrap_or_default(),
                message: e.to_string(),
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName { inner: verifier }))
        } else {
            builder.with_root_certificates(roots)
        }
    };
    let mut config = match (&options.cert, &options.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let certs = load_certs(cert)?;
            let private = load_key(key)?;
            builder
                .with_client_auth_cert(certs, private)
                .map_err(|e| TlsConfigError::Refused {
                    cert: cert.clone(),
                    key: key.clone(),
                    message: e.to_string(),
                })?
        }
        _ => return Err(TlsConfigError::CertWithoutKey),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}

/// `name` as the server name a certificate is checked against.
///
/// # Errors
/// [`TlsConfigError::ServerName`] when it is neither a DNS name nor an IP address.
pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsConfigError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsConfigError::ServerName(name.to_owned()))
}

/// The WebPKI verifier with the name check left out (`skip_hostname_check`): the chain, the
/// validity period and the handshake signatures are still checked.
#[derive(Debug)]
struct AnyName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// **For testing only** (`insecure`): accepts any server certificate chain for any name. The
/// handshake signatures are still checked, so the peer does hold the key of the certificate it
/// sent.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl AcceptAnyCertificate {
    fn new() -> Self {
        AcceptAnyCertificate {
            provider: provider(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("mqttref-client-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Bad paths and bad PEM are typed errors naming the file, never a panic.
    #[test]
    fn bad_files_are_typed_errors() {
        let d = dir("bad");
        let garbage = d.join("garbage.pem");
        std::fs::write(&garbage, "not PEM\n").unwrap();
        let missing = d.join("missing.pem");
        let with = |f: fn(&mut TlsOptions, PathBuf), p: &Path| {
            let mut o = TlsOptions {
                insecure: true,
                ..TlsOptions::default()
            };
            f(&mut o, p.to_owned());
            client_config(&o, ALPN_MQTT).unwrap_err()
        };
        let e = client_config(
            &TlsOptions {
                ca_file: Some(missing.clone()),
                ..TlsOptions::default()
            },
            ALPN_MQTT,
        )
        .unwrap_err();
        assert!(
            matches!(&e, TlsConfigError::Read { path, kind: io::ErrorKind::NotFound, .. } if path == &missing),
            "{e:?}"
        );
        let e = client_config(
            &TlsOptions {
                ca_file: Some(garbage.clone()),
                ..TlsOptions::default()
            },
            ALPN_MQTT,
        )
        .unwrap_err();
        assert!(
            matches!(&e, TlsConfigError::Pem { path, .. } if path == &garbage),
            "{e:?}"
        );
        assert!(e.to_string().contains("garbage.pem"), "{e}");
        let e = client_config(
            &TlsOptions {
                ca_path: Some(d.clone()),
                ..TlsOptions::default()
            },
            ALPN_MQTT,
        )
        .unwrap_err();
        assert!(
            matches!(&e, TlsConfigError::Pem { path, .. } if path == &d),
            "{e:?}"
        );
        let e = with(|o, p| o.cert = Some(p), &garbage);
        assert_eq!(e, TlsConfigError::CertWithoutKey);
        let e = with(
            |o, p| {
                o.cert = Some(p.clone());
                o.key = Some(p);
            },
            &garbage,
        );
        assert!(
            matches!(&e, TlsConfigError::Pem { path, .. } if path == &garbage),
            "{e:?}"
        );
        assert_eq!(
            "tlsv1.1".parse::<TlsVersion>().unwrap_err().to_string(),
            "unsupported TLS version `tlsv1.1`: use tlsv1.2 or tlsv1.3"
        );
        assert_eq!("tlsv1.3".parse::<TlsVersion>(), Ok(TlsVersion::Tls13));
        assert!(server_name("not a name!").is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
