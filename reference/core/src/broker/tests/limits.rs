//! Limits on what a client can make the broker keep: wills, sessions, silent sockets.

use alloc::vec;
use alloc::vec::Vec;

use super::*;

fn will_on(topic: &str) -> impl FnOnce(&mut Connect) + '_ {
    move |c: &mut Connect| {
        c.will = Some(WillMsg {
            topic: topic.into(),
            payload: b"w".to_vec(),
            qos: 0,
            retain: false,
            props: Props::default(),
        })
    }
}

/// A will is held to the same topic policy as a PUBLISH: a will on a denied topic or on a `$`
/// system topic is refused at CONNECT with 0x87 (3.1.1: return code 5), so it can never be
/// published.
#[test]
fn will_on_denied_or_system_topic_is_refused() {
    let mut p = Pair::new(Config {
        denied_topics: vec!["secret/#".into()],
        ..Config::default()
    });
    let watcher = p.connect(v5(), "watch");
    p.subscribe(watcher, "#", 0);
    p.subscribe(watcher, "$SYS/#", 0);
    for (version, topic, code) in [
        (v5(), "secret/x", 0x87),
        (v5(), "$SYS/broker/version", 0x87),
        (v3(), "secret/x", 5),
        (v3(), "$SYS/broker/version", 5),
    ] {
        let (i, ack) = p.connect_with(version, "w", will_on(topic));
        assert!(
            matches!(ack, Packet::ConnAck { code: c, .. } if c == code),
            "{topic}: {ack:?}"
        );
        assert!(p.closed(i));
    }
    p.assert_empty(watcher);
    // An allowed will is still accepted and published on an abnormal end.
    let (i, ack) = p.connect_with(v5(), "w", will_on("ok/w"));
    assert!(matches!(ack, Packet::ConnAck { code: 0, .. }), "{ack:?}");
    p.drop_conn(i);
    assert_eq!(p.recv_publish(watcher).topic, "ok/w");
}

/// Past `max_sessions` a CONNECT that would create a session is refused (0x97; 3.1.1 return
/// code 3); an existing session can still be resumed.
#[test]
fn session_cap_refuses_new_sessions_only() {
    let mut p = Pair::new(Config {
        max_sessions: 2,
        ..Config::default()
    });
    let (a, _) = p.connect_with(v5(), "a", |c| c.props.session_expiry = Some(100));
    p.drop_conn(a);
    let _b = p.connect(v5(), "b");
    let (c, ack) = p.connect_with(v5(), "c", |_| {});
    assert!(matches!(ack, Packet::ConnAck { code: 0x97, .. }), "{ack:?}");
    assert!(p.closed(c));
    let (_, ack) = p.connect_with(v3(), "c3", |c| c.clean_start = false);
    assert!(matches!(ack, Packet::ConnAck { code: 3, .. }), "{ack:?}");
    let (_, ack) = p.connect_with(v5(), "a", |c| c.clean_start = false);
    assert!(
        matches!(
            ack,
            Packet::ConnAck {
                code: 0,
                session_present: true,
                ..
            }
        ),
        "{ack:?}"
    );
}

/// 3.1.1 persistent sessions expire by default (`v311_session_expiry`, 7 days), so client ids
/// that never return do not stay forever.
#[test]
fn v311_persistent_sessions_expire_by_default() {
    let mut p = Pair::default();
    let (a, _) = p.connect_with(v3(), "gone", |c| c.clean_start = false);
    p.drop_conn(a);
    p.advance(7 * 24 * 3600 * 1000 - 1);
    assert!(p.broker.storage().session("gone").is_some());
    p.advance(1);
    assert!(p.broker.storage().session("gone").is_none());
}

/// Sockets that never send CONNECT do not count against `max_connections`, and past
/// `max_awaiting_connect` the one waiting longest is closed: a real client gets in at once.
#[test]
fn silent_sockets_cannot_keep_real_clients_out() {
    let mut p = Pair::new(Config {
        max_connections: 100,
        max_awaiting_connect: 50,
        ..Config::default()
    });
    let silent: Vec<usize> = (0..116).map(|_| p.open(v5())).collect();
    p.drive();
    // The first 66 were evicted, oldest first; the last 50 still wait.
    assert!(silent[..66].iter().all(|&i| p.closed(i)));
    assert!(silent[66..].iter().all(|&i| !p.closed(i)));
    let real = p.connect(v5(), "real");
    assert!(!p.closed(real));
    // Connected clients are not evicted by newcomers.
    for _ in 0..60 {
        p.open(v5());
    }
    p.drive();
    assert!(!p.closed(real));
}
