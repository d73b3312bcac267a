//! `mqttref scram` (add, list, delete) and `mqttref pub`/`sub --auth-method SCRAM-SHA-256`
//! against `mqttref broker --scram-file`, as processes; and the `mqttv5` CLI's SCRAM client
//! against the same broker when it is installed.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mqttref");

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mqttref-cli-scram-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run mqttref")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Broker(Child, u16);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn broker(scram: &str) -> Broker {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(BIN)
        .args(["broker", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--scram-file", scram])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start broker");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "broker did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Broker(child, port)
}

#[test]
fn scram_file_and_clients() {
    let d = dir("ops");
    let file = d.join("scram");
    let f = file.to_str().expect("utf-8 path");
    ok(&["scram", "add", f, "alice", "-b", "alice-pw", "-i", "4096"]);
    ok(&["scram", "add", f, "bob", "-b", "bob-pw", "-i", "4096"]);
    assert_eq!(
        ok(&["scram", "list", f]),
        "alice (iterations 4096)\nbob (iterations 4096)\n"
    );
    ok(&["scram", "delete", f, "bob"]);
    assert_eq!(ok(&["scram", "list", f]), "alice (iterations 4096)\n");
    let low = run(&["scram", "add", f, "carol", "-b", "x", "-i", "100"]);
    assert!(!low.status.success(), "-i below 4096 refused");

    let b = broker(f);
    let port = b.1.to_string();
    let common = ["-h", "127.0.0.1", "-p", &port, "-V", "mqttv5"];
    let auth = [
        "--auth-method",
        "SCRAM-SHA-256",
        "-u",
        "alice",
        "-P",
        "alice-pw",
    ];
    let sub = Command::new(BIN)
        .arg("sub")
        .args(common)
        .args(auth)
        .args(["-t", "s/#", "-C", "1", "-W", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sub");
    // Publish until the subscriber has its message (it may subscribe after the first try).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut sub = sub;
    loop {
        if let Ok(Some(_)) = sub.try_wait() {
            break;
        }
        assert!(Instant::now() < deadline, "sub did not exit");
        let mut args = vec!["pub"];
        args.extend_from_slice(&common);
        args.extend_from_slice(&auth);
        args.extend_from_slice(&["-t", "s/x", "-m", "over-scram"]);
        ok(&args);
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = sub.wait_with_output().expect("sub output");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "over-scram\n");

    // Wrong password: refused (exit code and the broker's reason on stderr).
    let mut args = vec!["pub"];
    args.extend_from_slice(&common);
    args.extend_from_slice(&[
        "--auth-method",
        "SCRAM-SHA-256",
        "-u",
        "alice",
        "-P",
        "nope",
    ]);
    args.extend_from_slice(&["-t", "s/x", "-m", "x"]);
    let out = run(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("135") || err.contains("authorized"), "{err}");
    // Usage: 3.1.1 has no enhanced authentication; SCRAM needs -u and -P.
    let out = run(&[
        "pub",
        "-p",
        &port,
        "--auth-method",
        "SCRAM-SHA-256",
        "-u",
        "a",
        "-P",
        "b",
        "-t",
        "t",
        "-m",
        "m",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs -V mqttv5"));

    // The mqttv5 CLI's SCRAM client against this broker.
    if let Some(bin) = mqttv5() {
        let publish = |pw: &str| {
            Command::new(&bin)
                .args(["pub", "--non-interactive", "-H", "127.0.0.1", "-p", &port])
                .args(["-t", "s/y", "-m", "hi", "-q", "0", "--auth-method", "scram"])
                .args(["-u", "alice", "-P", pw])
                .output()
                .expect("mqttv5 pub")
        };
        let good = publish("alice-pw");
        assert!(
            good.status.success(),
            "{}",
            String::from_utf8_lossy(&good.stderr)
        );
        let bad = publish("wrong");
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("NotAuthorized"));
    } else {
        eprintln!("mqttv5 not installed: its SCRAM client not tried");
    }
}

fn mqttv5() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::var_os("XTASK_PEERS_DIR")
        .map(|d| PathBuf::from(d).join("bin"))
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|d| d.join("mqttv5"))
        .find(|p| p.is_file())
}
