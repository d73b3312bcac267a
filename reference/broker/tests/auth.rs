//! Password authentication and ACL authorization over real sockets, with real files: both
//! protocol versions, and the bypass attempts of issue 14, each refused without leaking a
//! message.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{connect_packet, publish, start, subscribe, Raw};
use mqttref_broker::auth::PasswordFile;
use mqttref_broker::{Broker, BrokerConfig};
use mqttref_core::broker::testwire::{Connect, Packet, Props, ProtocolVersion, SubOpts, WillMsg};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

const ACL: &str = "\
# anonymous clients: none configured here (allow_anonymous is off)
user alice
topic readwrite alice/#
topic read r/#
topic deny r/secret/#
user bob
topic readwrite #
pattern readwrite users/%u/#
";

/// (user, password): `+`, `a#` and `users/bob` are users too, to try `%u` with them.
const USERS: [(&str, &str); 5] = [
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("+", "plus-pw"),
    // (A name starting with `#` cannot be stored: that line is a comment.)
    ("a#", "hash-pw"),
    ("users/bob", "slash-pw"),
];

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mqttref-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn files(name: &str) -> (PathBuf, PathBuf) {
    let d = dir(name);
    let mut f = PasswordFile::default();
    for (u, p) in USERS {
        f.set(u, p.as_bytes());
    }
    let passwd = d.join("passwd");
    f.save(&passwd).expect("write passwd");
    let acl = d.join("acl");
    std::fs::write(&acl, ACL).expect("write acl");
    (passwd, acl)
}

fn config(passwd: PathBuf, acl: PathBuf) -> BrokerConfig {
    BrokerConfig {
        password_file: Some(passwd),
        acl_file: Some(acl),
        ..BrokerConfig::default()
    }
}

fn login(v: ProtocolVersion, id: &str, user: Option<&str>, pw: Option<&str>) -> Connect {
    Connect {
        username: user.map(Into::into),
        password: pw.map(|p| p.as_bytes().to_vec()),
        ..connect_packet(v, id)
    }
}

