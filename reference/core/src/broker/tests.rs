//! Engine tests in the shape of quinn-proto's `Pair` harness: test clients and the engine wired
//! through in-memory queues with virtual time. No sockets; `advance` steps from timeout to
//! timeout; a fault is an edit to a queue (a client that stops reading, a dropped connection).

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::wire::{self, kind, Connect, Packet, Props, Publish, SubOpts, Version, WillMsg};
use super::*;
use crate::time::Instant;

struct Client {
    conn: ConnectionId,
    version: Version,
    /// Bytes from the engine not yet decoded.
    raw: Vec<u8>,
    inbox: VecDeque<Packet>,
    closed: bool,
    /// A stalled client does not read: its bytes are not reported written.
    stalled: bool,
    unreported: usize,
    /// The engine asked the driver to stop reading it ([`Output::Pause`]).
    paused: bool,
}

struct Pair {
    broker: Broker,
    now: Instant,
    clients: Vec<Client>,
    next_conn: u64,
}

fn v5() -> Version {
    Version::V5
}
fn v3() -> Version {
    Version::V311
}

fn connect_packet(version: Version, id: &str) -> Connect {
    Connect {
        version,
        clean_start: true,
        keep_alive: 0,
        props: Props::default(),
        client_id: id.to_string(),
        will: None,
        username: None,
        password: None,
    }
}

fn publish(topic: &str, qos: u8, pid: u16, payload: &[u8]) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.to_string(),
        pid,
        props: Props::default(),
        payload: Arc::from(payload),
    })
}

fn ack(k: u8, pid: u16) -> Packet {
    Packet::Ack {
        kind: k,
        pid,
        code: 0,
        props: Props::default(),
    }
}

fn sub(pid: u16, filter: &str, qos: u8) -> Packet {
    Packet::Subscribe {
        pid,
        props: Props::default(),
        filters: vec![(
            filter.to_string(),
            SubOpts {
                qos,
                ..SubOpts::default()
            },
        )],
    }
}

impl Pair {
    fn new(config: Config) -> Self {
        Pair {
            broker: Broker::new(config),
            now: Instant::from_secs(1000),
            clients: Vec::new(),
            next_conn: 1,
        }
    }

    fn default() -> Self {
        Self::new(Config::default())
    }

    fn with_auth(auth: impl Authenticator + Send + 'static) -> Self {
        let mut p = Self::default();
        p.broker = Broker::with_parts(
            Config::default(),
            MemoryStorage::new(),
            alloc::boxed::Box::new(auth),
        );
        p
    }

    /// Opens a connection without sending anything.
    fn open(&mut self, version: Version) -> usize {
        let conn = ConnectionId(self.next_conn);
        self.next_conn += 1;
        self.broker.handle_connect(conn, self.now);
        self.clients.push(Client {
            conn,
            version,
            raw: Vec::new(),
            inbox: VecDeque::new(),
            closed: false,
            stalled: false,
            unreported: 0,
            paused: false,
        });
        self.clients.len() - 1
    }

    /// Connects with a customised CONNECT; returns the client index and the CONNACK.
    fn connect_with(
        &mut self,
        version: Version,
        id: &str,
        f: impl FnOnce(&mut Connect),
    ) -> (usize, Packet) {
        let i = self.open(version);
        let mut c = connect_packet(version, id);
        f(&mut c);
        self.send(i, &Packet::Connect(c));
        let ack = self.recv(i).expect("CONNACK");
        (i, ack)
    }

    fn connect(&mut self, version: Version, id: &str) -> usize {
        let (i, ack) = self.connect_with(version, id, |_| {});
        assert!(matches!(ack, Packet::ConnAck { code: 0, .. }), "{ack:?}");
        i
    }

    fn send(&mut self, i: usize, p: &Packet) {
        let bytes = wire::encode(p, self.clients[i].version);
        self.send_raw(i, &bytes);
    }

    fn send_raw(&mut self, i: usize, bytes: &[u8]) {
        self.broker
            .handle_bytes(self.clients[i].conn, self.now, bytes);
        self.drive();
    }

