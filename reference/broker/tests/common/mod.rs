//! Shared helpers for the driver tests: an in-process broker on a free port and a tiny raw
//! client built on the core's test client packet model (`mqttref_core::broker::testwire`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use mqttref_broker::{Broker, BrokerConfig};
use mqttref_core::broker::testwire::{
    self, Connect, Packet, Props, ProtocolVersion, Publish, SubOpts,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("broker task").expect("broker run");
        }
    }
}

pub async fn start(config: BrokerConfig) -> Running {
    let config = BrokerConfig {
        listen: vec!["127.0.0.1:0".into()],
        ..config
    };
    let broker = Broker::bind(config).await.expect("bind");
    let addr = broker.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(broker.run(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

pub struct Raw {
    pub stream: TcpStream,
    pub version: ProtocolVersion,
    buf: Vec<u8>,
}

pub fn connect_packet(version: ProtocolVersion, id: &str) -> Connect {
    Connect {
        version,
        clean_start: true,
        keep_alive: 0,
        props: Props::default(),
        client_id: id.into(),
        will: None,
        username: None,
        password: None,
    }
}

impl Raw {
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Raw {
            stream,
            version,
            buf: Vec::new(),
        }
    }

    pub async fn connect(addr: SocketAddr, c: Connect) -> (Raw, Packet) {
        let mut r = Raw::open(addr, c.version).await;
        r.send(&Packet::Connect(c)).await;
        let ack = r.recv().await.expect("CONNACK");
        (r, ack)
    }

    pub async fn send(&mut self, p: &Packet) {
        let bytes = testwire::encode(p, self.version);
        self.stream.write_all(&bytes).await.expect("write");
    }

    /// The next packet, or `None` when the connection closes or 5 s pass.
    pub async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(Duration::from_secs(5)).await
    }

    pub async fn recv_within(&mut self, d: Duration) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            if let Some((p, n)) =
                testwire::decode_full(&self.buf, self.version).expect("valid packet")
            {
                self.buf.drain(..n);
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// A PUBLISH without properties.
pub fn publish(topic: &str, qos: u8, pid: u16, payload: &[u8]) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        pid,
        props: Props::default(),
        payload: payload.into(),
    })
}

/// Subscribes `c` to `filter` and waits for the SUBACK.
pub async fn subscribe(c: &mut Raw, filter: &str, qos: u8) {
    c.send(&Packet::Subscribe {
        pid: 1,
        props: Props::default(),
        filters: vec![(
            filter.into(),
            SubOpts {
                qos,
                ..SubOpts::default()
            },
        )],
    })
    .await;
    let ack = c.recv().await;
    assert!(matches!(ack, Some(Packet::SubAck { .. })), "{ack:?}");
}
