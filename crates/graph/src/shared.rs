//! A graph shared between tasks and threads: one lock, never held across an `.await`.

use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::events::{EventBus, Subscription};
use crate::{Graph, GraphOptions};

/// A cheaply clonable handle on one [`Graph`].
#[derive(Debug, Clone)]
pub struct SharedGraph {
    inner: Arc<RwLock<Graph>>,
    bus: EventBus,
}

impl SharedGraph {
    pub fn new(opts: GraphOptions) -> Self {
        Self::from_graph(Graph::new(opts))
    }

    pub fn from_graph(g: Graph) -> Self {
        let bus = g.bus().clone();
        SharedGraph {
            inner: Arc::new(RwLock::new(g)),
            bus,
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Graph> {
        self.inner.read()
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Graph> {
        self.inner.write()
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Subscribes and reads the graph atomically: the returned subscription yields exactly
    /// the events that follow the state `f` saw (none missed, none repeated).
    pub fn subscribe_with<T>(&self, f: impl FnOnce(&Graph) -> T) -> (T, Subscription) {
        let g = self.inner.read();
        let sub = self.bus.subscribe();
        (f(&g), sub)
    }
}