    /// Moves engine output to the clients, reporting bytes written for clients that read.
    fn drive(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(o) = self.broker.poll_output() {
                progressed = true;
                match o {
                    Output::Transmit { conn, data } => {
                        let c = self
                            .clients
                            .iter_mut()
                            .find(|c| c.conn == conn)
                            .expect("client");
                        assert!(!c.closed, "transmit after close");
                        c.raw.extend_from_slice(&data);
                        c.unreported += data.len();
                    }
                    Output::Close { conn } => {
                        let c = self
                            .clients
                            .iter_mut()
                            .find(|c| c.conn == conn)
                            .expect("client");
                        c.closed = true;
                    }
                    Output::Pause { conn } | Output::Resume { conn } => {
                        let c = self
                            .clients
                            .iter_mut()
                            .find(|c| c.conn == conn)
                            .expect("client");
                        let pause = matches!(o, Output::Pause { .. });
                        assert_ne!(c.paused, pause, "pause state told twice");
                        c.paused = pause;
                    }
                }
            }
            let mut written = Vec::new();
            for c in &mut self.clients {
                while let Some((p, n)) =
                    wire::decode_full(&c.raw, c.version).expect("engine sent a valid packet")
                {
                    c.raw.drain(..n);
                    c.inbox.push_back(p);
                }
                if !c.stalled && !c.closed && c.unreported > 0 {
                    written.push((c.conn, c.unreported));
                    c.unreported = 0;
                }
            }
            for (conn, n) in written {
                progressed = true;
                self.broker.handle_written(conn, self.now, n);
            }
            if !progressed {
                break;
            }
        }
    }

    fn recv(&mut self, i: usize) -> Option<Packet> {
        self.clients[i].inbox.pop_front()
    }

    fn recv_publish(&mut self, i: usize) -> Publish {
        match self.recv(i) {
            Some(Packet::Publish(p)) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    fn assert_empty(&mut self, i: usize) {
        assert_eq!(self.clients[i].inbox.front(), None);
    }

    fn closed(&self, i: usize) -> bool {
        self.clients[i].closed
    }

    /// The peer drops its connection.
    fn drop_conn(&mut self, i: usize) {
        self.clients[i].closed = true;
        self.broker.handle_close(self.clients[i].conn, self.now);
        self.drive();
    }

    /// Advances virtual time by `ms`, firing every timeout on the way.
    fn advance(&mut self, ms: u64) {
        let end = self.now.add_millis(ms);
        while let Some(t) = self.broker.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.broker.handle_timeout(self.now);
            self.drive();
        }
        self.now = end;
        self.broker.handle_timeout(self.now);
        self.drive();
    }

    fn subscribe(&mut self, i: usize, filter: &str, qos: u8) {
        self.send(i, &sub(1, filter, qos));
        match self.recv(i) {
            Some(Packet::SubAck { codes, .. }) => assert!(codes[0] < 0x80, "{codes:?}"),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }
}

// ---- a. CONNECT / CONNACK / keep alive / DISCONNECT ----

#[test]
fn connect_both_versions() {
    let mut p = Pair::default();
    let (_, ack) = p.connect_with(v5(), "a", |_| {});
    let Packet::ConnAck {
        session_present,
        code,
        props,
    } = ack
    else {
        panic!()
    };
    assert!(!session_present);
    assert_eq!(code, 0);
    assert_eq!(props.receive_maximum, Some(1024));
    assert_eq!(props.topic_alias_maximum, Some(64));
    let (_, ack) = p.connect_with(v3(), "b", |_| {});
    assert_eq!(
        ack,
        Packet::ConnAck {
            session_present: false,
            code: 0,
            props: Props::default()
        }
    );
}

#[test]
fn first_packet_must_be_connect() {
    let mut p = Pair::default();
    let i = p.open(v5());
    p.send(i, &Packet::PingReq);
    assert!(p.closed(i));
    assert_eq!(p.recv(i), None);
}

#[test]
fn unsupported_protocol_level_gets_return_code_1() {
    let mut p = Pair::default();
    let i = p.open(v3());
    // MQTT 3.1 (MQIsdp, level 3).
    let mut body = vec![0, 6];
    body.extend_from_slice(b"MQIsdp");
    body.extend_from_slice(&[3, 2, 0, 60, 0, 1, b'x']);
    let mut pkt = vec![0x10, body.len() as u8];
    pkt.extend_from_slice(&body);
    p.send_raw(i, &pkt);
    assert_eq!(
        p.recv(i),
        Some(Packet::ConnAck {
            session_present: false,
            code: 1,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
}

#[test]
fn malformed_v5_connect_gets_connack_0x81() {
    let mut p = Pair::default();
    let i = p.open(v5());
    // Reserved connect flag bit 0 set.
    let mut bytes = wire::encode(&Packet::Connect(connect_packet(v5(), "x")), v5());
    bytes[9] |= 1;
    p.send_raw(i, &bytes);
    assert!(matches!(
        p.recv(i),
        Some(Packet::ConnAck { code: 0x81, .. })
    ));
    assert!(p.closed(i));
}

#[test]
fn assigned_client_identifier() {
    let mut p = Pair::default();
    let (_, ack) = p.connect_with(v5(), "", |_| {});
    let Packet::ConnAck { code: 0, props, .. } = ack else {
        panic!("{ack:?}")
    };
    let id = props.assigned_client_id.expect("assigned id");
    assert!(id.starts_with("mqttref-"));
    // Same seed, same id.
    let mut q = Pair::default();
    let (_, ack2) = q.connect_with(v5(), "", |_| {});
    let Packet::ConnAck { props: props2, .. } = ack2 else {
        panic!()
    };
    assert_eq!(props2.assigned_client_id.as_deref(), Some(id.as_str()));
}

#[test]
fn v311_empty_id_without_clean_session_is_rejected() {
    let mut p = Pair::default();
    let (i, ack) = p.connect_with(v3(), "", |c| c.clean_start = false);
    assert!(matches!(ack, Packet::ConnAck { code: 2, .. }));
    assert!(p.closed(i));
    let (_, ack) = p.connect_with(v3(), "", |_| {});
    assert!(matches!(ack, Packet::ConnAck { code: 0, .. }));
}

#[test]
fn auth_method_without_authenticator_gets_0x8c() {
    let mut p = Pair::default();
    let (i, ack) = p.connect_with(v5(), "a", |c| {
        c.props.auth_method = Some("SCRAM-SHA-1".into())
    });
    assert!(matches!(ack, Packet::ConnAck { code: 0x8C, .. }));
    assert!(p.closed(i));
}

#[test]
fn session_present_and_expiry() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(10));
    p.subscribe(i, "t", 1);
    p.send(
        i,
        &Packet::Disconnect {
            code: 0,
            props: Props::default(),
        },
    );
    assert!(p.closed(i));
    p.advance(5_000);
    let (j, ack) = p.connect_with(v5(), "s", |c| {
        c.clean_start = false;
        c.props.session_expiry = Some(10);
    });
    assert!(
        matches!(
            ack,
            Packet::ConnAck {
                session_present: true,
                ..
            }
        ),
        "{ack:?}"
    );
    p.drop_conn(j);
    p.advance(11_000);
    let (_, ack) = p.connect_with(v5(), "s", |c| c.clean_start = false);
    assert!(
        matches!(
            ack,
            Packet::ConnAck {
                session_present: false,
                ..
            }
        ),
        "expired: {ack:?}"
    );
}

#[test]
fn v311_clean_session_zero_persists() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v3(), "c", |c| c.clean_start = false);
    p.subscribe(i, "t/#", 1);
    p.drop_conn(i);
    let pb = p.connect(v5(), "pub");
    p.send(pb, &publish("t/1", 1, 7, b"while away"));
    assert_eq!(p.recv(pb), Some(ack(kind::PUBACK, 7)));
    let (j, ack) = p.connect_with(v3(), "c", |c| c.clean_start = false);
    assert!(matches!(
        ack,
        Packet::ConnAck {
            session_present: true,
            ..
        }
    ));
    let m = p.recv_publish(j);
    assert_eq!(&*m.payload, b"while away");
}

