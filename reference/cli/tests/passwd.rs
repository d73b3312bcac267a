//! `mqttref passwd` (create, batch, stdin, delete, plaintext upgrade) and `mqttref broker`
//! refusing to start on a malformed password file.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use mqttref_broker::auth::PasswordFile;

const BIN: &str = env!("CARGO_BIN_EXE_mqttref");

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mqttref-passwd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn users(f: &PasswordFile) -> Vec<&str> {
    f.entries.iter().map(|(u, _)| u.as_str()).collect()
}

#[test]
fn create_batch_stdin_delete_upgrade() {
    let d = dir("ops");
    let file = d.join("passwd");
    let f = file.to_str().expect("utf-8 path");
    let ok = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("passwd")
            .args(args)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Without -c, a missing file is an error.
    let out = Command::new(BIN)
        .args(["passwd", "-b", f, "alice", "pw"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    ok(&["-c", "-b", f, "alice", "alice-pw"]);
    ok(&["-b", f, "bob", "bob-pw"]);
    // Not a terminal: the password is stdin's first line.
    let mut child = Command::new(BIN)
        .args(["passwd", f, "carol"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"carol-pw\n")
        .expect("write");
    assert!(child.wait().expect("wait").success());
    let loaded = PasswordFile::load(&file).expect("valid file");
    assert_eq!(users(&loaded), ["alice", "bob", "carol"]);
    assert!(loaded.entries[2].1.starts_with("$argon2id$"));
    ok(&["-D", f, "bob"]);
    assert_eq!(
        users(&PasswordFile::load(&file).expect("valid")),
        ["alice", "carol"]
    );
    // -U hashes a plaintext file in place.
    let plain = d.join("plain");
    std::fs::write(&plain, "dave:dave-pw\n").expect("write");
    ok(&["-U", plain.to_str().expect("utf-8")]);
    let up = PasswordFile::load(&plain).expect("hashed file");
    assert_eq!(users(&up), ["dave"]);
    assert!(!up.entries[0].1.contains("dave-pw"));
}

#[test]
fn broker_refuses_a_malformed_password_file() {
    let d = dir("bad");
    let file = d.join("passwd");
    std::fs::write(&file, "alice:not-a-hash\n").expect("write");
    let out = Command::new(BIN)
        .args(["broker", "--listen", "127.0.0.1:0", "--password-file"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:1: user `alice`: not a PHC string",
            file.display()
        )),
        "{err}"
    );
}
