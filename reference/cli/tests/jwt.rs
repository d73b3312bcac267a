//! `mqttref pub --auth-method JWT -P TOKEN` against `mqttref broker --jwt-keys`, as processes:
//! a valid token publishes, an expired one and one signed with another secret are refused.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

const BIN: &str = env!("CARGO_BIN_EXE_mqttref");
const SECRET: &[u8] = b"cli jwt test secret, 32 bytes!!!";

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn token(exp_from_now: i64, secret: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = now.saturating_add_signed(exp_from_now);
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k".into());
    encode(
        &h,
        &serde_json::json!({"sub": "alice", "exp": exp}),
        &EncodingKey::from_secret(secret),
    )
    .expect("encode")
}

#[test]
fn pub_with_a_token() {
    let d = std::env::temp_dir().join(format!("mqttref-cli-jwt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    let keys = d.join("keys.json");
    std::fs::write(
        &keys,
        format!(
            r#"{{"keys": [{{"kty": "oct", "kid": "k", "alg": "HS256", "k": "{}"}}]}}"#,
            B64URL.encode(SECRET)
        ),
    )
    .expect("write keys");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _b = Broker(
        Command::new(BIN)
            .args([
                "broker",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--jwt-keys",
            ])
            .arg(&keys)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start broker"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "broker did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let publish = |t: &str| {
        Command::new(BIN)
            .args([
                "pub",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-V",
                "mqttv5",
            ])
            .args([
                "--auth-method",
                "JWT",
                "-u",
                "alice",
                "-P",
                t,
                "-t",
                "j/x",
                "-m",
                "hi",
            ])
            .output()
            .expect("run pub")
    };
    let good = publish(&token(600, SECRET));
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    for bad in [
        token(-600, SECRET),
        token(600, b"another secret, not the broker's"),
    ] {
        let out = publish(&bad);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("135") || err.contains("authorized"), "{err}");
    }
}
