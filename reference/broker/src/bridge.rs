//! Bridges: the broker connects out, as an ordinary MQTT client (`mqttref-client`), to remote
//! brokers and forwards messages between them and itself, per topic mapping and direction.
//!
//! # Two clients per bridge, both ordinary MQTT sessions
//! A bridge is two [`Client`]s and a forwarding loop between them:
//! - the **local** client is connected to this broker's own engine through an in-process byte
//!   stream (`InternalDialer`, accepted by `serve` beside the network listeners). So the
//!   bridge's local side is a session like any other: the password file, the ACL, the queue
//!   limits, backpressure and session persistence apply to it unchanged, and nothing in the
//!   engine knows about bridges. (Dialling the broker's own TCP listener would do the same,
//!   but fails when every listener is TLS with client certificates, or bound elsewhere.)
//! - the **remote** client dials the `remote` URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`, `quic://`)
//!   with Clean Start 0 (3.1.1: Clean Session 0) and a Session Expiry, and reconnects with
//!   exponential backoff whose jitter comes from a PRNG seeded from the broker's `seed` and the
//!   bridge's name (time from `tokio::time` only).
//!
//! # What an acknowledgement promises across a bridge
//! A message to forward out arrives in the local session of the bridge (a persistent session:
//! while the bridge is not reading, it waits there, under the engine's queue limits), is
//! acknowledged by the local client when received, and is then held by the bridge until the
//! remote client's QoS flow completes (PUBACK / PUBCOMP), across any number of reconnects:
//! the remote client keeps unacknowledged messages and resends them; if the remote client
//! itself stops (refused for good), the bridge keeps them and hands them to the next one. At
//! most `max_inflight` messages per direction are in that state; beyond it the bridge stops
//! taking messages, which leaves them in the local session's queue (and, past
//! `max_queued_messages`, slows the local publishers: the broker's backpressure).
//!
//! # Loops
//! Structural, not by content: every subscription the bridge makes has No Local set, on the
//! local side always (the local broker is this one, 5.0) and on 5.0 remotes. A message the
//! bridge publishes on one side is therefore never sent back to it by that side, so it cannot
//! come back across the bridge, while a message published twice by a client is forwarded
//! twice (a content-hash window would drop the second one). On 3.1.1 remotes No Local does
//! not exist: with `try_private` the CONNECT carries protocol level 0x84 (Mosquitto's bridge
//! convention), and a broker that honours it (Mosquitto) does not send a bridge its own
//! messages; a remote that refuses it (CONNACK return code 1) is dialled again without it,
//! and then a `both` mapping gets one echo of each outgoing message, delivered locally once
//! more (the local No Local still stops it going round again).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use mqttref_client::{
    Client, ClientError, ClientOptions, Dialer, Incoming, Message, MqttUrl, OutgoingMessage,
    PendingPublish, ProtocolVersion, PublishOutcome, QoS, ReasonCode, ReconnectPolicy,
    RetainHandling, SubscribeFilter, SubscribeProperties, TlsOptions,
};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::{mpsc, watch};

mod private;

/// Bytes buffered in each direction of an in-process connection.
const INTERNAL_PIPE: usize = 64 * 1024;

/// One `[[bridge]]` table, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Names the bridge in logs and errors; unique.
    pub name: String,
    /// The remote broker: `mqtt://`, `mqtts://`, `ws://HOST:PORT/PATH`, `wss://...` or `quic://`.
    pub remote: String,
    /// Client identifier at the remote; default `mqttref-bridge-NAME`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name at the remote.
    #[serde(default)]
    pub username: Option<String>,
    /// Password at the remote.
    #[serde(default)]
    pub password: Option<Secret>,
    /// MQTT version towards the remote: `5` (default) or `"3.1.1"`.
    #[serde(default)]
    pub version: Option<VersionValue>,
    /// Keep alive towards the remote, seconds.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: u16,
    /// Session Expiry Interval of both sessions, seconds (3.1.1 remotes keep the session as
    /// they keep Clean Session 0 sessions).
    #[serde(default = "default_session_expiry")]
    pub session_expiry: u32,
    /// 3.1.1 remotes: mark the CONNECT as a bridge's (protocol level | 0x80).
    #[serde(default = "default_true")]
    pub try_private: bool,
    /// Client identifier of the local session; default `local.CLIENT_ID`.
    #[serde(default)]
    pub local_client_id: Option<String>,
    /// User name of the local session (needed when anonymous clients are refused).
    #[serde(default)]
    pub local_username: Option<String>,
    /// Password of the local session.
    #[serde(default)]
    pub local_password: Option<Secret>,
    /// First reconnect delay, ms; doubles up to `reconnect_max_ms`, with seeded jitter.
    #[serde(default = "default_reconnect_initial")]
    pub reconnect_initial_ms: u64,
    /// Longest reconnect delay, ms.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// Messages per direction handed on and not yet acknowledged.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: usize,
    /// CA file for `mqtts://` / `wss://` remotes (the system's CAs when unset).
    #[serde(default)]
    pub cafile: Option<std::path::PathBuf>,
    /// Client certificate for `mqtts://` / `wss://` remotes.
    #[serde(default)]
    pub cert: Option<std::path::PathBuf>,
    /// Its key.
    #[serde(default)]
    pub key: Option<std::path::PathBuf>,
    /// The topic mappings; at least one.
    pub topics: Vec<TopicMapping>,
}

