//! PUBLISH in both versions: delivery, QoS, acknowledgements, expiry.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::*;

#[test]
fn qos0_1_2_delivery_across_versions() {
    let mut p = Pair::default();
    let s5 = p.connect(v5(), "s5");
    let s3 = p.connect(v3(), "s3");
    p.subscribe(s5, "a/+", 2);
    p.subscribe(s3, "a/#", 2);
    let pb = p.connect(v5(), "pub");
    p.send(pb, &publish("a/b", 0, 0, b"zero"));
    assert_eq!(&*p.recv_publish(s5).payload, b"zero");
    assert_eq!(&*p.recv_publish(s3).payload, b"zero");

    p.send(pb, &publish("a/b", 1, 1, b"one"));
    assert_eq!(p.recv(pb), Some(ack(kind::PUBACK, 1)));
    let m = p.recv_publish(s3);
    assert_eq!((m.qos, &*m.payload), (1, &b"one"[..]));
    p.send(s3, &ack(kind::PUBACK, m.pid));

    p.send(pb, &publish("a/b", 2, 2, b"two"));
    assert_eq!(p.recv(pb), Some(ack(kind::PUBREC, 2)));
    // Resent before PUBREL: acknowledged, not forwarded again.
    let mut dup = publish("a/b", 2, 2, b"two");
    if let Packet::Publish(d) = &mut dup {
        d.dup = true;
    }
    p.send(pb, &dup);
    assert_eq!(p.recv(pb), Some(ack(kind::PUBREC, 2)));
    p.send(pb, &ack(kind::PUBREL, 2));
    assert_eq!(p.recv(pb), Some(ack(kind::PUBCOMP, 2)));

    let _q1 = p.recv_publish(s5);
    let m = p.recv_publish(s5);
    assert_eq!((m.qos, &*m.payload), (2, &b"two"[..]));
    p.assert_empty(s5);
    p.send(s5, &ack(kind::PUBREC, m.pid));
    assert_eq!(p.recv(s5), Some(ack(kind::PUBREL, m.pid)));
    p.send(s5, &ack(kind::PUBCOMP, m.pid));
    let m3 = p.recv_publish(s3);
    assert_eq!(m3.qos, 2);
    p.assert_empty(s3);
}

#[test]
fn qos_downgraded_to_subscription() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.subscribe(s, "x", 0);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("x", 2, 9, b"m"));
    assert_eq!(p.recv_publish(s).qos, 0);
}

#[test]
fn no_matching_subscribers_reason() {
    let mut p = Pair::default();
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("nobody", 1, 3, b"m"));
    assert_eq!(
        p.recv(pb),
        Some(Packet::Ack {
            kind: kind::PUBACK,
            pid: 3,
            code: 0x10,
            props: Props::default()
        })
    );
}

#[test]
fn inflight_resent_with_dup_on_resume_and_ids_not_reused() {
    let mut p = Pair::default();
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(100));
    p.subscribe(s, "t", 2);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("t", 1, 1, b"a"));
    p.send(pb, &publish("t", 2, 2, b"b"));
    let a = p.recv_publish(s);
    let b = p.recv_publish(s);
    assert_ne!(a.pid, b.pid);
    p.send(s, &ack(kind::PUBREC, b.pid));
    assert_eq!(p.recv(s), Some(ack(kind::PUBREL, b.pid)));
    p.drop_conn(s);
    let (s2, ack0) = p.connect_with(v5(), "s", |c| {
        c.clean_start = false;
        c.props.session_expiry = Some(100);
    });
    assert!(matches!(
        ack0,
        Packet::ConnAck {
            session_present: true,
            ..
        }
    ));
    let again = p.recv_publish(s2);
    assert!(again.dup);
    assert_eq!(again.pid, a.pid);
    assert_eq!(p.recv(s2), Some(ack(kind::PUBREL, b.pid)));
    // A new message does not reuse an identifier in flight.
    p.send(pb, &publish("t", 1, 3, b"c"));
    let c = p.recv_publish(s2);
    assert!(c.pid != a.pid && c.pid != b.pid);
}

