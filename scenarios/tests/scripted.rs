//! The runner against scripted brokers: small TCP listeners in this test that play a broker by
//! bytes, each misbehaving in one way that real brokers do (amqtt's stray retained PUBLISHes, a
//! PUBLISH before the SUBACK, no CONNACK), to check that the verdicts blame the right thing.

use raw_client::build;
use raw_client::ProtocolVersion;
use scenarios::report::{self, Verdicts};
use scenarios::run::RunOptions;
use scenarios::target::TargetAddr;
use scenarios::{Closing, Ctx, Fail, Outcome, RunReport, Scenario, Verdict, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the scripted broker misbehaves.
#[derive(Debug, Clone, Copy, Default)]
struct Script {
    /// After every CONNACK, a retained QoS 1 PUBLISH on a topic nobody here subscribed to
    /// (amqtt sends the retained messages matching any client's subscriptions on CONNECT).
    stray_after_connack: bool,
    /// Never acknowledge a PUBLISH with an empty payload (the retained-message cleanup).
    ignore_empty_publish: bool,
    /// Answer a SUBSCRIBE with two retained PUBLISHes on its first filter, QoS 1 then QoS 2,
    /// before the SUBACK (allowed: 3.8.4), and a PUBREL for the PUBREC.
    publish_before_suback: bool,
    /// Answer only the first connection's CONNECT (the runner's probe); close every later one
    /// right after its CONNECT, with no CONNACK.
    connack_only_first: bool,
    /// Leave PINGREQs unanswered: the first one the broker gets (a fault that the rerun alone
    /// does not meet), or every one.
    no_pingresp: Option<Times>,
}

/// How often a misbehaviour happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Times {
    /// To the first PINGREQ the scripted broker receives, on any connection.
    Once,
    /// Always.
    Always,
}

/// The packet identifiers of the PUBLISHes sent before the SUBACK.
const EARLY_IDS: [u16; 2] = [200, 201];

/// The topic of the stray PUBLISH: outside every scenario's `mqttconf/<run>/`.
const STRAY_TOPIC: &str = "leftover/of/another/client";
/// Its packet identifier.
const STRAY_ID: u16 = 100;

/// What the scripted broker received: per connection, every frame.
type Log = Arc<Mutex<Vec<Vec<Vec<u8>>>>>;

/// Starts the scripted broker; returns its address and its log.
async fn scripted(script: Script) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: Log = Arc::default();
    let log2 = log.clone();
    let pings = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let log = log2.clone();
            let pings = pings.clone();
            let n = {
                let mut l = log.lock().unwrap();
                l.push(Vec::new());
                l.len() - 1
            };
            tokio::spawn(async move {
                let _ = serve(s, script, &log, n, &pings).await;
            });
        }
    });
    (addr, log)
}

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut frame = vec![s.read_u8().await?];
    let mut len = 0usize;
    for i in 0..4 {
        let b = s.read_u8().await?;
        frame.push(b);
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    let at = frame.len();
    frame.resize(at + len, 0);
    s.read_exact(&mut frame[at..]).await?;
    Ok(frame)
}

/// The body after the fixed header.
fn body(frame: &[u8]) -> &[u8] {
    let mut at = 1;
    while frame[at] & 0x80 != 0 {
        at += 1;
    }
    &frame[at + 1..]
}