/// A password: printed as `***` by `Debug`, so a logged configuration does not show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `version = 5`, `version = "5"`, `version = "3.1.1"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum VersionValue {
    /// `5`, `4` (3.1.1's protocol level).
    Number(u32),
    /// `"5"`, `"5.0"`, `"3.1.1"`.
    Text(String),
}

/// One entry of `topics`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicMapping {
    /// The topic filter, without prefixes.
    pub filter: String,
    /// `in` (remote to local), `out` (local to remote) or `both`.
    pub direction: String,
    /// The QoS of the bridge's subscription (messages are forwarded at most at it).
    #[serde(default)]
    pub qos: u8,
    /// Prefix of the topic on this broker.
    #[serde(default)]
    pub local_prefix: String,
    /// Prefix of the topic on the remote.
    #[serde(default)]
    pub remote_prefix: String,
}

fn default_keep_alive() -> u16 {
    60
}
fn default_session_expiry() -> u32 {
    86_400
}
fn default_true() -> bool {
    true
}
fn default_reconnect_initial() -> u64 {
    500
}
fn default_reconnect_max() -> u64 {
    30_000
}
fn default_max_inflight() -> usize {
    256
}

/// A bridge configuration that cannot be used: names the bridge and the field.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bridge `{bridge}`: {field}: {message}")]
pub struct BridgeError {
    /// The bridge's `name` (or `#N` when it has none).
    pub bridge: String,
    /// The field (`remote`, `topics[0].direction`, ...).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Which way a mapping forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Remote to local.
    In,
    /// Local to remote.
    Out,
    /// Both.
    Both,
}

impl Direction {
    fn inbound(self) -> bool {
        matches!(self, Direction::In | Direction::Both)
    }
    fn outbound(self) -> bool {
        matches!(self, Direction::Out | Direction::Both)
    }
}

/// A checked mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The filter without prefixes.
    pub filter: String,
    /// Which way.
    pub direction: Direction,
    /// Subscription QoS.
    pub qos: QoS,
    /// Local prefix.
    pub local_prefix: String,
    /// Remote prefix.
    pub remote_prefix: String,
}

impl Mapping {
    fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.filter)
    }
    fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.filter)
    }
}

/// A checked bridge: what [`BridgeConfig::check`] makes of the table.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// The table.
    pub config: BridgeConfig,
    /// The remote URL, parsed.
    pub url: MqttUrl,
    /// Towards the remote.
    pub version: ProtocolVersion,
    /// The mappings.
    pub mappings: Vec<Mapping>,
}

