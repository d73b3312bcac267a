//! Client-role runs end to end: the reference client passes every client-role scenario; a
//! deliberately broken client (a raw-socket fake that reuses a packet identifier in flight and
//! never sends PINGREQ) is caught by the matching scenarios, proof that the checks can fail; and
//! the `mosquitto`, `paho` and `mqttjs` adapters' happy paths, when their clients are installed
//! (`.ci/run` installs them).

use scenarios::adapter::{ClientAdapter, DrivenClient, Event, Op, Session, Unsupported};
use scenarios::run::RunOptions;
use scenarios::{Outcome, RunReport, Version};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn outcome(report: &RunReport, name: &str) -> Outcome {
    report
        .scenarios
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} did not run"))
        .outcome
}

async fn run(adapter: Arc<dyn ClientAdapter>, only: &[&str]) -> RunReport {
    let mut opts = RunOptions::for_client(adapter);
    opts.only = only.iter().map(|s| s.to_string()).collect();
    opts.progress = false;
    scenarios::run(&opts).await.expect("the run starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_client_passes_every_client_scenario() {
    let report = run(Arc::new(scenarios::adapter::mqttref::Mqttref), &[]).await;
    let bad: Vec<String> = report
        .scenarios
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| {
            format!(
                "{} {}: expected {:?}; got {:?}; {:?}",
                r.outcome.as_str(),
                r.name,
                r.expected,
                r.got,
                r.skip_reason
            )
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(report.scenarios.len() >= 30);
}

/// A client that connects and subscribes properly, then gives every PUBLISH packet identifier 1
/// (even while an earlier one is unacknowledged) and never sends PINGREQ.
#[derive(Debug)]
struct Broken;

struct BrokenClient {
    ops: mpsc::UnboundedSender<Op>,
    events: mpsc::UnboundedReceiver<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BrokenClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DrivenClient for BrokenClient {
    fn perform(&mut self, op: Op) -> Result<(), Unsupported> {
        let _ = self.ops.send(op);
        Ok(())
    }
    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<Event> {
        &mut self.events
    }
}

impl ClientAdapter for Broken {
    fn name(&self) -> String {
        "broken".into()
    }

    fn start(&self, session: Session) -> Result<Box<dyn DrivenClient>, Unsupported> {
        use raw_client::{build, ProtocolVersion, RawClient};
        let c = session.connect.clone();
        let version = match c.version {
            Version::V5_0 => ProtocolVersion::V5,
            Version::V3_1_1 => ProtocolVersion::V3_1_1,
        };
        let (ops_tx, mut ops) = mpsc::unbounded_channel();
        let (_events_tx, events) = mpsc::unbounded_channel();
        if let Some(op) = session.first {
            let _ = ops_tx.send(op);
        }
        let task = tokio::spawn(async move {
            let addr = format!("{}:{}", c.host, c.port);
            let Ok(mut raw) = RawClient::connect_tcp(&addr, version, "broken").await else {
                return;
            };
            let connect = build::Connect::new(version, &c.client_id)
                .keep_alive(c.keep_alive)
                .clean_start(c.clean_start);
            let _ = raw.send_bytes(&connect.build()).await;
            let _ = raw.recv(Duration::from_secs(2)).await; // CONNACK
            while let Some(op) = ops.recv().await {
                let bytes = match op {
                    Op::Publish {
                        topic,
                        payload,
                        qos,
                        retain,
                    } => {
                        let mut p = build::Publish::new(version, topic, payload)
                            .qos(qos)
                            .retain(retain);
                        if qos > 0 {
                            p = p.packet_id(1); // the defect: always id 1
                        }
                        p.build()
                    }
                    Op::Subscribe { filter, qos } => build::Subscribe::new(version, 1)
                        .filter(filter, qos)
                        .build(),
                    Op::Unsubscribe { filter } => {
                        build::Unsubscribe::new(version, 2).filter(filter).build()
                    }
                    Op::Disconnect => build::Disconnect::new(version).build(),
                };
                let _ = raw.send_bytes(&bytes).await;
            }
            std::future::pending::<()>().await;
        });
        Ok(Box::new(BrokenClient {
            ops: ops_tx,
            events,
            task,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_client_is_caught() {
    let report = run(
        Arc::new(Broken),
        &[
            "v5.client.qos1_ids_unique_in_flight",
            "v311.client.qos1_ids_unique_in_flight",
            "v5.client.server_keep_alive_used",
        ],
    )
    .await;
    for name in [
        "v5.client.qos1_ids_unique_in_flight",
        "v311.client.qos1_ids_unique_in_flight",
        "v5.client.server_keep_alive_used",
    ] {
        assert_eq!(outcome(&report, name), Outcome::Fail, "{name}");
    }
    let r = report
        .scenarios
        .iter()
        .find(|r| r.name == "v5.client.qos1_ids_unique_in_flight")
        .unwrap();
    assert!(
        r.evidence.iter().any(|e| e.label == "server"),
        "the scripted server's transcript is evidence"
    );
    assert!(report.any_failed());
}

/// The `mosquitto` adapter drives mosquitto_sub: CONNECT and a QoS 1 delivery, both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mosquitto_adapter_happy_path() {
    if !std::path::Path::new("/usr/bin/mosquitto_sub").exists() {
        eprintln!("mosquitto_sub is not installed: the mosquitto adapter test does nothing");
        return;
    }
    let adapter = scenarios::adapter::resolve("mosquitto").unwrap();
    let report = run(
        adapter,
        &[
            "v5.client.connect_first_and_well_formed",
            "v311.client.qos1_receiver_acks",
        ],
    )
    .await;
    for r in &report.scenarios {
        assert_eq!(
            r.outcome,
            Outcome::Pass,
            "{}: {:?} {:?}",
            r.name,
            r.expected,
            r.got
        );
    }
    // A second operation on a one-process session is skipped with the reason, not passed.
    let adapter = scenarios::adapter::resolve("mosquitto").unwrap();
    let report = run(adapter, &["v5.client.qos1_ids_unique_in_flight"]).await;
    let r = &report.scenarios[0];
    assert_eq!(r.outcome, Outcome::Skipped);
    assert!(r
        .skip_reason
        .as_deref()
        .is_some_and(|s| s.contains("one operation per process")));
}

/// The JSON line protocol end to end: an adapter file naming a process (the reference client
/// behind `mqttref-line-adapter`) passes scenarios that need several operations on one session
/// and a reconnection, and one a version it declares unsupported is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_protocol_adapter() {
    let dir = std::env::temp_dir().join(format!("mqttref-line-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("adapter.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"line\"\nprocess = [{:?}]\n[unsupported]\n\"3.1.1\" = \"not in this test\"\n",
            env!("CARGO_BIN_EXE_mqttref-line-adapter")
        ),
    )
    .unwrap();
    let adapter = scenarios::adapter::resolve(file.to_str().unwrap()).unwrap();
    let report = run(
        adapter,
        &[
            "v5.client.qos1_ids_unique_in_flight",
            "v5.client.qos1_resent_on_resume",
            "v5.client.qos1_resent_with_dup",
            "v5.client.qos2_receiver_exactly_once",
            "v5.client.disconnect_then_close",
            "v311.client.connect_first_and_well_formed",
        ],
    )
    .await;
    for r in &report.scenarios {
        let want = if r.name.starts_with("v311.") {
            Outcome::Skipped
        } else {
            Outcome::Pass
        };
        assert_eq!(
            r.outcome, want,
            "{}: {:?} {:?} {:?}",
            r.name, r.expected, r.got, r.skip_reason
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `paho` and `mqttjs` adapters (scripts wrapping paho-mqtt for Python and MQTT.js, see
/// `CLIENTS.md`): CONNECT, deliveries at QoS 1 and 2, several publishes in flight on one
/// session, a resend after a reconnection, DISCONNECT, in both versions. Each runs when its
/// library is installed beside its script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_adapters_happy_paths() {
    let adapters = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters");
    for (name, installed) in [
        ("paho", "paho/vendor/paho"),
        ("mqttjs", "mqttjs/node_modules/mqtt"),
    ] {
        if !adapters.join(installed).exists() {
            eprintln!("{installed} is not installed: the {name} adapter test does nothing");
            continue;
        }
        let adapter = scenarios::adapter::resolve(name).unwrap();
        let report = run(
            adapter,
            &[
                "v5.client.connect_first_and_well_formed",
                "v311.client.connect_first_and_well_formed",
                "v5.client.qos1_receiver_acks",
                "v311.client.qos2_receiver_exactly_once",
                "v5.client.qos1_ids_unique_in_flight",
                "v311.client.qos1_resent_on_resume",
                "v5.client.disconnect_then_close",
                "v311.client.disconnect_then_close",
            ],
        )
        .await;
        assert_eq!(report.scenarios.len(), 8, "{name}");
        for r in &report.scenarios {
            assert_eq!(
                r.outcome,
                Outcome::Pass,
                "{name} {}: {:?} {:?}",
                r.name,
                r.expected,
                r.got
            );
        }
    }
}
