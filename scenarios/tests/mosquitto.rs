//! End to end against a real Mosquitto started by the test (free port, temporary config, killed
//! on drop): the example scenarios pass, a failing, a panicking, a hanging and a skipped
//! scenario are reported as such with evidence, and the report files are well-formed.
//!
//! Needs `mosquitto` (Debian package `mosquitto`; `$MOSQUITTO` names another binary). Without it
//! the tests say so on stderr and return, unless `MQTTREF_REQUIRE_MOSQUITTO=1` or `CI=true`
//! (`.ci/run` installs Mosquitto), which make that a failure.

use scenarios::report::{self, Verdicts};
use scenarios::run::RunOptions;
use scenarios::target::TargetAddr;
use scenarios::{Capability, Closing, Ctx, Fail, Outcome, RunReport, Scenario, Verdict, Version};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    fn binary() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("MOSQUITTO") {
            return Some(PathBuf::from(p));
        }
        [
            "/usr/sbin/mosquitto",
            "/usr/local/sbin/mosquitto",
            "/usr/bin/mosquitto",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    }

    /// Starts Mosquitto, or returns `None` (after saying why) when it is not installed.
    fn start(name: &str) -> Option<Mosquitto> {
        let Some(bin) = Mosquitto::binary() else {
            let msg =
                "mosquitto not installed (apt-get install mosquitto): end-to-end test not run";
            assert!(
                std::env::var_os("MQTTREF_REQUIRE_MOSQUITTO").is_none(),
                "{msg}"
            );
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("scenarios-{name}-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .expect("config");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        let m = Mosquitto { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(m)
    }

    fn options(&self) -> RunOptions {
        let mut o =
            RunOptions::new(TargetAddr::parse(&format!("mqtt://127.0.0.1:{}", self.port)).unwrap());
        o.progress = false;
        o
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn verdicts(report: &RunReport) -> BTreeMap<(Version, String), Verdict> {
    report
        .statements
        .iter()
        .map(|s| ((s.version, s.statement.id.clone()), s.verdict))
        .collect()
}

/// Writes the reports and checks each file is well-formed: JSON parses, XML has balanced tags
/// (quick-xml checks end names), verdicts.json round-trips, report.html names every statement.
fn check_report_files(report: &RunReport, dir: &Path) -> serde_json::Value {
    let files = report::write_all(report, dir).expect("reports written");
    assert_eq!(files.len(), 5);
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html written");
    for s in &report.statements {
        assert!(
            html.contains(&format!("<code>{}</code>", s.statement.id)),
            "report.html lacks {}",
            s.statement.id
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
            .expect("report.json parses");
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut stack = Vec::new();
    let mut testcases = 0;
    loop {
        match reader.read_event().expect("report.xml is well-formed") {
            quick_xml::events::Event::Start(e) => {
                if e.name().as_ref() == b"testcase" {
                    testcases += 1;
                }
                stack.push(e.name().as_ref().to_vec());
            }
            quick_xml::events::Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                testcases += 1;
            }
            quick_xml::events::Event::End(e) => {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(e.name().as_ref()),
                    "balanced tags"
                );
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "every element closed");
    assert_eq!(
        testcases,
        report.scenarios.len(),
        "one testcase per scenario"
    );
    let v = Verdicts::from_json(&std::fs::read_to_string(dir.join("verdicts.json")).unwrap())
        .expect("verdicts.json parses");
    assert_eq!(v, Verdicts::of(report));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.starts_with("# MQTT conformance: "), "{md}");
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_scenarios_pass_against_mosquitto() {
    let Some(broker) = Mosquitto::start("examples") else {
        return;
    };
    let mut opts = broker.options();
    opts.only = vec!["3.1".into(), "3.12".into()];
    let report = scenarios::run(&opts).await.expect("run");
    let v = verdicts(&report);
    for version in Version::ALL {
        for id in ["MQTT-3.1.2-3", "MQTT-3.1.0-2", "MQTT-3.12.4-1"] {
            assert_eq!(
                v[&(version, id.to_string())],
                Verdict::Pass,
                "{version} {id}: {report:#?}"
            );
        }
    }
    assert_eq!(v[&(Version::V5_0, "MQTT-3.1.4-5".into())], Verdict::Pass);
    assert_eq!(v[&(Version::V3_1_1, "MQTT-3.1.4-4".into())], Verdict::Pass);
    // Section filter: 3.1 and 3.12, never 3.10; a statement of another section is there only
    // because a selected scenario also checks it.
    let in_filter = |sec: &str| {
        sec == "3.1" || sec.starts_with("3.1.") || sec == "3.12" || sec.starts_with("3.12.")
    };
    for s in &report.statements {
        let sec = &s.statement.section;
        assert!(!sec.starts_with("3.10"), "{} selected", s.statement.id);
        assert!(
            in_filter(sec)
                || report
                    .scenarios
                    .iter()
                    .any(|r| r.ids.contains(&s.statement.id)),
            "{} ({sec}) selected without a scenario of the filter",
            s.statement.id
        );
    }
    // Where the spec allows a choice, the one taken is recorded.
    let second = report
        .scenarios
        .iter()
        .find(|r| r.name == "v5.connect.second_connect_closes")
        .unwrap();
    assert_eq!(second.choices.len(), 1, "{second:?}");

    let dir = broker.dir.join("report");
    let json = check_report_files(&report, &dir);
    let st = json["statements"].as_array().unwrap();
    let one = st
        .iter()
        .find(|s| s["id"] == "MQTT-3.12.4-1" && s["version"] == "5.0")
        .unwrap();
    assert_eq!(one["verdict"], "pass");
    assert_eq!(one["level"], "MUST");
    assert_eq!(one["scenarios"][0]["name"], "v5.pingreq.gets_pingresp");
}

// Scenarios that go wrong on purpose, to check the runner's handling. Their ids are real so the
// verdicts can be checked.

async fn wrong_expectation(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&ctx.connect_packet("client").build()).await?;
    c.expect_connack(0x85).await?; // Mosquitto accepts: CONNACK 0x00
    Ok(())
}

async fn panics(ctx: &mut Ctx) -> Result<(), Fail> {
    let _c = ctx.connected("client", |c| c).await?;
    panic!("deliberate panic after connecting");
}

async fn hangs(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.expect_nothing(Duration::from_secs(30)).await?;
    Ok(())
}

async fn never_runs(_: &mut Ctx) -> Result<(), Fail> {
    unreachable!("skipped before the body runs")
}

async fn skips_itself(ctx: &mut Ctx) -> Result<(), Fail> {
    Err(ctx.skip("the target file gives no limit to test"))
}

async fn retained_then_pass(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("retained");
    let mut c = ctx.connected("pub", |c| c).await?;
    ctx.retained(&topic);
    c.publish(&topic, b"kept", 1, true).await?;
    let mut s = ctx.connected("sub", |c| c).await?;
    s.subscribed(&topic, 1).await?;
    let p = s.expect_publish().await?;
    scenarios::ensure!(
        p.retain && p.payload == b"kept",
        "the retained message",
        format!("{p:?}")
    );
    c.disconnect().await?;
    s.disconnect().await
}

async fn pingreq_closed_wrongly(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(&[0xc0, 0x00]).await?;
    // Wrong on purpose: Mosquitto answers PINGRESP and keeps the connection.
    c.timeout = Duration::from_millis(300);
    c.expect_closed(Closing::silently()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_panics_timeouts_and_skips_are_reported() {
    let Some(broker) = Mosquitto::start("failures") else {
        return;
    };
    let v5 = Version::V5_0;
    let list = vec![
        Scenario::server(
            v5,
            "v5.test.wrong_expectation",
            &["MQTT-3.1.4-5"],
            wrong_expectation,
        ),
        Scenario::server(v5, "v5.test.panics", &["MQTT-3.1.2-3"], panics),
        Scenario::server(v5, "v5.test.hangs", &["MQTT-3.1.0-2"], hangs),
        Scenario::server(
            v5,
            "v5.test.needs_refused_topic",
            &["MQTT-3.12.4-1"],
            never_runs,
        )
        .needs(Capability::RefusedTopic),
        Scenario::server(v5, "v5.test.skips_itself", &["MQTT-3.12.4-1"], skips_itself),
        Scenario::server(
            v5,
            "v5.test.retained",
            &["MQTT-3.3.1-5"],
            retained_then_pass,
        ),
        Scenario::server(
            Version::V3_1_1,
            "v311.test.closed_wrongly",
            &["MQTT-3.12.4-1"],
            pingreq_closed_wrongly,
        ),
    ];
    let mut opts = broker.options();
    opts.scenario_timeout = Duration::from_secs(1);
    opts.only = vec!["v5.test".into(), "v311.test".into()];
    let started = Instant::now();
    let report = scenarios::run_scenarios(list, &opts).await.expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout bounds the run"
    );

    let outcome = |n: &str| report.scenarios.iter().find(|r| r.name == n).unwrap();
    let wrong = outcome("v5.test.wrong_expectation");
    assert_eq!(wrong.outcome, Outcome::Fail);
    assert_eq!(
        wrong.expected.as_deref(),
        Some("CONNACK 0x85 (Client Identifier not valid)")
    );
    assert_eq!(wrong.got.as_deref(), Some("CONNACK 0x00 (Success)"));
    assert_eq!(
        wrong.evidence.len(),
        1,
        "the client's transcript is evidence"
    );
    assert!(
        wrong.evidence[0].transcript.contains("CONNACK"),
        "{}",
        wrong.evidence[0].transcript
    );

    let panicked = outcome("v5.test.panics");
    assert_eq!(panicked.outcome, Outcome::Error);
    assert!(
        panicked
            .got
            .as_deref()
            .unwrap()
            .contains("deliberate panic"),
        "{panicked:?}"
    );
    assert_eq!(panicked.evidence.len(), 1, "evidence survives a panic");

    let hung = outcome("v5.test.hangs");
    assert_eq!(hung.outcome, Outcome::Fail);
    assert!(
        hung.expected.as_deref().unwrap().contains("within 1 s"),
        "{hung:?}"
    );
    assert_eq!(hung.evidence.len(), 1, "evidence survives a timeout");

    let needs = outcome("v5.test.needs_refused_topic");
    assert_eq!(needs.outcome, Outcome::Skipped);
    assert!(
        needs
            .skip_reason
            .as_deref()
            .unwrap()
            .contains("refused_topic"),
        "{needs:?}"
    );
    assert_eq!(outcome("v5.test.skips_itself").outcome, Outcome::Skipped);

    let retained = outcome("v5.test.retained");
    assert_eq!(retained.outcome, Outcome::Pass, "{retained:?}");
    assert!(
        retained.notes.is_empty(),
        "retained cleanup worked: {retained:?}"
    );

    let closed = outcome("v311.test.closed_wrongly");
    assert_eq!(closed.outcome, Outcome::Fail);
    assert!(
        closed.got.as_deref().unwrap().contains("PINGRESP"),
        "{closed:?}"
    );

    let v = verdicts(&report);
    assert_eq!(v[&(v5, "MQTT-3.1.4-5".into())], Verdict::Fail);
    assert_eq!(v[&(v5, "MQTT-3.1.2-3".into())], Verdict::Fail);
    assert_eq!(v[&(v5, "MQTT-3.1.0-2".into())], Verdict::Fail);
    assert_eq!(v[&(v5, "MQTT-3.12.4-1".into())], Verdict::Skipped);
    assert_eq!(v[&(v5, "MQTT-3.3.1-5".into())], Verdict::Pass);
    assert_eq!(v[&(Version::V3_1_1, "MQTT-3.12.4-1".into())], Verdict::Fail);
    assert!(report.any_failed());

    let dir = broker.dir.join("report");
    let json = check_report_files(&report, &dir);
    let failed = json["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "MQTT-3.1.4-5" && s["version"] == "5.0")
        .unwrap();
    assert!(failed["scenarios"][0]["evidence"][0]["transcript"]
        .as_str()
        .unwrap()
        .contains("CONNACK"));
    let skipped = json["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "MQTT-3.12.4-1" && s["version"] == "5.0")
        .unwrap();
    assert_eq!(skipped["skip_reasons"].as_array().unwrap().len(), 2);
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(
        xml.contains("<failure message=\"finding F")
            && xml.contains(" scenario(s)): expected: CONNACK 0x85"),
        "{xml}"
    );
    assert!(xml.contains("<error "), "{xml}");
    assert!(xml.contains("<skipped message="), "{xml}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Failures (4)"), "{md}");
    assert!(md.contains("```text\n"), "{md}");
}
