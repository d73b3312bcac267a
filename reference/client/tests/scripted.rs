//! The driver against a scripted server over an in-memory [`Dialer`] (tokio duplex pipes), with
//! tokio's paused clock: enhanced authentication through an `Authenticator`, a refused CONNACK,
//! keep alive and dead-connection detection, and reconnect backoff timing. This is also the
//! shape the simulator uses: any stream that is `AsyncRead + AsyncWrite + Unpin + Send`.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqttref_client::{
    Authenticator, Client, ClientError, ClientOptions, Dialer, ProtocolVersion, ReasonCode,
    ReconnectPolicy,
};
use mqttref_core::codec::{
    Auth, ConnAck, Packet, PacketBuf, PacketType, PingResp, Properties, Property, StreamDecoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// Dials by handing the server end of a fresh duplex pipe to the test; fails while `fail` > 0.
#[derive(Clone)]
struct PipeDialer {
    accepted: mpsc::UnboundedSender<DuplexStream>,
    fail: Arc<Mutex<u32>>,
    /// When each dial happened (tokio time since the test started).
    dials: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

impl Dialer for PipeDialer {
    type Stream = DuplexStream;

    async fn dial(&self, _host: &str, _port: u16) -> io::Result<DuplexStream> {
        self.dials.lock().unwrap().push(tokio::time::Instant::now());
        {
            let mut fail = self.fail.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "scripted refusal",
                ));
            }
        }
        let (client, server) = tokio::io::duplex(64 * 1024);
        let _ = self.accepted.send(server);
        Ok(client)
    }
}

fn pipe_dialer(fail: u32) -> (PipeDialer, mpsc::UnboundedReceiver<DuplexStream>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        PipeDialer {
            accepted: tx,
            fail: Arc::new(Mutex::new(fail)),
            dials: Arc::default(),
        },
        rx,
    )
}

/// The server end of one connection.
struct Server {
    stream: DuplexStream,
    decoder: StreamDecoder,
}

impl Server {
    fn new(stream: DuplexStream) -> Self {
        Server {
            stream,
            decoder: StreamDecoder::new(ProtocolVersion::V5, u32::MAX),
        }
    }

    /// The next packet from the client; `None` when it closed the connection.
    async fn read(&mut self) -> Option<PacketBuf> {
        loop {
            if let Some(p) = self
                .decoder
                .next_packet()
                .expect("valid packets from the client")
            {
                return Some(p);
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.decoder.push(&buf[..n]),
            }
        }
    }

    async fn write(&mut self, p: Packet<'_>) {
        let bytes = p.encode_to_vec(ProtocolVersion::V5).unwrap();
        self.stream.write_all(&bytes).await.unwrap();
    }

    async fn accept_connect(&mut self) -> PacketBuf {
        let c = self.read().await.expect("CONNECT");
        assert_eq!(c.packet_type(), PacketType::Connect);
        c
    }
}

fn options() -> ClientOptions {
    ClientOptions::new("sim", 1883, "scripted").with_reconnect(ReconnectPolicy::disabled())
}

struct Toy;

impl Authenticator for Toy {
    fn method(&self) -> String {
        "TOY".into()
    }
    fn initial_data(&mut self) -> Option<Vec<u8>> {
        Some(b"hello".to_vec())
    }
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        let mut r = b"response:".to_vec();
        r.extend_from_slice(challenge.ok_or("no challenge")?);
        Ok(Some(r))
    }
}

#[tokio::test]
async fn enhanced_authentication_through_an_authenticator() {
    let (dialer, mut accepted) = pipe_dialer(0);
    let server = tokio::spawn(async move {
        let mut s = Server::new(accepted.recv().await.unwrap());
        let c = s.accept_connect().await;
        let Packet::Connect(c) = c.view() else {
            unreachable!()
        };
        assert!(c
            .properties
            .iter()
            .any(|p| p == Property::AuthenticationMethod("TOY")));
        assert!(c
            .properties
            .iter()
            .any(|p| p == Property::AuthenticationData(b"hello")));
        let props = [
            Property::AuthenticationMethod("TOY"),
            Property::AuthenticationData(b"chal"),
        ];
        s.write(Packet::Auth(Auth {
            reason_code: ReasonCode::ContinueAuthentication,
            properties: Properties::Slice(&props),
        }))
        .await;
        let a = s.read().await.expect("AUTH");
        let Packet::Auth(a) = a.view() else {
            panic!("expected AUTH, got {:?}", a.view())
        };
        assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
        assert!(a
            .properties
            .iter()
            .any(|p| p == Property::AuthenticationData(b"response:chal")));
        let props = [Property::AuthenticationMethod("TOY")];
        let mut ack = ConnAck::new(ReasonCode::Success);
        ack.properties = Properties::Slice(&props);
        s.write(Packet::ConnAck(ack)).await;
        s
    });
    let (client, _) = Client::connect_with(options().with_authenticator(Toy), dialer)
        .await
        .unwrap();
    assert_eq!(
        client.connack().authentication_method.as_deref(),
        Some("TOY")
    );
    let _s = server.await.unwrap();
}

