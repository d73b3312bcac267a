//! Backpressure: an acknowledgement is a promise (`engine/flow.rs`).

use alloc::vec::Vec;

use super::*;

/// The promise: a burst of QoS 1 far past the queue limit, to a subscriber that acknowledges
/// only later. No message is dropped; the publisher's PUBACKs are withheld while the queue is
/// full and all arrive, in order, as the subscriber catches up.
#[test]
fn qos1_burst_holds_the_publisher_instead_of_dropping() {
    let mut p = Pair::new(small_queues());
    let s = p.connect(v5(), "s");
    p.subscribe(s, "b", 1);
    let pb = p.connect(v5(), "p");
    for pid in 1..=40u16 {
        p.send(pb, &publish("b", 1, pid, &pid.to_be_bytes()));
    }
    // 5 in flight + 10 queued; the PUBLISH that filled the queue and every one after wait.
    let early = p.acks(pb, kind::PUBACK);
    assert_eq!(early, (1..=14).collect::<Vec<u16>>());
    let sess = p.broker.storage().session("s").unwrap();
    assert_eq!(sess.dropped, 0);
    assert_eq!(sess.queue.len(), 35);
    let got = p.ack_all(s);
    assert_eq!(counters(&got), (1..=40).collect::<Vec<u16>>());
    assert_eq!(p.acks(pb, kind::PUBACK), (15..=40).collect::<Vec<u16>>());
    assert_eq!(p.broker.storage().session("s").unwrap().dropped, 0);
}

/// QoS 2: the PUBREC is what waits; a resent PUBLISH for a waiting id gets no second PUBREC.
#[test]
fn qos2_pubrec_is_withheld_in_order() {
    let mut p = Pair::new(small_queues());
    let s = p.connect(v5(), "s");
    p.subscribe(s, "b", 2);
    let pb = p.connect(v5(), "p");
    for pid in 1..=20u16 {
        p.send(pb, &publish("b", 2, pid, b"x"));
    }
    assert_eq!(p.acks(pb, kind::PUBREC), (1..=14).collect::<Vec<u16>>());
    // A duplicate of a message whose PUBREC waits: not forwarded again, not answered twice.
    if let Packet::Publish(mut d) = publish("b", 2, 18, b"x") {
        d.dup = true;
        p.send(pb, &Packet::Publish(d));
    }
    p.assert_empty(pb);
    assert_eq!(p.ack_all(s).len(), 20);
    assert_eq!(p.acks(pb, kind::PUBREC), (15..=20).collect::<Vec<u16>>());
}

