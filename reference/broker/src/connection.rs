//! One connection: a hand-written future that reads its socket into the engine's event channel
//! and writes what the engine queues for it, and the [`Link`] between it and the engine task.
//!
//! # Why a hand-written future
//! Most connections are idle most of the time, and an idle connection's memory is its task
//! plus what the engine keeps for it. Written as two `async` blocks (reader and writer) joined
//! over a split stream, the task's future was 736 bytes — every await point's state laid side
//! by side, a read buffer, two `Notify` waiters — and the split stream, the command queue's
//! `Notify` and the pause gate were three more allocations. Here the idle state is the stream,
//! three handles and a few words (see `idle_connection_is_small`), and everything a busy
//! connection needs is created when it is needed and dropped after: the read buffer is on the
//! stack of `poll` (a read either fills it now or keeps nothing), the write timer exists only
//! while a write waits, a send to a full event channel is boxed only while it waits.
//!
//! # Reading
//! Unless the engine paused it ([`Link::set_paused`]), the connection reads what is there and
//! sends it as [`Event::Bytes`], holding its share of the shared input budget until the engine
//! has taken it. End of stream or an error is [`Event::Closed`], and reading ends.
//!
//! # Writing
//! The engine queues [`Cmd`]s. When the connection finds one, it also takes every command
//! already queued, up to [`WRITE_BATCH`] bytes, writes them as one batch and reports one
//! [`Event::Written`] with their total: the engine's accounting stays exact, only coarser. A
//! `Close` ends the batch and is carried out after it. A write or flush that makes no progress
//! for the batch's bound (see `server::write_bound`) fails the connection: it reports
//! [`Event::Closed`] and abandons the stream, never writing to it again. Writes are never
//! cancelled half-way: nothing races them.
//!
//! # Ending
//! After a `Close`, when the engine let go of its end (it drops it when it closes the
//! connection), or after a failed write, the connection shuts its stream down (bounded too),
//! stops reading, and completes once a pending send to the engine has gone out.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mqttref_core::broker::ConnectionId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, Semaphore};

use crate::server::{Cmd, Event, READ_BUF, WRITE_BATCH};

/// What the engine task and one connection share: the commands queued for it, whether it may
/// read, and how to wake it. One allocation, nothing in it allocated until something is queued.
pub(crate) struct Link {
    /// `RUN`, `PAUSED` or `STOP` (final): whether the connection may read.
    gate: AtomicU8,
    state: Mutex<LinkState>,
}

struct LinkState {
    queue: VecDeque<Cmd>,
    /// The engine dropped its end: once the queue is empty, the connection ends.
    engine_gone: bool,
    /// The connection's task, woken when a command is queued or the gate changes.
    waker: Option<Waker>,
}

const RUN: u8 = 0;
const PAUSED: u8 = 1;
const STOP: u8 = 2;

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        // A panic while holding the lock leaves the state intact: carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        let waker = self.lock().waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The engine task's end of a connection. Dropping it lets the connection write what is
/// queued and end.
pub(crate) struct EngineEnd(Arc<Link>);

/// A new link: the engine's end, and the shared state the [`Connection`] is built with.
pub(crate) fn link() -> (EngineEnd, Arc<Link>) {
    let link = Arc::new(Link {
        gate: AtomicU8::new(RUN),
        state: Mutex::new(LinkState {
            queue: VecDeque::new(),
            engine_gone: false,
            waker: None,
        }),
    });
    (EngineEnd(link.clone()), link)
}

impl EngineEnd {
    /// Queues `cmd`; gives it back when the connection has ended.
    pub(crate) fn send(&self, cmd: Cmd) -> Result<(), Cmd> {
        if Arc::strong_count(&self.0) < 2 {
            return Err(cmd);
        }
        let waker = {
            let mut s = self.0.lock();
            s.queue.push_back(cmd);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Stops or restarts reading ([`Output::Pause`](mqttref_core::broker::Output::Pause)),
    /// unless the connection is already ending.
    pub(crate) fn set_paused(&self, paused: bool) {
        let to = if paused { PAUSED } else { RUN };
        let _ = self
            .0
            .gate
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s != STOP).then_some(to)
            });
        self.0.wake();
    }
}

