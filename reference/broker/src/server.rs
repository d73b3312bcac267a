//! The engine task, and how it drives the connection tasks ([`crate::connection`]).
//!
//! # Why one engine task, not a `Mutex<Broker>`
//! The engine is one state machine over every session; every PUBLISH can touch any session.
//! A mutex would serialise the same work and add lock hand-offs on the hot path, and
//! worse, a connection task holding the lock across an await (a write) would stall everyone.
//! So one task owns the engine and is fed by a single bounded mpsc of [`Event`]s; it never
//! awaits anything but that channel and its timer, and it hands bytes to connections with a
//! non-blocking send. Its processing order is the channel's order, which is also what makes a
//! turmoil run replayable.
//!
//! # Bounds
//! - Inbound: the event channel is bounded ([`EVENT_QUEUE`]); a reader blocks on it, which stops
//!   it reading its socket: TCP backpressure when the engine as a whole is behind.
//! - Per connection, the engine says when to stop reading ([`Output::Pause`]) and when to read
//!   again ([`Output::Resume`]): a publisher whose acknowledgements are held back by full
//!   subscriber queues (3.1.1 has no send quota to do it), or a peer that does not read its
//!   replies. The connection stops reading when the engine task sets its link's gate
//!   ([`EngineEnd::set_paused`]); what it had already read still reaches the engine, which keeps it unparsed. TCP then slows the peer down.
//! - Outbound: each connection's command channel is unbounded *by count* but bounded *by bytes*
//!   by the engine: after each write the writer reports the bytes written
//!   ([`Broker::handle_written`]), and the engine stops handing out deliveries once
//!   `max_outbound_bytes` are unwritten (they wait in the session queue) and stops reading a
//!   connection whose unwritten replies pass twice that.
//!
//! # Writes are never cancelled
//! A batch, once started, is written to the end or the connection is abandoned; nothing races
//! it that could drop a half-written packet (rumqtt lost acknowledgements that way).
//!
//! # Writes are batched
//! One syscall per outgoing PUBLISH was most of the broker's CPU under a fan-out load (a
//! profile: 57% in `sendto`). So when the writer wakes it also takes every command already
//! queued up to [`WRITE_BATCH`] bytes, writes them as one batch and reports one `Written` with
//! their total: the engine's accounting stays exact,
//! only coarser. A `Close` behind data ends the batch, and the data is written before the close.
//!
//! # Writes are bounded
//! A writer blocked in a write on a wedged connection (a peer that stops reading, a partition
//! that never frees send credit: a real kernel blocks for minutes) would never see the
//! engine's `Close` queued behind it (keep-alive expiry, takeover, shutdown), and the socket
//! and its tasks would live on. So every write, flush and shutdown is bounded
//! ([`write_bound`]): one that makes no progress for 1.5 times the connection's keep alive
//! (the grace the engine gives an idle client, [MQTT-3.1.2-22] (5.0) / [MQTT-3.1.2-24]
//! (3.1.1)), or for `write_timeout_ms` when it has none or has no CONNACK yet, ends the
//! connection: the writer reports it closed ([`Broker::handle_close`], so the will is published
//! as for any abnormal close) and the socket is dropped. The engine passes the bound with each
//! `Write`. When the deadline passes, the half-written stream is abandoned, never written to
//! again.
//!
//! # Acknowledgements wait for the store
//! With a durable store ([`crate::store::FileStorage`]) the engine task works in batches: it
//! takes every input already waiting (up to [`GROUP_MAX`]), runs each through the engine and
//! keeps the outputs, then has the store write and sync (per `fsync`) everything the batch
//! changed ([`Durable::commit`]), and only then hands the outputs to the connections. One sync
//! serves a whole batch (group commit); the engine never waits for the disk. In memory the
//! batch is one input, as before.
//!
//! # Shutdown (mini-redis shape)
//! `serve` stops accepting, tells the engine ([`Event::Shutdown`]), which sends DISCONNECT 0x8B
//! and closes everything; each connection task holds a clone of `done_tx`, so `done_rx.recv()`
//! returning `None` means every connection has flushed and ended.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use mqttref_core::broker::{Broker, ConnectionId, Event as EngineEvent, Output, Storage};
use mqttref_core::time::Instant;
use tokio::sync::{mpsc, Semaphore};

