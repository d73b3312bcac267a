//! [`outbox`]: the queue from the engine task to one connection's writer.
//!
//! An unbounded `tokio::sync::mpsc` channel allocates its first block of 32 slots when it is
//! created, about 1.3 KB per connection before anything is sent; most connections are idle
//! most of the time. This queue is a `VecDeque` behind a mutex and a `Notify`: nothing is
//! allocated until something is queued, and the deque is given back when it drains. Bounded by
//! bytes by the engine, as before (see `server`). One sender, one receiver.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

struct Shared<T> {
    state: Mutex<State<T>>,
    notify: Notify,
}

struct State<T> {
    queue: VecDeque<T>,
    /// The sender was dropped: `recv` returns `None` once the queue is empty.
    closed: bool,
}

/// The engine's end.
pub(crate) struct Sender<T>(Arc<Shared<T>>);

/// The writer's end.
pub(crate) struct Receiver<T>(Arc<Shared<T>>);

/// A new, empty queue (allocates only the shared header).
pub(crate) fn outbox<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
        }),
        notify: Notify::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

fn lock<T>(s: &Shared<T>) -> MutexGuard<'_, State<T>> {
    // A panic while holding the lock leaves the deque intact: carry on.
    s.state.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Sender<T> {
    /// Queues `item`; gives it back when the receiver is gone.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        if Arc::strong_count(&self.0) < 2 {
            return Err(item);
        }
        lock(&self.0).queue.push_back(item);
        // Stores a permit if the writer is not waiting yet: no lost wake-up.
        self.0.notify.notify_one();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        lock(&self.0).closed = true;
        self.0.notify.notify_one();
    }
}

/// `try_recv` found nothing.
#[derive(Debug)]
pub(crate) struct Empty;

impl<T> Receiver<T> {
    /// The next item; `None` once the sender is gone and everything was received.
    /// Cancel-safe: an item is only taken when this returns it.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            {
                let mut s = lock(&self.0);
                if let Some(item) = s.queue.pop_front() {
                    if s.queue.is_empty() && s.queue.capacity() > 64 {
                        // A burst is over: give its memory back.
                        s.queue = VecDeque::new();
                    }
                    return Some(item);
                }
                if s.closed {
                    return None;
                }
            }
            self.0.notify.notified().await;
        }
    }

    /// The next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Result<T, Empty> {
        lock(&self.0).queue.pop_front().ok_or(Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_in_order_then_ends_when_the_sender_goes() {
        let (tx, mut rx) = outbox();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let waiter = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(x) = rx.recv().await {
                got.push(x);
            }
            got
        });
        tokio::task::yield_now().await;
        tx.send(3).unwrap();
        drop(tx);
        assert_eq!(waiter.await.unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn send_fails_without_a_receiver() {
        let (tx, rx) = outbox::<u8>();
        drop(rx);
        assert_eq!(tx.send(1), Err(1));
    }
}