impl Drop for EngineEnd {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.lock();
            s.engine_gone = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A send to the engine that found its channel full (or the input budget spent), waiting.
type Sending = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The reading half's state.
enum Reading {
    Open,
    /// Read bytes (or the end of the stream) on their way to the engine; then `Open`, or
    /// `Done` after the end.
    Sending(Sending, bool),
    Done,
}

/// The writing half's state.
enum Writing {
    Idle,
    Batch(Box<Batch>),
    /// `Written` or `Closed` on its way to the engine; then `Idle` or `ShutDown`.
    Sending(Sending, bool),
    ShutDown(Option<Pin<Box<tokio::time::Sleep>>>),
    Done,
}

/// A batch being written.
struct Batch {
    bytes: Vec<u8>,
    /// Bytes already written.
    at: usize,
    /// Written, now flushing.
    flushing: bool,
    /// A `Close` came after it.
    close: bool,
    /// Armed when a write or flush first waits; pushed back by progress.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// One connection's task (see the module documentation).
pub(crate) struct Connection<S> {
    id: ConnectionId,
    stream: S,
    link: Arc<Link>,
    events: mpsc::Sender<Event>,
    budget: Arc<Semaphore>,
    /// How long a write may make no progress: the engine's latest word (each `Write` carries
    /// it), the configured default before the first.
    bound: Duration,
    reading: Reading,
    writing: Writing,
    /// Held until the connection ends (see [`Connection::holding`]).
    guard: Option<Guard>,
}

/// What `serve` lets go of when a connection ends: its socket slot, and its part in the
/// shutdown's wait for every connection.
pub(crate) struct Guard {
    pub(crate) _slot: tokio::sync::OwnedSemaphorePermit,
    pub(crate) _done: mpsc::Sender<()>,
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) fn new(
        id: ConnectionId,
        stream: S,
        link: Arc<Link>,
        events: mpsc::Sender<Event>,
        budget: Arc<Semaphore>,
        bound: Duration,
    ) -> Self {
        Connection {
            id,
            stream,
            link,
            events,
            budget,
            bound,
            reading: Reading::Open,
            writing: Writing::Idle,
            guard: None,
        }
    }

    /// Holds `guard` until the connection ends. Inside the future rather than beside it in an
    /// `async` block, which would lay out the connection twice (the moved-in value and the
    /// awaited one) in every connection's task.
    pub(crate) fn holding(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Sends `event` now if the channel has room, else boxes the wait.
    fn send(&self, event: Event) -> Option<Sending> {
        match self.events.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => None,
            Err(mpsc::error::TrySendError::Full(event)) => {
                let events = self.events.clone();
                Some(Box::pin(async move { events.send(event).await.is_ok() }))
            }
        }
    }

    /// Sends what was read, with its share of the input budget.
    fn send_bytes(&self, data: Vec<u8>) -> Option<Sending> {
        let id = self.id;
        // `data.len() <= READ_BUF < INPUT_BUDGET`, and the semaphore is never closed.
        let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
        match self.budget.clone().try_acquire_many_owned(n) {
            Ok(_budget) => self.send(Event::Bytes { id, data, _budget }),
            Err(_) => {
                let (budget, events) = (self.budget.clone(), self.events.clone());
                Some(Box::pin(async move {
                    let Ok(_budget) = budget.acquire_many_owned(n).await else {
                        return false;
                    };
                    events
                        .send(Event::Bytes { id, data, _budget })
                        .await
                        .is_ok()
                }))
            }
        }
    }

