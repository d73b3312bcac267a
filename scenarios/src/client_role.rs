//! Client-role scenarios: the scripted server ([`ScriptedServer`], a [`RawServer`] whose
//! connections are [`Client`]s with every helper and transcript of the server-role side) and
//! the client under test ([`ClientUnderTest`], driven through the run's adapter).
//!
//! A client-role scenario reads like the packet exchange in the spec, with the broker's lines
//! played by the script:
//!
//! ```ignore
//! let (mut server, mut cut) = ctx.client_under_test(|o| o.keep_alive = 2, Some(sub)).await?;
//! let (mut peer, connect) = server.accept_connect().await?;   // CONNECT, read strictly
//! peer.send_bytes(&ctx.connack().build()).await?;             // CONNACK Success
//! ```

use crate::adapter::{AppMessage, ClientAdapter, ConnectOptions, DrivenClient, Event, Op};
use crate::ctx::{lock, Client, Ctx, Evidence, Record, EXPECT};
use crate::fail::Fail;
use crate::wire;
use mqttref_core::codec::{Property, PropertyId};
use raw_client::{build, ExpectError, Packet, RawServer};
use spec_manifest::Version;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the client under test may take to open its connection (a process must start).
pub const ACCEPT: Duration = Duration::from_secs(5);

/// The broker's side of a client-role scenario: a listening socket on a free loopback port.
pub struct ScriptedServer {
    raw: RawServer,
    version: Version,
    record: Arc<Record>,
    /// How long [`ScriptedServer::accept`] waits (default [`ACCEPT`]).
    pub timeout: Duration,
}

/// A CONNECT the client sent, decoded.
#[derive(Debug, Clone)]
pub struct ConnectInfo {
    /// The frame.
    pub bytes: Vec<u8>,
    /// Client Identifier.
    pub client_id: String,
    /// Keep Alive, seconds.
    pub keep_alive: u16,
    /// Clean Start / Clean Session.
    pub clean_start: bool,
    /// 5.0 Session Expiry Interval, if sent.
    pub session_expiry: Option<u32>,
}

impl ScriptedServer {
    /// The port the client under test is pointed at.
    pub fn port(&self) -> u16 {
        self.raw.local_addr().port()
    }

    /// How many connections the client has opened so far.
    pub fn accepted(&self) -> usize {
        self.raw.accepted()
    }

    /// The client's next connection (within `self.timeout`), its transcript filed as evidence.
    pub async fn accept(&mut self) -> Result<Client, Fail> {
        let raw = self.raw.accept(self.timeout).await.map_err(|e| match e {
            ExpectError::Timeout { .. } => Fail::new(
                "the client to open a connection",
                format!("no connection within {} ms", self.timeout.as_millis()),
            ),
            other => Fail::from(other),
        })?;
        Ok(Client::new(raw, self.version, Some(self.record.clone())))
    }

    /// [`ScriptedServer::accept`], then the first packet, which must be a well-formed CONNECT
    /// (MQTT-3.1.0-1 in both versions: the first packet from the client is CONNECT).
    pub async fn accept_connect(&mut self) -> Result<(Client, ConnectInfo), Fail> {
        let mut peer = self.accept().await?;
        let info = peer.expect_connect().await?;
        Ok((peer, info))
    }
}

impl Client {
    /// The next packet must be a CONNECT the core's decoder accepts; returns its fields.
    pub async fn expect_connect(&mut self) -> Result<ConnectInfo, Fail> {
        let expected = "a well-formed CONNECT";
        let timeout = self.timeout;
        let r = self
            .recv(timeout)
            .await
            .map_err(|e| Fail::from(e).with_expected(expected))?;
        if let Some(e) = &r.error {
            return Err(Fail::new(expected, format!("{} [{e}]", r.decoded)));
        }
        match r.packet() {
            Ok(Packet::Connect(c)) => Ok(ConnectInfo {
                bytes: r.bytes.clone(),
                client_id: c.client_id.to_string(),
                keep_alive: c.keep_alive,
                clean_start: c.clean_start,
                session_expiry: match c.properties.get(PropertyId::SessionExpiryInterval) {
                    Some(Property::SessionExpiryInterval(v)) => Some(v),
                    _ => None,
                },
            }),
            _ => Err(Fail::new(expected, r.decoded.clone())),
        }
    }