use crate::connection::{self, Connection, EngineEnd, Guard};
use crate::store::{Durable, StoreStats};
use crate::{BrokerConfig, Listener};

/// Capacity of the engine's input channel, in events.
const EVENT_QUEUE: usize = 1024;
/// Bytes read from sockets and not yet taken by the engine, all connections together: a
/// reader waits for room before it sends what it read. Without it the channel could hold
/// `EVENT_QUEUE` full reads (16 MiB) at once, and a flood of tiny packets from a few peers
/// kept the broker's memory tens of MiB up.
const INPUT_BUDGET: usize = 1024 * 1024;
/// Sockets accepted beyond `max_connections` + `max_awaiting_connect`, to be refused with
/// CONNACK 0x97.
const SOCKET_SLACK: usize = 16;
/// The most a connection reads at once (on the stack of its `poll`, not kept between reads).
pub(crate) const READ_BUF: usize = 16 * 1024;
/// Bytes a writer gathers before it writes (one packet may exceed it; it is never split).
/// Large enough to cut syscalls by orders of magnitude for small PUBLISHes, small enough not
/// to delay the first byte of a batch noticeably.
pub(crate) const WRITE_BATCH: usize = 64 * 1024;

/// Input to the engine task.
pub(crate) enum Event {
    Accepted {
        id: ConnectionId,
        tx: EngineEnd,
        /// The peer's address, for the per-address cap on connections awaiting CONNECT.
        peer: std::net::IpAddr,
    },
    Bytes {
        id: ConnectionId,
        data: Vec<u8>,
        /// Its share of [`INPUT_BUDGET`], given back when the engine has taken the bytes.
        _budget: tokio::sync::OwnedSemaphorePermit,
    },
    Written {
        id: ConnectionId,
        n: usize,
    },
    Closed {
        id: ConnectionId,
    },
    Shutdown,
}

/// Command to a connection's writer.
pub(crate) enum Cmd {
    /// Bytes to write, and how long a write may make no progress ([`write_bound`]).
    Write(Vec<u8>, Duration),
    Close,
}

/// How long a write on a connection may make no progress before the connection is given up:
/// 1.5 times its keep alive in ms (`keep_alive_ms`, 0: none), else `default`.
fn write_bound(keep_alive_ms: Option<u64>, default: Duration) -> Duration {
    match keep_alive_ms {
        Some(k) if k > 0 => Duration::from_millis(k.saturating_add(k / 2)),
        _ => default,
    }
    .max(Duration::from_millis(1))
}