async fn serve(
    mut s: TcpStream,
    script: Script,
    log: &Log,
    n: usize,
    pings: &AtomicUsize,
) -> std::io::Result<()> {
    let mut v5 = true;
    loop {
        let frame = read_frame(&mut s).await?;
        log.lock().unwrap()[n].push(frame.clone());
        let b = body(&frame);
        match frame[0] >> 4 {
            1 if script.connack_only_first && n > 0 => return Ok(()),
            1 => {
                v5 = b[6] == 5;
                s.write_all(if v5 {
                    &[0x20, 3, 0, 0, 0]
                } else {
                    &[0x20, 2, 0, 0]
                })
                .await?;
                if script.stray_after_connack {
                    let version = if v5 {
                        ProtocolVersion::V5
                    } else {
                        ProtocolVersion::V3_1_1
                    };
                    let p = build::Publish::new(version, STRAY_TOPIC, b"stale")
                        .qos(1)
                        .retain(true)
                        .packet_id(STRAY_ID)
                        .build();
                    s.write_all(&p).await?;
                }
            }
            3 => {
                let qos = (frame[0] >> 1) & 3;
                if qos == 0 {
                    continue;
                }
                let topic_len = usize::from(u16::from_be_bytes([b[0], b[1]]));
                let id = [b[2 + topic_len], b[3 + topic_len]];
                let props = if v5 {
                    1 + usize::from(b[4 + topic_len])
                } else {
                    0
                };
                let empty = b.len() == 4 + topic_len + props;
                if empty && script.ignore_empty_publish {
                    continue;
                }
                s.write_all(&[0x40, 2, id[0], id[1]]).await?;
            }
            5 => s.write_all(&[0x62, 2, b[0], b[1]]).await?,
            8 => {
                if script.publish_before_suback {
                    let props = if v5 { 1 + usize::from(b[2]) } else { 0 };
                    let at = 2 + props;
                    let len = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
                    let filter = String::from_utf8_lossy(&b[at + 2..at + 2 + len]).into_owned();
                    let version = if v5 {
                        ProtocolVersion::V5
                    } else {
                        ProtocolVersion::V3_1_1
                    };
                    for (qos, id) in [(1, EARLY_IDS[0]), (2, EARLY_IDS[1])] {
                        let p = build::Publish::new(version, &filter, [b'0' + qos])
                            .qos(qos)
                            .retain(true)
                            .packet_id(id)
                            .build();
                        s.write_all(&p).await?;
                    }
                }
                let granted = 2;
                if v5 {
                    s.write_all(&[0x90, 4, b[0], b[1], 0, granted]).await?;
                } else {
                    s.write_all(&[0x90, 3, b[0], b[1], granted]).await?;
                }
            }
            12 => {
                let first = pings.fetch_add(1, Ordering::SeqCst) == 0;
                match script.no_pingresp {
                    Some(Times::Always) => {}
                    Some(Times::Once) if first => {}
                    _ => s.write_all(&[0xd0, 0]).await?,
                }
            }
            14 => return Ok(()),
            _ => {}
        }
    }
}

fn options(addr: &str) -> RunOptions {
    let mut o = RunOptions::new(TargetAddr::parse(&format!("mqtt://{addr}")).unwrap());
    o.progress = false;
    o.versions = vec![Version::V5_0];
    o.scenario_timeout = Duration::from_secs(10);
    o
}

fn verdict(report: &RunReport, id: &str) -> Verdict {
    report
        .statements
        .iter()
        .find(|s| s.statement.id == id)
        .unwrap_or_else(|| panic!("{id} in the report"))
        .verdict
}

/// Subscribes, publishes a retained message on its own topic (cleared by the runner), and
/// expects nothing more: the stray PUBLISHes are the broker's cross-talk, not its traffic.
async fn subscribe_and_publish(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    ctx.retained(&topic);
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&ctx.topic("other"), 1).await?;
    c.publish(&topic, b"mine", 1, true).await?;
    c.expect_silence().await?;
    c.disconnect().await
}

fn registry() -> Vec<Scenario> {
    vec![Scenario::server(
        Version::V5_0,
        "v5.test.subscribe_and_publish",
        &["MQTT-3.8.4-1"],
        subscribe_and_publish,
    )]
}

/// Every frame the broker got on connection `n` of type `ty`.
fn frames_of(log: &Log, ty: u8) -> Vec<Vec<Vec<u8>>> {
    log.lock()
        .unwrap()
        .iter()
        .map(|c| c.iter().filter(|f| f[0] >> 4 == ty).cloned().collect())
        .collect()
}

