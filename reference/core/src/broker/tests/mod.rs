//! Engine tests in the shape of quinn-proto's `Pair` harness: test clients and the engine wired
//! through in-memory queues with virtual time. No sockets; `advance` steps from timeout to
//! timeout; a fault is an edit to a queue (a client that stops reading, a dropped connection).

mod connect;
mod flow;
mod limits;
mod misc;
mod publish;
mod retained;
mod subscribe;

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::testwire::{
    self, kind, Connect, Packet, Props, ProtocolVersion, Publish, SubOpts, WillMsg,
};
use super::*;
use crate::time::Instant;

struct Client {
    conn: ConnectionId,
    version: ProtocolVersion,
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

fn v5() -> ProtocolVersion {
    ProtocolVersion::V5
}
fn v3() -> ProtocolVersion {
    ProtocolVersion::V3_1_1
}

fn connect_packet(version: ProtocolVersion, id: &str) -> Connect {
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
    fn open(&mut self, version: ProtocolVersion) -> usize {
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
        version: ProtocolVersion,
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

    fn connect(&mut self, version: ProtocolVersion, id: &str) -> usize {
        let (i, ack) = self.connect_with(version, id, |_| {});
        assert!(matches!(ack, Packet::ConnAck { code: 0, .. }), "{ack:?}");
        i
    }

    fn send(&mut self, i: usize, p: &Packet) {
        let bytes = testwire::encode(p, self.clients[i].version);
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
                        assert!(!c.closed, "close after close");
                        c.closed = true;
                    }
                    Output::Pause { conn } | Output::Resume { conn } => {
                        let c = self
                            .clients
                            .iter_mut()
                            .find(|c| c.conn == conn)
                            .expect("client");
                        assert!(!c.closed, "{o:?} after close");
                        let pause = matches!(o, Output::Pause { .. });
                        assert_ne!(c.paused, pause, "pause state told twice");
                        c.paused = pause;
                    }
                }
            }
            let mut written = Vec::new();
            for c in &mut self.clients {
                while let Some((p, n)) =
                    testwire::decode_full(&c.raw, c.version).expect("engine sent a valid packet")
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

impl Pair {
    /// Everything `i` receives until nothing more comes (acknowledging makes room for more);
    /// PUBLISHes are acknowledged (PUBACK / PUBREC,
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

/// The 2-byte big-endian counters the flow tests put in their payloads.
fn counters(got: &[Publish]) -> Vec<u16> {
    got.iter()
        .map(|x| u16::from_be_bytes([x.payload[0], x.payload[1]]))
        .collect()
}