impl BridgeConfig {
    /// The remote client identifier.
    pub fn remote_client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("mqttref-bridge-{}", self.name))
    }

    /// The local client identifier.
    pub fn local_client_id(&self) -> String {
        self.local_client_id
            .clone()
            .unwrap_or_else(|| format!("local.{}", self.remote_client_id()))
    }

    /// Checks every field; `index` is the bridge's position, to name one without a name.
    ///
    /// # Errors
    /// [`BridgeError`] naming the bridge and the field: a bad URL, version, direction, QoS,
    /// filter or prefix, no mappings, a zero limit.
    pub fn check(&self, index: usize) -> Result<Bridge, BridgeError> {
        let bridge = if self.name.is_empty() {
            format!("#{index}")
        } else {
            self.name.clone()
        };
        let err = |field: &str, message: String| BridgeError {
            bridge: bridge.clone(),
            field: field.to_owned(),
            message,
        };
        if self.name.is_empty() {
            return Err(err("name", "must not be empty".into()));
        }
        let url = MqttUrl::parse(&self.remote).map_err(|e| err("remote", e.to_string()))?;
        if url.topic.is_some() {
            return Err(err(
                "remote",
                format!("`{}`: a remote URL has no topic path", self.remote),
            ));
        }
        let version = match &self.version {
            None => ProtocolVersion::V5,
            Some(VersionValue::Number(5)) => ProtocolVersion::V5,
            Some(VersionValue::Number(4)) => ProtocolVersion::V3_1_1,
            Some(VersionValue::Text(t)) if t == "5" || t == "5.0" => ProtocolVersion::V5,
            Some(VersionValue::Text(t)) if t == "3.1.1" || t == "4" => ProtocolVersion::V3_1_1,
            Some(v) => return Err(err("version", format!("{v:?}: must be 5 or \"3.1.1\""))),
        };
        if self.topics.is_empty() {
            return Err(err("topics", "at least one mapping is needed".into()));
        }
        if self.max_inflight == 0 {
            return Err(err("max_inflight", "must be at least 1".into()));
        }
        if self.reconnect_initial_ms == 0 || self.reconnect_max_ms < self.reconnect_initial_ms {
            return Err(err(
                "reconnect_initial_ms",
                "must be at least 1 and at most reconnect_max_ms".into(),
            ));
        }
        if self.local_client_id().is_empty() || self.remote_client_id().is_empty() {
            return Err(err("client_id", "must not be empty".into()));
        }
        let mut mappings = Vec::with_capacity(self.topics.len());
        for (i, t) in self.topics.iter().enumerate() {
            let field = |name: &str| format!("topics[{i}].{name}");
            let direction = match t.direction.as_str() {
                "in" => Direction::In,
                "out" => Direction::Out,
                "both" => Direction::Both,
                other => {
                    return Err(err(
                        &field("direction"),
                        format!("`{other}`: must be in, out or both"),
                    ))
                }
            };
            let qos = QoS::from_u8(t.qos)
                .ok_or_else(|| err(&field("qos"), format!("{}: must be 0, 1 or 2", t.qos)))?;
            for (name, prefix) in [
                ("local_prefix", &t.local_prefix),
                ("remote_prefix", &t.remote_prefix),
            ] {
                if prefix.contains(['+', '#', '\0']) {
                    return Err(err(
                        &field(name),
                        format!("`{prefix}`: a prefix is a topic, without wildcards"),
                    ));
                }
            }
            let m = Mapping {
                filter: t.filter.clone(),
                direction,
                qos,
                local_prefix: t.local_prefix.clone(),
                remote_prefix: t.remote_prefix.clone(),
            };
            for f in [m.local_filter(), m.remote_filter()] {
                if let Err(e) = mqttref_core::topic::validate_topic_filter(&f) {
                    return Err(err(
                        &field("filter"),
                        format!("`{f}` is not a topic filter: {e}"),
                    ));
                }
            }
            mappings.push(m);
        }
        Ok(Bridge {
            config: self.clone(),
            url,
            version,
            mappings,
        })
    }
}

/// Checks every bridge and that their names and client identifiers are unique.
///
/// # Errors
/// The first [`BridgeError`].
pub fn check_all(bridges: &[BridgeConfig]) -> Result<Vec<Bridge>, BridgeError> {
    let mut out: Vec<Bridge> = Vec::with_capacity(bridges.len());
    for (i, b) in bridges.iter().enumerate() {
        let checked = b.check(i)?;
        if out.iter().any(|o| o.config.name == b.name) {
            return Err(BridgeError {
                bridge: b.name.clone(),
                field: "name".into(),
                message: "two bridges have this name".into(),
            });
        }
        if out
            .iter()
            .any(|o| o.config.local_client_id() == b.local_client_id())
        {
            return Err(BridgeError {
                bridge: b.name.clone(),
                field: "local_client_id".into(),
                message: format!("`{}` is used by another bridge", b.local_client_id()),
            });
        }
        out.push(checked);
    }
    Ok(out)
}

/// `topic` with `from` replaced by `to`, if it starts with `from`.
fn reprefix(topic: &str, from: &str, to: &str) -> Option<String> {
    let rest = topic.strip_prefix(from)?;
    let t = format!("{to}{rest}");
    mqttref_core::topic::validate_topic_name(&t).ok()?;
    Some(t)
}