#[test]
fn session_takeover_sends_0x8e() {
    let mut p = Pair::default();
    let a = p.connect(v5(), "dup");
    let b = p.connect(v5(), "dup");
    assert_eq!(
        p.recv(a),
        Some(Packet::Disconnect {
            code: 0x8E,
            props: Props::default()
        })
    );
    assert!(p.closed(a));
    assert!(!p.closed(b));
    // 3.1.1: just closed.
    let c = p.connect(v3(), "dup3");
    let _d = p.connect(v3(), "dup3");
    assert_eq!(p.recv(c), None);
    assert!(p.closed(c));
}

#[test]
fn keep_alive_is_enforced_at_one_and_a_half() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v5(), "k", |c| c.keep_alive = 10);
    p.advance(14_000);
    assert!(!p.closed(i));
    p.send(i, &Packet::PingReq);
    assert_eq!(p.recv(i), Some(Packet::PingResp));
    p.advance(14_900);
    assert!(!p.closed(i));
    p.advance(200);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x8D,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
}

#[test]
fn server_keep_alive_from_config() {
    let mut p = Pair::new(Config {
        server_keep_alive: Some(5),
        ..Config::default()
    });
    let (i, ack) = p.connect_with(v5(), "k", |c| c.keep_alive = 100);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, Some(5));
    p.advance(7_600);
    assert!(p.closed(i));
}

