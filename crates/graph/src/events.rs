//! Graph events and their delivery to subscribers.
//!
//! Writers never wait for readers: events go into one bounded ring (`tokio::sync::broadcast`);
//! a subscriber that falls more than the ring's capacity behind loses the oldest events and is
//! told how many ([`Received::Lagged`]), so it can resynchronise from a full snapshot. Every
//! lost event is counted in [`BusStats`], visible in `/api/status`.
//!
//! Events hold `Arc`s of the element revisions, so publishing one costs a reference count,
//! not a copy of the metadata.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::{Edge, MetadataOp, Node};

/// One change of the graph.
#[derive(Debug, Clone)]
pub enum GraphEvent {
    NodeAdded(Arc<Node>),
    /// The node's metadata was replaced as a whole (a sync or a full update).
    NodeUpdated(Arc<Node>),
    /// The node changed by the listed operations (a metadata transaction).
    NodePartiallyUpdated(Arc<Node>, Arc<[MetadataOp]>),
    /// The node is gone; the revision carries its `DeletedAt`.
    NodeDeleted(Arc<Node>),
    EdgeAdded(Arc<Edge>),
    EdgeUpdated(Arc<Edge>),
    EdgePartiallyUpdated(Arc<Edge>, Arc<[MetadataOp]>),
    EdgeDeleted(Arc<Edge>),
}

impl GraphEvent {
    /// Skydive's message type for this event (`NodeAdded`, `EdgePartiallyUpdated`, …).
    pub fn message_type(&self) -> &'static str {
        match self {
            GraphEvent::NodeAdded(_) => "NodeAdded",
            GraphEvent::NodeUpdated(_) => "NodeUpdated",
            GraphEvent::NodePartiallyUpdated(..) => "NodePartiallyUpdated",
            GraphEvent::NodeDeleted(_) => "NodeDeleted",
            GraphEvent::EdgeAdded(_) => "EdgeAdded",
            GraphEvent::EdgeUpdated(_) => "EdgeUpdated",
            GraphEvent::EdgePartiallyUpdated(..) => "EdgePartiallyUpdated",
            GraphEvent::EdgeDeleted(_) => "EdgeDeleted",
        }
    }

    /// The node concerned, for node events.
    pub fn node(&self) -> Option<&Arc<Node>> {
        match self {
            GraphEvent::NodeAdded(n) | GraphEvent::NodeUpdated(n) | GraphEvent::NodeDeleted(n) => {
                Some(n)
            }
            GraphEvent::NodePartiallyUpdated(n, _) => Some(n),
            _ => None,
        }
    }

    /// The edge concerned, for edge events.
    pub fn edge(&self) -> Option<&Arc<Edge>> {
        match self {
            GraphEvent::EdgeAdded(e) | GraphEvent::EdgeUpdated(e) | GraphEvent::EdgeDeleted(e) => {
                Some(e)
            }
            GraphEvent::EdgePartiallyUpdated(e, _) => Some(e),
            _ => None,
        }
    }
}

/// Counters of the event bus.
#[derive(Debug, Default)]
pub struct BusStats {
    published: AtomicU64,
    lagged: AtomicU64,
}

/// A point-in-time copy of [`BusStats`].
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BusStatsSnapshot {
    #[serde(rename = "Published")]
    pub published: u64,
    /// Events lost by subscribers that fell too far behind, summed over subscribers.
    #[serde(rename = "Lagged")]
    pub lagged: u64,
    #[serde(rename = "Subscribers")]
    pub subscribers: usize,
}

/// Publishes graph events to any number of subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<GraphEvent>,
    stats: Arc<BusStats>,
}

impl EventBus {
    /// A bus whose ring holds `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus {
            tx,
            stats: Arc::default(),
        }
    }

    /// Publishes an event; free when nobody listens.
    pub fn publish(&self, ev: GraphEvent) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        // Err only means every receiver went away meanwhile: nothing to deliver.
        let _ = self.tx.send(ev);
    }

    /// Whether anybody listens (lets writers skip building events nobody reads).
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
            stats: self.stats.clone(),
        }
    }

    pub fn stats(&self) -> BusStatsSnapshot {
        BusStatsSnapshot {
            published: self.stats.published.load(Ordering::Relaxed),
            lagged: self.stats.lagged.load(Ordering::Relaxed),
            subscribers: self.tx.receiver_count(),
        }
    }
}

/// What a subscriber gets next.
#[derive(Debug)]
pub enum Received {
    Event(GraphEvent),
    /// `n` events were lost because this subscriber fell behind: resynchronise.
    Lagged(u64),
    /// The graph is gone.
    Closed,
}

/// One subscriber's cursor on the bus.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<GraphEvent>,
    stats: Arc<BusStats>,
}

impl Subscription {
    pub async fn recv(&mut self) -> Received {
        let r = self.rx.recv().await;
        self.map(r.map_err(|e| match e {
            broadcast::error::RecvError::Closed => broadcast::error::TryRecvError::Closed,
            broadcast::error::RecvError::Lagged(n) => broadcast::error::TryRecvError::Lagged(n),
        }))
    }

    /// The next event if one is ready (`None` when the queue is empty).
    pub fn try_recv(&mut self) -> Option<Received> {
        match self.rx.try_recv() {
            Err(broadcast::error::TryRecvError::Empty) => None,
            r => Some(self.map(r)),
        }
    }

    /// Blocking receive, for subscribers running on plain threads.
    pub fn blocking_recv(&mut self) -> Received {
        let r = self.rx.blocking_recv();
        self.map(r.map_err(|e| match e {
            broadcast::error::RecvError::Closed => broadcast::error::TryRecvError::Closed,
            broadcast::error::RecvError::Lagged(n) => broadcast::error::TryRecvError::Lagged(n),
        }))
    }

    fn map(&self, r: Result<GraphEvent, broadcast::error::TryRecvError>) -> Received {
        match r {
            Ok(ev) => Received::Event(ev),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                self.stats.lagged.fetch_add(n, Ordering::Relaxed);
                Received::Lagged(n)
            }
            Err(_) => Received::Closed,
        }
    }
}
