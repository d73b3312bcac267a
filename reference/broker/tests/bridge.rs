//! Bridges over real sockets: the reference broker bridged out to Mosquitto, in from Mosquitto
//! (3.1.1 with `try_private`), two reference brokers bridged both ways without a loop, and a
//! bridge that outlives a restart of its remote without losing acknowledged QoS 1 messages.
//! Bad `[[bridge]]` tables are typed errors naming the bridge.
//!
//! The Mosquitto tests skip (with a message) when `mosquitto` is not installed; CI installs it.

mod common;
mod pki;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{start, Running};
use mqttref_broker::{bridge::BridgeConfig, BrokerConfig, ConfigError};
use mqttref_client::{Client, ClientOptions, Incoming, PublishProperties, QoS};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Mosquitto on a port of its own, with an optional persistence directory.
struct Mosquitto {
    child: tokio::process::Child,
}

impl Mosquitto {
    fn available() -> bool {
        let ok = Path::new(MOSQUITTO).exists();
        if !ok {
            eprintln!("skipping: {MOSQUITTO} not installed");
        }
        ok
    }

    async fn start(port: u16, dir: &Path, persistence: bool) -> Mosquitto {
        std::fs::create_dir_all(dir).expect("dir");
        // Started as root it drops to its own user: the directory must be writable by it.
        let _ = std::process::Command::new("chmod")
            .arg("777")
            .arg(dir)
            .status();
        let mut conf = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
        if persistence {
            conf.push_str(&format!(
                "persistence true\npersistence_location {}/\nautosave_interval 1\n",
                dir.display()
            ));
        }
        let path = dir.join("mosquitto.conf");
        std::fs::write(&path, conf).expect("conf");
        let log = std::fs::File::create(dir.join(format!("log-{}", now_ms()))).expect("log");
        let child = tokio::process::Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mosquitto");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Mosquitto { child }
    }

    /// SIGTERM, so it saves its persistence file, and waits for it to exit.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mqttref-bridge-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A reference broker with the bridges of `toml` (their `remote` filled in by the caller).
async fn broker_with(bridges: &str) -> Running {
    let config = BrokerConfig::from_toml(bridges, Path::new("bridge.toml")).expect("config");
    start(config).await
}

async fn client(port: u16, id: &str) -> (Client, Incoming) {
    Client::connect(ClientOptions::new("127.0.0.1", port, id))
        .await
        .expect("connect")
}

async fn publish(c: &Client, topic: &str, payload: &str) {
    let o = c
        .publish(
            topic,
            payload,
            QoS::AtLeastOnce,
            false,
            PublishProperties::default(),
        )
        .await
        .expect("publish");
    assert!(o.is_success(), "{o:?}");
}

/// Publishes `probe` on `topic` every 100 ms until `incoming` has a message, so the bridge's
/// subscriptions are known to be in place; returns what arrived.
async fn until_bridged(pubc: &Client, topic: &str, incoming: &mut Incoming) -> String {
    for _ in 0..100 {
        publish(pubc, topic, "probe").await;
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), incoming.recv()).await
        {
            return m.topic;
        }
    }
    panic!("nothing crossed the bridge in 10 s");
}

/// Every message that arrives until none has for `quiet`, probes left out.
async fn drain(incoming: &mut Incoming, quiet: Duration) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, incoming.recv()).await {
        let payload = String::from_utf8_lossy(&m.payload).into_owned();
        if payload != "probe" {
            got.push((m.topic, payload));
        }
    }
    got
}