#[test]
fn receive_maximum_of_client_limits_inflight() {
    let mut p = Pair::default();
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.receive_maximum = Some(2));
    p.subscribe(s, "t", 1);
    let pb = p.connect(v5(), "p");
    for i in 1..=5u16 {
        p.send(pb, &publish("t", 1, i, &[i as u8]));
    }
    let a = p.recv_publish(s);
    let _b = p.recv_publish(s);
    p.assert_empty(s);
    p.send(s, &ack(kind::PUBACK, a.pid));
    assert_eq!(&*p.recv_publish(s).payload, &[3]);
    p.assert_empty(s);
}

#[test]
fn receive_maximum_of_server_exceeded_is_0x93() {
    let mut p = Pair::new(Config {
        receive_maximum: 2,
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "t", 0);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("t", 2, 1, b""));
    p.send(pb, &publish("t", 2, 2, b""));
    p.send(pb, &publish("t", 2, 3, b""));
    assert_eq!(p.recv(pb), Some(ack(kind::PUBREC, 1)));
    assert_eq!(p.recv(pb), Some(ack(kind::PUBREC, 2)));
    assert_eq!(
        p.recv(pb),
        Some(Packet::Disconnect {
            code: 0x93,
            props: Props::default()
        })
    );
}

#[test]
fn too_large_for_subscriber_is_dropped() {
    let mut p = Pair::default();
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.maximum_packet_size = Some(30));
    p.subscribe(s, "t", 1);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("t", 1, 1, &[0u8; 100]));
    p.send(pb, &publish("t", 1, 2, b"small"));
    assert_eq!(&*p.recv_publish(s).payload, b"small");
    p.assert_empty(s);
}

#[test]
fn retained_store_replace_delete_and_flags() {
    let mut p = Pair::default();
    let pb = p.connect(v5(), "p");
    let mut r = publish("r/1", 1, 1, b"v1");
    if let Packet::Publish(x) = &mut r {
        x.retain = true;
    }
    p.send(pb, &r);
    if let Packet::Publish(x) = &mut r {
        x.payload = Arc::from(&b"v2"[..]);
        x.pid = 2;
    }
    p.send(pb, &r);
    let s = p.connect(v3(), "s");
    p.subscribe(s, "r/#", 1);
    let m = p.recv_publish(s);
    assert!(m.retain);
    assert_eq!(&*m.payload, b"v2");
    p.assert_empty(s);
    // Live delivery to an established subscription: retain cleared for 3.1.1.
    p.send(pb, &r);
    assert!(!p.recv_publish(s).retain);
    // Delete.
    if let Packet::Publish(x) = &mut r {
        x.payload = Arc::from(&b""[..]);
        x.pid = 3;
    }
    p.send(pb, &r);
    let _ = p.recv_publish(s);
    let s2 = p.connect(v5(), "s2");
    p.subscribe(s2, "r/#", 1);
    p.assert_empty(s2);
}

#[test]
fn retain_handling_and_retain_as_published() {
    let mut p = Pair::default();
    let pb = p.connect(v5(), "p");
    let mut r = publish("h", 0, 0, b"kept");
    if let Packet::Publish(x) = &mut r {
        x.retain = true;
    }
    p.send(pb, &r);
    let s = p.connect(v5(), "s");
    let sub_rh = |rh: u8, rap: bool| Packet::Subscribe {
        pid: 1,
        props: Props::default(),
        filters: vec![(
            "h".to_string(),
            SubOpts {
                qos: 0,
                retain_handling: rh,
                retain_as_published: rap,
                no_local: false,
            },
        )],
    };
    p.send(s, &sub_rh(2, false));
    let _ = p.recv(s);
    p.assert_empty(s);
    p.send(s, &sub_rh(1, true));
    let _ = p.recv(s);
    p.assert_empty(s); // subscription existed
    p.send(s, &sub_rh(0, true));
    let _ = p.recv(s);
    assert!(p.recv_publish(s).retain);
    p.send(pb, &r);
    assert!(p.recv_publish(s).retain, "retain as published");
}