#[test]
fn connect_timeout_closes_silent_connections() {
    let mut p = Pair::default();
    let i = p.open(v5());
    p.advance(10_001);
    assert!(p.closed(i));
}

#[test]
fn malformed_packet_after_connect_gets_disconnect_0x81() {
    let mut p = Pair::default();
    let i = p.connect(v5(), "m");
    // PUBLISH with QoS 3.
    p.send_raw(i, &[0x36, 0x03, 0x00, 0x01, b'a']);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x81,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
    let j = p.connect(v3(), "m3");
    p.send_raw(j, &[0x36, 0x03, 0x00, 0x01, b'a']);
    assert_eq!(p.recv(j), None);
    assert!(p.closed(j));
}

#[test]
fn packet_too_large_is_refused_from_the_header() {
    let mut p = Pair::new(Config {
        max_packet_size: 100,
        ..Config::default()
    });
    let (i, ack) = p.connect_with(v5(), "big", |_| {});
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.maximum_packet_size, Some(100));
    // Header only: Remaining Length 200.
    p.send_raw(i, &[0x30, 0xC8, 0x01]);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x95,
            props: Props::default()
        })
    );
}

#[test]
fn second_connect_is_a_protocol_error() {
    let mut p = Pair::default();
    let i = p.connect(v5(), "twice");
    p.send(i, &Packet::Connect(connect_packet(v5(), "twice")));
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
}

#[test]
fn bytes_split_anywhere() {
    let mut p = Pair::default();
    let i = p.open(v5());
    let bytes = wire::encode(&Packet::Connect(connect_packet(v5(), "split")), v5());
    for b in &bytes {
        p.send_raw(i, core::slice::from_ref(b));
    }
    assert!(matches!(p.recv(i), Some(Packet::ConnAck { code: 0, .. })));
}

// ---- b. PUBLISH ----

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

/// The `QueueFull` events so far, as (client id, dropped since last report, total, qos).
fn queue_full_events(p: &mut Pair) -> Vec<(String, u64, u64, u8)> {
    let mut v = Vec::new();
    while let Some(ev) = p.broker.poll_event() {
        if let Event::QueueFull {
            client_id,
            dropped,
            total,
            qos,
        } = ev
        {
            v.push((client_id, dropped, total, qos));
        }
    }
    v
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

// ---- c. SUBSCRIBE / UNSUBSCRIBE ----

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

// ---- enhanced authentication ----

/// Method "TEST": challenge "c", expects "r"; re-authentication the same way.
struct ChallengeAuth;

impl Authenticator for ChallengeAuth {
    fn authenticate(&mut self, req: &AuthRequest<'_>) -> AuthDecision {
        match req.method {
            Some("TEST") => AuthDecision::Continue(b"c".to_vec()),
            Some(_) => AuthDecision::Deny(0x8C),
            None if req.username == Some("bad") => AuthDecision::Deny(0x86),
            None => AuthDecision::Allow(None),
        }
    }

    fn continue_auth(&mut self, _client: &str, _method: &str, data: Option<&[u8]>) -> AuthDecision {
        match data {
            Some(b"r") => AuthDecision::Allow(Some(b"ok".to_vec())),
            Some(b"again") => AuthDecision::Continue(b"c".to_vec()),
            _ => AuthDecision::Deny(0x87),
        }
    }
}

fn auth(code: u8, data: &[u8]) -> Packet {
    Packet::Auth {
        code,
        props: Props {
            auth_method: Some("TEST".into()),
            auth_data: Some(data.to_vec()),
            ..Props::default()
        },
    }
}

#[test]
fn enhanced_auth_challenge_response() {
    let mut p = Pair::with_auth(ChallengeAuth);
    let i = p.open(v5());
    let mut c = connect_packet(v5(), "a");
    c.props.auth_method = Some("TEST".into());
    p.send(i, &Packet::Connect(c));
    assert_eq!(p.recv(i), Some(auth(0x18, b"c")));
    p.send(i, &auth(0x18, b"r"));
    let Some(Packet::ConnAck { code: 0, props, .. }) = p.recv(i) else {
        panic!("no CONNACK")
    };
    assert_eq!(props.auth_method.as_deref(), Some("TEST"));
    assert_eq!(props.auth_data.as_deref(), Some(&b"ok"[..]));
    // Re-authentication.
    p.send(i, &auth(0x19, b"again"));
    assert_eq!(p.recv(i), Some(auth(0x18, b"c")));
    p.send(i, &auth(0x18, b"r"));
    assert_eq!(p.recv(i), Some(auth(0x00, b"ok")));
    // A failed re-authentication disconnects.
    p.send(i, &auth(0x19, b"wrong"));
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x87,
            props: Props::default()
        })
    );
    assert!(p.closed(i));
}