/// The message to publish on the other side, or `None` when no mapping of that direction
/// matches (the first one that does decides the new topic).
fn map_message(bridge: &Bridge, m: Message, outbound: bool) -> Option<OutgoingMessage> {
    let topic = bridge.mappings.iter().find_map(|map| {
        if outbound && map.direction.outbound() {
            if mqttref_core::topic::matches(&map.local_filter(), &m.topic) {
                return reprefix(&m.topic, &map.local_prefix, &map.remote_prefix);
            }
        } else if !outbound
            && map.direction.inbound()
            && mqttref_core::topic::matches(&map.remote_filter(), &m.topic)
        {
            return reprefix(&m.topic, &map.remote_prefix, &map.local_prefix);
        }
        None
    })?;
    let mut properties = m.properties;
    // Subscription identifiers are the receiver's; a PUBLISH from a client must not carry
    // them ([MQTT-3.3.4-6] (5.0)).
    properties.subscription_identifiers.clear();
    Some(OutgoingMessage {
        topic,
        payload: m.payload,
        qos: m.qos,
        retain: m.retain,
        properties,
    })
}

/// Connects the bridge's local client to this broker's engine: each dial is a fresh in-process
/// pipe whose other end `serve` accepts as a connection.
#[derive(Debug, Clone)]
pub(crate) struct InternalDialer {
    tx: mpsc::Sender<DuplexStream>,
}

impl InternalDialer {
    pub(crate) fn new(tx: mpsc::Sender<DuplexStream>) -> Self {
        InternalDialer { tx }
    }
}

impl Dialer for InternalDialer {
    type Stream = DuplexStream;

    async fn dial(&self, _host: &str, _port: u16) -> io::Result<DuplexStream> {
        let (ours, theirs) = tokio::io::duplex(INTERNAL_PIPE);
        self.tx
            .send(theirs)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::NotConnected, "the broker has stopped"))?;
        Ok(ours)
    }
}

/// The network listeners plus the in-process connections of the bridges, as one listener.
pub(crate) struct WithInternal<L> {
    pub(crate) outer: L,
    pub(crate) internal: mpsc::Receiver<DuplexStream>,
    pub(crate) internal_open: bool,
}

/// A network connection or an in-process one.
pub(crate) enum EitherStream<S> {
    Outer(S),
    Internal(DuplexStream),
}

impl<L: crate::Listener> crate::Listener for WithInternal<L> {
    type Stream = EitherStream<L::Stream>;

