//! The client against the reference broker over every transport: `mqtt://`, `mqtts://`,
//! `ws://`, `wss://`, `quic://`, in 5.0 and 3.1.1, QoS 0, 1 and 2, mutual TLS included. The certificates
//! (a CA, the server's, a client's) are generated here with rcgen.

use std::path::PathBuf;
use std::time::Duration;

use mqttref_broker::{Broker, BrokerConfig, Endpoint};
use mqttref_client::{
    Client, ClientError, ClientOptions, Incoming, Message, ProtocolVersion, QoS, ReconnectPolicy,
    TlsConfigError, TlsOptions, TlsVersion, Transport,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(10);

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files
/// in a temp dir (removed on drop); `other_ca` signed nothing here.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("mqttref-client-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = || {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        };
        let (ca, other) = (ca(), ca());
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
            other_ca: write("other-ca.pem", &other.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            dir,
        }
    }

    fn trust(&self) -> TlsOptions {
        TlsOptions {
            ca_file: Some(self.ca.clone()),
            ..TlsOptions::default()
        }
    }

    fn with_client_cert(&self) -> TlsOptions {
        TlsOptions {
            cert: Some(self.client_cert.clone()),
            key: Some(self.client_key.clone()),
            ..self.trust()
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A reference broker listening on every transport; shut down when dropped.
struct RefBroker {
    endpoints: Vec<Endpoint>,
    _stop: oneshot::Sender<()>,
}

async fn start(pki: &Pki, require_certificate: bool) -> RefBroker {
    let config = BrokerConfig {
        listen: vec![
            "mqtt://127.0.0.1:0".into(),
            "mqtts://127.0.0.1:0".into(),
            "ws://127.0.0.1:0/mqtt".into(),
            "wss://127.0.0.1:0/mqtt".into(),
            "quic://127.0.0.1:0".into(),
        ],
        cert: Some(pki.server_cert.clone()),
        key: Some(pki.server_key.clone()),
        cafile: Some(pki.ca.clone()),
        require_certificate,
        ..BrokerConfig::default()
    };
    let broker = Broker::bind(config).await.expect("bind");
    let endpoints = broker.endpoints();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(broker.run(async move {
        let _ = stopped.await;
    }));
    RefBroker {
        endpoints,
        _stop: stop,
    }
}

impl RefBroker {
    /// The URL a client dials for the listener of `scheme`, host `localhost` (the name the
    /// server certificate carries).
    fn url(&self, scheme: &str) -> String {
        let e = self
            .endpoints
            .iter()
            .find(|e| e.transport.scheme() == scheme)
            .expect("listener");
        format!(
            "{scheme}://localhost:{}{}",
            e.addr.port(),
            e.path.as_deref().unwrap_or("")
        )
    }
}

const SCHEMES: [&str; 5] = ["mqtt", "mqtts", "ws", "wss", "quic"];

fn opts(url: &str, id: &str, version: ProtocolVersion, tls: TlsOptions) -> ClientOptions {
    ClientOptions::from_url(url, id)
        .unwrap()
        .with_version(version)
        .with_reconnect(ReconnectPolicy::disabled())
        .with_tls(tls)
}

async fn next(incoming: &mut Incoming) -> Message {
    tokio::time::timeout(WAIT, incoming.recv())
        .await
        .expect("a message in time")
        .expect("client running")
}

/// Over each transport and version, QoS 0, 1 and 2 each arrive once, with their QoS, at a
/// subscriber on the same transport.
async fn round_trips(b: &RefBroker, tls: &TlsOptions, tag: &str) {
    for scheme in SCHEMES {
        let url = b.url(scheme);
        for version in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
            let v = if version == ProtocolVersion::V5 {
                "v5"
            } else {
                "v311"
            };
            let id = format!("{tag}-{scheme}-{v}");
            let topic = format!("transports/{id}");
            let (sub, mut incoming) =
                Client::connect(opts(&url, &format!("{id}-s"), version, tls.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("{url} {v}: subscriber: {e}"));
            sub.subscribe_one(topic.as_str(), QoS::ExactlyOnce)
                .await
                .unwrap();
            let (publisher, _) =
                Client::connect(opts(&url, &format!("{id}-p"), version, tls.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("{url} {v}: publisher: {e}"));
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let payload = format!("{id} {qos:?}");
                publisher
                    .publish(
                        topic.as_str(),
                        payload.as_str(),
                        qos,
                        false,
                        Default::default(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{url} {v} {qos:?}: publish: {e}"));
                let m = next(&mut incoming).await;
                assert_eq!(m.topic, topic);
                assert_eq!(m.payload, payload.as_bytes(), "{url} {v}");
                assert_eq!(m.qos, qos, "{url} {v}");
            }
            // Nothing more: each message once.
            assert!(
                tokio::time::timeout(Duration::from_millis(100), incoming.recv())
                    .await
                    .is_err(),
                "{url} {v}: a duplicate"
            );
            publisher.disconnect().await.unwrap();
            sub.disconnect().await.unwrap();
        }
    }
}

#[tokio::test]
async fn every_transport_both_versions_every_qos() {
    let pki = Pki::new("all");
    let b = start(&pki, false).await;
    round_trips(&b, &pki.trust(), "plain").await;
}

/// Mutual TLS: the broker requires a client certificate on `mqtts://`, `wss://` and
/// `quic://`; the client presents one (and the plain transports are unaffected).
#[tokio::test]
async fn every_transport_with_client_certificates() {
    let pki = Pki::new("mtls");
    let b = start(&pki, true).await;
    round_trips(&b, &pki.with_client_cert(), "mtls").await;

    // Without a certificate the TLS transports are refused.
    for scheme in ["mqtts", "wss", "quic"] {
        let r = Client::connect(opts(
            &b.url(scheme),
            "nocert",
            ProtocolVersion::V5,
            pki.trust(),
        ))
        .await;
        assert!(
            r.is_err(),
            "{scheme}: connected without a client certificate"
        );
    }
}

/// A server whose certificate does not chain to the CA given is refused; `insecure` accepts
/// it; `skip_hostname_check` accepts another name but not another CA; a TLS version
/// restriction still connects to a broker that speaks both.
#[tokio::test]
async fn trust_insecure_and_version() {
    let pki = Pki::new("trust");
    let b = start(&pki, false).await;
    for scheme in ["mqtts", "wss"] {
        let url = b.url(scheme);
        let wrong_ca = TlsOptions {
            ca_file: Some(pki.other_ca.clone()),
            ..TlsOptions::default()
        };
        match Client::connect(opts(&url, "wrong-ca", ProtocolVersion::V5, wrong_ca)).await {
            Err(ClientError::Connect { message, .. }) => {
                assert!(message.contains("certificate"), "{scheme}: {message}")
            }
            other => panic!("{scheme}: expected a handshake failure, got {other:?}"),
        }
        let insecure = TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        };
        let (c, _) = Client::connect(opts(&url, "insecure", ProtocolVersion::V5, insecure))
            .await
            .unwrap_or_else(|e| panic!("{scheme} insecure: {e}"));
        c.disconnect().await.unwrap();
        // A name the certificate does not carry: refused, unless only the name check is off;
        // the wrong CA stays refused then.
        let other_name = TlsOptions {
            server_name: Some("other.example".into()),
            ..pki.trust()
        };
        assert!(
            Client::connect(opts(&url, "name", ProtocolVersion::V5, other_name.clone()))
                .await
                .is_err(),
            "{scheme}: a certificate for another name was accepted"
        );
        let skip = TlsOptions {
            skip_hostname_check: true,
            ..other_name
        };
        let (c, _) = Client::connect(opts(&url, "skip", ProtocolVersion::V5, skip.clone()))
            .await
            .unwrap_or_else(|e| panic!("{scheme} skip_hostname_check: {e}"));
        c.disconnect().await.unwrap();
        let skip_wrong_ca = TlsOptions {
            ca_file: Some(pki.other_ca.clone()),
            ..skip
        };
        assert!(
            Client::connect(opts(&url, "skip-ca", ProtocolVersion::V5, skip_wrong_ca))
                .await
                .is_err(),
            "{scheme}: skip_hostname_check accepted an unknown CA"
        );
        for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
            let tls = TlsOptions {
                version: Some(version),
                ..pki.trust()
            };
            let (c, _) = Client::connect(opts(&url, "version", ProtocolVersion::V5, tls))
                .await
                .unwrap_or_else(|e| panic!("{scheme} {version:?}: {e}"));
            c.disconnect().await.unwrap();
        }
    }
}

/// QUIC checks the server as TLS does: an unknown CA is refused, `insecure` accepts it, another
/// name is refused; TLS 1.2 alone is a typed error before dialling (QUIC carries TLS 1.3 only).
#[tokio::test]
async fn quic_trust_and_version() {
    let pki = Pki::new("quic-trust");
    let b = start(&pki, false).await;
    let url = b.url("quic");
    let wrong_ca = TlsOptions {
        ca_file: Some(pki.other_ca.clone()),
        ..TlsOptions::default()
    };
    match Client::connect(opts(&url, "q-wrong-ca", ProtocolVersion::V5, wrong_ca)).await {
        Err(ClientError::Connect { message, .. }) => {
            assert!(message.contains("certificate"), "{message}")
        }
        other => panic!("expected a handshake failure, got {other:?}"),
    }
    let insecure = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    let (c, _) = Client::connect(opts(&url, "q-insecure", ProtocolVersion::V5, insecure))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    let other_name = TlsOptions {
        server_name: Some("other.example".into()),
        ..pki.trust()
    };
    assert!(
        Client::connect(opts(&url, "q-name", ProtocolVersion::V5, other_name))
            .await
            .is_err(),
        "a certificate for another name was accepted"
    );
    let tls12 = TlsOptions {
        version: Some(TlsVersion::Tls12),
        ..pki.trust()
    };
    match Client::connect(opts(&url, "q-12", ProtocolVersion::V5, tls12)).await {
        Err(ClientError::Tls(TlsConfigError::Version(v))) => assert!(v.contains("QUIC"), "{v}"),
        other => panic!("expected a version error, got {other:?}"),
    }
}

/// Unusable TLS files are a typed error before anything is dialled (the port here is closed).
#[tokio::test]
async fn bad_tls_files_fail_before_dialling() {
    let pki = Pki::new("bad");
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let tls = TlsOptions {
        ca_file: Some(garbage.clone()),
        ..TlsOptions::default()
    };
    let o = ClientOptions::new("127.0.0.1", 1, "bad")
        .with_transport(Transport::Wss {
            path: "/mqtt".into(),
        })
        .with_reconnect(ReconnectPolicy::disabled())
        .with_tls(tls);
    match Client::connect(o).await {
        Err(ClientError::Tls(TlsConfigError::Pem { path, .. })) => assert_eq!(path, garbage),
        other => panic!("expected a PEM error naming the file, got {other:?}"),
    }
    let tls = TlsOptions {
        key: Some(pki.client_key.clone()),
        ..pki.trust()
    };
    let o = ClientOptions::new("127.0.0.1", 1, "bad")
        .with_transport(Transport::Tls)
        .with_reconnect(ReconnectPolicy::disabled())
        .with_tls(tls);
    assert!(matches!(
        Client::connect(o).await,
        Err(ClientError::Tls(TlsConfigError::CertWithoutKey))
    ));
}
