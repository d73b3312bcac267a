//! Retained messages: index, limits, paced delivery (`engine/retained.rs`).

use alloc::string::String;
use alloc::vec::Vec;

use super::*;

fn retained(topic: &str, qos: u8, pid: u16, payload: &[u8]) -> Packet {
    let mut m = publish(topic, qos, pid, payload);
    if let Packet::Publish(x) = &mut m {
        x.retain = true;
    }
    m
}

/// Far more retained messages than a queue holds all reach a `#` subscriber, paced by its
/// acknowledgements; none is dropped (the queue used to cut them off at its limit).
#[test]
fn every_retained_message_reaches_a_new_subscription() {
    let mut p = Pair::new(small_queues());
    let pb = p.connect(v5(), "p");
    for i in 0..3000u32 {
        p.send(
            pb,
            &retained(&alloc::format!("r/{i}"), 0, 0, &i.to_be_bytes()),
        );
    }
    let s = p.connect(v5(), "s");
    p.subscribe(s, "r/#", 1);
    let got = p.ack_all(s);
    assert_eq!(got.len(), 3000);
    assert!(got.iter().all(|x| x.retain));
    let sess = p.broker.storage().session("s").unwrap();
    assert_eq!(sess.dropped, 0);
    assert!(sess.retained_backlog.is_empty());
}

/// A retained message replaced while still owed is not sent in its old form after the new one
/// (the new one arrives live); a deleted one is not sent at all.
#[test]
fn retained_owed_but_replaced_or_deleted_is_skipped() {
    let mut p = Pair::new(small_queues());
    let pb = p.connect(v5(), "p");
    for i in 0..30u16 {
        p.send(pb, &retained(&alloc::format!("r/{i:02}"), 1, i + 1, b"old"));
    }
    let s = p.connect(v5(), "s");
    p.subscribe(s, "r/#", 1);
    // 5 in flight, 10 queued, 15 owed. Replace r/29, delete r/28, both still owed.
    p.send(pb, &retained("r/29", 1, 31, b"new"));
    p.send(pb, &retained("r/28", 1, 32, b""));
    let got = p.ack_all(s);
    let r29: Vec<&[u8]> = got
        .iter()
        .filter(|x| x.topic == "r/29")
        .map(|x| &x.payload[..])
        .collect();
    assert_eq!(r29, [b"new"]);
    assert!(got
        .iter()
        .all(|x| x.topic != "r/28" || x.payload.is_empty()));
    assert_eq!(got.iter().filter(|x| x.topic.starts_with("r/")).count(), 30);
}

/// Past `max_retained`, a new retained topic is refused visibly: 0x97 to a 5.0 QoS 1
/// publisher (not forwarded), and for 3.1.1 forwarded, not stored, reported. Replacing an
/// existing one still works.
#[test]
fn retained_store_full_is_refused_visibly() {
    let mut p = Pair::new(Config {
        max_retained: 2,
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "t/#", 0);
    let pb = p.connect(v5(), "p");
    p.send(pb, &retained("t/a", 1, 1, b"a"));
    p.send(pb, &retained("t/b", 1, 2, b"b"));
    p.send(pb, &retained("t/c", 1, 3, b"c"));
    let codes: Vec<u8> = core::iter::from_fn(|| p.recv(pb))
        .map(|a| match a {
            Packet::Ack { code, .. } => code,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, [0, 0, 0x97]);
    let topics: Vec<String> = core::iter::from_fn(|| p.recv(s))
        .map(|x| match x {
            Packet::Publish(x) => x.topic,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(topics, ["t/a", "t/b"]);
    assert!(p.broker.storage().retained("t/c").is_none());
    p.send(pb, &retained("t/a", 1, 4, b"a2"));
    assert!(matches!(p.recv(pb), Some(Packet::Ack { code: 0, .. })));
    assert_eq!(p.recv_publish(s).payload.to_vec(), b"a2");
    let p3 = p.connect(v3(), "p3");
    while p.broker.poll_event().is_some() {}
    p.send(p3, &retained("t/d", 1, 1, b"d"));
    assert!(matches!(p.recv(p3), Some(Packet::Ack { .. })));
    assert_eq!(p.recv_publish(s).topic, "t/d");
    assert!(p.broker.storage().retained("t/d").is_none());
    let evs: Vec<Event> = core::iter::from_fn(|| p.broker.poll_event()).collect();
    assert!(evs.contains(&Event::RetainedRefused {
        topic: "t/d".into(),
        client_id: Some("p3".into())
    }));
}