/// A 5.0 publisher that ignores its send quota while PUBACKs are withheld breaks 5.0 §3.3.4
/// ([MQTT-3.3.4-7]): DISCONNECT 0x93.
#[test]
fn withheld_puback_counts_against_receive_maximum() {
    let mut p = Pair::new(Config {
        receive_maximum: 20,
        ..small_queues()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "b", 1);
    let pb = p.connect(v5(), "p");
    for pid in 1..=34u16 {
        p.send(pb, &publish("b", 1, pid, b"x"));
    }
    assert!(!p.closed(pb));
    p.send(pb, &publish("b", 1, 35, b"x")); // the 21st unacknowledged
    assert!(p.closed(pb));
    let last = core::iter::from_fn(|| p.recv(pb)).last();
    assert!(
        matches!(last, Some(Packet::Disconnect { code: 0x93, .. })),
        "{last:?}"
    );
}

/// A 3.1.1 publisher has no quota: at `receive_maximum` withheld PUBACKs it is not read until
/// they are released; what it sent meanwhile is handled after, in order.
#[test]
fn v311_publisher_is_paused_at_receive_maximum() {
    let mut p = Pair::new(Config {
        receive_maximum: 8,
        ..small_queues()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "b", 1);
    let pb = p.connect(v3(), "p");
    for pid in 1..=30u16 {
        p.send(pb, &publish("b", 1, pid, &pid.to_be_bytes()));
    }
    assert!(p.clients[pb].paused);
    assert!(!p.closed(pb));
    assert_eq!(p.acks(pb, kind::PUBACK), (1..=14).collect::<Vec<u16>>());
    // The subscriber catches up: the publisher is resumed and its buffered PUBLISHes handled.
    let got = p.ack_all(s);
    assert!(!p.clients[pb].paused);
    assert_eq!(counters(&got), (1..=30).collect::<Vec<u16>>());
    assert_eq!(p.acks(pb, kind::PUBACK), (15..=30).collect::<Vec<u16>>());
}

/// One subscriber that never acknowledges must not stall the others: after
/// `slow_subscriber_timeout_ms` it is disconnected with 0x97, and the publisher and the healthy
/// subscriber carry on; the healthy one misses nothing.
#[test]
fn stuck_subscriber_is_cut_off_and_the_healthy_one_gets_everything() {
    let mut p = Pair::new(small_queues());
    let good = p.connect(v5(), "good");
    p.subscribe(good, "b", 1);
    let stuck = p.connect(v5(), "stuck");
    p.subscribe(stuck, "b", 1);
    let pb = p.connect(v5(), "p");
    let mut got = Vec::new();
    for pid in 1..=40u16 {
        p.send(pb, &publish("b", 1, pid, &pid.to_be_bytes()));
        got.extend(p.ack_all(good));
    }
    assert_eq!(p.acks(pb, kind::PUBACK).len(), 14);
    p.advance(9_999);
    assert!(!p.closed(stuck));
    p.advance(1);
    assert!(p.closed(stuck));
    let last = core::iter::from_fn(|| p.recv(stuck)).last();
    assert!(
        matches!(last, Some(Packet::Disconnect { code: 0x97, .. })),
        "{last:?}"
    );
    assert_eq!(p.acks(pb, kind::PUBACK), (15..=40).collect::<Vec<u16>>());
    got.extend(p.ack_all(good));
    assert_eq!(counters(&got), (1..=40).collect::<Vec<u16>>());
    assert_eq!(p.broker.storage().session("good").unwrap().dropped, 0);
    assert!(p.broker.storage().session("good").unwrap().queue.is_empty());
}

/// A client that publishes to its own subscription in a burst drains its own queue: its
/// PUBACKs for deliveries are read while its own acknowledgements are withheld.
#[test]
fn publishing_to_ones_own_subscription_does_not_deadlock() {
    let mut p = Pair::new(small_queues());
    let c = p.connect(v3(), "loop");
    p.subscribe(c, "me", 1);
    let mut got = 0;
    let mut acks = 0;
    for pid in 1..=50u16 {
        p.send(c, &publish("me", 1, pid, b"x"));
        while let Some(pk) = p.recv(c) {
            match pk {
                Packet::Publish(x) => {
                    got += 1;
                    p.send(c, &ack(kind::PUBACK, x.pid));
                }
                Packet::Ack { .. } => acks += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!((got, acks), (50, 50));
    assert!(!p.closed(c));
}

/// A QoS 1 message for the full queue of a session without a connection ends that session by
/// default (no session that exists misses an acknowledged message); its client sees Session
/// Present 0.
#[test]
fn full_offline_queue_discards_the_session_by_default() {
    let mut p = Pair::new(small_queues());
    let (s, _) = p.connect_with(v5(), "off", |c| c.props.session_expiry = Some(100));
    p.subscribe(s, "b", 1);
    p.drop_conn(s);
    let pb = p.connect(v5(), "p");
    for pid in 1..=10u16 {
        p.send(pb, &publish("b", 1, pid, b"x"));
    }
    assert!(p.broker.storage().session("off").is_some());
    while p.broker.poll_event().is_some() {}
    p.send(pb, &publish("b", 1, 11, b"x"));
    assert!(p.broker.storage().session("off").is_none());
    let evs: Vec<Event> = core::iter::from_fn(|| p.broker.poll_event()).collect();
    assert!(evs.contains(&Event::SessionDiscarded {
        client_id: "off".into(),
        queued: 10
    }));
    // Every PUBACK went out at once: nobody waits for a session without a connection.
    assert_eq!(p.acks(pb, kind::PUBACK), (1..=11).collect::<Vec<u16>>());
    let (_, ack) = p.connect_with(v5(), "off", |c| c.clean_start = false);
    assert!(
        matches!(
            ack,
            Packet::ConnAck {
                session_present: false,
                code: 0,
                ..
            }
        ),
        "{ack:?}"
    );
}

/// A peer that sends PINGREQs and never reads: past twice `max_outbound_bytes` unwritten it is
/// not read any more, so its replies stay bounded; once they are written it is read again.
#[test]
fn peer_not_reading_its_replies_is_paused() {
    let mut p = Pair::new(Config {
        max_outbound_bytes: 1000,
        ..Config::default()
    });
    let c = p.connect(v5(), "flood");
    p.clients[c].stalled = true;
    for _ in 0..5000 {
        p.send_raw(c, &[0xC0, 0x00]);
    }
    assert!(p.clients[c].paused);
    assert!(!p.closed(c));
    // Answered up to the bound; the rest is kept, unparsed.
    let answered = p.clients[c].inbox.len();
    assert!((1000..=1002).contains(&answered), "{answered}");
    p.clients[c].stalled = false;
    p.drive();
    assert!(!p.clients[c].paused);
    assert_eq!(p.clients[c].inbox.len(), 5000);
}

/// With the default (large) delivery budget, replies alone pause a peer that does not read
/// them: past 64 KiB of unwritten PINGRESPs (32,768 of them), not 8 MiB.
#[test]
fn unread_replies_are_bounded_apart_from_deliveries() {
    let mut p = Pair::default();
    let c = p.connect(v5(), "flood");
    p.clients[c].stalled = true;
    let flood = [0xC0u8, 0x00].repeat(1000);
    for _ in 0..100 {
        p.send_raw(c, &flood);
    }
    assert!(p.clients[c].paused);
    let answered = p.clients[c].inbox.len();
    assert!((32_768..=33_768).contains(&answered), "{answered}");
    // A subscriber's deliveries do not count as replies: it keeps being read.
    let s = p.connect(v5(), "s");
    p.subscribe(s, "big", 0);
    p.clients[s].stalled = true;
    let pb = p.connect(v5(), "p");
    for _ in 0..200 {
        p.send(pb, &publish("big", 0, 0, &[0u8; 1000]));
    }
    assert!(!p.clients[s].paused);
    p.send(s, &Packet::PingReq);
    assert!(p.clients[s]
        .inbox
        .iter()
        .any(|x| matches!(x, Packet::PingResp)));
}

/// A paused publisher's last words count: a DISCONNECT it sent before closing, still unparsed
/// because it was paused, makes the end normal (no will), and its PUBLISHes are forwarded.
#[test]
fn paused_connection_closing_has_its_buffered_packets_handled() {
    let mut p = Pair::new(Config {
        receive_maximum: 4,
        ..small_queues()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "b", 1);
    p.subscribe(s, "w", 0);
    let (pb, _) = p.connect_with(v3(), "p", |c| {
        c.will = Some(WillMsg {
            topic: "w".into(),
            payload: b"will".to_vec(),
            qos: 0,
            retain: false,
            props: Props::default(),
        })
    });
    for pid in 1..=20u16 {
        p.send(pb, &publish("b", 1, pid, &pid.to_be_bytes()));
    }
    assert!(p.clients[pb].paused);
    p.send(
        pb,
        &Packet::Disconnect {
            code: 0,
            props: Props::default(),
        },
    );
    p.drop_conn(pb);
    let got = p.ack_all(s);
    assert!(got.iter().all(|x| x.topic == "b"), "no will: {got:?}");
    assert_eq!(counters(&got), (1..=20).collect::<Vec<u16>>());
}

/// A peer paused for not reading its replies closes with PINGREQs still buffered: they are
/// parsed (see above) but their answers go nowhere — the engine speaks no more of it.
#[test]
fn closed_connection_gets_no_answers_to_its_buffered_packets() {
    let mut p = Pair::new(Config {
        max_outbound_bytes: 1000,
        ..Config::default()
    });
    let c = p.connect(v5(), "flood");
    p.clients[c].stalled = true;
    for _ in 0..2000 {
        p.send_raw(c, &[0xC0, 0x00]);
    }
    assert!(p.clients[c].paused);
    // The harness fails on any output for a connection after it closed.
    p.drop_conn(c);
    assert_eq!(p.broker.connection_count(), 0);
}
