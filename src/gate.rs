//! `Gate`: what a pool's request waits for before it may start — a place among the pool's
//! `concurrency`, a place among its host's `per_host`, and its host's turn under `rate`.
//!
//! Requests to one host pass its rate gate one at a time, and the next turn is set from the moment
//! a request actually starts (after it got its concurrency place), so starts to one host are never
//! closer than `1 / rate` apart however long the queue before them was.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::Url;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Per-host state is pruned once this many hosts are known (a crawl may touch millions).
const PRUNE_AT: usize = 4096;

struct Host {
    permits: Option<Arc<Semaphore>>,
    next: tokio::sync::Mutex<Instant>,
}

pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    per_host: Option<usize>,
    interval: Option<Duration>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

/// Held while a request runs: dropping it frees its places.
pub(crate) struct Pass {
    _global: OwnedSemaphorePermit,
    _host: Option<OwnedSemaphorePermit>,
}

impl Gate {
    pub(crate) fn new(concurrency: usize, per_host: Option<usize>, rate: Option<f64>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            per_host,
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn host(&self, url: &Url) -> Arc<Host> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.hosts.lock();
        if hosts.len() >= PRUNE_AT && !hosts.contains_key(&key) {
            let now = Instant::now();
            // Unused hosts whose next turn has come can go: recreating them changes nothing.
            hosts.retain(|_, h| {
                Arc::strong_count(h) > 1 || h.next.try_lock().map_or(true, |next| *next > now)
            });
        }
        hosts
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Host {
                    permits: self.per_host.map(|n| Arc::new(Semaphore::new(n))),
                    next: tokio::sync::Mutex::new(Instant::now()),
                })
            })
            .clone()
    }

    /// Waits for this request's turn (cancel-safe: dropping the future gives every place back).
    pub(crate) async fn enter(&self, url: &Url) -> Pass {
        if self.per_host.is_none() && self.interval.is_none() {
            return Pass {
                _global: acquire(&self.permits).await,
                _host: None,
            };
        }
        let host = self.host(url);
        let host_permit = match &host.permits {
            Some(permits) => Some(acquire(permits).await),
            None => None,
        };
        let Some(interval) = self.interval else {
            return Pass {
                _global: acquire(&self.permits).await,
                _host: host_permit,
            };
        };
        let mut next = host.next.lock().await;
        tokio::time::sleep_until(*next).await;
        let global = acquire(&self.permits).await;
        *next = Instant::now() + interval;
        Pass {
            _global: global,
            _host: host_permit,
        }
    }
}

async fn acquire(permits: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    permits
        .clone()
        .acquire_owned()
        .await
        .expect("a gate's semaphores are never closed")
}