#[tokio::test]
async fn refused_connack_is_a_typed_error_with_the_reason_code() {
    let (dialer, mut accepted) = pipe_dialer(0);
    tokio::spawn(async move {
        let mut s = Server::new(accepted.recv().await.unwrap());
        s.accept_connect().await;
        let props = [Property::ReasonString("who are you")];
        let mut ack = ConnAck::new(ReasonCode::BadUserNameOrPassword);
        ack.properties = Properties::Slice(&props);
        s.write(Packet::ConnAck(ack)).await;
        // Keep the connection open: the client must not wait for the server to close it.
        std::future::pending::<()>().await;
    });
    let err = Client::connect_with(options(), dialer).await.unwrap_err();
    match err {
        ClientError::Refused {
            reason_code,
            reason_string,
        } => {
            assert_eq!(reason_code, ReasonCode::BadUserNameOrPassword);
            assert_eq!(reason_string.as_deref(), Some("who are you"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn keep_alive_pings_and_a_silent_server_is_dropped_and_redialled() {
    let (dialer, mut accepted) = pipe_dialer(0);
    let dials = dialer.dials.clone();
    let mut o = options().with_keep_alive(5);
    o.reconnect = ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(100),
        max_attempts: None,
    };
    o.session.ping_timeout_ms = Some(2_000);
    let start = tokio::time::Instant::now();
    let server = tokio::spawn(async move {
        let mut s = Server::new(accepted.recv().await.unwrap());
        s.accept_connect().await;
        s.write(Packet::ConnAck(ConnAck::new(ReasonCode::Success)))
            .await;
        let p = s.read().await.unwrap();
        assert_eq!(p.packet_type(), PacketType::PingReq);
        let first_ping = tokio::time::Instant::now();
        s.write(Packet::PingResp(PingResp)).await;
        // Second PINGREQ, left unanswered: the client gives up 2 s later and dials again.
        let p = s.read().await.unwrap();
        assert_eq!(p.packet_type(), PacketType::PingReq);
        let second_ping = tokio::time::Instant::now();
        assert!(
            s.read().await.is_none(),
            "the client closes the dead connection"
        );
        let closed = tokio::time::Instant::now();
        let mut s2 = Server::new(accepted.recv().await.unwrap());
        let c = s2.accept_connect().await;
        (first_ping, second_ping, closed, c)
    });
    let (_client, _) = Client::connect_with(o, dialer).await.unwrap();
    let (first_ping, second_ping, closed, reconnect) =
        tokio::time::timeout(Duration::from_secs(60), server)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        first_ping - start,
        Duration::from_secs(5),
        "PINGREQ after 5 s idle"
    );
    assert_eq!(second_ping - first_ping, Duration::from_secs(5));
    assert_eq!(
        closed - second_ping,
        Duration::from_secs(2),
        "dead after the ping timeout"
    );
    let Packet::Connect(c) = reconnect.view() else {
        unreachable!()
    };
    assert!(!c.clean_start, "the reconnect asks to resume");
    let d = dials.lock().unwrap().clone();
    assert_eq!(d.len(), 2);
    let gap = d[1] - closed;
    assert!(
        (Duration::from_millis(50)..=Duration::from_millis(100)).contains(&gap),
        "backoff {gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn initial_connect_retries_with_exponential_backoff_and_jitter() {
    let (dialer, mut accepted) = pipe_dialer(4);
    let dials = dialer.dials.clone();
    let mut o = options();
    o.retry_initial_connect = true;
    o.reconnect = ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(500),
        max_attempts: Some(10),
    };
    tokio::spawn(async move {
        let mut s = Server::new(accepted.recv().await.unwrap());
        s.accept_connect().await;
        s.write(Packet::ConnAck(ConnAck::new(ReasonCode::Success)))
            .await;
        std::future::pending::<()>().await;
    });
    Client::connect_with(o.with_seed(42), dialer).await.unwrap();
    let d = dials.lock().unwrap().clone();
    assert_eq!(d.len(), 5, "4 failures, then success");
    for (i, w) in d.windows(2).enumerate() {
        let full = (100u64 << i).min(500);
        let gap = (w[1] - w[0]).as_millis() as u64;
        assert!(
            (full / 2..=full).contains(&gap),
            "attempt {i}: {gap} ms not in [{}, {full}]",
            full / 2
        );
    }
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let (dialer, _accepted) = pipe_dialer(100);
    let mut o = options();
    o.retry_initial_connect = true;
    o.reconnect = ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_attempts: Some(3),
    };
    let err = Client::connect_with(o, dialer.clone()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Disconnected(ref m) if m.contains("gave up")),
        "{err:?}"
    );
    assert_eq!(
        dialer.dials.lock().unwrap().len(),
        4,
        "the first try and 3 retries"
    );
}

/// Seed 11 of the simulator: a connection that stops carrying data (the server never reads) must
/// not wedge the client. The blocked write gives up after 1.5 x keep alive, the connection
/// counts as lost, and `disconnect()` (queued meanwhile) completes.
#[tokio::test(start_paused = true)]
async fn a_write_blocked_on_a_wedged_connection_gives_up_after_one_and_a_half_keep_alives() {
    let (dialer, mut accepted) = pipe_dialer(0);
    let o = options().with_keep_alive(4);
    let server = tokio::spawn(async move {
        let mut s = Server::new(accepted.recv().await.unwrap());
        s.accept_connect().await;
        s.write(Packet::ConnAck(ConnAck::new(ReasonCode::Success)))
            .await;
        // Never read again, never close: the pipe's 64 KiB fill up and the client's write blocks.
        std::future::pending::<()>().await;
        drop(s);
    });
    let (client, _) = Client::connect_with(o, dialer).await.unwrap();
    let start = tokio::time::Instant::now();
    let (published, disconnected) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(
            client.publish(
                "big",
                vec![0u8; 256 * 1024],
                mqttref_client::QoS::AtMostOnce,
                false,
                Default::default(),
            ),
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                client.disconnect().await
            }
        )
    })
    .await
    .expect("the client does not hang on a blocked write");
    assert_eq!(tokio::time::Instant::now() - start, Duration::from_secs(6));
    // QoS 0 "completes" once handed to the network, even partly written: only check that the
    // publish returned at all.
    drop(published);
    // The command was still queued when the driver stopped (reconnect is off): `Closed`.
    assert!(
        matches!(disconnected, Ok(()) | Err(ClientError::Closed)),
        "{disconnected:?}"
    );
    server.abort();
}

