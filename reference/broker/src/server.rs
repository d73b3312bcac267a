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
//! # Writes are batched
//! One syscall per outgoing PUBLISH was most of the broker's CPU under a fan-out load (a
//! profile: 57% in `sendto`). So when the writer wakes it also takes every command already
//! queued (`try_recv`, never waiting) up to [`WRITE_BATCH`] bytes, writes them with one
//! `write_all` and reports one `Written` with their total: the engine's accounting stays exact,
//! only coarser. A `Close` behind data ends the batch, and the data is written before the close.
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
/// Bytes a writer gathers before it writes (one packet may exceed it; it is never split).
/// Large enough to cut syscalls by orders of magnitude for small PUBLISHes, small enough not
/// to delay the first byte of a batch noticeably.
const WRITE_BATCH: usize = 64 * 1024;

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
            // Already rate-limited by the engine: per session, the first drop, then at most
            // one report per `DROP_REPORT_MS` carrying the count since the last one.
            EngineEvent::QueueFull {
                client_id,
                dropped,
                total,
                qos,
            } => {
                tracing::warn!(
                    %client_id,
                    dropped,
                    total,
                    last_qos = qos,
                    "session queue full (max_queued_messages / max_queued_bytes): messages dropped"
                );
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
        // The batch is the first command's own `Vec`, extended with whatever else is already
        // queued: a lone packet is written without a copy. Not a `BufWriter`: it would decide
        // on its own when bytes reach the socket, so `Written` would have to be reported after
        // an explicit `flush` anyway, and it copies every packet; here one `write_all` is one
        // `Written` with exactly its bytes, which is what `handle_written` counts.
        while let Some(cmd) = cmds.recv().await {
            let Cmd::Write(mut batch) = cmd else { break };
            let mut close = false;
            while batch.len() < WRITE_BATCH {
                match cmds.try_recv() {
                    Ok(Cmd::Write(data)) => batch.extend_from_slice(&data),
                    Ok(Cmd::Close) => {
                        close = true;
                        break;
                    }
                    // Empty, or the engine let go: write what we have; `recv` then decides.
                    Err(_) => break,
                }
            }
            if let Err(e) = wr.write_all(&batch).await {
                tracing::debug!(conn = id.0, error = %e, "write failed");
                let _ = events.send(Event::Closed { id }).await;
                break;
            }
            let _ = events.send(Event::Written { id, n: batch.len() }).await;
            if close {
                break;
            }
        }
        let _ = wr.shutdown().await;
        let _ = stop_tx.send(true);
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commands queued before the writer wakes go out in one write with one `Written` of their
    /// total, and a `Close` behind them still lets them out first.
    #[tokio::test]
    async fn writer_batches_queued_commands_and_flushes_before_close() {
        let (ours, mut peer) = tokio::io::duplex(1 << 20);
        let (ev_tx, mut ev_rx) = mpsc::channel(16);
        let (tx, rx) = mpsc::unbounded_channel();
        let id = ConnectionId(1);
        for chunk in [&b"abc"[..], b"defg", b"h"] {
            tx.send(Cmd::Write(chunk.to_vec())).unwrap();
        }
        tx.send(Cmd::Close).unwrap();
        tx.send(Cmd::Write(b"never".to_vec())).unwrap();
        let conn = tokio::spawn(connection(id, ours, ev_tx, rx));
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

    /// A batch stops at `WRITE_BATCH` bytes; the accounting still sums to every byte.
    #[tokio::test]
    async fn writer_batches_are_bounded_and_exact() {
        let (ours, mut peer) = tokio::io::duplex(1 << 20);
        let (ev_tx, mut ev_rx) = mpsc::channel(1024);
        let (tx, rx) = mpsc::unbounded_channel();
        let packet = vec![1u8; 1000];
        let count = 3 * WRITE_BATCH / packet.len();
        for _ in 0..count {
            tx.send(Cmd::Write(packet.clone())).unwrap();
        }
        drop(tx);
        let conn = tokio::spawn(connection(ConnectionId(1), ours, ev_tx, rx));
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
