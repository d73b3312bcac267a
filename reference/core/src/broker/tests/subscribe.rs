//! SUBSCRIBE and UNSUBSCRIBE: codes, options, retained messages on subscribe.

use alloc::string::{String, ToString};
use alloc::vec;

use super::*;

#[test]
fn suback_codes_per_filter() {
    let mut p = Pair::new(Config {
        maximum_qos: 1,
        wildcard_subscriptions: false,
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.send(
        s,
        &Packet::Subscribe {
            pid: 5,
            props: Props::default(),
            filters: vec![
                (
                    "ok".into(),
                    SubOpts {
                        qos: 2,
                        ..SubOpts::default()
                    },
                ),
                ("wild/#".into(), SubOpts::default()),
                (
                    "$share/g/y".into(),
                    SubOpts {
                        qos: 0,
                        ..SubOpts::default()
                    },
                ),
            ],
        },
    );
    assert_eq!(
        p.recv(s),
        Some(Packet::SubAck {
            pid: 5,
            props: Props::default(),
            codes: vec![1, 0xA2, 0]
        })
    );
    let s3 = p.connect(v3(), "s3");
    p.send(
        s3,
        &Packet::Subscribe {
            pid: 6,
            props: Props::default(),
            filters: vec![("a/+".into(), SubOpts::default())],
        },
    );
    assert_eq!(
        p.recv(s3),
        Some(Packet::SubAck {
            pid: 6,
            props: Props::default(),
            codes: vec![0x80]
        })
    );
}

#[test]
fn malformed_topic_filter_is_a_decode_error() {
    // The shared codec rejects a filter that breaks the wildcard rules while decoding the
    // SUBSCRIBE (as Mosquitto does): DISCONNECT with its reason code 0x8F, then close.
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.send(s, &sub(1, "bad/#/x", 0));
    assert_eq!(
        p.recv(s),
        Some(Packet::Disconnect {
            code: 0x8F,
            props: Props::default()
        })
    );
    assert!(p.closed(s));
    let s3 = p.connect(v3(), "s3");
    p.send(s3, &sub(1, "a+", 0));
    assert_eq!(p.recv(s3), None);
    assert!(p.closed(s3));
}

#[test]
fn shared_subscriptions_disabled_gives_0x9e() {
    let mut p = Pair::new(Config {
        shared_subscriptions: false,
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.send(s, &sub(1, "$share/g/t", 0));
    assert_eq!(
        p.recv(s),
        Some(Packet::SubAck {
            pid: 1,
            props: Props::default(),
            codes: vec![0x9E]
        })
    );
}

#[test]
fn unsubscribe_codes() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.subscribe(s, "a", 0);
    p.send(
        s,
        &Packet::Unsubscribe {
            pid: 2,
            props: Props::default(),
            filters: vec!["a".into(), "b".into()],
        },
    );
    assert_eq!(
        p.recv(s),
        Some(Packet::UnsubAck {
            pid: 2,
            props: Props::default(),
            codes: vec![0, 0x11]
        })
    );
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("a", 0, 0, b"x"));
    p.assert_empty(s);
}

#[test]
fn subscription_identifiers_and_overlap() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    let with_id = |filter: &str, id: u32, qos: u8| Packet::Subscribe {
        pid: 1,
        props: Props {
            subscription_ids: vec![id],
            ..Props::default()
        },
        filters: vec![(
            filter.to_string(),
            SubOpts {
                qos,
                ..SubOpts::default()
            },
        )],
    };
    p.send(s, &with_id("a/+", 7, 0));
    let _ = p.recv(s);
    p.send(s, &with_id("a/#", 9, 1));
    let _ = p.recv(s);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("a/b", 1, 1, b"x"));
    let m = p.recv_publish(s);
    assert_eq!(m.qos, 1);
    let mut ids = m.props.subscription_ids.clone();
    ids.sort_unstable();
    assert_eq!(ids, vec![7, 9]);
    p.assert_empty(s);
}

#[test]
fn no_local() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.send(
        s,
        &Packet::Subscribe {
            pid: 1,
            props: Props::default(),
            filters: vec![(
                "n".into(),
                SubOpts {
                    no_local: true,
                    ..SubOpts::default()
                },
            )],
        },
    );
    let _ = p.recv(s);
    p.send(s, &publish("n", 0, 0, b"self"));
    p.assert_empty(s);
    let o = p.connect(v5(), "o");
    p.send(o, &publish("n", 0, 0, b"other"));
    assert_eq!(&*p.recv_publish(s).payload, b"other");
}

#[test]
fn shared_subscription_round_robin() {
    let mut p = Pair::default();
    let a = p.connect(v5(), "a");
    let b = p.connect(v5(), "b");
    p.subscribe(a, "$share/g/w", 0);
    p.subscribe(b, "$share/g/w", 0);
    let pb = p.connect(v5(), "p");
    for _ in 0..10 {
        p.send(pb, &publish("w", 0, 0, b"job"));
    }
    let na = p.clients[a].inbox.len();
    let nb = p.clients[b].inbox.len();
    assert_eq!(na + nb, 10);
    assert_eq!(na, 5);
}

#[test]
fn inbound_topic_alias() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.subscribe(s, "long/topic", 0);
    let pb = p.connect(v5(), "p");
    let mut m = publish("long/topic", 0, 0, b"1");
    if let Packet::Publish(x) = &mut m {
        x.props.topic_alias = Some(3);
    }
    p.send(pb, &m);
    if let Packet::Publish(x) = &mut m {
        x.topic = String::new();
    }
    p.send(pb, &m);
    assert_eq!(p.recv_publish(s).topic, "long/topic");
    assert_eq!(p.recv_publish(s).topic, "long/topic");
    if let Packet::Publish(x) = &mut m {
        x.props.topic_alias = Some(65);
    }
    p.send(pb, &m);
    assert_eq!(
        p.recv(pb),
        Some(Packet::Disconnect {
            code: 0x94,
            props: Props::default()
        })
    );
}

#[test]
fn response_information_and_redirect() {
    let mut p = Pair::new(Config {
        response_information: Some("resp/".into()),
        ..Config::default()
    });
    let (_, ack) = p.connect_with(v5(), "r", |c| c.props.request_response_info = Some(1));
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.response_info.as_deref(), Some("resp/r"));
    let mut q = Pair::new(Config {
        redirect: Some(Redirect {
            reference: "other:1883".into(),
            permanent: false,
        }),
        ..Config::default()
    });
    let (i, ack) = q.connect_with(v5(), "r", |_| {});
    let Packet::ConnAck { code, props, .. } = ack else {
        panic!()
    };
    assert_eq!(code, 0x9C);
    assert_eq!(props.server_reference.as_deref(), Some("other:1883"));
    assert!(q.closed(i));
}

#[test]
fn max_connections() {
    let mut p = Pair::new(Config {
        max_connections: 1,
        ..Config::default()
    });
    p.connect(v5(), "one");
    let (i, ack) = p.connect_with(v5(), "two", |_| {});
    assert!(matches!(ack, Packet::ConnAck { code: 0x97, .. }));
    assert!(p.closed(i));
}