#[test]
fn enhanced_auth_failure_and_misuse() {
    let mut p = Pair::with_auth(ChallengeAuth);
    let i = p.open(v5());
    let mut c = connect_packet(v5(), "a");
    c.props.auth_method = Some("TEST".into());
    p.send(i, &Packet::Connect(c.clone()));
    let _ = p.recv(i);
    p.send(i, &auth(0x18, b"wrong"));
    assert!(matches!(
        p.recv(i),
        Some(Packet::ConnAck { code: 0x87, .. })
    ));
    assert!(p.closed(i));
    // Anything but AUTH during the exchange is a protocol error.
    let j = p.open(v5());
    p.send(j, &Packet::Connect(c));
    let _ = p.recv(j);
    p.send(j, &Packet::PingReq);
    assert!(matches!(
        p.recv(j),
        Some(Packet::ConnAck { code: 0x82, .. })
    ));
    // AUTH without a method in CONNECT.
    let k = p.connect(v5(), "plain");
    p.send(k, &auth(0x19, b"x"));
    assert_eq!(
        p.recv(k),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
    // Bad user name (3.1.1 return code 4).
    let (l, ack) = p.connect_with(v3(), "u", |c| {
        c.username = Some("bad".into());
        c.password = Some(b"x".to_vec());
    });
    assert!(matches!(ack, Packet::ConnAck { code: 4, .. }), "{ack:?}");
    assert!(p.closed(l));
}

#[test]
fn will_message_expiry_runs_from_publication() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "watcher");
    p.subscribe(s, "will/#", 0);
    let (a, _) = p.connect_with(v5(), "w", |c| {
        let props = Props {
            message_expiry: Some(30),
            ..Props::default()
        };
        c.will = Some(WillMsg {
            topic: "will/e".into(),
            payload: b"x".to_vec(),
            qos: 0,
            retain: false,
            props,
        });
    });
    p.advance(60_000);
    p.send(s, &Packet::PingReq);
    let _ = p.recv(s);
    p.drop_conn(a);
    assert_eq!(p.recv_publish(s).props.message_expiry, Some(30));
}

#[test]
fn denied_topics_are_not_authorized() {
    let mut p = Pair::new(Config {
        denied_topics: vec!["forbidden/#".into()],
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "#", 0);
    p.send(s, &sub(2, "forbidden/x", 1));
    assert_eq!(
        p.recv(s),
        Some(Packet::SubAck {
            pid: 2,
            props: Props::default(),
            codes: vec![0x87]
        })
    );
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("forbidden/x", 1, 1, b"no"));
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
    let p3 = p.connect(v3(), "p3");
    p.send(p3, &publish("forbidden/y", 1, 1, b"no"));
    assert_eq!(p.recv(p3), Some(ack(kind::PUBACK, 1)));
    p.assert_empty(s);
}

#[test]
fn pubrel_for_unknown_id_gets_pubcomp_0x92_and_error_pubrec_ends_exchange() {
    let mut p = Pair::default();
    let s = p.connect(v5(), "s");
    p.send(s, &ack(kind::PUBREL, 77));
    assert_eq!(
        p.recv(s),
        Some(Packet::Ack {
            kind: kind::PUBCOMP,
            pid: 77,
            code: 0x92,
            props: Props::default()
        })
    );
    p.subscribe(s, "q2", 2);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("q2", 2, 1, b"x"));
    let m = p.recv_publish(s);
    // The subscriber refuses it: the identifier is free again, nothing more is sent.
    p.send(
        s,
        &Packet::Ack {
            kind: kind::PUBREC,
            pid: m.pid,
            code: 0x80,
            props: Props::default(),
        },
    );
    p.assert_empty(s);
    assert!(p.broker.storage().session("s").unwrap().inflight.is_empty());
}