pub(crate) async fn serve<L: Listener, S: Durable + Send + 'static>(
    mut listener: L,
    config: BrokerConfig,
    engine: Broker<S>,
    login_failures: Option<Arc<AtomicU64>>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    let write_timeout = Duration::from_millis(config.write_timeout_ms);
    // The engine's own caps, which may not be `config.engine`'s (`run_with_engine`): connected
    // clients, and connections still to complete CONNECT (the engine evicts the oldest of
    // those at its cap, so sockets that send nothing never fill the slots).
    let max_sockets = engine
        .config()
        .max_connections
        .saturating_add(engine.config().max_awaiting_connect);
    let awaiting = Awaiting::new(config.max_awaiting_connect_per_address);
    let logins = LoginLimit::new(
        login_failures,
        config.max_login_failures_per_address,
        Duration::from_secs(config.login_failure_window_secs),
    );
    let engine_task = tokio::spawn(engine_loop(engine, ev_rx, write_timeout, awaiting, logins));
    // Caps sockets: connected clients plus those still to complete CONNECT. The engine caps
    // CONNECTed clients at `max_connections` and answers the excess with CONNACK 0x97 (Quota
    // exceeded); the slack lets that answer reach a few of them instead of leaving every extra
    // client waiting unanswered in the accept backlog.
    let permits = Arc::new(Semaphore::new(max_sockets.saturating_add(SOCKET_SLACK)));
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let budget = Arc::new(Semaphore::new(INPUT_BUDGET));
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    let result = loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(error = %e, "accept failed for one connection");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        next_id += 1;
        let id = ConnectionId(next_id);
        tracing::debug!(conn = id.0, %peer, "accepted");
        let (tx, link) = connection::link();
        if ev_tx
            .send(Event::Accepted {
                id,
                tx,
                peer: peer.ip(),
            })
            .await
            .is_err()
        {
            break Err(io::Error::other("engine task ended"));
        }
        let guard = Guard {
            _slot: permit,
            _done: done_tx.clone(),
        };
        tokio::spawn(
            Connection::new(
                id,
                stream,
                link,
                ev_tx.clone(),
                budget.clone(),
                write_timeout,
            )
            .holding(guard),
        );
    };
    tracing::info!("shutting down");
    let _ = ev_tx.send(Event::Shutdown).await;
    drop(ev_tx);
    drop(done_tx);
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    if tokio::time::timeout(grace, done_rx.recv()).await.is_err() {
        tracing::warn!("connections still open after {grace:?}; dropping them");
    }
    engine_task.abort();
    result
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Events taken into one batch of engine steps at most (see "Acknowledgements wait for the
/// store" in the module documentation): bounds how long a batch holds its first packets back.
const GROUP_MAX: usize = 256;

/// Owns the engine: applies events, hands outputs to connections, keeps the timer, and makes
/// each batch's state durable before its packets leave.
async fn engine_loop<S: Durable>(
    mut engine: Broker<S>,
    mut rx: mpsc::Receiver<Event>,
    write_timeout: Duration,
    mut awaiting: Awaiting,
    mut logins: LoginLimit,
) {
    let epoch = tokio::time::Instant::now();
    let now = move || {
        Instant::from_millis(u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    };
    // A store that came back from disk: subscriptions, session deadlines, waiting wills.
    engine.restore(now());
    let mut conns: BTreeMap<ConnectionId, EngineEnd> = BTreeMap::new();
    let mut shutting_down = false;
    // The outputs of the current batch, held until the store has committed it.
    let mut held: Vec<Output> = Vec::new();
    let mut report = StatsReport::new(engine.storage().store_stats());
    loop {
        let deadline = engine
            .poll_timeout()
            .map(|t| epoch + Duration::from_millis(t.as_millis()));
        let sync_at = engine.storage().sync_due_at();
        let mut next = tokio::select! {
            biased;
            ev = rx.recv() => match ev {
                Some(ev) => Some(ev),
                None => break,
            },
            () = sleep_until(deadline) => {
                engine.handle_timeout(now());
                None
            }
            () = sleep_until(sync_at) => {
                if let Err(e) = engine.storage_mut().sync_now() {
                    tracing::error!(error = %e, "store sync failed; stopping the broker");
                    break;
                }
                continue;
            }
        };
        // Group commit: every event already waiting joins this batch (up to GROUP_MAX), so
        // one sync covers all of them. In memory there is nothing to share: one event each.
        let group = if engine.storage().group_commit() {
            GROUP_MAX
        } else {
            1
        };
        let mut taken = 0;
        loop {
            if let Some(event) = next.take() {
                apply_event(
                    &mut engine,
                    event,
                    &mut conns,
                    &mut awaiting,
                    &mut logins,
                    &mut shutting_down,
                    now(),
                );
            }
            while let Some(out) = engine.poll_output() {
                held.push(out);
            }
            taken += 1;
            if taken >= group {
                break;
            }
            match rx.try_recv() {
                Ok(ev) => next = Some(ev),
                Err(_) => break,
            }
        }
        // Nothing of this batch leaves before its state is durable. Why that is per-ack
        // gating: every PUBACK, PUBREC, SUBACK and CONNACK (Session Present) in `held` was
        // produced by a step of this batch, after the state it promises (the message queued
        // for its subscribers, the packet id recorded, the subscription, the session) was
        // changed in the store, in this step or an earlier one; `commit` writes every change
        // since the last commit and syncs it, so when it returns every promise in `held` is
        // backed. Holding back the non-acknowledgements too (deliveries, PINGRESP) only delays
        // them by one batch. A failed commit stops the broker: nothing of the batch is sent.
        if let Err(e) = engine.storage_mut().commit() {
            tracing::error!(error = %e, "store write failed; stopping the broker unacknowledged");
            break;
        }
        dispatch(&engine, held.drain(..), &mut conns, write_timeout);
        log_events(&mut engine, &mut awaiting);
        report.tick(engine.storage().store_stats());
    }
    if let Err(e) = engine.storage_mut().sync_now() {
        tracing::error!(error = %e, "final store sync failed");
    }
}

/// Applies one input to the engine.
fn apply_event<S: Storage>(
    engine: &mut Broker<S>,
    event: Event,
    conns: &mut BTreeMap<ConnectionId, EngineEnd>,
    awaiting: &mut Awaiting,
    logins: &mut LoginLimit,
    shutting_down: &mut bool,
    now: Instant,
) {
    match event {
        Event::Accepted { id, tx, peer } => {
            if *shutting_down {
                let _ = tx.send(Cmd::Close);
                return;
            }
            if logins.blocked(peer, tokio::time::Instant::now()) {
                tracing::debug!(conn = id.0, %peer, "closed: too many failed logins from this address");
                let _ = tx.send(Cmd::Close);
                return;
            }
            conns.insert(id, tx);
            engine.handle_connect(id, now);
            if let Some(old) = awaiting.add(id, peer) {
                // Too many from this address still to send CONNECT: the oldest goes.
                tracing::debug!(conn = old.0, %peer, "closed: too many connections awaiting CONNECT from one address");
                if let Some(h) = conns.remove(&old) {
                    let _ = h.send(Cmd::Close);
                }
                engine.handle_close(old, now);
            }
        }
        Event::Bytes { id, data, .. } => {
            let before = logins.failures();
            engine.handle_bytes(id, now, &data);
            // Authentication runs inside `handle_bytes` for this connection's input only, so a
            // refusal counted meanwhile is this connection's (its address is known until its
            // CONNECT completes or fails, which `log_events` records after this).
            if logins.failures() != before {
                if let Some(peer) = awaiting.addr_of.get(&id) {
                    logins.failed(*peer, tokio::time::Instant::now());
                }
            }
        }
        Event::Written { id, n } => engine.handle_written(id, now, n),
        Event::Closed { id } => {
            // Dropping the sender ends the writer once it has written what it holds.
            conns.remove(&id);
            awaiting.remove(id);
            engine.handle_close(id, now);
        }
        Event::Shutdown => {
            *shutting_down = true;
            engine.shutdown(now);
        }
    }
}

/// Logs the store's sync rate every [`STATS_EVERY`] while it writes.
struct StatsReport {
    at: tokio::time::Instant,
    last: Option<StoreStats>,
}

/// How often [`StatsReport`] logs.
const STATS_EVERY: Duration = Duration::from_secs(10);

impl StatsReport {
    fn new(stats: Option<StoreStats>) -> Self {
        StatsReport {
            at: tokio::time::Instant::now(),
            last: stats,
        }
    }

    fn tick(&mut self, stats: Option<StoreStats>) {
        let (Some(now), Some(last)) = (stats, self.last) else {
            return;
        };
        let elapsed = self.at.elapsed();
        if elapsed < STATS_EVERY {
            return;
        }
        if now != last {
            let secs = elapsed.as_secs_f64();
            tracing::info!(
                syncs_per_sec = format!("{:.1}", (now.syncs - last.syncs) as f64 / secs),
                batches_per_sec = format!("{:.1}", (now.batches - last.batches) as f64 / secs),
                bytes_per_sec = (now.bytes - last.bytes) as f64 / secs,
                compactions = now.compactions,
                "store"
            );
        }
        self.at = tokio::time::Instant::now();
        self.last = Some(now);
    }
}

/// Failed logins per client address: after `max` refused authentications within `window` of
/// the first, the address's new connections are closed on arrival until the window ends
/// (`max_login_failures_per_address`, `login_failure_window_secs`; 0 turns it off). Counts
/// what the authenticator refused (`AuthSetup::failures`): wrong passwords, SCRAM proofs,
/// tokens. This caps online guessing, and the engine-task time argon2 verification of a flood
/// would take.
struct LoginLimit {
    /// The authenticator's refusal count; `None` without authentication (nothing to limit).
    failures: Option<Arc<AtomicU64>>,
    max: u32,
    window: Duration,
    /// Address → (first failure of the window, failures since).
    by_addr: BTreeMap<std::net::IpAddr, (tokio::time::Instant, u32)>,
}

/// Addresses tracked before expired windows are swept.
const LOGIN_SWEEP_AT: usize = 4096;

impl LoginLimit {
    fn new(failures: Option<Arc<AtomicU64>>, max: u32, window: Duration) -> Self {
        LoginLimit {
            failures: failures.filter(|_| max > 0),
            max,
            window,
            by_addr: BTreeMap::new(),
        }
    }

    fn failures(&self) -> u64 {
        self.failures
            .as_ref()
            .map_or(0, |f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn failed(&mut self, peer: std::net::IpAddr, now: tokio::time::Instant) {
        if self.by_addr.len() >= LOGIN_SWEEP_AT {
            let window = self.window;
            self.by_addr
                .retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let e = self.by_addr.entry(peer).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
        if e.1 == self.max {
            tracing::warn!(%peer, failures = e.1, window_secs = self.window.as_secs(), "refusing connections from this address: too many failed logins");
        }
    }

    fn blocked(&mut self, peer: std::net::IpAddr, now: tokio::time::Instant) -> bool {
        match self.by_addr.get(&peer) {
            Some((start, n)) if now.duration_since(*start) < self.window => *n >= self.max,
            Some(_) => {
                self.by_addr.remove(&peer);
                false
            }
            None => false,
        }
    }
}

/// Connections that have not completed CONNECT, by peer address: at most `cap` per address
/// (the engine caps them all together, `max_awaiting_connect`, but cannot see addresses). One
/// host opening sockets that never speak then only ever evicts its own.
struct Awaiting {
    cap: usize,
    by_addr: BTreeMap<std::net::IpAddr, std::collections::VecDeque<ConnectionId>>,
    addr_of: BTreeMap<ConnectionId, std::net::IpAddr>,
}

impl Awaiting {
    fn new(cap: usize) -> Self {
        Awaiting {
            cap: cap.max(1),
            by_addr: BTreeMap::new(),
            addr_of: BTreeMap::new(),
        }
    }

    /// Records a new connection from `peer`; returns the oldest one from the same address if
    /// that address is now over the cap (the caller closes it).
    fn add(&mut self, id: ConnectionId, peer: std::net::IpAddr) -> Option<ConnectionId> {
        self.addr_of.insert(id, peer);
        let q = self.by_addr.entry(peer).or_default();
        q.push_back(id);
        if q.len() <= self.cap {
            return None;
        }
        let old = q.pop_front()?;
        self.addr_of.remove(&old);
        Some(old)
    }

    /// `id` completed CONNECT or closed.
    fn remove(&mut self, id: ConnectionId) {
        let Some(peer) = self.addr_of.remove(&id) else {
            return;
        };
        if let Some(q) = self.by_addr.get_mut(&peer) {
            q.retain(|c| *c != id);
            if q.is_empty() {
                self.by_addr.remove(&peer);
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Hands a committed batch's outputs to the connections.
fn dispatch<S: Storage>(
    engine: &Broker<S>,
    outputs: impl Iterator<Item = Output>,
    conns: &mut BTreeMap<ConnectionId, EngineEnd>,
    write_timeout: Duration,
) {
    // The engine hands out one transmit per connection per step (it gathers every packet
    // for a connection into one buffer), so each is one command to that connection.
    for out in outputs {
        match out {
            Output::Transmit { conn, data } => {
                if let Some(h) = conns.get(&conn) {
                    let bound = write_bound(engine.keep_alive_ms(conn), write_timeout);
                    let _ = h.send(Cmd::Write(data, bound));
                }
            }
            Output::Close { conn } => {
                if let Some(h) = conns.remove(&conn) {
                    let _ = h.send(Cmd::Close);
                }
            }
            Output::Pause { conn } | Output::Resume { conn } => {
                if let Some(h) = conns.get(&conn) {
                    h.set_paused(matches!(out, Output::Pause { .. }));
                }
            }
        }
    }
}

fn log_events<S: Storage>(engine: &mut Broker<S>, awaiting: &mut Awaiting) {
    while let Some(ev) = engine.poll_event() {
        match ev {
            EngineEvent::Connected {
                conn,
                client_id,
                version,
                session_present,
            } => {
                awaiting.remove(conn);
                tracing::info!(conn = conn.0, %client_id, ?version, session_present, "client connected");
            }
            EngineEvent::Closed { conn, code, reason } => {
                awaiting.remove(conn);
                match code {
                    Some(code) => tracing::info!(
                        conn = conn.0,
                        reason,
                        code = code.name(),
                        "connection closed"
                    ),
                    None => tracing::info!(conn = conn.0, reason, "connection closed"),
                }
            }
            // Already rate-limited by the engine: per session, the first drop, then at most
            // one report per `DROP_REPORT_MS` carrying the count since the last one.
            EngineEvent::Dropped {
                client_id,
                reason,
                dropped,
                total,
                qos,
            } => {
                tracing::warn!(
                    %client_id,
                    reason = reason.as_str(),
                    dropped,
                    total,
                    last_qos = qos,
                    "messages dropped"
                );
            }
            EngineEvent::RetainedRefused { topic, client_id } => {
                tracing::warn!(
                    %topic,
                    client_id = client_id.as_deref().unwrap_or("-"),
                    "retained message not stored: max_retained / max_retained_bytes reached"
                );
            }
            EngineEvent::SessionDiscarded { client_id, queued } => {
                tracing::warn!(
                    %client_id,
                    queued,
                    "session discarded: its queue was full while it had no connection (queue_overflow = \"discard-session\")"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn login_limit_blocks_an_address_for_the_window() {
        let counter = Arc::new(AtomicU64::new(0));
        let mut l = LoginLimit::new(Some(counter), 3, Duration::from_secs(60));
        let t0 = tokio::time::Instant::now();
        let a: std::net::IpAddr = [10, 0, 0, 1].into();
        let b: std::net::IpAddr = [10, 0, 0, 2].into();
        for i in 0..3 {
            assert!(!l.blocked(a, t0), "before failure {i}");
            l.failed(a, t0 + Duration::from_secs(i));
        }
        assert!(l.blocked(a, t0 + Duration::from_secs(59)));
        assert!(!l.blocked(b, t0), "another address is not affected");
        // The window ends 60 s after its first failure.
        assert!(!l.blocked(a, t0 + Duration::from_secs(60)));
        // Off with max 0, or without authentication.
        let mut off = LoginLimit::new(Some(Arc::default()), 0, Duration::from_secs(60));
        assert_eq!(off.failures(), 0);
        assert!(off.failures.is_none());
        let mut none = LoginLimit::new(None, 3, Duration::from_secs(60));
        assert!(!none.blocked(a, t0) && !off.blocked(a, t0));
    }
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const B: Duration = Duration::from_secs(30);

    fn budget() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(INPUT_BUDGET))
    }

    /// Commands queued before the writer wakes go out in one write with one `Written` of their
    /// total, and a `Close` behind them still lets them out first.
    #[tokio::test]
    async fn writer_batches_queued_commands_and_flushes_before_close() {
        let (ours, mut peer) = tokio::io::duplex(1 << 20);
        let (ev_tx, mut ev_rx) = mpsc::channel(16);
        let (tx, link) = connection::link();
        let id = ConnectionId(1);
        for chunk in [&b"abc"[..], b"defg", b"h"] {
            assert!(tx.send(Cmd::Write(chunk.to_vec(), B)).is_ok());
        }
        assert!(tx.send(Cmd::Close).is_ok());
        assert!(tx.send(Cmd::Write(b"never".to_vec(), B)).is_ok());
        let conn = tokio::spawn(Connection::new(id, ours, link, ev_tx, budget(), B));
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"abcdefgh");
        drop(peer);
        conn.await.unwrap();
        let mut written = Vec::new();
        while let Ok(ev) = ev_rx.try_recv() {
            if let Event::Written { n, .. } = ev {
                written.push(n);
            }
        }
        assert_eq!(written, vec![8]);
    }

    /// The bound is 1.5 × keep alive, or the configured default without one.
    #[test]
    fn write_bound_follows_keep_alive() {
        let d = Duration::from_secs(30);
        assert_eq!(write_bound(Some(2000), d), Duration::from_millis(3000));
        assert_eq!(write_bound(Some(0), d), d);
        assert_eq!(write_bound(None, d), d);
    }

    /// Duplex streams handed to `serve` as if accepted.
    struct Duplexes(mpsc::UnboundedReceiver<tokio::io::DuplexStream>);

    impl Listener for Duplexes {
        type Stream = tokio::io::DuplexStream;

        async fn accept(&mut self) -> io::Result<(Self::Stream, std::net::SocketAddr)> {
            match self.0.recv().await {
                Some(s) => Ok((s, ([127, 0, 0, 1], 1).into())),
                None => std::future::pending().await,
            }
        }

        fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
            Ok(([127, 0, 0, 1], 1).into())
        }
    }

    async fn expect(s: &mut tokio::io::DuplexStream, want: &[u8]) {
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
    }

    /// A peer that never reads wedges its writer; after the bound (`write_timeout_ms`, keep
    /// alive 0) the connection is closed and the engine knows it: the will goes out. Paused
    /// time: the 30 s pass instantly.
    #[tokio::test(start_paused = true)]
    async fn wedged_write_ends_the_connection_and_publishes_the_will() {
        let (accept_tx, accept_rx) = mpsc::unbounded_channel();
        let config = BrokerConfig::default();
        assert_eq!(config.write_timeout_ms, 30_000);
        let engine = Broker::new(config.engine_config());
        tokio::spawn(serve(
            Duplexes(accept_rx),
            config,
            engine,
            None,
            std::future::pending(),
        ));
        // a: 3.1.1, keep alive 0, will "w"/"hi"; subscribes to "t", then stops reading.
        let (mut a, broker_side) = tokio::io::duplex(256);
        accept_tx.send(broker_side).unwrap();
        a.write_all(b"\x10\x14\x00\x04MQTT\x04\x06\x00\x00\x00\x01a\x00\x01w\x00\x02hi")
            .await
            .unwrap();
        expect(&mut a, b"\x20\x02\x00\x00").await;
        a.write_all(b"\x82\x06\x00\x01\x00\x01t\x00").await.unwrap();
        expect(&mut a, b"\x90\x03\x00\x01\x00").await;
        // b: subscribes to the will topic and publishes 1000-byte messages to "t".
        let (mut b, broker_side) = tokio::io::duplex(1 << 20);
        accept_tx.send(broker_side).unwrap();
        b.write_all(b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01b")
            .await
            .unwrap();
        expect(&mut b, b"\x20\x02\x00\x00").await;
        b.write_all(b"\x82\x06\x00\x01\x00\x01w\x00").await.unwrap();
        expect(&mut b, b"\x90\x03\x00\x01\x00").await;
        let mut publish = b"\x30\xeb\x07\x00\x01t".to_vec();
        publish.extend_from_slice(&[7u8; 1000]);
        for _ in 0..8 {
            b.write_all(&publish).await.unwrap();
        }
        // Only the writer's bound can end a: no keep alive, and a never closes.
        tokio::time::timeout(
            Duration::from_secs(600),
            expect(&mut b, b"\x30\x05\x00\x01whi"),
        )
        .await
        .expect("the will of the wedged connection was published");
        // The broker dropped a's socket: what it managed to write, then end of stream.
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).await.unwrap();
        assert!(rest.len() < 8 * publish.len(), "{}", rest.len());
    }

    /// A batch stops at `WRITE_BATCH` bytes; the accounting still sums to every byte.
    #[tokio::test]
    async fn writer_batches_are_bounded_and_exact() {
        let (ours, mut peer) = tokio::io::duplex(1 << 20);
        let (ev_tx, mut ev_rx) = mpsc::channel(1024);
        let (tx, link) = connection::link();
        let packet = vec![1u8; 1000];
        let count = 3 * WRITE_BATCH / packet.len();
        for _ in 0..count {
            assert!(tx.send(Cmd::Write(packet.clone(), B)).is_ok());
        }
        drop(tx);
        let conn = tokio::spawn(Connection::new(
            ConnectionId(1),
            ours,
            link,
            ev_tx,
            budget(),
            B,
        ));
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), count * packet.len());
        drop(peer);
        conn.await.unwrap();
        let mut written = Vec::new();
        while let Ok(ev) = ev_rx.try_recv() {
            if let Event::Written { n, .. } = ev {
                written.push(n);
            }
        }
        assert_eq!(written.iter().sum::<usize>(), got.len());
        assert!(written.len() > 1 && written.len() <= 4, "{written:?}");
        assert!(written.iter().all(|&n| n < WRITE_BATCH + packet.len()));
    }
}