/// `out`: what is published on the reference broker arrives at Mosquitto under the remote
/// prefix, once each, in order.
#[tokio::test]
async fn out_to_mosquitto_with_prefix() {
    if !Mosquitto::available() {
        return;
    }
    let dir = temp_dir("out");
    let port = free_port();
    let mosq = Mosquitto::start(port, &dir, false).await;
    let (msub, mut min) = client(port, "m-sub").await;
    msub.subscribe_one("site1/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let a = broker_with(&format!(
        "[[bridge]]\nname = \"up\"\nremote = \"mqtt://127.0.0.1:{port}\"\nreconnect_initial_ms = 100\n\
         topics = [{{ filter = \"sensors/#\", direction = \"out\", qos = 1, remote_prefix = \"site1/\" }}]\n"
    ))
    .await;
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    let probe_topic = until_bridged(&apub, "sensors/probe", &mut min).await;
    assert_eq!(probe_topic, "site1/sensors/probe");
    for i in 0..5 {
        publish(&apub, &format!("sensors/t{i}"), &format!("v{i}")).await;
    }
    // Not mapped: stays here.
    publish(&apub, "other/t", "no").await;
    let got = drain(&mut min, Duration::from_millis(700)).await;
    let want: Vec<(String, String)> = (0..5)
        .map(|i| (format!("site1/sensors/t{i}"), format!("v{i}")))
        .collect();
    assert_eq!(got, want);
    a.stop().await;
    mosq.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// `in` over 3.1.1 with `try_private`: what is published on Mosquitto under the remote prefix