#[test]
fn shared_subscription_prefers_online_members() {
    let mut p = Pair::default();
    let (a, _) = p.connect_with(v5(), "a", |c| c.props.session_expiry = Some(100));
    let b = p.connect(v5(), "b");
    p.subscribe(a, "$share/g/job", 1);
    p.subscribe(b, "$share/g/job", 1);
    p.drop_conn(a);
    let pb = p.connect(v5(), "p");
    for i in 1..=4u16 {
        p.send(pb, &publish("job", 1, i, b"w"));
    }
    for _ in 0..4 {
        let m = p.recv_publish(b);
        p.send(b, &ack(kind::PUBACK, m.pid));
    }
    assert!(p.broker.storage().session("a").unwrap().queue.is_empty());
}

#[test]
fn retained_message_expires() {
    let mut p = Pair::default();
    let pb = p.connect(v5(), "p");
    let mut r = publish("exp/r", 0, 0, b"soon gone");
    if let Packet::Publish(x) = &mut r {
        x.retain = true;
        x.props.message_expiry = Some(5);
    }
    p.send(pb, &r);
    p.advance(2_000);
    let s = p.connect(v5(), "s");
    p.subscribe(s, "exp/#", 0);
    assert_eq!(p.recv_publish(s).props.message_expiry, Some(3));
    p.advance(4_000);
    let s2 = p.connect(v5(), "s2");
    p.subscribe(s2, "exp/#", 0);
    p.assert_empty(s2);
}

#[test]
fn keep_alive_bounds_from_config() {
    let mut p = Pair::new(Config {
        min_keep_alive: 10,
        max_keep_alive: 100,
        ..Config::default()
    });
    let (_, ack) = p.connect_with(v5(), "zero", |c| c.keep_alive = 0);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, Some(100));
    let (_, ack) = p.connect_with(v5(), "small", |c| c.keep_alive = 2);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, Some(10));
    let (_, ack) = p.connect_with(v5(), "fine", |c| c.keep_alive = 50);
    let Packet::ConnAck { props, .. } = ack else {
        panic!()
    };
    assert_eq!(props.server_keep_alive, None);
}

#[test]
fn disconnect_changes_session_expiry() {
    let mut p = Pair::default();
    let (i, _) = p.connect_with(v5(), "x", |c| c.props.session_expiry = Some(100));
    p.send(
        i,
        &Packet::Disconnect {
            code: 0,
            props: Props {
                session_expiry: Some(0),
                ..Props::default()
            },
        },
    );
    assert!(p.broker.storage().session("x").is_none());
    // Zero at CONNECT cannot become non-zero at DISCONNECT.
    let j = p.connect(v5(), "y");
    p.send(
        j,
        &Packet::Disconnect {
            code: 0,
            props: Props {
                session_expiry: Some(10),
                ..Props::default()
            },
        },
    );
    assert_eq!(
        p.recv(j),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
}

#[test]
fn deliveries_wait_for_written_bytes() {
    let mut p = Pair::new(Config {
        max_outbound_bytes: 100,
        ..Config::default()
    });
    let s = p.connect(v5(), "s");
    p.subscribe(s, "w", 0);
    p.clients[s].stalled = true;
    let pb = p.connect(v5(), "p");
    for _ in 0..10 {
        p.send(pb, &publish("w", 0, 0, &[1u8; 60]));
    }
    // Two fit the 100-byte budget (the second crosses it); the rest wait in the queue.
    assert_eq!(p.clients[s].inbox.len(), 2);
    assert_eq!(p.broker.storage().session("s").unwrap().queue.len(), 8);
    // The client reads: the queue drains.
    p.clients[s].stalled = false;
    p.drive();
    assert_eq!(p.clients[s].inbox.len(), 10);
}

#[test]
fn offline_queue_limits_drop_qos0_first() {
    let mut p = Pair::new(Config {
        max_queued_messages: 3,
        queue_qos0_offline: true,
        queue_overflow: QueueOverflow::DropNew,
        ..Config::default()
    });
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.session_expiry = Some(100));
    p.subscribe(s, "l", 1);
    p.drop_conn(s);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("l", 0, 0, b"a0"));
    p.send(pb, &publish("l", 1, 1, b"b1"));
    p.send(pb, &publish("l", 1, 2, b"c1"));
    p.send(pb, &publish("l", 1, 3, b"d1")); // evicts a0
    p.send(pb, &publish("l", 0, 0, b"e0")); // queue full of QoS 1: dropped
    let (s2, _) = p.connect_with(v5(), "s", |c| c.clean_start = false);
    let got: Vec<Vec<u8>> = (0..3)
        .map(|_| p.recv_publish(s2).payload.to_vec())
        .collect();
    assert_eq!(got, vec![b"b1".to_vec(), b"c1".to_vec(), b"d1".to_vec()]);
    p.assert_empty(s2);
}

