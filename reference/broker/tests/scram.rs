//! SCRAM-SHA-256 enhanced authentication over real sockets: the reference client against the
//! broker's `scram_file` (login, wrong password, malformed client-first, a User Name that is
//! not the SCRAM user, re-authentication that passes and one that fails), the file's errors
//! at startup, and the reference client against the `mqttv5` broker's SCRAM when it is
//! installed.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::start;
use mqttref_broker::scram::ScramFile;
use mqttref_broker::{Broker, BrokerConfig};
use mqttref_client::scram::ScramClient;
use mqttref_client::{Authenticator, Client, ClientError, ClientOptions};
use mqttref_client::{ProtocolVersion, PublishProperties, QoS};
use mqttref_core::codec::ReasonCode;

fn scram_config(name: &str) -> BrokerConfig {
    let d = std::env::temp_dir().join(format!("mqttref-scram-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    let mut f = ScramFile::default();
    f.set("alice", "alice-pw", 4096).expect("random salt");
    f.set("bob", "bob-pw", 4096).expect("random salt");
    let path = d.join("scram");
    f.save(&path).expect("write scram file");
    let acl = d.join("acl");
    std::fs::write(&acl, "user alice\ntopic readwrite alice/#\n").expect("write acl");
    BrokerConfig {
        scram_file: Some(path),
        acl_file: Some(acl),
        ..BrokerConfig::default()
    }
}

fn options(addr: std::net::SocketAddr, id: &str) -> ClientOptions {
    ClientOptions::new(addr.ip().to_string(), addr.port(), id)
}

fn refused_with(r: Result<(Client, mqttref_client::Incoming), ClientError>) -> ReasonCode {
    match r {
        Err(ClientError::Refused { reason_code, .. }) => reason_code,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, got CONNACK 0x00"),
    }
}

#[tokio::test]
async fn login_acl_and_reauthentication() {
    let b = start(scram_config("login")).await;
    let (client, mut incoming) = Client::connect(
        options(b.addr, "alice-1")
            .with_credentials("alice", None)
            .with_authenticator(ScramClient::new("alice", "alice-pw")),
    )
    .await
    .expect("SCRAM login");
    // [MQTT-4.12.0-5]: the successful CONNACK names the method.
    assert_eq!(
        client.connack().authentication_method.as_deref(),
        Some("SCRAM-SHA-256")
    );
    // The ACL judges the proven user: alice/# is hers.
    let sub = client
        .subscribe_one("alice/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    assert!(sub.is_success());
    // Re-authentication on the live connection, twice, with messages flowing around it.
    client.reauthenticate().await.expect("re-authentication");
    client
        .publish(
            "alice/x",
            b"1".to_vec(),
            QoS::AtLeastOnce,
            false,
            PublishProperties::default(),
        )
        .await
        .expect("publish");
    client
        .reauthenticate()
        .await
        .expect("second re-authentication");
    let m = tokio::time::timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("message in time")
        .expect("message");
    assert_eq!(m.topic, "alice/x");
    client.disconnect().await.expect("disconnect");
    b.stop().await;
}

#[tokio::test]
async fn refusals_before_connack() {
    let b = start(scram_config("refusals")).await;
    // Wrong password: the proof does not verify, CONNACK 0x87 ([MQTT-4.12.0-4]).
    let r = Client::connect(
        options(b.addr, "c1").with_authenticator(ScramClient::new("alice", "wrong")),
    )
    .await;
    assert_eq!(refused_with(r), ReasonCode::NotAuthorized);
    // Unknown user: the same answer.
    let r =
        Client::connect(options(b.addr, "c2").with_authenticator(ScramClient::new("mallory", "x")))
            .await;
    assert_eq!(refused_with(r), ReasonCode::NotAuthorized);
    // Bob's SCRAM credentials under alice's User Name: refused, or bob would get her ACL.
    let r = Client::connect(
        options(b.addr, "c3")
            .with_credentials("alice", None)
            .with_authenticator(ScramClient::new("bob", "bob-pw")),
    )
    .await;
    assert_eq!(refused_with(r), ReasonCode::NotAuthorized);
    // Malformed client-first.
    let r =
        Client::connect(options(b.addr, "c4").with_authenticator(Fixed(b"hello".to_vec()))).await;
    assert_eq!(refused_with(r), ReasonCode::NotAuthorized);
    // Without a method, anonymous clients are refused once a SCRAM file is configured:
    // 0x87 for 5.0, return code 5 for 3.1.1.
    let r = Client::connect(options(b.addr, "c5")).await;
    assert_eq!(refused_with(r), ReasonCode::NotAuthorized);
    let r = Client::connect(options(b.addr, "c6").with_version(ProtocolVersion::V3_1_1)).await;
    assert_eq!(refused_with(r), ReasonCode::NotAuthorized);
    // A method the broker lacks: 0x8C ([MQTT-4.12.0-1]).
    let r = Client::connect(
        options(b.addr, "c7").with_authenticator(Fixed(b"x".to_vec()).named("SCRAM-SHA-1")),
    )
    .await;
    assert_eq!(refused_with(r), ReasonCode::BadAuthenticationMethod);
    b.stop().await;
}

#[tokio::test]
async fn failed_reauthentication_is_disconnect_0x87() {
    let b = start(scram_config("reauth")).await;
    let (client, _incoming) = Client::connect(
        options(b.addr, "alice-2")
            .with_credentials("alice", None)
            .with_authenticator(Switch {
                first: ScramClient::new("alice", "alice-pw"),
                then: ScramClient::new("alice", "not-her-password"),
                started: 0,
            }),
    )
    .await
    .expect("SCRAM login");
    let e = client
        .reauthenticate()
        .await
        .expect_err("the wrong proof is refused");
    // [MQTT-4.12.1-2]: DISCONNECT with the code, then the close.
    assert!(
        e.to_string().contains("DISCONNECT") && e.to_string().contains("0x87"),
        "{e}"
    );
    b.stop().await;
}

#[tokio::test]
async fn reauthentication_cannot_change_the_user() {
    let b = start(scram_config("reauth-user")).await;
    let (client, _incoming) = Client::connect(
        options(b.addr, "alice-3")
            .with_credentials("alice", None)
            .with_authenticator(Switch {
                first: ScramClient::new("alice", "alice-pw"),
                then: ScramClient::new("bob", "bob-pw"),
                started: 0,
            }),
    )
    .await
    .expect("SCRAM login");
    let e = client
        .reauthenticate()
        .await
        .expect_err("bob's valid credentials do not re-authenticate alice");
    assert!(e.to_string().contains("0x87"), "{e}");
    b.stop().await;
}

#[tokio::test]
async fn malformed_scram_file_stops_the_broker() {
    let d = std::env::temp_dir().join(format!("mqttref-scram-bad-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    let path = d.join("scram");
    std::fs::write(&path, "# users\nalice:AAAA:4096:AAAA\n").expect("write");
    let err = Broker::bind(BrokerConfig {
        listen: vec!["127.0.0.1:0".into()],
        scram_file: Some(path.clone()),
        ..BrokerConfig::default()
    })
    .await
    .expect_err("bad scram file");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: 4 fields, expected user:salt:iterations:stored_key:server_key",
            path.display()
        )
    );
}

/// The reference client's SCRAM against the `mqttv5` broker's (`mqttv5 broker --auth-method
/// scram --scram-file F`), with a file written by `mqttref`'s [`ScramFile`].
#[tokio::test]
async fn reference_client_against_the_mqttv5_broker() {
    let Some(bin) = mqttv5() else {
        eprintln!("skipping: mqttv5 not installed (cargo xtask bench --install, or PATH)");
        return;
    };
    let d = std::env::temp_dir().join(format!("mqttref-scram-mqttv5-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    let mut f = ScramFile::default();
    f.set("alice", "alice-pw", 10_000).expect("random salt");
    f.save(&d.join("scram")).expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = std::process::Command::new(bin)
        .current_dir(&d)
        .args(["broker", "--host", &format!("127.0.0.1:{port}")])
        .args(["--auth-method", "scram", "--scram-file", "scram"])
        .args(["--storage-backend", "memory", "--non-interactive"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start mqttv5");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = Client::connect(
        options(addr, "ref-1")
            .with_credentials("alice", None)
            .with_authenticator(ScramClient::new("alice", "alice-pw")),
    )
    .await;
    let bad = Client::connect(
        options(addr, "ref-2")
            .with_credentials("alice", None)
            .with_authenticator(ScramClient::new("alice", "wrong")),
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let (client, _incoming) = ok.expect("SCRAM login to mqttv5, server signature verified");
    drop(client);
    assert!(
        matches!(bad, Err(ClientError::Refused { .. })),
        "wrong password refused: {:?}",
        bad.err()
    );
}

fn mqttv5() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::var_os("XTASK_PEERS_DIR")
        .map(|d| PathBuf::from(d).join("bin"))
        .into_iter()
        .chain(std::env::split_paths(&path));
    dirs.map(|d| d.join("mqttv5")).find(|p| p.is_file())
}

/// An authenticator that sends fixed data and never continues.
struct Fixed(Vec<u8>);

impl Fixed {
    fn named(self, method: &'static str) -> Named {
        Named(self, method)
    }
}

impl Authenticator for Fixed {
    fn method(&self) -> String {
        "SCRAM-SHA-256".into()
    }
    fn initial_data(&mut self) -> Option<Vec<u8>> {
        Some(self.0.clone())
    }
    fn step(&mut self, _: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        Err("no second step".into())
    }
}

/// [`Fixed`] under another method name.
struct Named(Fixed, &'static str);

impl Authenticator for Named {
    fn method(&self) -> String {
        self.1.into()
    }
    fn initial_data(&mut self) -> Option<Vec<u8>> {
        self.0.initial_data()
    }
    fn step(&mut self, c: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        self.0.step(c)
    }
}

/// `first` for the CONNECT's exchange, `then` for every re-authentication.
struct Switch {
    first: ScramClient,
    then: ScramClient,
    started: u32,
}

impl Switch {
    fn current(&mut self) -> &mut ScramClient {
        if self.started <= 1 {
            &mut self.first
        } else {
            &mut self.then
        }
    }
}

impl Authenticator for Switch {
    fn method(&self) -> String {
        "SCRAM-SHA-256".into()
    }
    fn initial_data(&mut self) -> Option<Vec<u8>> {
        self.started += 1;
        self.current().initial_data()
    }
    fn step(&mut self, c: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        self.current().step(c)
    }
    fn success(&mut self, data: Option<&[u8]>) -> Result<(), String> {
        self.current().success(data)
    }
}

/// After `max_login_failures_per_address` refused logins from 127.0.0.1, even a correct one
/// is closed on arrival until the window ends; with the limit off (0) it is not.
#[tokio::test]
async fn failed_logins_are_limited_per_address() {
    for limit in [3, 0] {
        let b = start(BrokerConfig {
            max_login_failures_per_address: limit,
            login_failure_window_secs: 600,
            ..scram_config(&format!("limit-{limit}"))
        })
        .await;
        for i in 0..3 {
            let r = Client::connect(
                options(b.addr, &format!("guess-{i}"))
                    .with_authenticator(ScramClient::new("alice", "guess")),
            )
            .await;
            assert_eq!(refused_with(r), ReasonCode::NotAuthorized);
        }
        let r = Client::connect(
            options(b.addr, "alice-late")
                .with_credentials("alice", None)
                .with_authenticator(ScramClient::new("alice", "alice-pw")),
        )
        .await;
        if limit == 0 {
            assert!(r.is_ok(), "no limit: {:?}", r.err());
        } else {
            match r {
                Err(ClientError::Refused { .. }) | Ok(_) => {
                    panic!("expected the connection closed on arrival")
                }
                Err(_) => {}
            }
        }
        b.stop().await;
    }
}
