//! The engine task and the connection tasks.
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
//!   it reading its socket: TCP backpressure to fast publishers.
//! - Outbound: each connection's command channel is unbounded *by count* but bounded *by bytes*
//!   by the engine: after each write the writer reports the bytes written
//!   ([`Broker::handle_written`]), and the engine stops handing out deliveries once
//!   `max_outbound_bytes` are unwritten (they wait in the bounded session queue) and closes a
//!   connection whose unwritten control traffic passes four times that.
//!
//! # Writes are never cancelled
//! The writer is a plain loop over its command channel; no `select!` can drop a half-written
//! packet (rumqtt lost acknowledgements that way). The reader's `select!` only races a
//! cancel-safe `read` against the stop signal.
//!
//! # Shutdown (mini-redis shape)
//! `serve` stops accepting, tells the engine ([`Event::Shutdown`]), which sends DISCONNECT 0x8B
//! and closes everything; each connection task holds a clone of `done_tx`, so `done_rx.recv()`
//! returning `None` means every connection has flushed and ended.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use mqttref_core::broker::{Broker, ConnectionId, Event as EngineEvent, Output, Storage};
use mqttref_core::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::{BrokerConfig, Listener};

/// Capacity of the engine's input channel.
const EVENT_QUEUE: usize = 1024;
/// Sockets accepted beyond `max_connections`, to be refused with CONNACK 0x97.
const SOCKET_SLACK: usize = 16;
/// Read buffer per connection.
const READ_BUF: usize = 16 * 1024;

/// Input to the engine task.
enum Event {
    Accepted {
        id: ConnectionId,
        tx: mpsc::UnboundedSender<Cmd>,
    },
    Bytes {
        id: ConnectionId,
        data: Vec<u8>,
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
enum Cmd {
    Write(Vec<u8>),
    Close,
}

/// Where the driver's tasks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spawn {
    /// `tokio::spawn`: the runtime's scheduler, every core.
    Runtime,
    /// `tokio::task::spawn_local`: the current `LocalSet`. Dropping it drops the tasks in the
    /// order they were spawned, so a simulated crash closes the sockets in the same order
    /// every run (the runtime's own task list is sharded by a process-global task id).
    Local,
}

impl Spawn {
    fn spawn<F>(self, f: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Spawn::Runtime => tokio::spawn(f),
            Spawn::Local => tokio::task::spawn_local(f),
        }
    }
}

pub(crate) async fn serve<L: Listener, S: Storage + Send + 'static>(
    mut listener: L,
    config: BrokerConfig,
    engine: Broker<S>,
    spawn: Spawn,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    let engine_task = spawn.spawn(engine_loop(engine, ev_rx));
    // Caps sockets, including those that have not sent CONNECT yet. The engine caps CONNECTed
    // clients at `max_connections` and answers the excess with CONNACK 0x97 (Quota exceeded);
    // the slack lets that answer reach a few of them instead of leaving every extra client
    // waiting unanswered in the accept backlog.
    let permits = Arc::new(Semaphore::new(
        config.max_connections.saturating_add(SOCKET_SLACK),
    ));
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
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
        let (tx, rx) = mpsc::unbounded_channel();
        if ev_tx.send(Event::Accepted { id, tx }).await.is_err() {
            break Err(io::Error::other("engine task ended"));
        }
        let events = ev_tx.clone();
        let done = done_tx.clone();
        spawn.spawn(async move {
            connection(id, stream, events, rx).await;
            drop(permit);
            drop(done);
        });
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

/// Owns the engine: applies events, hands outputs to connections, keeps the timer.
async fn engine_loop<S: Storage>(mut engine: Broker<S>, mut rx: mpsc::Receiver<Event>) {
    let epoch = tokio::time::Instant::now();
    let now = move || {
        Instant::from_millis(u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    };
    let mut conns: BTreeMap<ConnectionId, mpsc::UnboundedSender<Cmd>> = BTreeMap::new();
    let mut shutting_down = false;
    loop {
        let deadline = engine
            .poll_timeout()
            .map(|t| epoch + Duration::from_millis(t.as_millis()));
        let event = tokio::select! {
            biased;
            ev = rx.recv() => ev,
            () = sleep_until(deadline) => {
                engine.handle_timeout(now());
                drain(&mut engine, &mut conns);
                continue;
            }
        };
        let Some(event) = event else { break };
        match event {
            Event::Accepted { id, tx } => {
                if shutting_down {
                    let _ = tx.send(Cmd::Close);
                    continue;
                }
                conns.insert(id, tx);
                engine.handle_connect(id, now());
            }
            Event::Bytes { id, data } => engine.handle_bytes(id, now(), &data),
            Event::Written { id, n } => engine.handle_written(id, now(), n),
            Event::Closed { id } => {
                // Dropping the sender ends the writer once it has written what it holds.
                conns.remove(&id);
                engine.handle_close(id, now());
            }
            Event::Shutdown => {
                shutting_down = true;
                engine.shutdown(now());
            }
        }
        drain(&mut engine, &mut conns);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn drain<S: Storage>(
    engine: &mut Broker<S>,
    conns: &mut BTreeMap<ConnectionId, mpsc::UnboundedSender<Cmd>>,
) {
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Transmit { conn, data } => {
                if let Some(tx) = conns.get(&conn) {
                    let _ = tx.send(Cmd::Write(data));
                }
            }
            Output::Close { conn } => {
                if let Some(tx) = conns.remove(&conn) {
                    let _ = tx.send(Cmd::Close);
                }
            }
        }
    }
    while let Some(ev) = engine.poll_event() {
        match ev {
            EngineEvent::Connected {
                conn,
                client_id,
                version,
                session_present,
            } => {
                tracing::info!(conn = conn.0, %client_id, ?version, session_present, "client connected");
            }
            EngineEvent::Closed { conn, reason } => {
                tracing::info!(conn = conn.0, reason, "connection closed")
            }
        }
    }
}

/// One connection: a reader feeding the engine and a writer draining its commands.
async fn connection<S>(
    id: ConnectionId,
    stream: S,
    events: mpsc::Sender<Event>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let reader_events = events.clone();
    let reader = async move {
        let mut buf = vec![0u8; READ_BUF];
        loop {
            tokio::select! {
                biased;
                _ = stop_rx.changed() => break,
                // `read` is cancel-safe: if the stop branch wins, no bytes were consumed.
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => {
                        let _ = reader_events.send(Event::Closed { id }).await;
                        break;
                    }
                    Ok(n) => {
                        if reader_events.send(Event::Bytes { id, data: buf[..n].to_vec() }).await.is_err() {
                            break;
                        }
                    }
                },
            }
        }
    };
    let writer = async move {
        while let Some(cmd) = cmds.recv().await {
            match cmd {
                Cmd::Write(data) => {
                    if let Err(e) = wr.write_all(&data).await {
                        tracing::debug!(conn = id.0, error = %e, "write failed");
                        let _ = events.send(Event::Closed { id }).await;
                        break;
                    }
                    let _ = events.send(Event::Written { id, n: data.len() }).await;
                }
                Cmd::Close => break,
            }
        }
        let _ = wr.shutdown().await;
        let _ = stop_tx.send(true);
    };
    tokio::join!(reader, writer);
}