#[test]
fn will_on_abnormal_close_not_on_normal_disconnect() {
    let mut p = Pair::default();
    let s = p.connect(v3(), "watcher");
    p.subscribe(s, "will/#", 1);
    let will = |c: &mut Connect| {
        c.will = Some(WillMsg {
            topic: "will/x".into(),
            payload: b"gone".to_vec(),
            qos: 1,
            retain: false,
            props: Props::default(),
        })
    };
    let (a, _) = p.connect_with(v5(), "a", will);
    p.send(
        a,
        &Packet::Disconnect {
            code: 0,
            props: Props::default(),
        },
    );
    p.assert_empty(s);
    let (b, _) = p.connect_with(v5(), "b", will);
    p.drop_conn(b);
    assert_eq!(&*p.recv_publish(s).payload, b"gone");
    let (c, _) = p.connect_with(v5(), "c", will);
    p.send(
        c,
        &Packet::Disconnect {
            code: 0x04,
            props: Props::default(),
        },
    );
    assert_eq!(&*p.recv_publish(s).payload, b"gone");
    // A DISCONNECT with an error code does not delete the will either (5.0 §3.1.2.5).
    let (d, _) = p.connect_with(v5(), "d", will);
    p.send(
        d,
        &Packet::Disconnect {
            code: 0x80,
            props: Props::default(),
        },
    );
    assert_eq!(&*p.recv_publish(s).payload, b"gone");
    // 3.1.1 DISCONNECT deletes it.
    let (e, _) = p.connect_with(v3(), "e", will);
    p.send(
        e,
        &Packet::Disconnect {
            code: 0,
            props: Props::default(),
        },
    );
    p.assert_empty(s);
}

#[test]
fn will_delay_and_cancel_on_resume() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "watcher");
    p.subscribe(s, "will/#", 0);
    let will = |c: &mut Connect| {
        c.clean_start = false;
        c.props.session_expiry = Some(60);
        let props = Props {
            will_delay: Some(5),
            ..Props::default()
        };
        c.will = Some(WillMsg {
            topic: "will/d".into(),
            payload: b"late".to_vec(),
            qos: 0,
            retain: false,
            props,
        });
    };
    let (a, _) = p.connect_with(v5(), "d", will);
    p.drop_conn(a);
    p.advance(4_000);
    p.assert_empty(s);
    p.advance(1_100);
    assert_eq!(&*p.recv_publish(s).payload, b"late");
    // Resume within the delay cancels it.
    let (b, _) = p.connect_with(v5(), "d", will);
    p.drop_conn(b);
    p.advance(2_000);
    let _c = p.connect_with(v5(), "d", will);
    p.advance(10_000);
    p.assert_empty(s);
}

#[test]
fn message_expiry_drops_and_forwards_remaining() {
    let mut p = Pair::default();
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(100));
    p.subscribe(s, "e", 1);
    p.drop_conn(s);
    let pb = p.connect(v5(), "p");
    let mut m = publish("e", 1, 1, b"short");
    if let Packet::Publish(x) = &mut m {
        x.props.message_expiry = Some(2);
    }
    p.send(pb, &m);
    if let Packet::Publish(x) = &mut m {
        x.props.message_expiry = Some(10);
        x.payload = Arc::from(&b"long"[..]);
        x.pid = 2;
    }
    p.send(pb, &m);
    p.advance(3_000);
    let (s2, _) = p.connect_with(v5(), "s", |c| c.clean_start = false);
    let got = p.recv_publish(s2);
    assert_eq!(&*got.payload, b"long");
    assert_eq!(got.props.message_expiry, Some(7));
    p.assert_empty(s2);
}

#[test]
fn dollar_topics_not_matched_by_wildcards_and_not_publishable() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.subscribe(s, "#", 0);
    p.subscribe(s, "$SYS/#", 0);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("$SYS/x", 1, 1, b"no"));
    assert_eq!(
        p.recv(pb),
        Some(Packet::Ack {
            kind: kind::PUBACK,
            pid: 1,
            code: 0x87,
            props: Props::default()
        })
    );
    p.assert_empty(s);
}

#[test]
fn properties_forwarded_unchanged() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.subscribe(s, "req", 0);
    let pb = p.connect(v5(), "p");
    let props = Props {
        payload_format: Some(1),
        content_type: Some("text/plain".into()),
        response_topic: Some("resp".into()),
        correlation_data: Some(vec![1, 2, 3]),
        user: vec![
            ("k".into(), "1".into()),
            ("a".into(), "2".into()),
            ("k".into(), "3".into()),
        ],
        ..Props::default()
    };
    let mut m = publish("req", 0, 0, b"hi");
    if let Packet::Publish(x) = &mut m {
        x.props = props.clone();
    }
    p.send(pb, &m);
    assert_eq!(p.recv_publish(s).props, props);
}

