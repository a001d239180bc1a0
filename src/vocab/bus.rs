//! The event bus from the engine (and a suite) to the front-ends: every subscriber gets every
//! event, in order, and none is ever dropped, except that a call's levels and quality and a
//! suite's progress are *coalesced*: while one is still waiting to be read, a newer one takes
//! its place (latest value wins, at the old one's place in the queue).
//!
//! A bounded broadcast channel cannot give both: at a thousand calls the levels (about 17 a
//! second per call) filled it and pushed out the calls' lifecycle events with them. Here the
//! queue of lifecycle events is unbounded (they are a few per call), and the frequent figures
//! take at most one slot per call however slow the reader is.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::Notify;

use super::{CallId, Event};

/// Creates a bus with one subscriber.
pub fn bus() -> (Publisher, Subscriber) {
    let publisher = Publisher {
        shared: Arc::new(Shared {
            publishers: AtomicUsize::new(1),
            queues: Mutex::new(Vec::new()),
        }),
    };
    let subscriber = publisher.subscribe();
    (publisher, subscriber)
}

struct Shared {
    /// Live `Publisher`s: when the last goes, every subscriber is told the bus is closed.
    publishers: AtomicUsize,
    queues: Mutex<Vec<Weak<Queue>>>,
}

impl Shared {
    fn queues(&self) -> MutexGuard<'_, Vec<Weak<Queue>>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends events to every subscriber. Cloning it keeps the bus open; see [`WeakPublisher`].
pub struct Publisher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Queues `event` for every subscriber; never blocks, never fails (a bus nobody reads
    /// just drops it).
    pub fn send(&self, event: Event) {
        let key = coalescing_key(&event);
        let mut queues = self.shared.queues();
        queues.retain(|q| q.strong_count() > 0);
        let live: Vec<Arc<Queue>> = queues.iter().filter_map(Weak::upgrade).collect();
        drop(queues);
        let Some((last, others)) = live.split_last() else {
            return;
        };
        for queue in others {
            queue.push(key, event.clone());
        }
        last.push(key, event);
    }

    /// A new reader, which sees the events sent from now on.
    pub fn subscribe(&self) -> Subscriber {
        let queue = Arc::new(Queue::default());
        self.shared.queues().push(Arc::downgrade(&queue));
        Subscriber { queue }
    }

    /// A handle that can publish while the bus is open without keeping it open.
    pub fn downgrade(&self) -> WeakPublisher {
        WeakPublisher {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

impl Clone for Publisher {
    fn clone(&self) -> Self {
        self.shared.publishers.fetch_add(1, Ordering::AcqRel);
        Publisher {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if self.shared.publishers.fetch_sub(1, Ordering::AcqRel) == 1 {
            for queue in self.shared.queues().iter().filter_map(Weak::upgrade) {
                queue.close();
            }
        }
    }
}

/// Publishes only while some [`Publisher`] keeps the bus open.
#[derive(Clone)]
pub struct WeakPublisher {
    shared: Weak<Shared>,
}

impl std::fmt::Debug for WeakPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakPublisher").finish_non_exhaustive()
    }
}

impl WeakPublisher {
    pub fn upgrade(&self) -> Option<Publisher> {
        let shared = self.shared.upgrade()?;
        let mut count = shared.publishers.load(Ordering::Acquire);
        loop {
            // Once closed, the bus stays closed.
            if count == 0 {
                return None;
            }
            match shared.publishers.compare_exchange_weak(
                count,
                count + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Publisher { shared }),
                Err(now) => count = now,
            }
        }
    }
}

/// Reads the events of one subscription.
pub struct Subscriber {
    queue: Arc<Queue>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

/// Why [`Subscriber::try_recv`] has nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    Empty,
    /// Every publisher is gone and everything sent has been read.
    Closed,
}

impl Subscriber {
    /// The next event; `None` once every publisher is gone and everything sent has been read.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.try_recv() {
                Ok(event) => return Some(event),
                Err(TryRecvError::Closed) => return None,
                // A push between the check and this wait leaves a permit: no wake-up is lost.
                Err(TryRecvError::Empty) => self.queue.ready.notified().await,
            }
        }
    }

    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        self.queue.pending().pop()
    }
}

/// Which events replace an unread one of their kind rather than queue behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Levels(CallId),
    Quality(CallId),
    SuiteProgress,
}

fn coalescing_key(event: &Event) -> Option<Key> {
    match event {
        Event::Levels { call, .. } => Some(Key::Levels(*call)),
        Event::Quality { call, .. } => Some(Key::Quality(*call)),
        Event::SuiteProgress { .. } => Some(Key::SuiteProgress),
        _ => None,
    }
}

