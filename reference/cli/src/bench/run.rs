//! One bench run against one broker: P publisher and S subscriber connections driven directly
//! on tokio TCP with the core codec (no client session, no channels between the socket and the
//! workload), so the generator costs little next to the broker it measures.
//!
//! # Payload
//! Every payload starts with a 20-byte header, little-endian: the send time (nanoseconds since
//! the run's start, on this process's monotonic clock), the publisher index (`u32`) and the
//! sequence number (`u64`); the rest is zeros up to `--size`. Subscribers take the latency from
//! the first field and the duplicate / order / loss check from the other two.
//!
//! # Flow control
//! - QoS 1: each publisher keeps at most W PUBLISHes unacknowledged (a semaphore of W permits,
//!   taken by the writer, given back by the reader task per PUBACK).
//! - QoS 0: publishers write as fast as the socket takes, but no publisher runs more than
//!   `ahead` messages past what its slowest subscriber has seen. Without that bound the broker
//!   (not the generator) fills its queues and drops, and the figure measured is how fast a
//!   broker can discard; with it, it is the rate the broker sustains end to end. `--ahead 0`
//!   turns the bound off. A publisher waiting for the bound gives up after [`STALL`] (a lost
//!   message must not stop the run) and counts a stall.

use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mqttref_client::{Dialer, TcpDialer, TlsDialer, TlsOptions, Transport, WsDialer};
use mqttref_core::codec::{
    decode, ConnAck, Connect, Decoded, Disconnect, FixedHeader, Packet, ProtocolVersion, PubAck,
    Publish, QoS, ReasonCode, Subscribe, Subscription, SubscriptionOptions,
};
use mqttref_core::codec::{Properties, Property};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Notify, Semaphore};

use super::stats::{Counts, Histogram, Tally};

/// Bytes of the payload header (time, publisher, sequence).
pub const HEADER_LEN: usize = 20;
/// How long a QoS 0 publisher waits for its slowest subscriber before sending anyway.
pub const STALL: Duration = Duration::from_millis(50);
/// Publishes encoded per socket write.
const BATCH: usize = 64;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TCP, TLS, WebSocket, WebSocket over TLS or QUIC.
    pub transport: Transport,
    /// TLS settings (for TLS and WebSocket over TLS).
    pub tls: TlsOptions,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
}

impl Target {
    /// `mqtt://host:port` (or `mqtts://`, `ws://host:port/path`, ...), for reports.
    pub fn label(&self) -> String {
        let path = match &self.transport {
            Transport::Ws { path } | Transport::Wss { path } => path.as_str(),
            _ => "",
        };
        format!(
            "{}://{}:{}{path}",
            crate::tls_args::scheme(&self.transport),
            self.host,
            self.port
        )
    }
}

/// A connection's byte stream, whatever the transport.
pub trait Io: AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}
/// A connection, boxed so that every transport is one type.
pub type Stream = Box<dyn Io>;

/// How a run opens its connections: the client's dialers, built once per run (building the
/// TLS configuration reads the certificate files).
pub struct Dial {
    target: Target,
    how: How,
}

enum How {
    Tcp,
    Tls(TlsDialer<TcpDialer>),
    Ws(WsDialer<TcpDialer>),
    Wss(WsDialer<TlsDialer<TcpDialer>>),
    Quic(mqttref_client::quic::QuicDialer),
}

impl Dial {
    /// The dialer of `target`.
    ///
    /// # Errors
    /// Unusable TLS settings (a file named).
    pub fn new(target: &Target) -> anyhow::Result<Dial> {
        let tls = |alpn: &[u8]| -> anyhow::Result<TlsDialer<TcpDialer>> {
            let config = mqttref_client::tls::client_config(&target.tls, alpn)?;
            Ok(TlsDialer::new(TcpDialer, config, None))
        };
        let how = match &target.transport {
            Transport::Tls => How::Tls(tls(mqttref_client::tls::ALPN_MQTT)?),
            Transport::Ws { path } => How::Ws(WsDialer::new(TcpDialer, path.clone())),
            Transport::Wss { path } => How::Wss(WsDialer::new(
                tls(mqttref_client::tls::ALPN_HTTP1)?,
                path.clone(),
            )),
            Transport::Quic => How::Quic(mqttref_client::quic::QuicDialer::new(
                mqttref_client::tls::client_config(&target.tls, mqttref_client::quic::ALPN_MQTT)?,
                None,
                0x6265_6e63_6871_7569,
            )?),
            _ => How::Tcp,
        };
        Ok(Dial {
            target: target.clone(),
            how,
        })
    }

