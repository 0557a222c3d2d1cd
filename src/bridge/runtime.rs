//! The one tokio runtime of the process, its dispatcher, and the fork generation.
//!
//! Built on first use, never at import. Work arrives over an unbounded channel read by one
//! dispatcher task that spawns a task per operation, so Python never creates a future per request.
//! After `os.fork()` the child's runtime has no threads: `after_fork_child` bumps the generation,
//! the old runtime is leaked (dropping it would wait on threads that do not exist) and the next
//! submission builds a fresh one. Clients compare generations and rebuild their reqwest client.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::prelude::*;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::mpsc;

use super::slot::Slot;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static IDLE: Mutex<Vec<Arc<dyn OnIdle>>> = Mutex::new(Vec::new());
static IDLE_ANY: AtomicBool = AtomicBool::new(false);

/// Something to do once the engine has nothing else to run (see `when_idle`).
pub(crate) trait OnIdle: Send + Sync {
    fn on_idle(&self);
}

/// Calls `item.on_idle()` when a worker next runs out of tasks. A pool hands its results over
/// then, in one burst, rather than waking its consumer for each one.
pub(crate) fn when_idle(item: Arc<dyn OnIdle>) {
    IDLE.lock().push(item);
    IDLE_ANY.store(true, Ordering::Release);
}

fn on_park() {
    if IDLE_ANY.swap(false, Ordering::AcqRel) {
        let items = std::mem::take(&mut *IDLE.lock());
        for item in items {
            item.on_idle();
        }
    }
}
static ENGINE: Mutex<Option<Arc<Engine>>> = Mutex::new(None);

pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A unit of work: the future to run and the slot whose abort handle it fills.
pub(crate) struct Job {
    pub(crate) task: Task,
    pub(crate) slot: Arc<Slot>,
}

/// What the dispatcher receives: one job, or a call made on a runtime thread (a pool's batch
/// spawns all its requests there at once, so a batch costs one channel send and no cross-thread
/// wake-up per request).
enum Work {
    Job(Job),
    Jobs(Vec<Job>),
    Call(Box<dyn FnOnce() + Send>),
}

/// NOTE: held jobs go out in batches of at most this many, so the engine starts on a turn's
/// first requests while the loop is still making the rest. Holding a whole turn (64 requests on
/// one HTTP/2 connection) left the connection idle while the loop worked: requestx's own
/// h2_conc_64 fell from ~29k to ~23k req/s; in batches of 16 it stays near 26-27k, and httpx2 on
/// the transport keeps its gain (h1 ~5.3k either way, h2 4.2-4.6k vs 4.3-4.9k, noisy machine).
const HELD_BATCH: usize = 16;

thread_local! {
    /// Jobs this thread holds back until `release_submissions` (see `hold_submissions`).
    static HELD: std::cell::RefCell<Option<Vec<Job>>> = const { std::cell::RefCell::new(None) };
}

/// From now on, requests this thread submits with a hub wait for `release_submissions`, which
/// hands them to the engine in one message (one wake-up of the runtime for the lot).
/// NOTE: an event loop with requests in flight holds its submissions for one loop iteration: a
/// slow client (httpx2 on requestx's transport, 64 in flight) woke a parked tokio worker once per
/// request, and each wake pre-empted the loop thread on its one core.
#[pyfunction]
pub(crate) fn hold_submissions() {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if held.is_none() {
            *held = Some(Vec::new());
        }
    });
}

/// Sends what this thread held back, and stops holding.
#[pyfunction]
pub(crate) fn release_submissions() {
    let jobs = HELD.with(|held| held.borrow_mut().take());
    if let Some(jobs) = jobs {
        if !jobs.is_empty() {
            let _ = engine().tx.send(Work::Jobs(jobs));
        }
    }
}

pub(crate) struct Engine {
    pub(crate) generation: u64,
    tx: mpsc::UnboundedSender<Work>,
}

impl Engine {
    /// Hands a job to the dispatcher. The runtime is leaked, so the receiver lives forever.
    pub(crate) fn submit(&self, job: Job) {
        let _ = self.tx.send(Work::Job(job));
    }

    /// As `submit`, unless this thread holds its submissions back (`hold_submissions`).
    pub(crate) fn submit_or_hold(&self, job: Job) {
        let work = HELD.with(|held| match held.borrow_mut().as_mut() {
            Some(jobs) => {
                jobs.push(job);
                (jobs.len() >= HELD_BATCH).then(|| Work::Jobs(std::mem::take(jobs)))
            }
            None => Some(Work::Job(job)),
        });
        if let Some(work) = work {
            let _ = self.tx.send(work);
        }
    }

    /// Runs `call` on the dispatcher task, inside the runtime (where `tokio::spawn` works).
    pub(crate) fn call(&self, call: Box<dyn FnOnce() + Send>) {
        let _ = self.tx.send(Work::Call(call));
    }

    /// Runs `work` on the runtime and blocks the calling thread (never one of the runtime's)
    /// until it ends or `limit` passes; true if it ended.
    pub(crate) fn wait(
        &self,
        work: impl Future<Output = ()> + Send + 'static,
        limit: std::time::Duration,
    ) -> bool {
        let (done, ended) = std::sync::mpsc::sync_channel(1);
        self.call(Box::new(move || {
            tokio::spawn(async move {
                work.await;
                let _ = done.send(());
            });
        }));
        ended.recv_timeout(limit).is_ok()
    }
}

/// The current fork generation (0 in the process that imported requestx).
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The engine of this generation, started on first use.
pub(crate) fn engine() -> Arc<Engine> {
    let generation = generation();
    let mut guard = ENGINE.lock();
    if let Some(engine) = guard.as_ref() {
        if engine.generation == generation {
            return engine.clone();
        }
    }
    let engine = Arc::new(start(generation));
    *guard = Some(engine.clone());
    engine
}

fn worker_threads() -> usize {
    // NOTE: two workers fill both cores of the reference machine; more only adds context switches.
    std::env::var("REQUESTX_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().min(2))
                .unwrap_or(1)
        })
}

fn start(generation: u64) -> Engine {
    let runtime: &'static Runtime = Box::leak(Box::new(
        Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("requestx-io")
            .on_thread_park(on_park)
            .enable_all()
            .build()
            .expect("tokio runtime"),
    ));
    let (tx, rx) = mpsc::unbounded_channel();
    runtime.spawn(dispatch(rx));
    Engine { generation, tx }
}

async fn dispatch(mut rx: mpsc::UnboundedReceiver<Work>) {
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, 64).await > 0 {
        for work in batch.drain(..) {
            match work {
                Work::Job(job) => spawn(job),
                Work::Jobs(jobs) => jobs.into_iter().for_each(spawn),
                Work::Call(call) => call(),
            }
        }
    }
}

fn spawn(job: Job) {
    if job.slot.is_cancelled() {
        return;
    }
    let handle = tokio::spawn(job.task);
    job.slot.set_abort(handle.abort_handle());
}

/// Registered with `os.register_at_fork(after_in_child=...)`: the child starts a new generation.
#[pyfunction]
pub(crate) fn _after_fork_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    // The parent's engine (and its runtime, whose threads did not survive the fork) is leaked.
    if let Some(old) = ENGINE.lock().take() {
        std::mem::forget(old);
    }
}