fn connack_code(p: &Packet) -> u8 {
    match p {
        Packet::ConnAck { code, .. } => *code,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

async fn user(addr: std::net::SocketAddr, v: ProtocolVersion, id: &str, u: &str) -> Raw {
    let pw = USERS.iter().find(|(n, _)| *n == u).expect("known user").1;
    let (c, ack) = Raw::connect(addr, login(v, id, Some(u), Some(pw))).await;
    assert_eq!(connack_code(&ack), 0, "{u} logs in");
    c
}

async fn suback(c: &mut Raw, filters: &[&str]) -> Vec<u8> {
    c.send(&Packet::Subscribe {
        pid: 7,
        props: Props::default(),
        filters: filters
            .iter()
            .map(|f| {
                (
                    (*f).into(),
                    SubOpts {
                        qos: 1,
                        ..SubOpts::default()
                    },
                )
            })
            .collect(),
    })
    .await;
    match c.recv().await {
        Some(Packet::SubAck { codes, .. }) => codes,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

async fn puback(c: &mut Raw, p: Packet) -> u8 {
    c.send(&p).await;
    match c.recv().await {
        Some(Packet::Ack { code, .. }) => code,
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

/// What `c` receives within a short wait: the topics.
async fn received(c: &mut Raw) -> Vec<String> {
    let mut topics = Vec::new();
    while let Some(p) = c.recv_within(Duration::from_millis(300)).await {
        if let Packet::Publish(p) = p {
            topics.push(p.topic);
        }
    }
    topics
}

#[tokio::test]
async fn passwords_both_versions() {
    let (passwd, acl) = files("login");
    let b = start(config(passwd, acl)).await;
    for (v, bad_pw, no_user) in [(V5, 0x86, 0x87), (V3, 4, 5)] {
        let cases = [
            (Some("alice"), Some("alice-pw"), 0),
            (Some("alice"), Some("wrong"), bad_pw),
            (Some("alice"), None, bad_pw),
            (Some("nobody"), Some("alice-pw"), bad_pw),
            (None, None, no_user),
        ];
        for (i, (u, p, want)) in cases.into_iter().enumerate() {
            let (_c, ack) = Raw::connect(b.addr, login(v, &format!("l{i}"), u, p)).await;
            assert_eq!(connack_code(&ack), want, "{v:?} {u:?} {p:?}");
        }
    }
    b.stop().await;
}

#[tokio::test]
async fn acl_publish_subscribe_and_delivery() {
    let (passwd, acl) = files("acl");
    let b = start(config(passwd, acl)).await;
    let mut spy = user(b.addr, V5, "spy", "bob").await;
    subscribe(&mut spy, "#", 1).await;
    let mut alice = user(b.addr, V5, "alice5", "alice").await;
    // Allowed, then denied: 0x87 for QoS 1, silently dropped for QoS 0.
    assert_eq!(puback(&mut alice, publish("alice/ok", 1, 1, b"1")).await, 0);
    assert_eq!(puback(&mut alice, publish("bob/x", 1, 2, b"2")).await, 0x87);
    alice.send(&publish("bob/y", 0, 0, b"3")).await;
    // 3.1.1: dropped but acknowledged normally.
    let mut alice3 = user(b.addr, V3, "alice3", "alice").await;
    assert_eq!(puback(&mut alice3, publish("bob/z", 1, 3, b"4")).await, 0);
    assert_eq!(received(&mut spy).await, ["alice/ok"]);
    // SUBSCRIBE per filter; `$share/g/denied/#` is judged by its filter.
    let codes = suback(
        &mut alice,
        &["alice/#", "bob/#", "$share/g/bob/#", "r/secret/#", "#"],
    )
    .await;
    assert_eq!(codes, [1, 0x87, 0x87, 0x87, 0x87]);
    let codes = suback(&mut alice3, &["alice/#", "bob/#", "$share/g/bob/#"]).await;
    assert_eq!(codes, [1, 0x80, 0x80]);
    // Delivery: subscribed to r/#, alice never gets r/secret/..., retained or live.
    let mut bob = user(b.addr, V5, "bob5", "bob").await;
    let retained = |t: &str| {
        let mut p = publish(t, 1, 9, b"r");
        if let Packet::Publish(p) = &mut p {
            p.retain = true;
        }
        p
    };
    assert_eq!(puback(&mut bob, retained("r/open/x")).await, 0);
    assert_eq!(puback(&mut bob, retained("r/secret/x")).await, 0);
    let _ = received(&mut alice).await;
    assert_eq!(suback(&mut alice, &["r/#"]).await, [1]);
    assert_eq!(received(&mut alice).await, ["r/open/x"]);
    assert_eq!(
        puback(&mut bob, publish("r/secret/live", 1, 10, b"l")).await,
        0
    );
    assert_eq!(
        puback(&mut bob, publish("r/open/live", 1, 11, b"l")).await,
        0
    );
    assert_eq!(received(&mut alice).await, ["r/open/live"]);
    // Clean up the retained messages.
    for t in ["r/open/x", "r/secret/x"] {
        let mut p = retained(t);
        if let Packet::Publish(p) = &mut p {
            p.payload = Vec::new().into();
        }
        assert_eq!(puback(&mut bob, p).await, 0);
    }
    b.stop().await;
}

#[tokio::test]
async fn bypass_attempts_are_refused() {
    let (passwd, acl) = files("bypass");
    let b = start(config(passwd, acl)).await;
    let mut spy = user(b.addr, V5, "spy", "bob").await;
    subscribe(&mut spy, "#", 1).await;
    // `%u` with a wildcard or `/` in the user name never applies.
    for (i, u) in ["+", "a#", "users/bob"].into_iter().enumerate() {
        let mut c = user(b.addr, V5, &format!("w{i}"), u).await;
        let codes = suback(&mut c, &["users/+/#", "users/#", "users/bob/#"]).await;
        assert_eq!(codes, [0x87, 0x87, 0x87], "user {u}");
        assert_eq!(
            puback(&mut c, publish("users/bob/x", 1, 1, b"x")).await,
            0x87,
            "user {u}"
        );
    }
    // A plain user name does get its own subtree.
    let mut bob = user(b.addr, V5, "bobp", "bob").await;
    assert_eq!(suback(&mut bob, &["users/bob/#"]).await, [1]);
    // A topic alias set up by a refused PUBLISH, then used alone: still refused.
    let mut alice = user(b.addr, V5, "alias", "alice").await;
    let aliased = |topic: &str, pid: u16| {
        let mut p = publish(topic, 1, pid, b"a");
        if let Packet::Publish(p) = &mut p {
            p.props.topic_alias = Some(1);
        }
        p
    };
    assert_eq!(puback(&mut alice, aliased("bob/secret", 1)).await, 0x87);
    assert_eq!(puback(&mut alice, aliased("", 2)).await, 0x87);
    // A will on a denied topic: the CONNECT is refused, nothing is ever published.
    for (v, want) in [(V5, 0x87), (V3, 5)] {
        let mut c = login(v, "willer", Some("alice"), Some("alice-pw"));
        c.will = Some(WillMsg {
            topic: "bob/will".into(),
            payload: b"w".to_vec(),
            qos: 1,
            retain: false,
            props: Props::default(),
        });
        let (mut c, ack) = Raw::connect(b.addr, c).await;
        assert_eq!(connack_code(&ack), want, "{v:?}");
        assert_eq!(c.recv_within(Duration::from_millis(300)).await, None);
    }
    // The spy does see what is allowed: nothing above leaked.
    let mut bob2 = user(b.addr, V5, "bobq", "bob").await;
    assert_eq!(
        puback(&mut bob2, publish("users/bob/ok", 1, 3, b"k")).await,
        0
    );
    assert_eq!(received(&mut spy).await, ["users/bob/ok"]);
    b.stop().await;
}

#[tokio::test]
async fn malformed_files_stop_the_broker() {
    let d = dir("bad");
    let good_acl = d.join("acl");
    std::fs::write(&good_acl, "topic read #\n").expect("write");
    let passwd = d.join("passwd");
    std::fs::write(
        &passwd,
        "alice:$argon2id$v=19$m=19456,t=2,p=1$bad\n# c\nbob\n",
    )
    .expect("write");
    let err = Broker::bind(BrokerConfig {
        listen: vec!["127.0.0.1:0".into()],
        ..config(passwd.clone(), good_acl)
    })
    .await
    .expect_err("bad password file");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1: user `alice`", passwd.display())),
        "{err}"
    );
    let acl = d.join("acl2");
    std::fs::write(&acl, "user a\ntopic read a/#\ntopik read b\n").expect("write");
    let err = Broker::bind(BrokerConfig {
        listen: vec!["127.0.0.1:0".into()],
        acl_file: Some(acl.clone()),
        ..BrokerConfig::default()
    })
    .await
    .expect_err("bad acl file");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: unknown keyword `topik` (user, topic or pattern)",
            acl.display()
        )
    );
    let missing = d.join("missing");
    let err = Broker::bind(BrokerConfig {
        listen: vec!["127.0.0.1:0".into()],
        password_file: Some(missing),
        ..BrokerConfig::default()
    })
    .await
    .expect_err("missing file");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test]
async fn mosquitto_clients_against_the_password_file() {
    use std::process::{Command, Stdio};
    if Command::new("mosquitto_pub")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("skipping: mosquitto_pub not installed");
        return;
    }
    let (passwd, acl) = files("mosquitto");
    let b = start(config(passwd, acl)).await;
    let port = b.addr.port().to_string();
    let sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "alice",
            "-P",
            "alice-pw",
        ])
        .args(["-t", "alice/#", "-C", "1", "-W", "10", "-V", "mqttv5"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let publ = move |pw: &str, topic: &str| {
        Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-u", "alice", "-P", pw])
            .args(["-t", topic, "-m", "hello", "-q", "1"])
            .output()
            .expect("mosquitto_pub")
    };
    let bad = tokio::task::spawn_blocking({
        let publ = publ.clone();
        move || publ("wrong", "alice/m")
    });
    assert!(
        !bad.await.expect("join").status.success(),
        "a wrong password is refused"
    );
    let good = tokio::task::spawn_blocking(move || publ("alice-pw", "alice/m"));
    assert!(good.await.expect("join").status.success());
    let out = tokio::task::spawn_blocking(move || sub.wait_with_output())
        .await
        .expect("join")
        .expect("mosquitto_sub output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    b.stop().await;
}
