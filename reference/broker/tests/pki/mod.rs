//! A throwaway PKI for the TLS tests: an rcgen CA, a server certificate for
//! localhost/127.0.0.1 and a client certificate, as PEM files in a temp dir removed on drop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use mqttref_broker::BrokerConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("mqttref-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // OpenSSL (Mosquitto's clients) wants a CA that says it signs certificates, and a
        // name of its own.
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mqttref test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
        let (client_cert, client_key) = leaf(vec!["client.test".into()]);
        let write = |file: &str, text: &str| {
            let p = dir.join(file);
            std::fs::write(&p, text).unwrap();
            p
        };
        Pki {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            dir,
        }
    }

    pub fn config(&self, listen: &[&str]) -> BrokerConfig {
        BrokerConfig {
            listen: listen.iter().map(|s| s.to_string()).collect(),
            cert: Some(self.server_cert.clone()),
            key: Some(self.server_key.clone()),
            ..BrokerConfig::default()
        }
    }

    /// A rustls client trusting the CA, offering ALPN `mqtt`, with the client certificate or not.
    pub fn client(&self, with_cert: bool) -> tokio_rustls::TlsConnector {
        self.client_alpn(with_cert, &[b"mqtt"])
    }

    /// As [`Pki::client`], offering `alpn` (nothing if empty).
    pub fn client_alpn(&self, with_cert: bool, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.client_config(with_cert, alpn))
    }

    /// The rustls client configuration of [`Pki::client_alpn`] (for QUIC).
    pub fn client_config(&self, with_cert: bool, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = if with_cert {
            let certs = CertificateDer::pem_file_iter(&self.client_cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(&self.client_key).unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        } else {
            b.with_no_client_auth()
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
