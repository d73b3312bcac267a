//! `mqttref bench` run as a user would, against an in-process reference broker: a tiny workload
//! whose delivery check must pass. Correctness only; no figure is asserted (timing belongs to
//! benchmarks on a quiet machine, not to tests).

use std::process::Command;

use mqttref_broker::{Broker, BrokerConfig};

const BIN: &str = env!("CARGO_BIN_EXE_mqttref");

/// Starts a reference broker on an ephemeral port in a background runtime; returns its port.
fn start_broker() -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let config = BrokerConfig {
                listen: vec!["127.0.0.1:0".to_owned()],
                ..BrokerConfig::default()
            };
            let broker = Broker::bind(config).await.unwrap();
            tx.send(broker.local_addr().unwrap().port()).unwrap();
            // Runs until the test process exits.
            broker.run(std::future::pending::<()>()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn bench(port: u16, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["bench", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "--publishers",
            "2",
            "--subscribers",
            "2",
            "--messages",
            "200",
        ])
        .args(["--drain", "10", "--json"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn qos1_delivers_every_message_to_every_subscriber() {
    let port = start_broker();
    for version in ["5", "311"] {
        let (code, stdout, stderr) = bench(port, &["-q", "1", "-V", version]);
        assert_eq!(code, 0, "MQTT {version}: stdout {stdout}\nstderr {stderr}");
        // 2 publishers x 200 messages, each to 2 subscribers.
        for field in [
            "\"published\":400,",
            "\"expected\":800,",
            "\"delivered_unique\":800,",
            "\"duplicates\":0,",
            "\"out_of_order\":0,",
            "\"missing\":0,",
            "\"ok\":true",
        ] {
            assert!(
                stdout.contains(field),
                "MQTT {version}: no {field} in {stdout}"
            );
        }
    }
}

#[test]
fn qos0_reports_its_counts_and_compare_prints_ratios() {
    let port = start_broker();
    let url = format!("mqtt://127.0.0.1:{port}");
    let out = Command::new(BIN)
        .args(["bench", "--compare", &url, &url, "--rounds", "1"])
        .args([
            "--publishers",
            "2",
            "--subscribers",
            "2",
            "--messages",
            "100",
            "-q",
            "0",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("msg/s delivered"), "{stdout}");
    assert!(stdout.contains("2/1"), "{stdout}");
    // Over loopback with a bounded lead nothing is lost, and the report says so.
    assert!(
        stdout.contains("deliveries 400/400 (0 missing, 0 duplicates)"),
        "{stdout}"
    );
}

#[test]
fn unreachable_broker_and_bad_flags_exit_non_zero() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, stderr) = bench(port, &["-q", "1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("connecting"), "{stderr}");
    let (code, _, stderr) = bench(port, &["--size", "8"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--size"), "{stderr}");
}