#[derive(Default)]
struct Queue {
    pending: Mutex<Pending>,
    ready: Notify,
}

impl Queue {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, key: Option<Key>, event: Event) {
        self.pending().push(key, event);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.pending().closed = true;
        self.ready.notify_one();
    }
}

/// One subscriber's unread events: the order they were sent in, with the coalesced ones
/// held aside by key (their slot in `order` says when they are due).
#[derive(Default)]
struct Pending {
    order: VecDeque<Slot>,
    latest: HashMap<Key, Event>,
    closed: bool,
}

// Nearly every slot holds an event: boxing it would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Event(Event),
    Latest(Key),
}

impl Pending {
    fn push(&mut self, key: Option<Key>, event: Event) {
        match key {
            None => self.order.push_back(Slot::Event(event)),
            Some(key) => {
                if self.latest.insert(key, event).is_none() {
                    self.order.push_back(Slot::Latest(key));
                }
            }
        }
    }

    fn pop(&mut self) -> Result<Event, TryRecvError> {
        while let Some(slot) = self.order.pop_front() {
            match slot {
                Slot::Event(event) => return Ok(event),
                Slot::Latest(key) => {
                    if let Some(event) = self.latest.remove(&key) {
                        return Ok(event);
                    }
                }
            }
        }
        if self.closed {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Level, LogKind, LogLevel};

    fn levels(call: u64, peak: f32) -> Event {
        Event::Levels {
            call: CallId(call),
            remote: Level {
                rms_dbfs: peak,
                peak_dbfs: peak,
            },
            local: Level::SILENCE,
            ai: None,
        }
    }

    fn log(message: &str) -> Event {
        Event::Log {
            level: LogLevel::Info,
            kind: LogKind::Call,
            message: message.into(),
        }
    }

    fn drain(sub: &mut Subscriber) -> Vec<Event> {
        std::iter::from_fn(|| sub.try_recv().ok()).collect()
    }

    #[test]
    fn lifecycle_events_are_never_dropped_however_far_the_reader_falls_behind() {
        let (bus, mut sub) = bus();
        for i in 0..100_000 {
            bus.send(levels(i % 1000, 0.5));
            if i % 100 == 0 {
                bus.send(log(&format!("line {i}")));
            }
        }
        let events = drain(&mut sub);
        let lines: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Log { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[999], "line 99900");
        // One slot per call for the levels, however many were sent.
        assert_eq!(events.len() - lines.len(), 1000);
    }

    #[test]
    fn the_latest_level_takes_the_unread_ones_place() {
        let (bus, mut sub) = bus();
        bus.send(levels(1, 0.1));
        bus.send(log("between"));
        bus.send(levels(1, 0.9));
        bus.send(levels(2, 0.3));
        let events = drain(&mut sub);
        assert_eq!(events, vec![levels(1, 0.9), log("between"), levels(2, 0.3)]);
        // Once read, the next one queues again.
        bus.send(levels(1, 0.2));
        assert_eq!(drain(&mut sub), vec![levels(1, 0.2)]);
    }

    #[test]
    fn every_subscriber_gets_every_event() {
        let (bus, mut a) = bus();
        let mut b = bus.subscribe();
        bus.send(log("one"));
        bus.send(Event::Stopped);
        assert_eq!(drain(&mut a), vec![log("one"), Event::Stopped]);
        assert_eq!(drain(&mut b), vec![log("one"), Event::Stopped]);
    }

    #[test]
    fn the_bus_closes_when_the_last_publisher_goes_after_the_queue_is_read() {
        let (bus, mut sub) = bus();
        let weak = bus.downgrade();
        let second = weak.upgrade().expect("open");
        drop(bus);
        second.send(log("last"));
        assert_eq!(sub.try_recv(), Ok(log("last")));
        assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
        drop(second);
        assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
        assert!(weak.upgrade().is_none(), "a closed bus stays closed");
    }

    #[tokio::test]
    async fn recv_wakes_for_an_event_sent_from_another_task() {
        let (bus, mut sub) = bus();
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            bus.send(log("hello"));
        });
        assert_eq!(sub.recv().await, Some(log("hello")));
        sender.await.expect("sender");
        assert_eq!(sub.recv().await, None);
    }

    #[test]
    fn a_dropped_subscriber_stops_receiving() {
        let (bus, sub) = bus();
        drop(sub);
        bus.send(log("nobody"));
        assert!(bus.shared.queues().is_empty());
    }
}