/// amqtt's behaviour: a retained PUBLISH of someone else's topic after every CONNACK. The
/// scenario still judges only its own traffic (and passes), is marked contaminated, the
/// cross-talk is one finding against MQTT-3.3.2-3, every stray PUBLISH is acknowledged, and the
/// retained-message cleanup gets through.
#[tokio::test]
async fn stray_retained_publishes_are_one_crosstalk_finding() {
    let (addr, log) = scripted(Script {
        stray_after_connack: true,
        ..Script::default()
    })
    .await;
    let report = scenarios::run_scenarios(registry(), &options(&addr))
        .await
        .expect("run");
    let r = report
        .scenarios
        .iter()
        .find(|r| r.name == "v5.test.subscribe_and_publish")
        .unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{r:#?}");
    assert!(r.contaminated, "{r:#?}");
    assert!(r.foreign.iter().all(|f| f.topic == STRAY_TOPIC), "{r:#?}");
    // The scenario's client and the cleanup connection each got one.
    assert_eq!(r.foreign.len(), 2, "{r:#?}");
    assert!(
        report.warnings.is_empty(),
        "the cleanup skipped the stray PUBLISH: {:?}",
        report.warnings
    );
    assert_eq!(verdict(&report, "MQTT-3.8.4-1"), Verdict::Pass);
    assert_eq!(verdict(&report, "MQTT-3.3.2-3"), Verdict::Fail);
    let findings: Vec<_> = report
        .scenarios
        .iter()
        .filter(|r| r.ids == ["MQTT-3.3.2-3"])
        .collect();
    assert_eq!(findings.len(), 1, "reported once");
    assert_eq!(findings[0].name, "v5.crosstalk.foreign_publish");
    assert!(
        findings[0].got.as_deref().unwrap().contains(STRAY_TOPIC),
        "{:?}",
        findings[0]
    );
    // Probe, scenario, cleanup: the last two acknowledged the stray PUBLISH.
    let pubacks = frames_of(&log, 4);
    let stray_ack = [0x40, 2, 0, STRAY_ID as u8];
    assert_eq!(
        pubacks
            .iter()
            .filter(|c| c.contains(&stray_ack.to_vec()))
            .count(),
        2,
        "{pubacks:?}"
    );
    // The cleanup's empty retained PUBLISH reached the broker.
    let publishes = frames_of(&log, 3);
    assert!(
        publishes.last().unwrap().iter().any(|f| f[0] == 0x33),
        "{publishes:?}"
    );

    let dir = std::env::temp_dir().join(format!("scripted-crosstalk-{}", std::process::id()));
    report::write_all(&report, &dir).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Contaminated by cross-talk (1)"), "{md}");
    let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
    assert!(json.contains("\"contaminated\": true"), "{json}");
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(
        xml.contains("contaminated: foreign PUBLISHes set aside"),
        "{xml}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A cleanup that cannot finish (the broker never acknowledges the clearing PUBLISH) is a
/// run-level warning in every report format, after its retries.
#[tokio::test]
async fn a_failed_cleanup_is_a_warning_in_every_format() {
    let (addr, log) = scripted(Script {
        ignore_empty_publish: true,
        ..Script::default()
    })
    .await;
    let report = scenarios::run_scenarios(registry(), &options(&addr))
        .await
        .expect("run");
    assert_eq!(report.scenarios[0].outcome, Outcome::Pass);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("v5.test.subscribe_and_publish")
            && report.warnings[0].contains("3 attempts"),
        "{:?}",
        report.warnings
    );
    // Probe, scenario, then three cleanup connections.
    assert_eq!(log.lock().unwrap().len(), 5);

    let dir = std::env::temp_dir().join(format!("scripted-warning-{}", std::process::id()));
    report::write_all(&report, &dir).unwrap();
    for file in ["report.md", "report.json", "report.xml", "verdicts.json"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            text.contains("clearing its retained messages failed"),
            "{file}: {text}"
        );
    }
    let v =
        Verdicts::from_json(&std::fs::read_to_string(dir.join("verdicts.json")).unwrap()).unwrap();
    assert_eq!(v.warnings, report.warnings);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Subscribes to its own topic and expects the two retained messages the broker sent before
/// the SUBACK, then nothing.
async fn retained_before_suback(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&topic, 2).await?;
    let one = c.expect_publish().await?;
    let two = c.expect_publish().await?;
    scenarios::ensure!(
        (
            one.qos,
            one.payload.as_slice(),
            two.qos,
            two.payload.as_slice()
        ) == (1, b"1".as_slice(), 2, b"2".as_slice()),
        "the retained QoS 1 then QoS 2 message",
        format!("{} then {}", one.show(), two.show())
    );
    c.expect_silence().await?;
    c.disconnect().await
}

/// A PUBLISH before the SUBACK (5.0 and 3.1.1 section 3.8.4 allow it) does not fail the wait for
/// the SUBACK: it is acknowledged at once by its QoS (PUBACK; PUBREC, and PUBCOMP for the
/// PUBREL), kept, handed to the scenario's next `expect_publish`, and never acknowledged twice.
#[tokio::test]
async fn publishes_before_the_suback_are_kept_and_acknowledged_once() {
    let (addr, log) = scripted(Script {
        publish_before_suback: true,
        ..Script::default()
    })
    .await;
    let list = vec![Scenario::server(
        Version::V5_0,
        "v5.test.retained_before_suback",
        &["MQTT-3.8.4-1"],
        retained_before_suback,
    )];
    let report = scenarios::run_scenarios(list, &options(&addr))
        .await
        .expect("run");
    let r = &report.scenarios[0];
    assert_eq!(r.outcome, Outcome::Pass, "{r:#?}");
    assert!(!r.contaminated, "its own topic: {r:#?}");
    assert_eq!(verdict(&report, "MQTT-3.8.4-1"), Verdict::Pass);
    let [hi, lo1, lo2] = [0, EARLY_IDS[0] as u8, EARLY_IDS[1] as u8];
    let scenario_conn = log.lock().unwrap()[1].clone();
    let acks: Vec<&Vec<u8>> = scenario_conn
        .iter()
        .filter(|f| matches!(f[0] >> 4, 4..=7))
        .collect();
    assert_eq!(
        acks,
        [
            &vec![0x40, 2, hi, lo1], // PUBACK 200
            &vec![0x50, 2, hi, lo2], // PUBREC 201
            &vec![0x70, 2, hi, lo2], // PUBCOMP 201
        ],
        "{scenario_conn:02x?}"
    );
}

async fn needs_a_connection(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("r");
    let mut c = ctx.connected("client", |c| c).await?;
    c.subscribed(&topic, 1).await?;
    c.expect_silence().await
}

async fn fails_outright(_: &mut Ctx) -> Result<(), Fail> {
    Err(Fail::new("what the statement requires", "something else"))
}

/// A broker that closes every connection after its CONNECT: the scenarios that needed a
/// connection for their setup are `blocked` (cause: no CONNACK, which breaks MQTT-3.1.4-5), not
/// failed; the scenario that checks MQTT-3.1.4-5 itself fails; a statement with any failing
/// scenario stays `fail`. Every report format shows the block and its cause.
#[tokio::test]
async fn no_connack_blocks_the_scenarios_that_needed_one() {
    let (addr, _log) = scripted(Script {
        connack_only_first: true,
        ..Script::default()
    })
    .await;
    let v5 = Version::V5_0;
    let list = vec![
        Scenario::server(v5, "v5.test.blocked", &["MQTT-3.3.1-5"], needs_a_connection),
        Scenario::server(
            v5,
            "v5.test.checks_connack",
            &["MQTT-3.1.4-5"],
            needs_a_connection,
        ),
        Scenario::server(
            v5,
            "v5.test.blocked_too",
            &["MQTT-3.3.1-6"],
            needs_a_connection,
        ),
        Scenario::server(v5, "v5.test.fails", &["MQTT-3.3.1-6"], fails_outright),
    ];
    let report = scenarios::run_scenarios(list, &options(&addr))
        .await
        .expect("run");
    let outcome = |n: &str| report.scenarios.iter().find(|r| r.name == n).unwrap();
    let blocked = outcome("v5.test.blocked");
    assert_eq!(blocked.outcome, Outcome::Blocked, "{blocked:#?}");
    assert_eq!(blocked.blocked_by.as_deref(), Some("MQTT-3.1.4-5"));
    assert!(
        blocked.blocked.as_deref().unwrap().contains("CONNACK"),
        "{blocked:#?}"
    );
    assert!(blocked.expected.is_none() && !blocked.failed());
    assert_eq!(outcome("v5.test.checks_connack").outcome, Outcome::Fail);
    assert_eq!(verdict(&report, "MQTT-3.3.1-5"), Verdict::Blocked);
    assert_eq!(verdict(&report, "MQTT-3.1.4-5"), Verdict::Fail);
    assert_eq!(
        verdict(&report, "MQTT-3.3.1-6"),
        Verdict::Fail,
        "a fail stays a fail"
    );
    assert_eq!(report.counts(Some(v5))[&Verdict::Blocked], 1);

    let dir = std::env::temp_dir().join(format!("scripted-blocked-{}", std::process::id()));
    report::write_all(&report, &dir).unwrap();
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(
        xml.contains("<skipped message=\"blocked: setup step: expected after a valid CONNECT"),
        "{xml}"
    );
    assert!(xml.contains("(breaks MQTT-3.1.4-5)"), "{xml}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| version | pass | fail | lenient | blocked |"),
        "{md}"
    );
    assert!(md.contains("## Blocked (2)"), "{md}");
    assert!(
        md.contains("- `v5.test.blocked` (MQTT-3.3.1-5): setup step"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["summary"]["5.0"]["blocked"], 1);
    let st = json["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "MQTT-3.3.1-5")
        .unwrap();
    assert_eq!(st["verdict"], "blocked");
    assert_eq!(st["blocked_by"][0]["breaks"], "MQTT-3.1.4-5");
    let v =
        Verdicts::from_json(&std::fs::read_to_string(dir.join("verdicts.json")).unwrap()).unwrap();
    assert_eq!(v.statements["5.0"]["MQTT-3.3.1-5"], "blocked");
    assert_eq!(v.scenarios["v5.test.blocked"], "blocked");
    // A baseline sees blocked as its own verdict: a blocked-to-fail change is a change.
    let mut old = v.clone();
    old.statements
        .get_mut("5.0")
        .unwrap()
        .insert("MQTT-3.3.1-5".into(), "fail".into());
    let changes: Vec<String> = report::compare(&old, &v)
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(changes, ["5.0 MQTT-3.3.1-5: fail -> blocked"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// PINGREQ with the reserved flags `0001`: the scripted broker answers PINGRESP, as Mosquitto
/// does, where the spec's flags rule binds the sender (MQTT-2.1.3-1).
async fn bad_pingreq_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&[0xc1, 0x00]).await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81]))
        .await
}