#[test]
fn slow_subscriber_is_bounded() {
    let mut p = Pair::new(Config {
        max_queued_messages: 10,
        max_outbound_bytes: 200,
        ..Config::default()
    });
    let s = p.connect(v5(), "slow");
    p.subscribe(s, "f", 0);
    p.clients[s].stalled = true;
    let pb = p.connect(v5(), "p");
    for _ in 0..1000 {
        p.send(pb, &publish("f", 0, 0, &[7u8; 50]));
    }
    let sess = p.broker.storage().session("slow").unwrap();
    assert!(sess.queue.len() <= 10);
    assert!(sess.dropped > 900);
    assert!(p.clients[s].inbox.len() < 10);
}

/// The `Dropped` events of `reason` so far, as (client id, dropped since last report, total,
/// qos).
fn drop_events(p: &mut Pair, reason: DropReason) -> Vec<(String, u64, u64, u8)> {
    let mut v = Vec::new();
    while let Some(ev) = p.broker.poll_event() {
        if let Event::Dropped {
            client_id,
            reason: r,
            dropped,
            total,
            qos,
        } = ev
        {
            if r == reason {
                v.push((client_id, dropped, total, qos));
            }
        }
    }
    v
}

fn queue_full_events(p: &mut Pair) -> Vec<(String, u64, u64, u8)> {
    drop_events(p, DropReason::QueueFull)
}

/// Expired messages and ones too large for the client are dropped as the protocol says, and
/// every drop is counted and reported with its reason.
#[test]
fn expired_and_too_large_drops_are_reported_with_their_reason() {
    let mut p = Pair::default();
    let (s, _) = p.connect_with(v5(), "s", |c| {
        c.props.session_expiry = Some(100);
        c.props.maximum_packet_size = Some(64);
    });
    p.subscribe(s, "d/#", 1);
    p.drop_conn(s);
    let pb = p.connect(v5(), "p");
    let mut short = publish("d/x", 1, 1, b"soon gone");
    if let Packet::Publish(x) = &mut short {
        x.props.message_expiry = Some(1);
    }
    p.send(pb, &short);
    p.send(pb, &publish("d/y", 1, 2, &[0u8; 100]));
    p.advance(2_000);
    while p.broker.poll_event().is_some() {}
    let (s2, _) = p.connect_with(v5(), "s", |c| {
        c.clean_start = false;
        c.props.maximum_packet_size = Some(64);
    });
    p.assert_empty(s2);
    assert_eq!(p.broker.storage().session("s").unwrap().dropped, 2);
    let mut evs = Vec::new();
    while let Some(ev) = p.broker.poll_event() {
        if let Event::Dropped {
            reason, dropped, ..
        } = ev
        {
            evs.push((reason, dropped));
        }
    }
    evs.sort();
    assert_eq!(
        evs,
        [(DropReason::Expired, 1), (DropReason::TooLargeForClient, 1)]
    );
}

#[test]
fn queue_drops_are_reported_once_per_interval_with_exact_counts() {
    let mut p = Pair::new(Config {
        max_queued_messages: 10,
        max_outbound_bytes: 200,
        ..Config::default()
    });
    let s = p.connect(v5(), "slow");
    p.subscribe(s, "f", 0);
    p.clients[s].stalled = true;
    let pb = p.connect(v5(), "p");
    assert!(queue_full_events(&mut p).is_empty());
    for _ in 0..1000 {
        p.send(pb, &publish("f", 0, 0, &[7u8; 50]));
    }
    // The first drop at once; the rest of the burst waits for the interval.
    assert_eq!(
        queue_full_events(&mut p),
        vec![("slow".to_string(), 1, 1, 0)]
    );
    p.now = p.now.add_millis(DROP_REPORT_MS - 1);
    p.send(pb, &publish("f", 0, 0, &[7u8; 50]));
    assert!(queue_full_events(&mut p).is_empty());
    p.now = p.now.add_millis(1);
    p.send(pb, &publish("f", 0, 0, &[7u8; 50]));
    let total = p.broker.storage().session("slow").unwrap().dropped;
    assert!(total > 900);
    // Everything since the first report, none lost between reports.
    assert_eq!(
        queue_full_events(&mut p),
        vec![("slow".to_string(), total - 1, total, 0)]
    );
    // A burst inside the interval is reported when the connection ends, not left unlogged.
    for _ in 0..5 {
        p.send(pb, &publish("f", 0, 0, &[7u8; 50]));
    }
    assert!(queue_full_events(&mut p).is_empty());
    p.drop_conn(s);
    assert_eq!(
        queue_full_events(&mut p),
        vec![("slow".to_string(), 5, total + 5, 0)]
    );
}

