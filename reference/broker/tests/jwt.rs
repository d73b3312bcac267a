//! JWT enhanced authentication over real sockets: the reference client's `JwtClient` against
//! the broker's `jwt_keys` (login and re-authentication; expired token, another key's
//! signature, `alg: none`, a User Name that is not the subject: each CONNACK 0x87), and the
//! `mqttv5` CLI's JWT client when it is installed.

mod common;

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use common::start;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mqttref_broker::jwt::JwtConfig;
use mqttref_broker::BrokerConfig;
use mqttref_client::{Client, ClientError, ClientOptions, JwtClient};
use mqttref_core::codec::ReasonCode;

const SECRET: &[u8] = b"jwt test secret, 32 bytes long!!";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn config(name: &str) -> BrokerConfig {
    let d = std::env::temp_dir().join(format!("mqttref-jwt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    let keys = d.join("keys.json");
    let set = format!(
        r#"{{"keys": [{{"kty": "oct", "kid": "k1", "alg": "HS256", "k": "{}"}}]}}"#,
        B64URL.encode(SECRET)
    );
    std::fs::write(&keys, set).expect("write keys");
    BrokerConfig {
        jwt: Some(JwtConfig {
            keys,
            issuer: None,
            audience: None,
        }),
        ..BrokerConfig::default()
    }
}

fn token(sub: &str, exp: u64, secret: &[u8]) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    encode(
        &h,
        &serde_json::json!({"sub": sub, "exp": exp}),
        &EncodingKey::from_secret(secret),
    )
    .expect("encode")
}

fn options(addr: std::net::SocketAddr, id: &str, t: String) -> ClientOptions {
    ClientOptions::new(addr.ip().to_string(), addr.port(), id).with_authenticator(JwtClient::new(t))
}

fn refusal(r: Result<(Client, mqttref_client::Incoming), ClientError>) -> ReasonCode {
    match r {
        Err(ClientError::Refused { reason_code, .. }) => reason_code,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, got CONNACK 0x00"),
    }
}

#[tokio::test]
async fn tokens_accepted_and_refused() {
    let b = start(config("login")).await;
    let good = token("alice", now() + 600, SECRET);
    let (client, _incoming) =
        Client::connect(options(b.addr, "j1", good.clone()).with_credentials("alice", None))
            .await
            .expect("JWT login");
    assert_eq!(
        client.connack().authentication_method.as_deref(),
        Some("JWT")
    );
    client
        .reauthenticate()
        .await
        .expect("re-authentication with the token");
    client.disconnect().await.expect("disconnect");

    let expired = token("alice", now() - 600, SECRET);
    let other_key = token("alice", now() + 600, b"not the broker's secret, at all!");
    let none = format!(
        "{}.{}.",
        B64URL.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        B64URL.encode(format!(r#"{{"sub":"alice","exp":{}}}"#, now() + 600))
    );
    for (what, t) in [
        ("expired", expired),
        ("another key", other_key),
        ("alg none", none),
    ] {
        let r = Client::connect(options(b.addr, "j2", t)).await;
        assert_eq!(refusal(r), ReasonCode::NotAuthorized, "{what}");
    }
    // A valid token for alice under bob's User Name.
    let r = Client::connect(options(b.addr, "j3", good).with_credentials("bob", None)).await;
    assert_eq!(refusal(r), ReasonCode::NotAuthorized);
    // Without a method: anonymous clients are refused once JWT is configured.
    let r = Client::connect(ClientOptions::new(
        b.addr.ip().to_string(),
        b.addr.port(),
        "j4",
    ))
    .await;
    assert_eq!(refusal(r), ReasonCode::NotAuthorized);
    b.stop().await;
}

/// The `mqttv5` CLI's JWT client (`--auth-method jwt --jwt-token`) against this broker.
#[tokio::test]
async fn mqttv5_cli_against_the_broker() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(bin) = std::env::var_os("XTASK_PEERS_DIR")
        .map(|d| PathBuf::from(d).join("bin"))
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|d| d.join("mqttv5"))
        .find(|p| p.is_file())
    else {
        eprintln!("skipping: mqttv5 not installed");
        return;
    };
    let b = start(config("mqttv5")).await;
    let port = b.addr.port().to_string();
    let publish = |t: String| {
        let bin = bin.clone();
        let port = port.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin)
                .args(["pub", "--non-interactive", "-H", "127.0.0.1", "-p", &port])
                .args(["-t", "j/x", "-m", "hi", "-q", "0", "--auth-method", "jwt"])
                .args(["--jwt-token", &t])
                .output()
                .expect("run mqttv5")
        })
    };
    let good = publish(token("alice", now() + 600, SECRET))
        .await
        .expect("join");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let bad = publish(token("alice", now() - 600, SECRET))
        .await
        .expect("join");
    assert!(!bad.status.success());
    b.stop().await;
}