    async fn open(&self) -> io::Result<Stream> {
        let (host, port) = (self.target.host.as_str(), self.target.port);
        Ok(match &self.how {
            How::Tcp => Box::new(TcpDialer.dial(host, port).await?),
            How::Tls(d) => Box::new(d.dial(host, port).await?),
            How::Ws(d) => Box::new(d.dial(host, port).await?),
            How::Wss(d) => Box::new(d.dial(host, port).await?),
            How::Quic(d) => Box::new(d.dial(host, port).await?),
        })
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Publisher connections.
    pub publishers: usize,
    /// Subscriber connections; each subscribes to every publisher's topic.
    pub subscribers: usize,
    /// QoS of the publishes and the subscriptions.
    pub qos: QoS,
    /// Payload size in bytes (at least [`HEADER_LEN`]).
    pub size: usize,
    /// Messages per publisher; `None` with a duration.
    pub messages: Option<u64>,
    /// How long to publish; `None` with a message count.
    pub duration: Option<Duration>,
    /// QoS 1 window; `None`: min(64, the broker's Receive Maximum).
    pub inflight: Option<u16>,
    /// QoS 0 bound on how far a publisher runs ahead of its slowest subscriber (0: none).
    pub ahead: u64,
    /// Protocol version.
    pub version: ProtocolVersion,
    /// How long subscribers may go without a delivery, once publishing is over, before the
    /// rest is counted missing.
    pub drain: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Messages published (written at QoS 0, acknowledged at QoS 1).
    pub published: u64,
    /// Seconds from the start to the last publish (QoS 0) or PUBACK (QoS 1).
    pub publish_secs: f64,
    /// Deliveries received, duplicates included.
    pub delivered: u64,
    /// Seconds from the start to the last delivery.
    pub deliver_secs: f64,
    /// The delivery check.
    pub counts: Counts,
    /// Delivery latency, nanoseconds.
    pub latency: Histogram,
    /// The QoS 1 window used (0 at QoS 0).
    pub window: u16,
    /// QoS 0 publishers that had to send past the `ahead` bound after [`STALL`].
    pub stalls: u64,
    /// CPU seconds this process used during the run.
    pub generator_cpu: Option<f64>,
    /// CPU seconds the broker process used during the run (with `--broker-pid`).
    pub broker_cpu: Option<f64>,
    /// Wall-clock seconds of the run (start to last delivery or drain end).
    pub wall_secs: f64,
}

impl RunResult {
    /// Messages published per second.
    pub fn publish_rate(&self) -> f64 {
        rate(self.published, self.publish_secs)
    }

    /// Messages delivered per second (all subscribers together).
    pub fn deliver_rate(&self) -> f64 {
        rate(self.delivered, self.deliver_secs)
    }
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// CPU seconds (user + system) of a process, from `/proc/PID/stat` (Linux; `None` elsewhere).
/// Assumes the usual 100 clock ticks per second.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces; fields restart after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A growable read buffer that frames MQTT packets in place (no copy per packet).
struct Framer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Framer {
    fn new() -> Self {
        Framer {
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Reads more bytes. Cancel-safe: nothing is consumed unless the read completes.
    async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = r.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(n)
    }

    /// The byte range of the next whole packet, consumed; `None` if more bytes are needed.
    fn next_frame(&mut self, version: ProtocolVersion) -> anyhow::Result<Option<Range<usize>>> {
        let pending = &self.buf[self.start..self.end];
        match FixedHeader::decode(pending, version)? {
            Decoded::Incomplete(_) => Ok(None),
            Decoded::Complete { value, .. } => {
                let len = usize::try_from(value.packet_len()).context("packet too large")?;
                if pending.len() < len {
                    return Ok(None);
                }
                let r = self.start..self.start + len;
                self.start += len;
                Ok(Some(r))
            }
        }
    }

    fn packet(&self, r: Range<usize>, version: ProtocolVersion) -> anyhow::Result<Packet<'_>> {
        match decode(&self.buf[r], version, u32::MAX)? {
            Decoded::Complete { value, .. } => Ok(value),
            Decoded::Incomplete(_) => bail!("framed packet is incomplete"),
        }
    }