/// A broker that accepts a packet the client must not send: the lenient-receiver scenario is
/// `lenient`, not `fail`, in the outcome, the statement verdict, every report format and the
/// baseline; a statement that also has a real failure stays `fail`; the run is not failed.
#[tokio::test]
async fn accepting_a_forbidden_client_packet_is_lenient_not_fail() {
    let (addr, _log) = scripted(Script::default()).await;
    let v5 = Version::V5_0;
    let list = vec![
        Scenario::server(v5, "v5.test.lenient", &["MQTT-2.1.3-1"], bad_pingreq_closes)
            .lenient_receiver(),
        Scenario::server(
            v5,
            "v5.test.lenient_too",
            &["MQTT-3.3.1-4"],
            bad_pingreq_closes,
        )
        .lenient_receiver(),
        Scenario::server(v5, "v5.test.fails", &["MQTT-3.3.1-4"], fails_outright),
    ];
    let report = scenarios::run_scenarios(list, &options(&addr))
        .await
        .expect("run");
    let outcome = |n: &str| report.scenarios.iter().find(|r| r.name == n).unwrap();
    let lenient = outcome("v5.test.lenient");
    assert_eq!(lenient.outcome, Outcome::Lenient, "{lenient:#?}");
    assert!(!lenient.failed());
    assert!(
        lenient.got.as_deref().unwrap().contains("PINGRESP"),
        "{lenient:#?}"
    );
    assert_eq!(verdict(&report, "MQTT-2.1.3-1"), Verdict::Lenient);
    assert_eq!(
        verdict(&report, "MQTT-3.3.1-4"),
        Verdict::Fail,
        "a fail stays a fail"
    );
    let counts = report.counts(Some(v5));
    assert_eq!((counts[&Verdict::Fail], counts[&Verdict::Lenient]), (1, 1));
    assert_eq!(
        report.violations_line(None),
        "1 violations, 1 lenient-receiver findings"
    );
    assert!(report.any_failed());

    let dir = std::env::temp_dir().join(format!("scripted-lenient-{}", std::process::id()));
    report::write_all(&report, &dir).unwrap();
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(
        xml.contains("<skipped message=\"lenient receiver: finding F"),
        "{xml}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| version | pass | fail | lenient | blocked |"),
        "{md}"
    );
    assert!(
        md.contains("1 violations, 1 lenient-receiver findings"),
        "{md}"
    );
    assert!(md.contains("## Lenient receiver (2)"), "{md}");
    assert!(md.contains("### v5.test.lenient (MQTT-2.1.3-1)"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["summary"]["5.0"]["lenient"], 1);
    assert_eq!(json["summary"]["5.0"]["fail"], 1);
    let st = json["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "MQTT-2.1.3-1")
        .unwrap();
    assert_eq!(st["verdict"], "lenient");
    assert!(st["scenarios"][0]["evidence"].is_array(), "{st}");
    let v =
        Verdicts::from_json(&std::fs::read_to_string(dir.join("verdicts.json")).unwrap()).unwrap();
    assert_eq!(v.statements["5.0"]["MQTT-2.1.3-1"], "lenient");
    assert_eq!(v.scenarios["v5.test.lenient"], "lenient");
    let mut old = v.clone();
    old.statements
        .get_mut("5.0")
        .unwrap()
        .insert("MQTT-2.1.3-1".into(), "fail".into());
    let changes: Vec<String> = report::compare(&old, &v)
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(changes, ["5.0 MQTT-2.1.3-1: fail -> lenient"]);
    std::fs::remove_dir_all(&dir).unwrap();

    // Only lenient findings: the run does not fail.
    let only = vec![
        Scenario::server(v5, "v5.test.lenient", &["MQTT-2.1.3-1"], bad_pingreq_closes)
            .lenient_receiver(),
    ];
    let report = scenarios::run_scenarios(only, &options(&addr))
        .await
        .expect("run");
    assert!(!report.any_failed());
}

/// Fails naming its own topic, client id, packet id and a measured time: run-specific tokens.
async fn fails_with_run_tokens(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let id = ctx.client_id("sub");
    let ms = 4000 + topic.len() * 7 + ctx.client_id("x").len();
    Err(Fail::new(
        format!("PUBLISH on {topic} to {id}"),
        format!(
            "PUBLISH(topic=\"{topic}\", packet_id={}) after {ms} ms [d0 00]",
            ms % 9
        ),
    ))
}

/// Two scenarios failing the same way (only run-specific tokens differ) are one finding with
/// both scenarios and both statements; a different failure is another; every format names the
/// finding, and its id does not change from one run to the next.
#[tokio::test]
async fn failures_with_one_cause_are_one_finding() {
    let (addr, _log) = scripted(Script::default()).await;
    let v5 = Version::V5_0;
    let list = || {
        vec![
            Scenario::server(
                v5,
                "v5.test.same_a",
                &["MQTT-3.3.1-5"],
                fails_with_run_tokens,
            ),
            Scenario::server(v5, "v5.test.other", &["MQTT-3.3.1-6"], fails_outright),
            Scenario::server(
                v5,
                "v5.test.same_b_longer_name",
                &["MQTT-3.3.1-7"],
                fails_with_run_tokens,
            ),
        ]
    };
    let report = scenarios::run_scenarios(list(), &options(&addr))
        .await
        .expect("run");
    assert_eq!(report.findings.len(), 2, "{:#?}", report.findings);
    let same = &report.findings[0];
    assert_eq!(
        same.scenarios,
        ["v5.test.same_a", "v5.test.same_b_longer_name"]
    );
    assert_eq!(same.statements, ["5.0 MQTT-3.3.1-5", "5.0 MQTT-3.3.1-7"]);
    assert!(
        same.summary.contains("mqttconf/*/t") && same.summary.contains("after # ms"),
        "{}",
        same.summary
    );
    assert_eq!(report.findings[1].scenarios, ["v5.test.other"]);
    assert!(
        same.id.starts_with('F') && same.id.len() == 11,
        "{}",
        same.id
    );

    let again = scenarios::run_scenarios(list(), &options(&addr))
        .await
        .expect("run");
    assert_eq!(again.findings[0].id, same.id, "stable across runs");

    let dir = std::env::temp_dir().join(format!("scripted-findings-{}", std::process::id()));
    report::write_all(&report, &dir).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let f = &json["findings"][0];
    assert_eq!(f["id"], same.id.as_str());
    assert_eq!(f["scenarios"].as_array().unwrap().len(), 2);
    assert_eq!(f["representative"], "v5.test.same_a");
    assert!(f["evidence"].is_array());
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Findings (2)"), "{md}");
    assert!(md.contains(&format!("### {} (fail): ", same.id)), "{md}");
    assert!(
        md.contains(&format!(
            "### v5.test.same_b_longer_name (MQTT-3.3.1-7), finding {}",
            same.id
        )),
        "{md}"
    );
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert_eq!(
        xml.matches(&format!("message=\"finding {} (2 scenario(s)): ", same.id))
            .count(),
        2,
        "{xml}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// PINGREQ must get a PINGRESP; waits 500 ms for it (the scripted broker is local).
async fn pings(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&[0xc0, 0x00]).await?;
    c.timeout = Duration::from_millis(500);
    c.expect_type(build::packet_type::PINGRESP).await?;
    c.disconnect().await
}

/// Runs `pings` (and a scenario that passes) with --isolate-failures against a broker that
/// leaves unanswered the first PINGREQ, or every one.
async fn isolated_run(times: Times, restart_cmd: Option<String>) -> RunReport {
    let (addr, _log) = scripted(Script {
        no_pingresp: Some(times),
        ..Script::default()
    })
    .await;
    let v5 = Version::V5_0;
    let list = vec![
        Scenario::server(v5, "v5.test.pings", &["MQTT-3.12.4-1"], pings),
        Scenario::server(v5, "v5.test.passes", &["MQTT-3.8.4-1"], needs_a_connection),
    ];
    let mut o = options(&addr);
    o.isolate_failures = true;
    o.restart_cmd = restart_cmd;
    scenarios::run_scenarios(list, &o).await.expect("run")
}

/// A failure that happens only on the broker's first PINGREQ does not reproduce alone: marked
/// `reproduces: false` with the rerun's outcome in every report, its verdict unchanged; one
/// that always happens reproduces. Passing scenarios are not rerun.
#[tokio::test]
async fn isolate_failures_tells_a_cascade_from_a_reproducible_failure() {
    // The restart command runs once per rerun (here it only counts itself).
    let count = std::env::temp_dir().join(format!("scripted-restarts-{}", std::process::id()));
    let once = isolated_run(
        Times::Once,
        Some(format!("echo restart >> '{}'", count.display())),
    )
    .await;
    assert_eq!(std::fs::read_to_string(&count).unwrap(), "restart\n");
    std::fs::remove_file(&count).unwrap();
    let r = &once.scenarios[0];
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    let i = r.isolated.as_ref().expect("rerun alone");
    assert!(!i.reproduces, "{i:#?}");
    assert_eq!(i.outcome, Outcome::Pass);
    assert!(once.scenarios[1].isolated.is_none(), "a pass is not rerun");
    assert_eq!(verdict(&once, "MQTT-3.12.4-1"), Verdict::Fail, "unchanged");
    assert_eq!(
        once.isolation_line().as_deref(),
        Some("0 of 1 failures reproduce alone")
    );

    let always = isolated_run(Times::Always, None).await;
    let i = always.scenarios[0].isolated.as_ref().expect("rerun alone");
    assert!(i.reproduces, "{i:#?}");
    assert_eq!(i.outcome, Outcome::Fail);
    assert!(
        i.got.as_deref().unwrap_or("").contains("PINGRESP")
            || i.expected.as_deref().unwrap_or("").contains("PINGRESP"),
        "{i:#?}"
    );
    assert_eq!(
        always.isolation_line().as_deref(),
        Some("1 of 1 failures reproduce alone")
    );

    let dir = std::env::temp_dir().join(format!("scripted-isolated-{}", std::process::id()));
    report::write_all(&once, &dir).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["summary"]["isolated"]["rerun"], 1);
    assert_eq!(json["summary"]["isolated"]["reproduce"], 0);
    let st = json["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "MQTT-3.12.4-1")
        .unwrap();
    assert_eq!(st["verdict"], "fail");
    assert_eq!(st["scenarios"][0]["isolated"]["reproduces"], false);
    assert_eq!(st["scenarios"][0]["isolated"]["outcome"], "pass");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("0 of 1 failures reproduce alone"), "{md}");
    assert!(
        md.contains("- rerun alone: does not reproduce alone (pass)"),
        "{md}"
    );
    let v =
        Verdicts::from_json(&std::fs::read_to_string(dir.join("verdicts.json")).unwrap()).unwrap();
    assert_eq!(v.scenarios["v5.test.pings"], "fail", "verdicts unchanged");
    std::fs::remove_dir_all(&dir).unwrap();

    report::write_all(&always, &dir).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("- rerun alone: reproduces alone (fail)"),
        "{md}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