/// arrives here under the local prefix; and with `both`, what the bridge itself publishes at
/// Mosquitto is not echoed back (Mosquitto honours the 0x84 bridge mark), so a message
/// published here once is delivered here once.
#[tokio::test]
async fn in_from_mosquitto_311_try_private_without_echo() {
    if !Mosquitto::available() {
        return;
    }
    let dir = temp_dir("in");
    let port = free_port();
    let mosq = Mosquitto::start(port, &dir, false).await;
    let a = broker_with(&format!(
        "[[bridge]]\nname = \"down\"\nremote = \"mqtt://127.0.0.1:{port}\"\nversion = \"3.1.1\"\n\
         reconnect_initial_ms = 100\n\
         topics = [{{ filter = \"cmd/#\", direction = \"in\", qos = 1, remote_prefix = \"site1/\", local_prefix = \"from-hq/\" }},\n\
                   {{ filter = \"chat/#\", direction = \"both\", qos = 1 }}]\n"
    ))
    .await;
    let (asub, mut ain) = client(a.addr.port(), "a-sub").await;
    asub.subscribe_one("#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let (mpub, _) = client(port, "m-pub").await;
    let probe_topic = until_bridged(&mpub, "site1/cmd/probe", &mut ain).await;
    assert_eq!(probe_topic, "from-hq/cmd/probe");
    publish(&mpub, "site1/cmd/go", "1").await;
    publish(&mpub, "site1/cmd/go", "1").await;
    let got = drain(&mut ain, Duration::from_millis(700)).await;
    let go = ("from-hq/cmd/go".to_owned(), "1".to_owned());
    assert_eq!(
        got,
        vec![go.clone(), go],
        "a repeated message arrives each time"
    );

    // `both`: wait until the chat mapping works from Mosquitto, then publish here.
    let (msub, mut min) = client(port, "m-sub").await;
    msub.subscribe_one("chat/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let _ = until_bridged(&mpub, "chat/probe", &mut ain).await;
    let _ = drain(&mut min, Duration::from_millis(300)).await;
    let _ = drain(&mut ain, Duration::from_millis(300)).await;
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    publish(&apub, "chat/x", "hello").await;
    let here = drain(&mut ain, Duration::from_millis(800)).await;
    let there = drain(&mut min, Duration::from_millis(100)).await;
    let hello = vec![("chat/x".to_owned(), "hello".to_owned())];
    assert_eq!(here, hello, "delivered here once: no echo from Mosquitto");
    assert_eq!(there, hello, "delivered at Mosquitto once");
    a.stop().await;
    mosq.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Two reference brokers, a `both` bridge from A to B (5.0, No Local on both sides): a message
/// published once on either side arrives once on each side, and a message published twice
/// identically arrives twice on each side.
#[tokio::test]
async fn reference_both_ways_without_loop() {
    let b = start(BrokerConfig::default()).await;
    let a = broker_with(&format!(
        "[[bridge]]\nname = \"peer\"\nremote = \"mqtt://{}\"\nreconnect_initial_ms = 100\n\
         topics = [{{ filter = \"chat/#\", direction = \"both\", qos = 1 }}]\n",
        b.addr
    ))
    .await;
    let (asub, mut ain) = client(a.addr.port(), "a-sub").await;
    asub.subscribe_one("chat/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let (bsub, mut bin) = client(b.addr.port(), "b-sub").await;
    bsub.subscribe_one("chat/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    let (bpub, _) = client(b.addr.port(), "b-pub").await;
    // Both directions are up once a probe crossed each way.
    let _ = until_bridged(&apub, "chat/probe", &mut bin).await;
    let _ = until_bridged(&bpub, "chat/probe", &mut ain).await;
    let _ = drain(&mut ain, Duration::from_millis(300)).await;
    let _ = drain(&mut bin, Duration::from_millis(300)).await;

    publish(&apub, "chat/a", "from-a").await;
    publish(&bpub, "chat/b", "from-b").await;
    publish(&apub, "chat/same", "again").await;
    publish(&apub, "chat/same", "again").await;
    let mut on_a = drain(&mut ain, Duration::from_millis(800)).await;
    let mut on_b = drain(&mut bin, Duration::from_millis(100)).await;
    on_a.sort();
    on_b.sort();
    let want: Vec<(String, String)> = [
        ("chat/a", "from-a"),
        ("chat/b", "from-b"),
        ("chat/same", "again"),
        ("chat/same", "again"),
    ]
    .iter()
    .map(|(t, p)| ((*t).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(on_a, want, "on A");
    assert_eq!(on_b, want, "on B");
    a.stop().await;
    b.stop().await;
}

/// The remote (Mosquitto, with persistence) stops; QoS 1 messages published here meanwhile
/// are acknowledged here; when it is back the bridge reconnects, resumes its session and
/// delivers every one of them to a persistent subscriber there.
#[tokio::test]
async fn reconnects_after_remote_restart_without_losing_acknowledged_qos1() {
    if !Mosquitto::available() {
        return;
    }
    let dir = temp_dir("restart");
    let port = free_port();
    let mosq = Mosquitto::start(port, &dir, true).await;
    let sub_options = || {
        ClientOptions::new("127.0.0.1", port, "m-persistent")
            .with_clean_start(false)
            .with_session_expiry(3600)
    };
    let (msub, mut min) = Client::connect(sub_options()).await.expect("connect");
    msub.subscribe_one("site1/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let a = broker_with(&format!(
        "[[bridge]]\nname = \"up\"\nremote = \"mqtt://127.0.0.1:{port}\"\n\
         reconnect_initial_ms = 100\nreconnect_max_ms = 500\nkeep_alive = 2\n\
         topics = [{{ filter = \"r/#\", direction = \"out\", qos = 1, remote_prefix = \"site1/\" }}]\n"
    ))
    .await;
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    let _ = until_bridged(&apub, "r/probe", &mut min).await;
    let _ = drain(&mut min, Duration::from_millis(300)).await;
    msub.disconnect().await.expect("disconnect");
    drop(min);
    mosq.stop().await;

    // The remote is down: every publish is still acknowledged here.
    for i in 0..10 {
        publish(&apub, &format!("r/m{i}"), &format!("{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mosq = Mosquitto::start(port, &dir, true).await;
    let (_msub, mut min) = Client::connect(sub_options()).await.expect("reconnect");
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 10 {
        match tokio::time::timeout_at(deadline, min.recv()).await {
            Ok(Some(m)) => {
                let p = String::from_utf8_lossy(&m.payload).into_owned();
                if p != "probe" && !got.contains(&(m.topic.clone(), p.clone())) {
                    got.push((m.topic, p));
                }
            }
            _ => break,
        }
    }
    let want: Vec<(String, String)> = (0..10)
        .map(|i| (format!("site1/r/m{i}"), format!("{i}")))
        .collect();
    assert_eq!(got, want, "every acknowledged message, in order");
    a.stop().await;
    mosq.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn bridge_error(toml_text: &str) -> String {
    match BrokerConfig::from_toml(toml_text, Path::new("b.toml")) {
        Err(e @ ConfigError::Bridge { .. }) => e.to_string(),
        other => panic!("expected a bridge error, got {other:?}"),
    }
}

/// A bad URL, an unknown direction, a bad filter, a wildcard prefix, a missing local user
/// where anonymous clients are refused: each a typed error naming the file, the bridge and
/// the field; `Broker::bind` refuses the same for a configuration built in code.
#[tokio::test]
async fn bad_bridge_config_is_a_typed_error_naming_the_bridge() {
    let t = |name: &str, remote: &str, topic: &str| {
        format!("[[bridge]]\nname = \"{name}\"\nremote = \"{remote}\"\ntopics = [{topic}]\n")
    };
    let ok = "{ filter = \"a/#\", direction = \"out\" }";
    let e = bridge_error(&t("up", "http://h:1", ok));
    assert!(e.starts_with("b.toml: bridge `up`: remote: "), "{e}");
    let e = bridge_error(&t(
        "up",
        "mqtt://h:1",
        "{ filter = \"a/#\", direction = \"sideways\" }",
    ));
    assert_eq!(
        e,
        "b.toml: bridge `up`: topics[0].direction: `sideways`: must be in, out or both"
    );
    let e = bridge_error(&t(
        "x",
        "mqtt://h:1",
        "{ filter = \"a/#/b\", direction = \"in\" }",
    ));
    assert!(
        e.starts_with("b.toml: bridge `x`: topics[0].filter: "),
        "{e}"
    );
    let e = bridge_error(&t(
        "x",
        "mqtt://h:1",
        "{ filter = \"a\", direction = \"in\", local_prefix = \"+/\" }",
    ));
    assert!(e.contains("bridge `x`: topics[0].local_prefix"), "{e}");
    let e = bridge_error(&t(
        "x",
        "mqtt://h:1",
        "{ filter = \"a\", direction = \"in\", qos = 3 }",
    ));
    assert!(e.contains("bridge `x`: topics[0].qos: 3"), "{e}");
    let e = bridge_error(&format!(
        "{}{}",
        t("x", "mqtt://h:1", ok),
        t("x", "mqtt://h:2", ok)
    ));
    assert!(e.contains("bridge `x`: name: two bridges"), "{e}");
    let e = bridge_error(&format!(
        "password_file = \"p\"\n{}",
        t("x", "mqtt://h:1", ok)
    ));
    assert!(e.contains("bridge `x`: local_username"), "{e}");
    // A misspelt key in a bridge table is a parse error at its line.
    let err = BrokerConfig::from_toml(
        "[[bridge]]\nname = \"x\"\nremote = \"mqtt://h:1\"\nremot_prefix = \"a\"\ntopics = []\n",
        Path::new("b.toml"),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("b.toml:"), "{err}");
    assert!(err.to_string().contains("remot_prefix"), "{err}");

    let bridge: BridgeConfig = toml::from_str(
        "name = \"code\"\nremote = \"mqtt://h:1\"\ntopics = [{ filter = \"a\", direction = \"up\" }]\n",
    )
    .expect("parse");
    let config = BrokerConfig {
        listen: vec!["127.0.0.1:0".into()],
        bridges: vec![bridge],
        ..BrokerConfig::default()
    };
    let err = mqttref_broker::Broker::bind(config).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("bridge `code`: topics[0].direction"),
        "{err}"
    );
}

/// A 3.1.1 remote that refuses the `try_private` mark (the reference broker answers protocol
/// level 0x84 with return code 1) is dialled again as plain 3.1.1, and the bridge works.
#[tokio::test]
async fn try_private_refused_falls_back_to_plain_311() {
    let b = start(BrokerConfig::default()).await;
    let a = broker_with(&format!(
        "[[bridge]]\nname = \"old\"\nremote = \"mqtt://{}\"\nversion = \"3.1.1\"\n\
         reconnect_initial_ms = 100\n\
         topics = [{{ filter = \"up/#\", direction = \"out\", qos = 1, remote_prefix = \"a/\" }}]\n",
        b.addr
    ))
    .await;
    let (bsub, mut bin) = client(b.addr.port(), "b-sub").await;
    bsub.subscribe_one("a/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    let topic = until_bridged(&apub, "up/probe", &mut bin).await;
    assert_eq!(topic, "a/up/probe");
    publish(&apub, "up/x", "1").await;
    let got = drain(&mut bin, Duration::from_millis(500)).await;
    assert_eq!(got, vec![("a/up/x".to_owned(), "1".to_owned())]);
    a.stop().await;
    b.stop().await;
}

/// A long outage under load: far more QoS 1 messages than the bridge's local queue holds are
/// published while the remote is down, with a short `slow_subscriber_timeout_ms`. The
/// bridge's local session is exempt from the slow-subscriber cut, so the publisher is held
/// back (not the bridge's session ended, which would lose what it had queued), and every
/// acknowledged message arrives once the remote is up.
#[tokio::test]
async fn long_outage_holds_publishers_back_instead_of_losing_messages() {
    let port = free_port();
    let a = broker_with(&format!(
        "slow_subscriber_timeout_ms = 200\nmax_queued_messages = 50\n\
         [[bridge]]\nname = \"up\"\nremote = \"mqtt://127.0.0.1:{port}\"\n\
         reconnect_initial_ms = 1500\nreconnect_max_ms = 1500\nmax_inflight = 20\n\
         topics = [{{ filter = \"t/#\", direction = \"out\", qos = 1 }}]\n"
    ))
    .await;
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    let n = 1500u32;
    let publisher = tokio::spawn(async move {
        let mut acked = 0u32;
        let mut window = Vec::new();
        for i in 0..n {
            let msg = mqttref_client::OutgoingMessage::new("t/x", i.to_be_bytes().to_vec())
                .with_qos(QoS::AtLeastOnce);
            window.push(apub.publish_queued(msg).await.expect("queued"));
            if window.len() >= 50 || i + 1 == n {
                for p in window.drain(..) {
                    if p.await.is_ok_and(|o| o.is_success()) {
                        acked += 1;
                    }
                }
            }
        }
        acked
    });
    // The remote is up, its subscriber in place, but unreachable: the bridge dials `port`,
    // where nothing listens until the relay to the remote is started.
    let b = start(BrokerConfig::default()).await;
    let (bsub, mut bin) = client(b.addr.port(), "b-sub").await;
    bsub.subscribe_one("t/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    // The outage: longer than the slow-subscriber timeout many times over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let relay = relay(port, b.addr).await;
    let mut got = std::collections::BTreeSet::new();
    while (got.len() as u32) < n {
        match tokio::time::timeout(Duration::from_secs(10), bin.recv()).await {
            Ok(Some(m)) => {
                let v: [u8; 4] = m.payload.as_slice().try_into().expect("4 bytes");
                got.insert(u32::from_be_bytes(v));
            }
            _ => break,
        }
    }
    let acked = publisher.await.expect("publisher");
    assert_eq!(acked, n, "every publish acknowledged");
    assert_eq!(got.len() as u32, n, "every acknowledged message delivered");
    relay.abort();
    a.stop().await;
    b.stop().await;
}

/// Relays every connection to `port` on to `to`.
async fn relay(port: u16, to: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the relay");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

/// A bridge whose remote never answers does not hold the broker up: it serves its own
/// clients meanwhile, and shutdown completes well within the grace period.
#[tokio::test]
async fn unreachable_remote_neither_blocks_serving_nor_shutdown() {
    let port = free_port();
    let a = broker_with(&format!(
        "shutdown_grace_secs = 5\n[[bridge]]\nname = \"nowhere\"\n\
         remote = \"mqtt://127.0.0.1:{port}\"\nreconnect_initial_ms = 50\nreconnect_max_ms = 100\n\
         topics = [{{ filter = \"t/#\", direction = \"both\", qos = 1 }}]\n"
    ))
    .await;
    let (c, mut incoming) = client(a.addr.port(), "local").await;
    c.subscribe_one("t/#", QoS::AtLeastOnce).await.expect("sub");
    publish(&c, "t/x", "here").await;
    let m = tokio::time::timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("delivered locally")
        .expect("message");
    assert_eq!(m.payload, b"here");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = std::time::Instant::now();
    a.stop().await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

/// An `mqtts://` remote with mutual TLS: the bridge verifies the remote against `cafile` and
/// presents `cert` / `key`; messages cross as over TCP.
#[tokio::test]
async fn mqtts_remote_with_client_certificate() {
    let pki = pki::Pki::new("bridge");
    let mut config = pki.config(&["mqtt://127.0.0.1:0", "mqtts://127.0.0.1:0"]);
    config.cafile = Some(pki.ca.clone());
    config.require_certificate = true;
    let b = mqttref_broker::Broker::bind(config).await.expect("bind");
    let endpoints = b.endpoints();
    let (plain, tls) = (endpoints[0].addr, endpoints[1].addr);
    let (stop_b, stopped) = tokio::sync::oneshot::channel::<()>();
    let b_task = tokio::spawn(b.run(async {
        let _ = stopped.await;
    }));
    let (bsub, mut bin) = client(plain.port(), "b-sub").await;
    bsub.subscribe_one("tls/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let a = broker_with(&format!(
        "[[bridge]]\nname = \"secure\"\nremote = \"mqtts://{tls}\"\nreconnect_initial_ms = 100\n\
         cafile = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
         topics = [{{ filter = \"up/#\", direction = \"out\", qos = 1, remote_prefix = \"tls/\" }}]\n",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    ))
    .await;
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    let topic = until_bridged(&apub, "up/probe", &mut bin).await;
    assert_eq!(topic, "tls/up/probe");
    publish(&apub, "up/x", "sealed").await;
    let got = drain(&mut bin, Duration::from_millis(500)).await;
    assert_eq!(got, vec![("tls/up/x".to_owned(), "sealed".to_owned())]);
    a.stop().await;
    let _ = stop_b.send(());
    let _ = b_task.await;
    let _ = std::fs::remove_dir_all(&pki.dir);
}

/// The same over QUIC: a `quic://` remote with mutual TLS (cafile, cert, key).
#[tokio::test]
async fn quic_remote_with_client_certificate() {
    let pki = pki::Pki::new("bridge-quic");
    let mut config = pki.config(&["mqtt://127.0.0.1:0", "quic://127.0.0.1:0"]);
    config.cafile = Some(pki.ca.clone());
    config.require_certificate = true;
    let b = mqttref_broker::Broker::bind(config).await.expect("bind");
    let endpoints = b.endpoints();
    let (plain, quic) = (endpoints[0].addr, endpoints[1].addr);
    let (stop_b, stopped) = tokio::sync::oneshot::channel::<()>();
    let b_task = tokio::spawn(b.run(async {
        let _ = stopped.await;
    }));
    let (bsub, mut bin) = client(plain.port(), "b-sub").await;
    bsub.subscribe_one("quic/#", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let a = broker_with(&format!(
        "[[bridge]]\nname = \"quic\"\nremote = \"quic://{quic}\"\nreconnect_initial_ms = 100\n\
         cafile = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
         topics = [{{ filter = \"up/#\", direction = \"out\", qos = 1, remote_prefix = \"quic/\" }}]\n",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    ))
    .await;
    let (apub, _) = client(a.addr.port(), "a-pub").await;
    let topic = until_bridged(&apub, "up/probe", &mut bin).await;
    assert_eq!(topic, "quic/up/probe");
    publish(&apub, "up/x", "over quic").await;
    let got = drain(&mut bin, Duration::from_millis(500)).await;
    assert_eq!(got, vec![("quic/up/x".to_owned(), "over quic".to_owned())]);
    a.stop().await;
    let _ = stop_b.send(());
    let _ = b_task.await;
    let _ = std::fs::remove_dir_all(&pki.dir);
}
