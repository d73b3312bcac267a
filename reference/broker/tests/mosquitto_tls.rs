//! Interoperability over TLS with the real Mosquitto command-line clients: `mosquitto_pub` and
//! `mosquitto_sub` (OpenSSL underneath) against the broker's `mqtts://` listener, trusting an
//! rcgen CA with `--cafile`, and presenting a client certificate (`--cert`/`--key`) to a
//! listener that requires one. Skipped, with the reason printed, when the binaries are missing.

mod pki;

use std::process::Stdio;
use std::time::Duration;

use mqttref_broker::{Broker, BrokerConfig, Transport};
use pki::Pki;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

fn have_mosquitto() -> bool {
    let found = |bin: &str| {
        std::process::Command::new(bin)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let ok = found("mosquitto_pub") && found("mosquitto_sub");
    if !ok {
        eprintln!("skipping: mosquitto_pub / mosquitto_sub not installed");
    }
    ok
}

/// The broker on an `mqtts://` listener; returns its port and the stop handle.
async fn start(config: BrokerConfig) -> (u16, oneshot::Sender<()>) {
    let broker = Broker::bind(config).await.expect("bind");
    let port = broker
        .endpoints()
        .iter()
        .find(|e| e.transport == Transport::Mqtts)
        .expect("mqtts listener")
        .addr
        .port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(broker.run(async {
        let _ = stopped.await;
    }));
    (port, stop)
}

/// `-h localhost` (the name the server certificate carries), the port, `--cafile` and `tls`.
fn tls_args(port: u16, pki: &Pki, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "-h".into(),
        "localhost".into(),
        "-p".into(),
        port.to_string(),
        "--cafile".into(),
        pki.ca.to_str().unwrap().into(),
    ];
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

fn sub(args: &[String], version: &str, topic: &str, qos: &str) -> Child {
    Command::new("mosquitto_sub")
        .args(args)
        .args([
            "-V", version, "-t", topic, "-q", qos, "-C", "1", "-W", "10", "-v",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mosquitto_sub")
}

async fn publish(args: &[String], version: &str, topic: &str, qos: &str) -> std::process::Output {
    Command::new("mosquitto_pub")
        .args(args)
        .args(["-V", version, "-t", topic, "-q", qos, "-m", "over-tls"])
        .output()
        .await
        .expect("run mosquitto_pub")
}

/// Publishes every 200 ms until `sub` (`-C 1`) exits; returns its stdout.
async fn until_received(
    mut sub: Child,
    args: &[String],
    version: &str,
    topic: &str,
    qos: &str,
) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = sub.try_wait().expect("wait") {
            let out = sub.wait_with_output().await.expect("output");
            assert!(
                status.success(),
                "mosquitto_sub failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "mosquitto_sub got nothing"
        );
        let out = publish(args, version, topic, qos).await;
        assert!(
            out.status.success(),
            "mosquitto_pub failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `mosquitto_sub` and `mosquitto_pub` with `--cafile`, both versions, QoS 0-2, TLS 1.2 and
/// 1.3.
#[tokio::test]
async fn mosquitto_clients_with_cafile() {
    if !have_mosquitto() {
        return;
    }
    let pki = Pki::new("mosquitto-cafile");
    let (port, _stop) = start(pki.config(&["mqtts://127.0.0.1:0"])).await;
    for tls_version in ["tlsv1.3", "tlsv1.2"] {
        let args = tls_args(port, &pki, &["--tls-version", tls_version]);
        for version in ["mqttv5", "mqttv311"] {
            for qos in ["0", "1", "2"] {
                let topic = format!("interop-tls/{tls_version}/{version}/{qos}");
                let s = sub(&args, version, &topic, qos);
                let out = until_received(s, &args, version, &topic, qos).await;
                assert_eq!(
                    out,
                    format!("{topic} over-tls\n"),
                    "{tls_version} {version}"
                );
            }
        }
    }
    // A CA that did not sign the server's certificate: mosquitto_pub fails.
    let other = Pki::new("mosquitto-other");
    let out = publish(&tls_args(port, &other, &[]), "mqttv5", "x", "0").await;
    assert!(!out.status.success(), "mosquitto_pub trusted an unknown CA");
}

/// Mutual TLS: the listener requires a client certificate; `mosquitto_pub`/`sub` present one
/// with `--cert`/`--key`, and without one `mosquitto_pub` is refused.
#[tokio::test]
async fn mosquitto_clients_with_client_certificates() {
    if !have_mosquitto() {
        return;
    }
    let pki = Pki::new("mosquitto-mtls");
    let config = BrokerConfig {
        cafile: Some(pki.ca.clone()),
        require_certificate: true,
        ..pki.config(&["mqtts://127.0.0.1:0"])
    };
    let (port, _stop) = start(config).await;
    let cert = pki.client_cert.to_str().unwrap().to_owned();
    let key = pki.client_key.to_str().unwrap().to_owned();
    let args = tls_args(port, &pki, &["--cert", &cert, "--key", &key]);
    for version in ["mqttv5", "mqttv311"] {
        let topic = format!("interop-mtls/{version}");
        let s = sub(&args, version, &topic, "1");
        let out = until_received(s, &args, version, &topic, "1").await;
        assert_eq!(out, format!("{topic} over-tls\n"));
    }
    let out = publish(&tls_args(port, &pki, &[]), "mqttv5", "x", "1").await;
    assert!(
        !out.status.success(),
        "mosquitto_pub connected without a client certificate"
    );
}