    /// The next packet must be a SUBSCRIBE; answers it with a SUBACK granting each filter the
    /// QoS it asked for and returns (packet id, filters with their options byte).
    pub async fn serve_subscribe(&mut self) -> Result<(u16, Vec<(String, u8)>), Fail> {
        let expected = "SUBSCRIBE";
        let timeout = self.timeout;
        let r = self
            .recv(timeout)
            .await
            .map_err(|e| Fail::from(e).with_expected(expected))?;
        let Ok(Packet::Subscribe(s)) = r.packet() else {
            return Err(Fail::new(expected, r.decoded.clone()));
        };
        let id = s.packet_id;
        let filters: Vec<(String, u8)> = s
            .subscriptions
            .iter()
            .map(|f| (f.filter.to_string(), f.options.qos as u8))
            .collect();
        let codes: Vec<u8> = filters.iter().map(|f| f.1).collect();
        let version = self.version();
        self.send_bytes(&build::Suback::new(version, id, &codes).build())
            .await?;
        Ok((id, filters))
    }

    /// Reads until a packet of `packet_type` (a `build::packet_type` constant) arrives within
    /// `self.timeout`, answering PINGREQ with PINGRESP on the way; returns it.
    pub async fn expect_skipping_pings(&mut self, packet_type: u8) -> Result<Vec<u8>, Fail> {
        let expected = wire::type_name(packet_type << 4).to_string();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let r = self
                .recv(left)
                .await
                .map_err(|e| Fail::from(e).with_expected(&expected))?;
            let ty = r.bytes.first().map_or(0, |b| b >> 4);
            if ty == packet_type {
                return Ok(r.bytes);
            }
            if ty == 12 {
                self.send_bytes(&[0xd0, 0x00]).await?;
                continue;
            }
            return Err(Fail::new(expected, r.decoded.clone()));
        }
    }
}

/// The client under test, as its adapter drives it. Keeps a log of every event (with times),
/// filed as evidence when dropped.
pub struct ClientUnderTest {
    inner: Box<dyn DrivenClient>,
    /// The adapter's events, timestamped as they arrive (by a forwarding task), so the log says
    /// when each happened, not when the scenario looked.
    events: tokio::sync::mpsc::UnboundedReceiver<(Instant, Event)>,
    name: String,
    started: Instant,
    log: Vec<String>,
    messages: VecDeque<AppMessage>,
    done: VecDeque<(&'static str, Result<(), String>)>,
    /// Why the client stopped, once it has.
    pub stopped: Option<String>,
    record: Arc<Record>,
}

impl Drop for ClientUnderTest {
    fn drop(&mut self) {
        // Pick up what is already there, so the evidence is complete.
        while let Ok((at, e)) = self.events.try_recv() {
            self.take(at, e);
        }
        lock(&self.record.evidence).push(Evidence {
            label: format!("client under test ({})", self.name),
            transcript: self.log.join("\n") + "\n",
        });
    }
}

impl ClientUnderTest {
    fn take(&mut self, at: Instant, e: Event) {
        let at = at.saturating_duration_since(self.started);
        let line = match &e {
            Event::Connected => "connected (CONNACK success reached the application)".into(),
            Event::Done { op, result } => format!("{op} done: {result:?}"),
            Event::Message(m) => format!(
                "application received: topic {:?}, payload {:?}, QoS {}, retain {}",
                m.topic,
                String::from_utf8_lossy(&m.payload),
                m.qos,
                m.retain
            ),
            Event::Stopped(why) => format!("stopped: {why}"),
            Event::Log(text) => text.clone(),
        };
        self.log.push(format!(
            "+{}.{:03}s  {line}",
            at.as_secs(),
            at.subsec_millis()
        ));
        match e {
            Event::Message(m) => self.messages.push_back(m),
            Event::Done { op, result } => self.done.push_back((op, result)),
            Event::Stopped(why) => self.stopped = Some(why),
            Event::Connected | Event::Log(_) => {}
        }
    }

    /// Asks the client to do `op`; an operation its adapter cannot ask for skips the scenario.
    pub fn perform(&mut self, op: Op) -> Result<(), Fail> {
        self.log.push(format!(
            "+{:.3}s  asked: {op:?}",
            self.started.elapsed().as_secs_f64()
        ));
        self.inner
            .perform(op)
            .map_err(|u| Fail::skip(format!("the client adapter cannot do this: {u}")))
    }

    /// Waits up to `within` for the next event and takes it; false on timeout or end.
    async fn pump(&mut self, within: Duration) -> bool {
        match tokio::time::timeout(within, self.events.recv()).await {
            Ok(Some((at, e))) => {
                self.take(at, e);
                true
            }
            _ => false,
        }
    }