    /// Drives reading until it waits or ends.
    fn poll_read_half(&mut self, cx: &mut Context<'_>) {
        loop {
            match &mut self.reading {
                Reading::Done => return,
                Reading::Sending(f, end) => match f.as_mut().poll(cx) {
                    Poll::Pending => return,
                    Poll::Ready(sent) => {
                        self.reading = if *end || !sent {
                            Reading::Done
                        } else {
                            Reading::Open
                        };
                    }
                },
                Reading::Open => match self.link.gate.load(Ordering::Acquire) {
                    STOP => self.reading = Reading::Done,
                    // The engine holds this peer back: read nothing until it says so.
                    PAUSED => return,
                    _ => {
                        let mut buf = [MaybeUninit::<u8>::uninit(); READ_BUF];
                        let mut rb = ReadBuf::uninit(&mut buf);
                        let read = match Pin::new(&mut self.stream).poll_read(cx, &mut rb) {
                            Poll::Pending => return,
                            Poll::Ready(r) => r,
                        };
                        let (sending, end) = match read {
                            Ok(()) if !rb.filled().is_empty() => {
                                (self.send_bytes(rb.filled().to_vec()), false)
                            }
                            _ => (self.send(Event::Closed { id: self.id }), true),
                        };
                        self.reading = match (sending, end) {
                            (Some(f), end) => Reading::Sending(f, end),
                            (None, true) => Reading::Done,
                            (None, false) => Reading::Open,
                        };
                    }
                },
            }
        }
    }

    /// The next batch from the queue, or what to do instead.
    fn next_batch(&mut self) -> Option<Writing> {
        let mut s = self.link.lock();
        let first = s.queue.pop_front();
        let next = match first {
            None if s.engine_gone => Some(Writing::ShutDown(None)),
            None => None,
            Some(Cmd::Close) => Some(Writing::ShutDown(None)),
            Some(Cmd::Write(mut bytes, bound)) => {
                self.bound = bound;
                let mut close = false;
                while bytes.len() < WRITE_BATCH {
                    match s.queue.pop_front() {
                        Some(Cmd::Write(more, bound)) => {
                            bytes.extend_from_slice(&more);
                            self.bound = bound;
                        }
                        Some(Cmd::Close) => {
                            close = true;
                            break;
                        }
                        None => break,
                    }
                }
                Some(Writing::Batch(Box::new(Batch {
                    bytes,
                    at: 0,
                    flushing: false,
                    close,
                    stall: None,
                })))
            }
        };
        if s.queue.is_empty() {
            // Nothing more to write: an idle connection keeps no buffer.
            s.queue = VecDeque::new();
        }
        next
    }

    /// Drives writing until it waits or ends.
    fn poll_write_half(&mut self, cx: &mut Context<'_>) {
        loop {
            match &mut self.writing {
                Writing::Done => return,
                Writing::Idle => match self.next_batch() {
                    Some(w) => self.writing = w,
                    None => return,
                },
                Writing::Batch(batch) => {
                    let outcome = match poll_batch(&mut self.stream, batch, self.bound, cx) {
                        Poll::Pending => return,
                        Poll::Ready(r) => r,
                    };
                    let close = batch.close;
                    let n = batch.bytes.len();
                    let (event, then_close) = match outcome {
                        Ok(()) => (Event::Written { id: self.id, n }, close),
                        Err(e) => {
                            tracing::debug!(conn = self.id.0, error = %e, "write failed");
                            (Event::Closed { id: self.id }, true)
                        }
                    };
                    self.writing = match self.send(event) {
                        Some(f) => Writing::Sending(f, then_close),
                        None if then_close => Writing::ShutDown(None),
                        None => Writing::Idle,
                    };
                }
                Writing::Sending(f, close) => match f.as_mut().poll(cx) {
                    Poll::Pending => return,
                    Poll::Ready(_) => {
                        self.writing = if *close {
                            Writing::ShutDown(None)
                        } else {
                            Writing::Idle
                        };
                    }
                },
                Writing::ShutDown(timer) => {
                    let timer =
                        timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(self.bound)));
                    let done = Pin::new(&mut self.stream).poll_shutdown(cx).is_ready()
                        || timer.as_mut().poll(cx).is_ready();
                    if !done {
                        return;
                    }
                    self.writing = Writing::Done;
                    // Reading ends too (after a pending send, if any).
                    self.link.gate.store(STOP, Ordering::Release);
                }
            }
        }
    }
}

