//! Interoperability with a third-party client over QUIC and WebSocket: the `mqttv5` CLI
//! (mqttv5-cli 0.29, `cargo install mqttv5-cli`) publishes to and subscribes from the reference
//! broker over `quic://` and `ws://`, with the reference client on the other end.
//!
//! The binary is looked for in `$XTASK_PEERS_DIR/bin` and `target/peers/bin` (where
//! `cargo xtask bench` and `.ci/run` install it). Without it the tests say so and pass: the
//! install takes minutes, so a developer need not have it; CI always installs it, and under
//! `CI=true` a missing binary fails the test.

mod pki;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mqttref_broker::{Broker, Endpoint, Transport};
use mqttref_client::{Client, ClientOptions, QoS, ReconnectPolicy};
use pki::Pki;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::oneshot;

const T: Duration = Duration::from_secs(15);

/// The `mqttv5` binary, or `None` with a line saying where it was looked for.
fn mqttv5() -> Option<PathBuf> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dirs: Vec<PathBuf> = std::env::var_os("XTASK_PEERS_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([workspace.join("target/peers")])
        .collect();
    let found = dirs
        .iter()
        .map(|d| d.join("bin/mqttv5"))
        .find(|b| b.is_file());
    if found.is_none() {
        let msg = format!(
            "the mqttv5 CLI is not in {} (install: cargo install --root target/peers \
             mqttv5-cli --version 0.29.10)",
            dirs.iter()
                .map(|d| d.join("bin").display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipping: {msg}");
    }
    found
}

struct Running {
    endpoints: Vec<Endpoint>,
    _stop: oneshot::Sender<()>,
}

impl Running {
    /// The URL of the listener of `t`, host `localhost` (the certificate's name).
    fn url(&self, t: Transport) -> String {
        let e = self
            .endpoints
            .iter()
            .find(|e| e.transport == t)
            .expect("listener");
        format!(
            "{}://localhost:{}{}",
            t.scheme(),
            e.addr.port(),
            e.path.as_deref().unwrap_or("")
        )
    }
}

async fn start(pki: &Pki) -> Running {
    let config = pki.config(&["quic://127.0.0.1:0", "ws://127.0.0.1:0/mqtt"]);
    let broker = Broker::bind(config).await.expect("bind");
    let endpoints = broker.endpoints();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(broker.run(async {
        let _ = stopped.await;
    }));
    Running {
        endpoints,
        _stop: stop,
    }
}

/// `mqttv5 <args>` with the transport's TLS arguments, output captured.
fn command(bin: &PathBuf, pki: &Pki, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .args(["--url", url, "--non-interactive"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if url.starts_with("quic://") {
        c.arg("--ca-cert").arg(&pki.ca);
    }
    c
}

/// Over each transport: `mqttv5 sub` receives what the reference client publishes (QoS 1), and
/// the reference client receives what `mqttv5 pub` publishes (QoS 2), each exactly once.
#[tokio::test]
async fn mqttv5_cli_over_quic_and_websocket() {
    let Some(bin) = mqttv5() else { return };
    let pki = Pki::new("mqttv5-cli");
    let b = start(&pki).await;
    for t in [Transport::Quic, Transport::Ws] {
        let url = b.url(t);
        let scheme = t.scheme();
        let mut opts = ClientOptions::from_url(&url, format!("ref-{scheme}"))
            .unwrap()
            .with_reconnect(ReconnectPolicy::disabled());
        opts.tls.ca_file = Some(pki.ca.clone());
        let (client, mut incoming) = Client::connect(opts).await.unwrap();

        // mqttv5 subscribes; the reference client publishes once it is subscribed.
        let topic = format!("interop/{scheme}/to-mqttv5");
        let mut sub = command(
            &bin,
            &pki,
            &url,
            &["sub", "-t", &topic, "-q", "1", "-n", "1"],
        )
        .spawn()
        .unwrap();
        let mut lines = BufReader::new(sub.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        tokio::time::timeout(T, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let subscribed = line.contains("Subscribed");
                seen.push(line);
                if subscribed {
                    return;
                }
            }
            panic!("{scheme}: mqttv5 sub ended before subscribing: {seen:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("{scheme}: mqttv5 sub did not subscribe in time"));
        client
            .publish(
                topic.as_str(),
                format!("from mqttref over {scheme}"),
                QoS::AtLeastOnce,
                false,
                Default::default(),
            )
            .await
            .unwrap();
        let mut rest = Vec::new();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(T, lines.next_line()).await {
            rest.push(line);
        }
        let status = tokio::time::timeout(T, sub.wait())
            .await
            .expect("mqttv5 sub exits after one message")
            .unwrap();
        assert!(status.success(), "{scheme}: mqttv5 sub: {status}: {rest:?}");
        assert_eq!(
            rest.iter()
                .filter(|l| l.contains(&format!("from mqttref over {scheme}")))
                .count(),
            1,
            "{scheme}: {rest:?}"
        );

        // The reference client subscribes; mqttv5 publishes.
        let topic = format!("interop/{scheme}/from-mqttv5");
        client
            .subscribe_one(topic.as_str(), QoS::ExactlyOnce)
            .await
            .unwrap();
        let payload = format!("from mqttv5 over {scheme}");
        let out = command(
            &bin,
            &pki,
            &url,
            &["pub", "-t", &topic, "-m", &payload, "-q", "2"],
        )
        .output()
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{scheme}: mqttv5 pub: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let m = tokio::time::timeout(T, incoming.recv())
            .await
            .expect("the message in time")
            .expect("client running");
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice()),
            (topic.as_str(), payload.as_bytes())
        );
        assert_eq!(m.qos, QoS::ExactlyOnce);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), incoming.recv())
                .await
                .is_err(),
            "{scheme}: a duplicate"
        );
        client.disconnect().await.unwrap();
    }
}