    /// Reads until one whole packet is there and returns its range (for the handshake).
    async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        version: ProtocolVersion,
    ) -> anyhow::Result<Range<usize>> {
        loop {
            if let Some(f) = self.next_frame(version)? {
                return Ok(f);
            }
            self.fill(r).await?;
        }
    }
}

/// An open, accepted connection.
struct Conn {
    stream: Stream,
    framer: Framer,
    /// The broker's Receive Maximum (65,535 when it sends none).
    receive_maximum: u16,
}

async fn connect(dial: &Dial, version: ProtocolVersion, client_id: &str) -> anyhow::Result<Conn> {
    let target = &dial.target;
    let mut stream = dial
        .open()
        .await
        .with_context(|| format!("connecting to {}", target.label()))?;
    // Subscribers must not be the limit on what the broker may send them.
    let props = [Property::ReceiveMaximum(u16::MAX)];
    let connect = Connect {
        // Long enough that no PINGREQ is due during a run, and not 0: rumqttd 0.20 refuses a
        // CONNECT with Keep Alive 0 (ZeroKeepAlive), although 0 turns the mechanism off
        // (5.0 §3.1.2.10, 3.1.1 §3.1.2.10).
        keep_alive: 600,
        properties: if version == ProtocolVersion::V5 {
            Properties::Slice(&props)
        } else {
            Properties::Slice(&[])
        },
        username: target.username.as_deref(),
        password: target.password.as_deref().map(str::as_bytes),
        ..Connect::new(version, client_id)
    };
    stream
        .write_all(&Packet::Connect(connect).encode_to_vec(version)?)
        .await?;
    // Every write is flushed: TLS and WebSocket streams buffer until then.
    stream.flush().await?;
    let mut framer = Framer::new();
    let f = framer.read_frame(&mut stream, version).await?;
    let receive_maximum = match framer.packet(f, version)? {
        Packet::ConnAck(ConnAck {
            reason_code,
            properties,
            ..
        }) => {
            if reason_code != ReasonCode::Success {
                bail!(
                    "{}: connection refused: {reason_code:?} (0x{:02x})",
                    target.label(),
                    reason_code.as_u8()
                );
            }
            match properties.get(mqttref_core::codec::PropertyId::ReceiveMaximum) {
                Some(Property::ReceiveMaximum(n)) => n,
                _ => u16::MAX,
            }
        }
        other => bail!("expected CONNACK, got {:?}", other.packet_type()),
    };
    Ok(Conn {
        stream,
        framer,
        receive_maximum,
    })
}

async fn subscribe(
    conn: &mut Conn,
    filter: &str,
    qos: QoS,
    version: ProtocolVersion,
) -> anyhow::Result<()> {
    let subs = [Subscription {
        filter,
        options: SubscriptionOptions::qos(qos),
    }];
    let bytes = Packet::Subscribe(Subscribe::new(1, &subs)).encode_to_vec(version)?;
    conn.stream.write_all(&bytes).await?;
    conn.stream.flush().await?;
    let f = conn.framer.read_frame(&mut conn.stream, version).await?;
    match conn.framer.packet(f, version)? {
        Packet::SubAck(s) => {
            let code = s.reason_codes.iter().next().context("empty SUBACK")?;
            if code.is_error() || code.as_u8() < qos.as_u8() {
                bail!("subscription to {filter} refused or downgraded: {code:?}");
            }
            Ok(())
        }
        other => bail!("expected SUBACK, got {:?}", other.packet_type()),
    }
}

/// Writes the payload header.
pub fn write_header(payload: &mut [u8], ts_nanos: u64, publisher: u32, seq: u64) {
    if let Some(h) = payload.get_mut(..HEADER_LEN) {
        h[..8].copy_from_slice(&ts_nanos.to_le_bytes());
        h[8..12].copy_from_slice(&publisher.to_le_bytes());
        h[12..20].copy_from_slice(&seq.to_le_bytes());
    }
}

/// Reads the payload header: (time, publisher, sequence); `None` if too short.
pub fn read_header(payload: &[u8]) -> Option<(u64, u32, u64)> {
    let h = payload.get(..HEADER_LEN)?;
    Some((
        u64::from_le_bytes(h[..8].try_into().ok()?),
        u32::from_le_bytes(h[8..12].try_into().ok()?),
        u64::from_le_bytes(h[12..20].try_into().ok()?),
    ))
}

/// What subscribers share with publishers and the coordinator: per (subscriber, publisher) one
/// past the highest sequence seen, each written by one subscriber only.
struct Progress {
    high: Vec<AtomicU64>,
    publishers: usize,
    delivered: AtomicU64,
    notify: Notify,
}

impl Progress {
    fn slowest(&self, publisher: usize) -> u64 {
        self.high
            .iter()
            .skip(publisher)
            .step_by(self.publishers)
            .map(|a| a.load(Ordering::Relaxed))
            .min()
            .unwrap_or(u64::MAX)
    }
}

struct PubOutcome {
    sent: u64,
    end: Instant,
    stalls: u64,
    conn: Option<tokio::io::WriteHalf<Stream>>,
    stream: Option<Stream>,
}

#[allow(clippy::too_many_arguments)]
async fn publisher(
    conn: Conn,
    index: usize,
    topic: String,
    w: Workload,
    window: u16,
    start: Instant,
    progress: Arc<Progress>,
) -> anyhow::Result<PubOutcome> {
    let version = w.version;
    let deadline = w.duration.map(|d| start + d);
    let limit = w.messages.unwrap_or(u64::MAX);
    let mut payload = vec![0u8; w.size];
    let mut out: Vec<u8> = Vec::with_capacity(BATCH * (w.size + topic.len() + 16));
    let mut seq = 0u64;
    let mut stalls = 0;
    let encode = |out: &mut Vec<u8>, payload: &mut [u8], seq: u64| -> anyhow::Result<()> {
        let ts = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        write_header(payload, ts, index as u32, seq);
        let p = Publish {
            qos: w.qos,
            packet_id: (w.qos != QoS::AtMostOnce).then(|| (seq % 65_535) as u16 + 1),
            ..Publish::new(&topic, payload)
        };
        let at = out.len();
        let n = p.encoded_len(version)?;
        out.resize(at + n, 0);
        p.encode(version, &mut out[at..])?;
        Ok(())
    };
    let more = |seq: u64| seq < limit && deadline.is_none_or(|d| Instant::now() < d);

    if w.qos == QoS::AtMostOnce {
        let mut stream = conn.stream;
        while more(seq) {
            if w.ahead > 0 {
                let mut waited: Option<Instant> = None;
                loop {
                    let notified = progress.notify.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    if seq < progress.slowest(index).saturating_add(w.ahead) {
                        break;
                    }
                    let since = *waited.get_or_insert_with(Instant::now);
                    let left = STALL.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        stalls += 1;
                        break;
                    }
                    let _ = tokio::time::timeout(left, notified).await;
                }
            }
            out.clear();
            let room = if w.ahead > 0 {
                (progress.slowest(index).saturating_add(w.ahead))
                    .saturating_sub(seq)
                    .clamp(1, BATCH as u64)
            } else {
                BATCH as u64
            };
            for _ in 0..room {
                if seq >= limit {
                    break;
                }
                encode(&mut out, &mut payload, seq)?;
                seq += 1;
            }
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
        return Ok(PubOutcome {
            sent: seq,
            end: Instant::now(),
            stalls,
            conn: None,
            stream: Some(stream),
        });
    }

    // QoS 1: a reader task gives a permit back per PUBACK.
    let permits = Arc::new(Semaphore::new(usize::from(window)));
    let (mut rd, mut wr) = tokio::io::split(conn.stream);
    let mut framer = conn.framer;
    let reader = {
        let permits = Arc::clone(&permits);
        tokio::spawn(async move {
            loop {
                framer.fill(&mut rd).await?;
                let mut acks = 0;
                while let Some(f) = framer.next_frame(version)? {
                    match framer.packet(f, version)? {
                        Packet::PubAck(a) if !a.reason_code.is_error() => acks += 1,
                        Packet::PubAck(a) => bail!("PUBLISH refused: {:?}", a.reason_code),
                        Packet::Disconnect(d) => bail!("broker disconnected: {:?}", d.reason_code),
                        other => bail!("unexpected {:?} on a publisher", other.packet_type()),
                    }
                }
                permits.add_permits(acks);
            }
            #[allow(unreachable_code)]
            Ok::<(), anyhow::Error>(())
        })
    };
    let result: anyhow::Result<()> = async {
        while more(seq) {
            let first = permits.acquire().await?;
            first.forget();
            let mut n = 1;
            while n < BATCH && seq + (n as u64) < limit {
                match permits.try_acquire() {
                    Ok(p) => {
                        p.forget();
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            out.clear();
            for _ in 0..n {
                encode(&mut out, &mut payload, seq)?;
                seq += 1;
            }
            wr.write_all(&out).await?;
            wr.flush().await?;
        }
        // Every permit back: everything acknowledged.
        let all = tokio::time::timeout(
            w.drain.max(Duration::from_secs(10)),
            permits.acquire_many(u32::from(window)),
        )
        .await
        .context("timed out waiting for PUBACKs")??;
        all.forget();
        Ok(())
    }
    .await;
    let end = Instant::now();
    if let Err(e) = result {
        reader.abort();
        if let Ok(Ok(Err(re))) = tokio::time::timeout(Duration::from_millis(10), reader).await {
            return Err(re.context(e));
        }
        return Err(e);
    }
    reader.abort();
    Ok(PubOutcome {
        sent: seq,
        end,
        stalls,
        conn: Some(wr),
        stream: None,
    })
}

struct SubOutcome {
    tally: Tally,
    latency: Histogram,
    delivered: u64,
    last: Option<Instant>,
    stream: Stream,
}

async fn subscriber(
    mut conn: Conn,
    index: usize,
    w: Workload,
    start: Instant,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<SubOutcome> {
    let version = w.version;
    let mut tally = Tally::new(w.publishers);
    let mut latency = Histogram::default();
    let mut acks: Vec<u8> = Vec::with_capacity(4096);
    let mut delivered = 0u64;
    let mut last = None;
    let highs = &progress.high[index * w.publishers..(index + 1) * w.publishers];
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            r = conn.framer.fill(&mut conn.stream) => { r?; }
        }
        let now = Instant::now();
        let now_ns = u64::try_from(now.duration_since(start).as_nanos()).unwrap_or(u64::MAX);
        let mut n = 0;
        acks.clear();
        while let Some(f) = conn.framer.next_frame(version)? {
            match conn.framer.packet(f, version)? {
                Packet::Publish(p) => {
                    n += 1;
                    match read_header(p.payload) {
                        Some((ts, publisher, seq)) => {
                            tally.record(publisher as usize, seq);
                            latency.record(now_ns.saturating_sub(ts));
                        }
                        None => tally.foreign += 1,
                    }
                    if let Some(id) = p.packet_id {
                        let at = acks.len();
                        let ack = PubAck::new(id);
                        let len = ack.encoded_len(version)?;
                        acks.resize(at + len, 0);
                        ack.encode(version, &mut acks[at..])?;
                    }
                }
                Packet::Disconnect(d) => {
                    bail!("broker disconnected a subscriber: {:?}", d.reason_code)
                }
                other => bail!("unexpected {:?} on a subscriber", other.packet_type()),
            }
        }
        if !acks.is_empty() {
            conn.stream.write_all(&acks).await?;
            conn.stream.flush().await?;
        }
        if n > 0 {
            delivered += n;
            last = Some(now);
            for (p, h) in highs.iter().enumerate() {
                h.store(tally.high(p), Ordering::Relaxed);
            }
            progress.delivered.fetch_add(n, Ordering::Relaxed);
            progress.notify.notify_waiters();
        }
    }
    Ok(SubOutcome {
        tally,
        latency,
        delivered,
        last,
        stream: conn.stream,
    })
}

/// Runs the workload once against `target`. `run_id` keeps topics and client ids apart from
/// other runs (and other users of the broker).
pub async fn run_once(
    target: &Target,
    w: &Workload,
    run_id: &str,
    broker_pid: Option<u32>,
) -> anyhow::Result<RunResult> {
    let version = w.version;
    let dial = Dial::new(target)?;
    let filter = format!("bench/{run_id}/#");
    let mut subs = Vec::with_capacity(w.subscribers);
    for i in 0..w.subscribers {
        let mut c = connect(&dial, version, &format!("bench-{run_id}-s{i}")).await?;
        subscribe(&mut c, &filter, w.qos, version).await?;
        subs.push(c);
    }
    let mut pubs = Vec::with_capacity(w.publishers);
    let mut window = u16::MAX;
    for i in 0..w.publishers {
        let c = connect(&dial, version, &format!("bench-{run_id}-p{i}")).await?;
        window = window.min(c.receive_maximum);
        pubs.push(c);
    }
    let window = if w.qos == QoS::AtMostOnce {
        0
    } else {
        w.inflight.unwrap_or(64).min(window).max(1)
    };
    let progress = Arc::new(Progress {
        high: (0..w.subscribers * w.publishers)
            .map(|_| AtomicU64::new(0))
            .collect(),
        publishers: w.publishers,
        delivered: AtomicU64::new(0),
        notify: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu0 = cpu_seconds(None);
    let bcpu0 = broker_pid.and_then(|p| cpu_seconds(Some(p)));
    let start = Instant::now();
    let sub_tasks: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(subscriber(
                c,
                i,
                w.clone(),
                start,
                Arc::clone(&progress),
                stop_rx.clone(),
            ))
        })
        .collect();
    let pub_tasks: Vec<_> = pubs
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(publisher(
                c,
                i,
                format!("bench/{run_id}/{i}"),
                w.clone(),
                window,
                start,
                Arc::clone(&progress),
            ))
        })
        .collect();
    let mut published = 0;
    let mut pub_end = start;
    let mut stalls = 0;
    let mut pub_conns = Vec::new();
    let mut first_err = None;
    for t in pub_tasks {
        match t.await? {
            Ok(o) => {
                published += o.sent;
                pub_end = pub_end.max(o.end);
                stalls += o.stalls;
                pub_conns.push((o.conn, o.stream));
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if first_err.is_none() {
        // Drain: until every subscriber has everything, or nothing arrives for `drain`.
        let expected = published * w.subscribers as u64;
        let mut seen = progress.delivered.load(Ordering::Relaxed);
        let mut idle_since = Instant::now();
        loop {
            let d = progress.delivered.load(Ordering::Relaxed);
            if d >= expected || sub_tasks.iter().any(|t| t.is_finished()) {
                break;
            }
            if d != seen {
                seen = d;
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= w.drain {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let _ = stop_tx.send(true);
    let mut tallies = Vec::new();
    let mut latency = Histogram::default();
    let mut delivered = 0;
    let mut last = start;
    let mut sub_streams = Vec::new();
    for t in sub_tasks {
        match t.await? {
            Ok(o) => {
                tallies.push(o.tally);
                latency.merge(&o.latency);
                delivered += o.delivered;
                if let Some(l) = o.last {
                    last = last.max(l);
                }
                sub_streams.push(o.stream);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let wall = start.elapsed();
    let cpu1 = cpu_seconds(None);
    let bcpu1 = broker_pid.and_then(|p| cpu_seconds(Some(p)));
    if let Some(e) = first_err {
        return Err(e);
    }
    // Clean disconnects, so the broker does not count these as abnormal.
    let bye = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: Properties::Slice(&[]),
    })
    .encode_to_vec(version)?;
    for (wh, s) in pub_conns {
        if let Some(mut wh) = wh {
            let _ = wh.write_all(&bye).await;
            let _ = wh.flush().await;
        }
        if let Some(mut s) = s {
            let _ = s.write_all(&bye).await;
            let _ = s.flush().await;
        }
    }
    for mut s in sub_streams {
        let _ = s.write_all(&bye).await;
        let _ = s.flush().await;
    }
    Ok(RunResult {
        published,
        publish_secs: pub_end.duration_since(start).as_secs_f64(),
        delivered,
        deliver_secs: last.duration_since(start).as_secs_f64(),
        counts: Counts::check(published, &tallies),
        latency,
        window,
        stalls,
        generator_cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
        broker_cpu: bcpu0.zip(bcpu1).map(|(a, b)| b - a),
        wall_secs: wall.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_header_round_trips() {
        let mut p = vec![0u8; 64];
        write_header(&mut p, 123_456_789, 3, 42);
        assert_eq!(read_header(&p), Some((123_456_789, 3, 42)));
        assert_eq!(read_header(&p[..19]), None);
    }

    #[test]
    fn cpu_of_self_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(cpu_seconds(None).is_some());
        }
    }
}