#[test]
fn qos1_queue_drops_are_reported() {
    let mut p = Pair::new(Config {
        max_queued_messages: 2,
        queue_overflow: QueueOverflow::DropOldest,
        ..Config::default()
    });
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(100));
    p.subscribe(s, "l", 1);
    p.drop_conn(s);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("l", 1, 1, b"a1"));
    p.send(pb, &publish("l", 1, 2, b"b1"));
    assert!(queue_full_events(&mut p).is_empty());
    p.send(pb, &publish("l", 1, 3, b"c1")); // evicts a1, a QoS 1 message
    assert_eq!(queue_full_events(&mut p), vec![("s".to_string(), 1, 1, 1)]);
}

/// A step that fans several messages out to several subscribers hands the driver one transmit
/// per subscriber, holding every PUBLISH for it in order — not one buffer per delivery.
#[test]
fn one_step_is_one_transmit_per_receiver() {
    let mut p = Pair::default();
    let publisher = p.connect(v5(), "pub");
    let subs: Vec<usize> = (0..3)
        .map(|i| {
            let s = p.connect(v5(), ["s0", "s1", "s2"][i]);
            p.subscribe(s, "t", 0);
            s
        })
        .collect();
    let mut burst = Vec::new();
    for n in 0..5u8 {
        burst.extend(testwire::encode(&publish("t", 0, 0, &[n]), v5()));
    }
    let publisher_conn = p.clients[publisher].conn;
    p.broker.handle_bytes(publisher_conn, p.now, &burst);
    let mut transmits = Vec::new();
    while let Some(o) = p.broker.poll_output() {
        if let Output::Transmit { conn, data } = o {
            transmits.push((conn, data));
        }
    }
    assert_eq!(transmits.len(), subs.len(), "one transmit per receiver");
    for (conn, data) in transmits {
        let c = p
            .clients
            .iter_mut()
            .find(|c| c.conn == conn)
            .expect("a subscriber");
        c.raw.extend_from_slice(&data);
        c.unreported += data.len();
    }
    p.drive();
    for s in subs {
        let got: Vec<Vec<u8>> = (0..5).map(|_| p.recv_publish(s).payload.to_vec()).collect();
        assert_eq!(got, (0..5u8).map(|n| vec![n]).collect::<Vec<_>>());
        p.assert_empty(s);
    }
}

/// A QoS 0 message goes straight to a subscriber only when nothing waits before it: behind a
/// QoS 1 message held by a full in-flight window it waits its turn, in order.
#[test]
fn qos0_does_not_overtake_queued_messages() {
    let mut p = Pair::new(Config {
        max_inflight: 1,
        ..Config::default()
    });
    let publisher = p.connect(v5(), "pub");
    let s = p.connect(v5(), "sub");
    p.subscribe(s, "t", 1);
    p.send(publisher, &publish("t", 1, 1, b"a"));
    p.send(publisher, &publish("t", 1, 2, b"b"));
    p.send(publisher, &publish("t", 0, 0, b"c"));
    let first = p.recv_publish(s);
    assert_eq!(&first.payload[..], b"a");
    p.assert_empty(s);
    p.send(s, &ack(kind::PUBACK, first.pid));
    let second = p.recv_publish(s);
    assert_eq!(&second.payload[..], b"b");
    let third = p.recv_publish(s);
    assert_eq!((&third.payload[..], third.qos), (&b"c"[..], 0));
    // With nothing waiting, the next QoS 0 message goes out at once.
    p.send(s, &ack(kind::PUBACK, second.pid));
    p.send(publisher, &publish("t", 0, 0, b"d"));
    assert_eq!(&p.recv_publish(s).payload[..], b"d");
    p.assert_empty(s);
}