    /// Cancel-safe: both `mpsc::Receiver::recv` and the outer accept are.
    async fn accept(&mut self) -> io::Result<(Self::Stream, std::net::SocketAddr)> {
        let open = self.internal_open;
        tokio::select! {
            biased;
            s = self.internal.recv(), if open => match s {
                // In-process peers count under the unspecified address for the
                // per-address cap, apart from every network peer.
                Some(s) => Ok((EitherStream::Internal(s), ([0, 0, 0, 0], 0).into())),
                None => {
                    self.internal_open = false;
                    let (s, a) = self.outer.accept().await?;
                    Ok((EitherStream::Outer(s), a))
                }
            },
            r = self.outer.accept() => r.map(|(s, a)| (EitherStream::Outer(s), a)),
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.outer.local_addr()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EitherStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EitherStream::Outer(s) => Pin::new(s).poll_read(cx, buf),
            EitherStream::Internal(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EitherStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            EitherStream::Outer(s) => Pin::new(s).poll_write(cx, buf),
            EitherStream::Internal(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EitherStream::Outer(s) => Pin::new(s).poll_flush(cx),
            EitherStream::Internal(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EitherStream::Outer(s) => Pin::new(s).poll_shutdown(cx),
            EitherStream::Internal(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The bridge's own PRNG seed: the broker's seed and the bridge's name (FNV-1a), so two
/// bridges of one broker do not reconnect in lockstep and a run is reproducible.
fn bridge_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn policy(c: &BridgeConfig) -> ReconnectPolicy {
    ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(c.reconnect_initial_ms),
        max_delay: Duration::from_millis(c.reconnect_max_ms),
        max_attempts: None,
    }
}

/// The delay before attempt `attempt` (0-based), as the client's own reconnects: doubling
/// from the first delay up to the longest, then uniformly in its upper half (seeded jitter).
fn delay(p: &ReconnectPolicy, attempt: u32, rng: &mut mqttref_core::rng::SplitMix64) -> Duration {
    let base = u64::try_from(p.initial_delay.as_millis()).unwrap_or(u64::MAX);
    let max = u64::try_from(p.max_delay.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let d = base.saturating_mul(1u64 << attempt.min(32)).min(max).max(1);
    let half = d / 2;
    Duration::from_millis(half + rng.next_u64() % (d - half + 1))
}

/// Runs one bridge until `stop` turns true.
pub(crate) async fn run(
    bridge: Bridge,
    dialer: InternalDialer,
    broker_seed: u64,
    mut stop: watch::Receiver<bool>,
) {
    let name = bridge.config.name.clone();
    let seed = bridge_seed(broker_seed, &name);
    let mut rng = mqttref_core::rng::SplitMix64::new(seed);
    let policy = policy(&bridge.config);
    // 1. The local session: persistent, subscribed to every outbound mapping.
    let mut attempt = 0u32;
    let (local, mut local_in) = loop {
        let c = &bridge.config;
        let mut o = ClientOptions::new("local", 0, c.local_client_id())
            .with_clean_start(false)
            .with_session_expiry(c.session_expiry)
            .with_keep_alive(60)
            .with_reconnect(policy.clone())
            .with_seed(seed.rotate_left(1));
        o.retry_initial_connect = true;
        if let Some(u) = &c.local_username {
            o = o.with_credentials(u, c.local_password.clone().map(|p| p.0.into_bytes()));
        }
        let r = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            r = Client::connect_with(o, dialer.clone()) => r,
        };
        match r {
            Ok(pair) => break pair,
            Err(e) => {
                tracing::error!(bridge = %name, error = %e, "bridge: local connection failed");
                let d = delay(&policy, attempt, &mut rng);
                attempt = attempt.saturating_add(1);
                if !sleep_unless_stopped(&mut stop, d).await {
                    return;
                }
            }
        }
    };
    let local_filters: Vec<SubscribeFilter> = bridge
        .mappings
        .iter()
        .filter(|m| m.direction.outbound())
        .map(|m| bridge_filter(m.local_filter(), m.qos, true))
        .collect();
    subscribe(&name, "local", &local, local_filters).await;

    // 2. The remote session, again and again while the bridge runs.
    let mut redo: VecDeque<OutgoingMessage> = VecDeque::new();
    let mut try_private = bridge.config.try_private && bridge.version == ProtocolVersion::V3_1_1;
    let mut attempt = 0u32;
    loop {
        let options = match remote_options(&bridge, seed, &policy) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(bridge = %name, error = %e, "bridge: remote options unusable");
                return;
            }
        };
        let connected = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            r = connect_remote(options, try_private) => r,
        };
        let (remote, remote_in) = match connected {
            Ok(pair) => {
                attempt = 0;
                pair
            }
            Err(ClientError::Refused {
                reason_code: ReasonCode::UnsupportedProtocolVersion,
                ..
            }) if try_private => {
                tracing::warn!(bridge = %name, "bridge: the remote refused try_private (protocol level 0x84); dialling plain 3.1.1, without loop prevention on the remote side");
                try_private = false;
                continue;
            }
            Err(e) => {
                tracing::warn!(bridge = %name, error = %e, "bridge: remote connection failed");
                let d = delay(&policy, attempt, &mut rng);
                attempt = attempt.saturating_add(1);
                if !sleep_unless_stopped(&mut stop, d).await {
                    break;
                }
                continue;
            }
        };
        tracing::info!(bridge = %name, remote = %bridge.config.remote, session_present = remote.connack().session_present, "bridge connected");
        let no_local = bridge.version == ProtocolVersion::V5;
        let remote_filters: Vec<SubscribeFilter> = bridge
            .mappings
            .iter()
            .filter(|m| m.direction.inbound())
            .map(|m| bridge_filter(m.remote_filter(), m.qos, no_local))
            .collect();
        subscribe(&name, "remote", &remote, remote_filters).await;
        let stopped = forward(
            &bridge,
            &local,
            &mut local_in,
            &remote,
            remote_in,
            &mut redo,
            &mut stop,
        )
        .await;
        if stopped {
            let _ = remote.disconnect().await;
            break;
        }
        tracing::warn!(bridge = %name, held = redo.len(), "bridge: the remote client stopped; reconnecting");
    }
    let _ = local.disconnect().await;
}

/// Completes once `stop` is true (or its sender is gone). Holds no borrow of the value
/// across an await, so the futures that use it stay `Send`.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps `d`; false if `stop` turned true first.
async fn sleep_unless_stopped(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        biased;
        () = stopped(stop) => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// A bridge subscription: No Local and Retain As Published, so
/// retained messages keep their flag across; retained messages only when the subscription is
/// new (a resumed session already had them).
/// On 3.1.1 (`v5` false) the options do not exist: their bits are reserved.
fn bridge_filter(filter: String, qos: QoS, v5: bool) -> SubscribeFilter {
    let mut f = SubscribeFilter::new(filter, qos);
    if !v5 {
        return f;
    }
    f.options.no_local = true;
    f.options.retain_as_published = true;
    f.options.retain_handling = RetainHandling::SendAtSubscribeIfNew;
    f
}

async fn subscribe(name: &str, side: &str, client: &Client, filters: Vec<SubscribeFilter>) {
    if filters.is_empty() {
        return;
    }
    let names: Vec<String> = filters.iter().map(|f| f.filter.clone()).collect();
    match client
        .subscribe(filters, SubscribeProperties::default())
        .await
    {
        Ok(o) => {
            for (f, code) in names.iter().zip(&o.reason_codes) {
                if code.is_error() {
                    tracing::error!(bridge = %name, side, filter = %f, code = code.name(), "bridge: subscription refused");
                }
            }
        }
        Err(e) => tracing::warn!(bridge = %name, side, error = %e, "bridge: subscribe failed"),
    }
}

fn remote_options(
    bridge: &Bridge,
    seed: u64,
    policy: &ReconnectPolicy,
) -> Result<ClientOptions, ClientError> {
    let c = &bridge.config;
    let mut o = ClientOptions::from_url(&c.remote, c.remote_client_id())?
        .with_version(bridge.version)
        .with_keep_alive(c.keep_alive)
        .with_clean_start(false)
        .with_reconnect(policy.clone())
        .with_seed(seed);
    if bridge.version == ProtocolVersion::V5 {
        o = o.with_session_expiry(c.session_expiry);
    }
    if let Some(u) = &c.username {
        o = o.with_credentials(u, c.password.clone().map(|p| p.0.into_bytes()));
    }
    o.tls = TlsOptions {
        ca_file: c.cafile.clone(),
        cert: c.cert.clone(),
        key: c.key.clone(),
        ..TlsOptions::default()
    };
    o.retry_initial_connect = true;
    // Enough for `max_inflight` plus what a reconnect may have to hand back.
    o.session.max_queued = o.session.max_queued.max(c.max_inflight.saturating_mul(2));
    Ok(o)
}

/// Connects the remote client (with the try_private mark on 3.1.1 if asked).
async fn connect_remote(
    options: ClientOptions,
    try_private: bool,
) -> Result<(Client, Incoming), ClientError> {
    if try_private {
        private::connect(options).await
    } else {
        Client::connect(options).await
    }
}

/// One message on its way, and the message itself, to hand again to the next remote client
/// if this one stops before the flow completes.
type InFlight = Pin<
    Box<
        dyn std::future::Future<Output = (OutgoingMessage, Result<PublishOutcome, ClientError>)>
            + Send,
    >,
>;

fn track(msg: OutgoingMessage, pending: PendingPublish) -> InFlight {
    Box::pin(async move { (msg, pending.await) })
}

/// Forwards both ways until the remote client stops (returns false) or `stop` (true).
async fn forward(
    bridge: &Bridge,
    local: &Client,
    local_in: &mut Incoming,
    remote: &Client,
    mut remote_in: Incoming,
    redo: &mut VecDeque<OutgoingMessage>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let name = &bridge.config.name;
    let cap = bridge.config.max_inflight;
    let mut out_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    // What an earlier remote client could not finish goes first, in its order.
    while let Some(msg) = redo.pop_front() {
        match remote.publish_queued(msg.clone()).await {
            Ok(p) => out_flight.push(track(msg, p)),
            Err(_) => {
                redo.push_front(msg);
                return false;
            }
        }
    }
    let mut remote_open = true;
    loop {
        let can_out = out_flight.len() < cap;
        let can_in = in_flight.len() < cap;
        tokio::select! {
            biased;
            () = stopped(stop) => return true,
            Some((msg, r)) = out_flight.next(), if !out_flight.is_empty() => match r {
                Ok(o) if !o.is_success() => tracing::warn!(bridge = %name, topic = %msg.topic, code = o.reason_code.name(), "bridge: the remote refused a forwarded message"),
                Ok(_) => {}
                Err(_) => redo.push_back(msg),
            },
            Some((msg, r)) = in_flight.next(), if !in_flight.is_empty() => match r {
                Ok(o) if !o.is_success() => tracing::warn!(bridge = %name, topic = %msg.topic, code = o.reason_code.name(), "bridge: this broker refused a forwarded message"),
                Ok(_) => {}
                Err(e) => tracing::warn!(bridge = %name, topic = %msg.topic, error = %e, "bridge: a message from the remote was not published locally"),
            },
            m = local_in.recv(), if can_out && remote_open => match m {
                Some(m) => {
                    if let Some(msg) = map_message(bridge, m, true) {
                        match remote.publish_queued(msg.clone()).await {
                            Ok(p) => out_flight.push(track(msg, p)),
                            Err(_) => redo.push_back(msg),
                        }
                    }
                }
                // The local client stopped: only at shutdown.
                None => return true,
            },
            m = remote_in.recv(), if can_in && remote_open => match m {
                Some(m) => {
                    if let Some(msg) = map_message(bridge, m, false) {
                        match local.publish_queued(msg.clone()).await {
                            Ok(p) => in_flight.push(track(msg, p)),
                            Err(e) => tracing::warn!(bridge = %name, error = %e, "bridge: local client stopped"),
                        }
                    }
                }
                None => remote_open = false,
            },
            else => {}
        }
        if !remote_open && out_flight.is_empty() && in_flight.is_empty() {
            return false;
        }
        if !remote_open {
            // Let the remaining flows end (they fail at once: the client has stopped).
            while let Some((msg, r)) = out_flight.next().await {
                if r.is_err() {
                    redo.push_back(msg);
                }
            }
            while in_flight.next().await.is_some() {}
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml_text: &str) -> BridgeConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn mapping_rewrites_prefixes_both_ways() {
        let b = cfg(
            "name = \"up\"\nremote = \"mqtt://h:1883\"\ntopics = [{ filter = \"sensors/#\", direction = \"both\", qos = 1, remote_prefix = \"site1/\", local_prefix = \"l/\" }]\n",
        )
        .check(0)
        .unwrap();
        let m = |t: &str| Message {
            topic: t.into(),
            payload: b"x".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: false,
            dup: false,
            packet_id: Some(1),
            properties: Default::default(),
        };
        let out = map_message(&b, m("l/sensors/t1"), true).unwrap();
        assert_eq!(out.topic, "site1/sensors/t1");
        let back = map_message(&b, m("site1/sensors/t1"), false).unwrap();
        assert_eq!(back.topic, "l/sensors/t1");
        assert!(map_message(&b, m("other/t"), true).is_none());
    }

    #[test]
    fn seeds_differ_per_bridge_and_repeat() {
        assert_eq!(bridge_seed(1, "a"), bridge_seed(1, "a"));
        assert_ne!(bridge_seed(1, "a"), bridge_seed(1, "b"));
    }

    /// Reconnect delays double up to the cap, stay in the upper half of each step, and are
    /// the same for the same seed.
    #[test]
    fn reconnect_delays_are_bounded_and_reproducible() {
        let p = ReconnectPolicy {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_attempts: None,
        };
        let run = |seed| {
            let mut rng = mqttref_core::rng::SplitMix64::new(seed);
            (0..8)
                .map(|a| delay(&p, a, &mut rng).as_millis())
                .collect::<Vec<_>>()
        };
        let ds = run(bridge_seed(7, "up"));
        for (a, d) in ds.iter().enumerate() {
            let full = (100u128 << a).min(1000);
            assert!((full / 2..=full).contains(d), "attempt {a}: {d}");
        }
        assert_eq!(ds, run(bridge_seed(7, "up")));
        assert_ne!(ds, run(bridge_seed(7, "down")));
    }

    #[test]
    fn passwords_are_not_printed() {
        let b = cfg(
            "name = \"up\"\nremote = \"mqtt://h:1\"\npassword = \"hunter2\"\ntopics = [{ filter = \"a\", direction = \"in\" }]\n",
        );
        assert_eq!(b.password.as_ref().map(|p| p.0.as_str()), Some("hunter2"));
        assert!(!format!("{b:?}").contains("hunter2"));
    }
}