#[test]
fn deterministic_for_a_seed() {
    fn run(seed: u64) -> Vec<u8> {
        let mut p = Pair::new(Config {
            seed,
            ..Config::default()
        });
        let a = p.connect(v5(), "a");
        let b = p.connect(v5(), "b");
        p.subscribe(a, "$share/g/t", 0);
        p.subscribe(b, "$share/g/t", 0);
        let (c, _) = p.connect_with(v5(), "", |_| {});
        for _ in 0..7 {
            p.send(c, &publish("t", 0, 0, b"x"));
        }
        vec![
            p.clients[a].inbox.len() as u8,
            p.clients[b].inbox.len() as u8,
        ]
    }
    assert_eq!(run(1), run(1));
    assert_eq!(run(2), run(2));
}

#[test]
fn outbound_topic_aliases_when_enabled() {
    let mut p = Pair::new(Config {
        outbound_topic_aliases: true,
        ..Config::default()
    });
    let (s, _) = p.connect_with(v5(), "s", |c| c.props.topic_alias_maximum = Some(1));
    p.subscribe(s, "al/#", 0);
    let pb = p.connect(v5(), "p");
    p.send(pb, &publish("al/one", 0, 0, b"1"));
    p.send(pb, &publish("al/one", 0, 0, b"2"));
    p.send(pb, &publish("al/two", 0, 0, b"3"));
    let m1 = p.recv_publish(s);
    assert_eq!(
        (m1.topic.as_str(), m1.props.topic_alias),
        ("al/one", Some(1))
    );
    let m2 = p.recv_publish(s);
    assert_eq!((m2.topic.as_str(), m2.props.topic_alias), ("", Some(1)));
    let m3 = p.recv_publish(s);
    assert_eq!((m3.topic.as_str(), m3.props.topic_alias), ("al/two", None));
    // A client that accepts none gets none.
    let n = p.connect(v5(), "n");
    p.subscribe(n, "al/#", 0);
    p.send(pb, &publish("al/one", 0, 0, b"4"));
    assert_eq!(p.recv_publish(n).props.topic_alias, None);
}

#[test]
fn subscription_identifier_from_client_is_a_protocol_error() {
    let mut p = Pair::default();
    let c = p.connect(v5(), "c");
    let mut m = publish("t", 0, 0, b"x");
    if let Packet::Publish(x) = &mut m {
        x.props.subscription_ids = vec![3];
    }
    p.send(c, &m);
    assert_eq!(
        p.recv(c),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
    assert!(p.closed(c));
}

#[test]
fn second_connect_with_bad_level_gets_a_disconnect_reason_code() {
    // Found by the fuzz test: the decode error of a second CONNECT is 0x84, which DISCONNECT
    // cannot carry.
    let mut p = Pair::default();
    let i = p.connect(v5(), "c");
    let mut bytes = wire::encode(&Packet::Connect(connect_packet(v5(), "c")), v5());
    bytes[8] = 9; // protocol level 9
    p.send_raw(i, &bytes);
    assert_eq!(
        p.recv(i),
        Some(Packet::Disconnect {
            code: 0x82,
            props: Props::default()
        })
    );
}

mod fuzz {
    //! Arbitrary input never panics the engine, and whatever it sends decodes.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // 256 cases by default; PROPTEST_CASES=20000 for a longer run.
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn arbitrary_bytes_after_connect(
            v5_client in any::<bool>(),
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
        ) {
            let mut p = Pair::default();
            let version = if v5_client { v5() } else { v3() };
            let s = p.connect(version, "fuzz-sub");
            p.subscribe(s, "#", 2);
            let i = p.connect(version, "fuzz");
            for c in &chunks {
                if p.closed(i) {
                    break;
                }
                p.send_raw(i, c);
                p.advance(700);
            }
        }

        #[test]
        fn arbitrary_bytes_during_enhanced_auth(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..8),
        ) {
            let mut p = Pair::with_auth(ChallengeAuth);
            let i = p.open(v5());
            let mut c = connect_packet(v5(), "a");
            c.props.auth_method = Some("TEST".into());
            p.send(i, &Packet::Connect(c));
            for c in &chunks {
                if p.closed(i) {
                    break;
                }
                p.send_raw(i, c);
            }
        }

        #[test]
        fn arbitrary_bytes_as_first_packet(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut p = Pair::default();
            let i = p.open(v5());
            p.send_raw(i, &bytes);
            p.advance(11_000);
            prop_assert!(p.closed(i) || p.broker.connection_count() == 1);
        }

        #[test]
        fn mutated_valid_packets(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            which in 0usize..6,
        ) {
            let mut p = Pair::default();
            let i = p.connect(v5(), "m");
            let packets = [
                publish("a/b", 1, 7, b"payload"),
                sub(3, "a/+", 2),
                Packet::Unsubscribe { pid: 4, props: Props::default(), filters: vec!["a/+".into()] },
                ack(kind::PUBREL, 9),
                Packet::Disconnect { code: 0, props: Props { session_expiry: Some(0), ..Props::default() } },
                Packet::PingReq,
            ];
            let mut bytes = wire::encode(&packets[which], v5());
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x;
            }
            p.send_raw(i, &bytes);
            p.advance(60_000);
        }
    }
}