    /// Every Application Message the application received within `within` (waits it all).
    pub async fn messages_within(&mut self, within: Duration) -> Vec<AppMessage> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.pump(left).await {
                break;
            }
        }
        self.messages.drain(..).collect()
    }

    /// The next Application Message, within `within`.
    pub async fn expect_message(&mut self, within: Duration) -> Result<AppMessage, Fail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(m) = self.messages.pop_front() {
                return Ok(m);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.pump(left).await {
                return Err(Fail::new(
                    "the application to receive the message",
                    format!("nothing within {} ms", within.as_millis()),
                ));
            }
        }
    }

    /// The outcome of the next finished operation named `op` (`publish`, ...), within `within`;
    /// `None` when none finished in time.
    pub async fn done(&mut self, op: &str, within: Duration) -> Option<Result<(), String>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.done.iter().position(|d| d.0 == op) {
                return self.done.remove(i).map(|d| d.1);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.pump(left).await {
                return None;
            }
        }
    }
}

impl Ctx {
    /// The adapter of a client-role run (none in a broker run).
    fn adapter(&self) -> Result<Arc<dyn ClientAdapter>, Fail> {
        self.target
            .adapter
            .clone()
            .ok_or_else(|| Fail::skip("a client-role scenario needs a client adapter (--client)"))
    }

    /// A scripted server on a free loopback port, speaking this scenario's version.
    pub async fn scripted_server(&self) -> Result<ScriptedServer, Fail> {
        let raw = RawServer::bind(self.protocol(), "server")
            .await
            .map_err(|e| Fail::blocked("a listening socket", e.to_string(), None))?;
        Ok(ScriptedServer {
            raw,
            version: self.version(),
            record: self.record.clone(),
            timeout: ACCEPT,
        })
    }

    /// A scripted server, and the client under test started against it with the default
    /// options (this version, a unique client id, keep alive 30 s, Clean Start 1, no Session
    /// Expiry, no reconnect) as changed by `edit`, doing `first` once connected.
    pub async fn client_under_test(
        &mut self,
        edit: impl FnOnce(&mut ConnectOptions),
        first: Option<Op>,
    ) -> Result<(ScriptedServer, ClientUnderTest), Fail> {
        let server = self.scripted_server().await?;
        let mut connect = ConnectOptions {
            version: self.version(),
            host: "127.0.0.1".into(),
            port: server.port(),
            client_id: self.client_id("cut"),
            keep_alive: 30,
            clean_start: true,
            session_expiry: None,
            reconnect: false,
        };
        edit(&mut connect);
        let adapter = self.adapter()?;
        let started = Instant::now();
        let mut inner = adapter
            .start(crate::adapter::Session { connect, first })
            .map_err(|u| Fail::skip(format!("the client adapter cannot do this: {u}")))?;
        let mut from_adapter =
            std::mem::replace(inner.events(), tokio::sync::mpsc::unbounded_channel().1);
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(e) = from_adapter.recv().await {
                if tx.send((Instant::now(), e)).is_err() {
                    break;
                }
            }
        });
        Ok((
            server,
            ClientUnderTest {
                inner,
                events,
                name: adapter.name(),
                started,
                log: Vec::new(),
                messages: VecDeque::new(),
                done: VecDeque::new(),
                stopped: None,
                record: self.record.clone(),
            },
        ))
    }

    /// A CONNACK accepting the connection, for this version.
    pub fn connack(&self) -> build::Connack {
        build::Connack::new(self.protocol())
    }

    /// The usual set-up: client under test started (with `edit`, subscribing to `ctx.topic("t")`
    /// at QoS `sub_qos` once connected, so that every adapter can do it), its CONNECT accepted
    /// with `connack`, its SUBSCRIBE answered. Every step is setup (blocked on failure).
    pub async fn subscribed_client(
        &mut self,
        edit: impl FnOnce(&mut ConnectOptions),
        sub_qos: u8,
        connack: build::Connack,
    ) -> Result<(ScriptedServer, ClientUnderTest, Client, ConnectInfo), Fail> {
        let filter = self.topic("t");
        let (mut server, cut) = self
            .client_under_test(
                edit,
                Some(Op::Subscribe {
                    filter,
                    qos: sub_qos,
                }),
            )
            .await?;
        let (mut peer, info) = server.accept_connect().await.map_err(|f| f.setup(None))?;
        peer.send_bytes(&connack.build())
            .await
            .map_err(Fail::from)?;
        peer.serve_subscribe().await.map_err(|f| f.setup(None))?;
        Ok((server, cut, peer, info))
    }
}

/// How long to wait for the application to see a message.
pub const DELIVERY: Duration = EXPECT;