/// Seeds 1112 and 1132 of the simulator: after DISCONNECT the client shuts its write half down
/// and reads until the server closes before it drops the stream, so no reset (for unread data)
/// can overtake the DISCONNECT and make the server publish the Will.
#[tokio::test(start_paused = true)]
async fn disconnect_half_closes_and_waits_for_the_server_to_close() {
    let (dialer, mut accepted) = pipe_dialer(0);
    let server = tokio::spawn(async move {
        let mut s = Server::new(accepted.recv().await.unwrap());
        s.accept_connect().await;
        s.write(Packet::ConnAck(ConnAck::new(ReasonCode::Success)))
            .await;
        let d = s.read().await.unwrap();
        assert_eq!(d.packet_type(), PacketType::Disconnect);
        // Data the client has not read yet, sent before the server saw the DISCONNECT.
        s.write(Packet::PingResp(PingResp)).await;
        assert!(s.read().await.is_none(), "the client half-closes");
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::time::Instant::now()
    });
    let (client, _) = Client::connect_with(options(), dialer).await.unwrap();
    client.disconnect().await.unwrap();
    let returned = tokio::time::Instant::now();
    let server_closed = server.await.unwrap();
    assert_eq!(
        returned, server_closed,
        "disconnect() returns once the server closed, not before"
    );
}