/// Writes and flushes `batch`; fails with `TimedOut` when a write or the flush makes no
/// progress within `bound` (the caller then abandons the stream, so a partial write is
/// harmless).
fn poll_batch<S: AsyncWrite + Unpin>(
    stream: &mut S,
    batch: &mut Batch,
    bound: Duration,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    loop {
        let progress = if batch.flushing {
            Pin::new(&mut *stream).poll_flush(cx).map_ok(|()| 0)
        } else {
            let rest = batch.bytes.get(batch.at..).unwrap_or(&[]);
            Pin::new(&mut *stream).poll_write(cx, rest)
        };
        match progress {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(_)) if batch.flushing => return Poll::Ready(Ok(())),
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => {
                batch.at += n;
                if let Some(stall) = &mut batch.stall {
                    stall.as_mut().reset(tokio::time::Instant::now() + bound);
                }
                if batch.at >= batch.bytes.len() {
                    batch.flushing = true;
                }
            }
            Poll::Pending => {
                let stall = batch
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(bound)));
                if stall.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no progress for {} ms", bound.as_millis()),
                )));
            }
        }
    }
}

impl<S> Future for Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // Registered before either half looks at the link: a command queued or a gate change
        // after this point wakes the task, so none is missed.
        {
            let mut s = this.link.lock();
            if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.waker = Some(cx.waker().clone());
            }
        }
        this.poll_write_half(cx);
        this.poll_read_half(cx);
        if matches!(this.writing, Writing::Done) && matches!(this.reading, Reading::Done) {
            this.guard = None;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const B: Duration = Duration::from_secs(30);

    fn budget() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(1 << 20))
    }

    /// What an idle connection costs its task: the stream and a few words. The async version
    /// it replaced was 736 bytes over a TCP stream, plus three allocations.
    #[test]
    fn idle_connection_is_small() {
        let size = std::mem::size_of::<Connection<tokio::net::TcpStream>>();
        assert!(size <= 160, "{size} bytes");
    }

    /// Once the connection has ended, the engine's sends fail instead of queueing forever.
    #[tokio::test]
    async fn sends_fail_once_the_connection_is_gone() {
        let (ours, peer) = tokio::io::duplex(64);
        let (ev_tx, _ev_rx) = mpsc::channel(16);
        let (tx, link) = link();
        drop(peer);
        assert!(tx.send(Cmd::Close).is_ok());
        Connection::new(ConnectionId(1), ours, link, ev_tx, budget(), B).await;
        assert!(tx.send(Cmd::Close).is_err());
    }

    /// Paused, it reads nothing; resumed, it reads what waited, in order; the end of the
    /// stream is reported once, after the bytes.
    #[tokio::test]
    async fn a_paused_connection_reads_nothing_until_resumed() {
        let (ours, mut peer) = tokio::io::duplex(64);
        let (ev_tx, mut ev_rx) = mpsc::channel(16);
        let (tx, link) = link();
        tx.set_paused(true);
        let conn = tokio::spawn(Connection::new(
            ConnectionId(1),
            ours,
            link,
            ev_tx,
            budget(),
            B,
        ));
        peer.write_all(b"abc").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(ev_rx.try_recv().is_err(), "read while paused");
        tx.set_paused(false);
        peer.write_all(b"de").await.unwrap();
        drop(peer);
        let mut got = Vec::new();
        loop {
            match ev_rx.recv().await.unwrap() {
                Event::Bytes { data, .. } => got.extend(data),
                Event::Closed { .. } => break,
                _ => panic!("unexpected event"),
            }
        }
        assert_eq!(got, b"abcde");
        drop(tx);
        conn.await.unwrap();
        assert!(ev_rx.try_recv().is_err(), "a second Closed");
    }

    /// A write that makes no progress for the bound fails the connection: `Closed`, and the
    /// task ends though the peer is still there. Paused time: the bound passes instantly.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_write_ends_the_connection() {
        let (ours, mut peer) = tokio::io::duplex(16);
        let (ev_tx, mut ev_rx) = mpsc::channel(16);
        let (tx, link) = link();
        assert!(tx.send(Cmd::Write(vec![7u8; 64], B)).is_ok());
        let conn = tokio::spawn(Connection::new(
            ConnectionId(1),
            ours,
            link,
            ev_tx,
            budget(),
            B,
        ));
        tokio::time::timeout(2 * B, conn)
            .await
            .expect("ended by the bound")
            .unwrap();
        assert!(matches!(ev_rx.recv().await, Some(Event::Closed { .. })));
        let mut first = [0u8; 16];
        peer.read_exact(&mut first).await.unwrap();
        assert_eq!(first, [7u8; 16]);
    }
}
