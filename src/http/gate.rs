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
            // Unused hosts whose next turn has come can go: recreating them changes nothing. A
            // host is in use while a request waits in `enter` (it holds the `Host`) or runs (its
            // pass holds a per-host permit, which holds the semaphore).
            hosts.retain(|_, h| {
                Arc::strong_count(h) > 1
                    || h.permits.as_ref().is_some_and(|p| Arc::strong_count(p) > 1)
                    || h.next.try_lock().map_or(true, |next| *next > now)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: &str) -> Url {
        Url::parse(&format!("http://{host}/")).unwrap()
    }

    /// Whether a request to `host` gets through the gate now (waiting nowhere: paused time
    /// advances straight to the next timer, so 1 ms is "never" for a place held meanwhile).
    async fn passes(gate: &Gate, host: &str) -> Option<Pass> {
        tokio::time::timeout(Duration::from_millis(1), gate.enter(&url(host)))
            .await
            .ok()
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_bounds_every_host_together() {
        let gate = Gate::new(2, None, None);
        let first = passes(&gate, "a").await.expect("a place is free");
        let _second = passes(&gate, "b").await.expect("a place is free");
        assert!(passes(&gate, "c").await.is_none(), "both places are taken");
        drop(first);
        assert!(passes(&gate, "c").await.is_some(), "a place came back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_gave_up_waiting_holds_no_place() {
        let gate = Gate::new(1, Some(1), None);
        let held = passes(&gate, "a").await.unwrap();
        for _ in 0..3 {
            assert!(passes(&gate, "a").await.is_none());
        }
        drop(held);
        assert!(passes(&gate, "a").await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn per_host_bounds_each_host_alone() {
        let gate = Gate::new(10, Some(1), None);
        let _a = passes(&gate, "a").await.unwrap();
        assert!(passes(&gate, "a").await.is_none(), "a's one place is taken");
        assert!(passes(&gate, "b").await.is_some(), "b has its own place");
        assert!(
            passes(&gate, "a:8080").await.is_some(),
            "another port is another host"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rate_spaces_the_starts_to_one_host() {
        let gate = Gate::new(10, None, Some(10.0));
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..3 {
            drop(gate.enter(&url("a")).await);
            starts.push(start.elapsed());
        }
        let ms = |n| Duration::from_millis(n);
        assert_eq!(starts, [ms(0), ms(100), ms(200)]);
        drop(gate.enter(&url("b")).await);
        assert_eq!(start.elapsed(), ms(200), "another host has its own turns");
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_turn_counts_from_when_a_request_actually_started() {
        // One place, 10 requests/s. The first holds the place for 300 ms; the second's turn comes
        // at 100 ms but it starts at 300 ms, when it gets the place; so the third starts 100 ms
        // after that, not at once (a turn counted from the second's turn would let it).
        let gate = Arc::new(Gate::new(1, None, Some(10.0)));
        let start = Instant::now();
        let tasks: Vec<_> = [300, 0, 0]
            .into_iter()
            .enumerate()
            .map(|(i, hold)| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    // Queue in order, a millisecond apart.
                    tokio::time::sleep(Duration::from_millis(i as u64)).await;
                    let _pass = gate.enter(&url("a")).await;
                    let started = start.elapsed();
                    tokio::time::sleep(Duration::from_millis(hold)).await;
                    started
                })
            })
            .collect();
        let mut starts = Vec::new();
        for task in tasks {
            starts.push(task.await.unwrap().as_millis());
        }
        assert_eq!(starts, [0, 300, 400]);
    }

    #[tokio::test(start_paused = true)]
    async fn pruning_forgets_idle_hosts_and_keeps_busy_ones() {
        let gate = Gate::new(PRUNE_AT, Some(1), None);
        let busy = passes(&gate, "busy").await.unwrap();
        for i in 1..PRUNE_AT {
            drop(passes(&gate, &format!("h{i}")).await.unwrap());
        }
        assert_eq!(gate.hosts.lock().len(), PRUNE_AT);
        drop(passes(&gate, "one-more").await.unwrap());
        let left: Vec<String> = gate.hosts.lock().keys().cloned().collect();
        assert_eq!(left.len(), 2, "idle hosts are forgotten: {left:?}");
        // The busy host kept its state: its one place is still taken.
        assert!(passes(&gate, "busy").await.is_none());
        drop(busy);
        assert!(passes(&gate, "busy").await.is_some());
    }
}