// ---- backpressure: an acknowledgement is a promise (engine/flow.rs) ----

impl Pair {
    /// Every packet `i` has received so far; PUBLISHes are acknowledged (PUBACK / PUBREC,
    /// PUBREL answered with PUBCOMP) and returned.
    fn ack_all(&mut self, i: usize) -> Vec<Publish> {
        let mut got = Vec::new();
        while let Some(pk) = self.recv(i) {
            match pk {
                Packet::Publish(p) => {
                    match p.qos {
                        1 => self.send(i, &ack(kind::PUBACK, p.pid)),
                        2 => self.send(i, &ack(kind::PUBREC, p.pid)),
                        _ => {}
                    }
                    got.push(p);
                }
                Packet::Ack {
                    kind: kind::PUBREL,
                    pid,
                    ..
                } => self.send(i, &ack(kind::PUBCOMP, pid)),
                _ => {}
            }
        }
        got
    }

    /// Packet ids of the acknowledgements (of kind `k`) `i` has received, in order.
    fn acks(&mut self, i: usize, k: u8) -> Vec<u16> {
        let mut v = Vec::new();
        while let Some(pk) = self.recv(i) {
            match pk {
                Packet::Ack { kind, pid, .. } if kind == k => v.push(pid),
                other => panic!("expected only acks of kind {k}, got {other:?}"),
            }
        }
        v
    }
}

fn small_queues() -> Config {
    Config {
        max_queued_messages: 10,
        max_inflight: 5,
        ..Config::default()
    }
}

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
    let mut got = Vec::new();
    for _ in 0..100 {
        let batch = p.ack_all(s);
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    let payloads: Vec<u16> = got
        .iter()
        .map(|x| u16::from_be_bytes([x.payload[0], x.payload[1]]))
        .collect();
    assert_eq!(payloads, (1..=40).collect::<Vec<u16>>());
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
    let mut n = 0;
    for _ in 0..100 {
        let batch = p.ack_all(s);
        if batch.is_empty() && p.clients[s].inbox.is_empty() {
            break;
        }
        n += batch.len();
    }
    assert_eq!(n, 20);
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
    let mut got = Vec::new();
    for _ in 0..100 {
        let batch = p.ack_all(s);
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    assert!(!p.clients[pb].paused);
    let payloads: Vec<u16> = got
        .iter()
        .map(|x| u16::from_be_bytes([x.payload[0], x.payload[1]]))
        .collect();
    assert_eq!(payloads, (1..=30).collect::<Vec<u16>>());
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
    for _ in 0..100 {
        let batch = p.ack_all(good);
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    let payloads: Vec<u16> = got
        .iter()
        .map(|x| u16::from_be_bytes([x.payload[0], x.payload[1]]))
        .collect();
    assert_eq!(payloads, (1..=40).collect::<Vec<u16>>());
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

// ---- limits on what a client can make the broker keep ----

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

// ---- retained messages: index, limits, paced delivery (engine/retained.rs) ----

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
    let mut got = Vec::new();
    for _ in 0..10_000 {
        let batch = p.ack_all(s);
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
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
    let mut got = Vec::new();
    for _ in 0..100 {
        let batch = p.ack_all(s);
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
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
