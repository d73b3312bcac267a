//! `mqttref acl` add, remove, list and check on a real file, and an edit the broker would
//! refuse left undone.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mqttref");

fn acl(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("acl")
        .args(args)
        .output()
        .expect("run mqttref acl")
}

fn ok(args: &[&str]) -> String {
    let out = acl(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn add_remove_list_check() {
    let d = std::env::temp_dir().join(format!("mqttref-cli-acl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    let file = d.join("acl");
    std::fs::write(&file, "# site rules\nuser alice\ntopic readwrite alice/#\n").expect("write");
    let f = file.to_str().expect("utf-8 path");
    ok(&["add", f, "read", "public/#"]);
    ok(&["add", f, "--user", "alice", "deny", "alice/secret/#"]);
    ok(&["add", f, "--user", "bob", "write", "bob/#"]);
    ok(&["add", f, "--pattern", "readwrite", "users/%u/#"]);
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "# site rules\ntopic read public/#\nuser alice\ntopic readwrite alice/#\n\
         topic deny alice/secret/#\nuser bob\ntopic write bob/#\npattern readwrite users/%u/#\n"
    );
    assert_eq!(
        ok(&["list", f]),
        "anonymous clients:\n  read public/#\nuser alice:\n  readwrite alice/#\n  deny alice/secret/#\n\
         user bob:\n  write bob/#\npatterns (every client):\n  readwrite users/%u/#\n"
    );
    // The same rule twice, a bad filter: refused, the file unchanged.
    let before = std::fs::read_to_string(&file).expect("read");
    assert!(!acl(&["add", f, "read", "public/#"]).status.success());
    let bad = acl(&["add", f, "--user", "bob", "read", "a/#/b"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("topic filter `a/#/b`"));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), before);

    let check = |args: &[&str]| {
        let mut a = vec!["check", f];
        a.extend_from_slice(args);
        let out = acl(&a);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    };
    assert_eq!(
        check(&["--user", "alice", "write", "alice/x"]),
        (Some(0), "allow".into())
    );
    assert_eq!(
        check(&["--user", "alice", "read", "alice/secret/k"]),
        (Some(1), "deny".into())
    );
    // `alice/#` is allowed (deliveries are judged one by one); the denied subtree is not.
    assert_eq!(
        check(&["--user", "alice", "subscribe", "alice/#"]),
        (Some(0), "allow".into())
    );
    assert_eq!(
        check(&["--user", "alice", "subscribe", "alice/secret/#"]),
        (Some(1), "deny".into())
    );
    assert_eq!(check(&["read", "public/news"]), (Some(0), "allow".into()));
    assert_eq!(
        check(&["--user", "carol", "write", "users/carol/x"]),
        (Some(0), "allow".into())
    );

    ok(&["remove", f, "--user", "alice", "deny", "alice/secret/#"]);
    assert_eq!(
        check(&["--user", "alice", "read", "alice/secret/k"]),
        (Some(0), "allow".into())
    );
    let missing = acl(&["remove", f, "--user", "alice", "deny", "alice/secret/#"]);
    assert!(!missing.status.success());
}
