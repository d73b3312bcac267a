//! `mqttref pub`, `sub` and `bench` over TLS, WebSocket and QUIC, as a user runs them:
//! Mosquitto's TLS flags and `-L` URLs of every scheme, against `mqttref broker` processes with
//! mqtts://, ws://, wss:// and quic:// listeners. The certificates are generated here with rcgen; the server's
//! names only `localhost`, so `-h 127.0.0.1` needs `--insecure`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

const BIN: &str = env!("CARGO_BIN_EXE_mqttref");

struct Pki {
    dir: PathBuf,
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    garbage: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("mqttref-cli-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(vec!["localhost".into()]);
        let (client_cert, client_key) = leaf(vec!["client.test".into()]);
        let write = |file: &str, text: &str| {
            let p = dir.join(file);
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_owned()
        };
        Pki {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            garbage: write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n"),
            dir,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `mqttref broker` with mqtts://, ws://, wss:// and quic:// listeners, killed on drop.
struct Broker {
    child: Child,
    mqtts: u16,
    ws: u16,
    wss: u16,
    quic: u16,
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn broker(pki: &Pki, require_certificate: bool) -> Broker {
    for _ in 0..5 {
        let (mqtts, ws, wss, quic) = (free_port(), free_port(), free_port(), free_udp_port());
        let mut args = vec![
            "broker".to_owned(),
            "--listen".into(),
            format!("mqtts://127.0.0.1:{mqtts}"),
            "--listen".into(),
            format!("ws://127.0.0.1:{ws}/mqtt"),
            "--listen".into(),
            format!("wss://127.0.0.1:{wss}/mqtt"),
            "--listen".into(),
            format!("quic://127.0.0.1:{quic}"),
            "--cert".into(),
            pki.server_cert.clone(),
            "--key".into(),
            pki.server_key.clone(),
            "--cafile".into(),
            pki.ca.clone(),
        ];
        if require_certificate {
            args.push("--require-certificate".into());
        }
        let child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Every listener is bound before any serves: the TCP ones accepting means the UDP
        // one is bound too.
        let mut b = Broker {
            child,
            mqtts,
            ws,
            wss,
            quic,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut up = false;
        while Instant::now() < deadline {
            if [mqtts, ws, wss]
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                up = true;
                break;
            }
            if let Ok(Some(_)) = b.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if up {
            return b;
        }
    }
    panic!("mqttref broker did not start");
}

fn mqttref(args: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    c
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// `sub -C 1` with `conn` (the connection flags), `pub` with the same until it has the message.
fn round_trip(conn: &[String], version: &str, topic: &str) {
    let mut sub_args = strings(&["sub", "-V", version, "-t", topic, "-C", "1", "-W", "15"]);
    sub_args.extend_from_slice(conn);
    let mut sub = mqttref(&sub_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pub_args = strings(&[
        "pub", "-V", version, "-t", topic, "-m", "over-tls", "-q", "1",
    ]);
    pub_args.extend_from_slice(conn);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(_)) = sub.try_wait() {
            break;
        }
        assert!(Instant::now() < deadline, "{conn:?}: sub did not exit");
        let out = mqttref(&pub_args).output().unwrap();
        assert!(
            out.status.success(),
            "{conn:?}: pub failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = sub.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{conn:?}: sub failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "over-tls\n",
        "{conn:?}"
    );
}

#[test]
fn pub_sub_over_tls_websocket_and_quic() {
    let pki = Pki::new("pubsub");
    let b = broker(&pki, false);
    let cases: Vec<Vec<String>> = vec![
        // mosquitto_pub's way: -h/-p and --cafile turns TLS on.
        strings(&[
            "-h",
            "localhost",
            "-p",
            &b.mqtts.to_string(),
            "--cafile",
            &pki.ca,
        ]),
        strings(&[
            "-L",
            &format!("mqtts://localhost:{}", b.mqtts),
            "--cafile",
            &pki.ca,
        ]),
        strings(&["-L", &format!("ws://localhost:{}/mqtt", b.ws)]),
        strings(&[
            "-L",
            &format!("wss://localhost:{}/mqtt", b.wss),
            "--cafile",
            &pki.ca,
        ]),
        // --capath: a directory of CA files.
        strings(&[
            "-L",
            &format!("wss://localhost:{}/mqtt", b.wss),
            "--capath",
            pki.dir.to_str().unwrap(),
            "--tls-version",
            "tlsv1.3",
        ]),
        strings(&[
            "-L",
            &format!("quic://localhost:{}", b.quic),
            "--cafile",
            &pki.ca,
        ]),
        // The certificate names localhost only: 127.0.0.1 needs --insecure.
        strings(&[
            "-h",
            "127.0.0.1",
            "-p",
            &b.mqtts.to_string(),
            "--cafile",
            &pki.ca,
            "--insecure",
            "--tls-version",
            "tlsv1.2",
        ]),
    ];
    for (i, conn) in cases.iter().enumerate() {
        for version in ["mqttv311", "mqttv5"] {
            round_trip(conn, version, &format!("cli-tls/{i}/{version}"));
        }
    }

    // Without --insecure the name mismatch is refused: exit 1, not a hang or a panic.
    let out = mqttref(&strings(&[
        "pub",
        "-h",
        "127.0.0.1",
        "-p",
        &b.mqtts.to_string(),
        "--cafile",
        &pki.ca,
        "-t",
        "x",
        "-m",
        "x",
    ]))
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate"), "{err}");
}

/// Mutual TLS: the broker requires client certificates; --cert/--key present one.
#[test]
fn pub_sub_with_client_certificates() {
    let pki = Pki::new("mtls");
    let b = broker(&pki, true);
    let cert = [
        "--cafile",
        &pki.ca,
        "--cert",
        &pki.client_cert,
        "--key",
        &pki.client_key,
    ];
    for url in [
        format!("mqtts://localhost:{}", b.mqtts),
        format!("wss://localhost:{}/mqtt", b.wss),
    ] {
        let mut conn = strings(&["-L", &url]);
        conn.extend(strings(&cert));
        round_trip(&conn, "mqttv5", &format!("cli-mtls/{}", url.len()));
        let out = mqttref(&strings(&[
            "pub", "-L", &url, "--cafile", &pki.ca, "-t", "x", "-m", "x", "-V", "mqttv5",
        ]))
        .output()
        .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{url}: connected without a certificate"
        );
    }
}

/// Bad paths and bad PEM: exit 1 with the file named (as mosquitto_pub's "Problem setting TLS
/// options"); impossible flag combinations: exit 2. Never a panic.
#[test]
fn bad_tls_flags_are_clear_errors() {
    let pki = Pki::new("bad");
    let missing = pki.dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let url = "mqtts://localhost:1";
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--cafile", missing], 1, "missing.pem"),
        (vec!["--cafile", &pki.garbage], 1, "garbage.pem"),
        (vec!["--capath", missing], 1, "missing.pem"),
        (
            vec![
                "--cafile",
                &pki.ca,
                "--cert",
                &pki.garbage,
                "--key",
                &pki.client_key,
            ],
            1,
            "garbage.pem",
        ),
        (
            vec![
                "--cafile",
                &pki.ca,
                "--cert",
                &pki.client_cert,
                "--key",
                &pki.garbage,
            ],
            1,
            "garbage.pem",
        ),
        // A key that is not the certificate's.
        (
            vec![
                "--cafile",
                &pki.ca,
                "--cert",
                &pki.client_cert,
                "--key",
                &pki.server_key,
            ],
            1,
            "client.pem",
        ),
        (
            vec!["--cafile", &pki.ca, "--cert", &pki.client_cert],
            2,
            "--key",
        ),
        (
            vec!["--cafile", &pki.ca, "--tls-version", "tlsv1.1"],
            2,
            "tlsv1.1",
        ),
    ];
    for cmd in ["pub", "sub"] {
        for (flags, code, named) in &cases {
            let mut args = vec![cmd, "-L", url, "-t", "x"];
            if cmd == "pub" {
                args.extend(["-m", "x"]);
            }
            args.extend(flags.iter().copied());
            let out = mqttref(&strings(&args)).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
            assert!(err.contains(named), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{args:?}: {err}");
        }
    }
    // TLS-only flags without TLS.
    let out = mqttref(&strings(&[
        "pub",
        "-p",
        "1",
        "-t",
        "x",
        "-m",
        "x",
        "--insecure",
    ]))
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need TLS"));
    // bench: the same files, a clear error.
    let out = mqttref(&strings(&["bench", "-L", url, "--cafile", missing]))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.pem") && !err.contains("panicked"),
        "{err}"
    );
}

/// `bench` over wss:// and mqtts://: every message delivered.
#[test]
fn bench_over_tls_websocket_and_quic() {
    let pki = Pki::new("bench");
    let b = broker(&pki, false);
    for url in [
        format!("wss://localhost:{}/mqtt", b.wss),
        format!("mqtts://localhost:{}", b.mqtts),
        format!("ws://localhost:{}/mqtt", b.ws),
        format!("quic://localhost:{}", b.quic),
    ] {
        // --cafile turns TLS on: given with ws:// it would make it wss://.
        let ca: &[&str] = if url.starts_with("ws:") {
            &[]
        } else {
            &["--cafile", &pki.ca]
        };
        for qos in ["0", "1"] {
            let mut args = strings(&["bench", "-L", &url]);
            args.extend(strings(ca));
            args.extend(strings(&[
                "-n",
                "200",
                "--publishers",
                "2",
                "--subscribers",
                "2",
                "-q",
                qos,
                "--json",
            ]));
            let out: Output = mqttref(&args).output().unwrap();
            assert!(
                out.status.success(),
                "{url} qos {qos}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json = String::from_utf8_lossy(&out.stdout);
            assert!(json.contains(&url), "{json}");
        }
    }
}
