//! `Batch`: the worker pool. Many requests cross into the engine in one call, run as tokio tasks
//! behind a `Gate` (bounded concurrency, per-host places, per-host rate), and come back through
//! one queue that Python empties in one call per wake-up.
//!
//! A batch has a single "doorbell" slot rather than one waiter per request: whoever consumes the
//! results (a thread, an asyncio task, a trio task) parks on it, and the first completion after
//! it was set rings it, so a burst of completions costs the consumer one wake-up.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_queue::SegQueue;
use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use super::client::{closed_wins, ClientCore};
use super::config::Live;
use super::gate::Gate;
use super::request::{self, Outgoing, Timeouts};
use super::retry::{self, Policy};
use crate::body::response::{outcome_value, RawResponse};
use crate::bridge::hub::Hub;
use crate::bridge::op::{Op, Spin};
use crate::bridge::runtime;
use crate::bridge::slot::{IntoPython, Slot};
use crate::error::RxError;

type Outcome = Result<RawResponse, RxError>;

/// What the doorbell rings with: results wait in `take_nowait`. Python sees True.
struct ResultsWaiting;

impl IntoPython for ResultsWaiting {
    fn into_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        true.into_py_any(py)
    }
}

/// Keys are the inputs' positions: a multiply spreads them well enough for a hash table.
/// NOTE: SipHash on these was ~1.6% of the client core's time in the 64-in-flight map benchmark.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Running = HashMap<u64, Option<AbortHandle>, BuildHasherDefault<KeyHasher>>;

struct Inner {
    /// Results are handed over (the doorbell rung) once this many wait, when none is left
    /// running, or when the engine runs out of work, whichever comes first.
    ring_at: usize,
    /// Set while this batch waits in the engine's idle list.
    idle_queued: AtomicBool,
    gate: Gate,
    done: SegQueue<(u64, Outcome)>,
    doorbell: Mutex<Option<Arc<Slot>>>,
    /// Requests submitted and not finished; the abort handle once the task is spawned.
    running: Mutex<Running>,
    /// Fires on `cancel_all`, when the batch is dropped, or when its client closes.
    cancel: CancellationToken,
}

impl Inner {
    /// NOTE: ringing on every completion woke the consumer per result: on one core, where it
    /// preempts the engine, it then found ~1.5 results per wake-up and a 64-in-flight map fell
    /// from ~60k to ~46k req/s. Ringing in bursts (when the engine idles or many wait) keeps the
    /// consumer asleep while the engine has work, without the consumer spinning for it.
    fn finish(self: &Arc<Self>, key: u64, outcome: Outcome) {
        let left = {
            let mut running = self.running.lock();
            running.remove(&key);
            running.len()
        };
        self.done.push((key, outcome));
        if left == 0 || self.done.len() >= self.ring_at {
            self.ring();
        } else if !self.idle_queued.swap(true, Ordering::AcqRel) {
            runtime::when_idle(self.clone());
        }
    }

    fn ring(&self) {
        let bell = self.doorbell.lock().take();
        if let Some(bell) = bell {
            bell.complete(Ok(ResultsWaiting));
        }
    }
}

async fn run_item(
    inner: Arc<Inner>,
    live: Live,
    closed: CancellationToken,
    key: u64,
    request: reqwest::Request,
    timeouts: Timeouts,
    policy: Option<Arc<Policy>>,
) {
    let work = retry::run(policy, request, |request| {
        let (inner, live, closed) = (inner.clone(), live.clone(), closed.clone());
        async move {
            // Each attempt waits for its own turn: a retry is one more request to the host.
            let _pass = inner.gate.enter(request.url()).await;
            request::execute(live, request, timeouts, request::Delivery::Whole, closed).await
        }
    });
    let outcome = tokio::select! {
        biased;
        _ = inner.cancel.cancelled() => {
            if !closed.is_cancelled() {
                return; // cancelled by its consumer, who no longer waits for it
            }
            Err(RxError::closed_in_flight())
        }
        outcome = work => outcome,
        () = request::until(timeouts.deadline) => Err(RxError::total_timeout()),
    };
    inner.finish(key, closed_wins(outcome, &closed));
}

impl runtime::OnIdle for Inner {
    fn on_idle(&self) {
        self.idle_queued.store(false, Ordering::Release);
        if !self.done.is_empty() {
            self.ring();
        }
    }
}

#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct Batch {
    core: Py<ClientCore>,
    inner: Arc<Inner>,
}

#[pymethods]
impl Batch {
    #[new]
    #[pyo3(signature = (core, concurrency, *, per_host=None, rate=None))]
    fn new(
        core: Bound<'_, ClientCore>,
        concurrency: usize,
        per_host: Option<usize>,
        rate: Option<f64>,
    ) -> PyResult<Self> {
        let out_of_range = |n: usize| n == 0 || n > tokio::sync::Semaphore::MAX_PERMITS;
        if out_of_range(concurrency) || per_host.is_some_and(out_of_range) {
            return Err(PyValueError::new_err(format!(
                "concurrency and per_host must be between 1 and {}",
                tokio::sync::Semaphore::MAX_PERMITS
            )));
        }
        if let Some(rate) = rate {
            // 1/rate must be a Duration: at least one request in ~30 years.
            if !(rate.is_finite() && rate >= 1e-9) {
                return Err(PyValueError::new_err(format!(
                    "rate must be a positive number of requests per second, not {rate:?}"
                )));
            }
        }
        let cancel = core.get().closed().child_token();
        Ok(Self {
            core: core.unbind(),
            inner: Arc::new(Inner {
                ring_at: concurrency,
                idle_queued: AtomicBool::new(false),
                gate: Gate::new(concurrency, per_host, rate),
                done: SegQueue::new(),
                doorbell: Mutex::new(None),
                running: Mutex::new(Running::default()),
                cancel,
            }),
        })
    }

    /// Starts `[(key, outgoing), ...]` (`outgoing`: a request in its one crossing shape, see
    /// `Outgoing`; its delivery is ignored, a batch reads bodies whole) in one hand-over to the
    /// engine. Returns `[(key, exception), ...]` for the items refused before sending (bad URL,
    /// header or method); the others report through `take_nowait`.
    fn submit(&self, py: Python<'_>, items: &Bound<'_, PyList>) -> PyResult<Vec<(u64, Py<PyAny>)>> {
        let core = self.core.get();
        let live = core.live().map_err(|e| e.into_pyerr(py))?;
        let mut tasks = Vec::with_capacity(items.len());
        let mut refused = Vec::new();
        for item in items.iter() {
            let (key, outgoing): (u64, Outgoing<'_>) = item.extract()?;
            match core.prepare(py, outgoing) {
                Ok(prepared) => {
                    tasks.push((key, prepared.request, prepared.timeouts, prepared.policy))
                }
                Err(err) => refused.push((key, err.into_value(py).into_any())),
            }
        }
        if tasks.is_empty() {
            return Ok(refused);
        }
        {
            let mut running = self.inner.running.lock();
            for (key, _, _, _) in &tasks {
                running.insert(*key, None);
            }
        }
        let inner = self.inner.clone();
        let closed = core.closed().clone();
        py.detach(move || {
            runtime::engine().call(Box::new(move || {
                for (key, request, timeouts, policy) in tasks {
                    let mut running = inner.running.lock();
                    // An item cancelled before it got here is gone from `running`: skip it.
                    if let Some(entry) = running.get_mut(&key) {
                        let task = run_item(
                            inner.clone(),
                            live.clone(),
                            closed.clone(),
                            key,
                            request,
                            timeouts,
                            policy,
                        );
                        *entry = Some(tokio::spawn(task).abort_handle());
                    }
                }
            }))
        });
        Ok(refused)
    }

    /// An operation that completes once results are waiting in `take_nowait` (at once if some
    /// are). With a hub it reports there (an event loop); without, a thread waits with `Op.wait()`.
    #[pyo3(signature = (hub=None))]
    fn wait_take(&self, hub: Option<&Hub>) -> Op {
        let (op, bell) = Op::for_hub(hub, Spin::No);
        *self.inner.doorbell.lock() = Some(bell);
        // A result that landed before the bell was hung would not ring it: ring it here.
        if !self.inner.done.is_empty() {
            self.inner.ring();
        }
        op
    }

    /// `[(key, response tuple | exception), ...]` for every request finished since the last call.
    fn take_nowait(&self, py: Python<'_>) -> PyResult<Vec<(u64, Py<PyAny>)>> {
        let mut out = Vec::with_capacity(self.inner.done.len());
        while let Some((key, outcome)) = self.inner.done.pop() {
            out.push((key, outcome_value(py, outcome)?));
        }
        Ok(out)
    }

    /// Aborts one request; False when it had already finished (its result is in `take`).
    fn cancel(&self, key: u64) -> bool {
        match self.inner.running.lock().remove(&key) {
            Some(Some(handle)) => {
                handle.abort();
                true
            }
            Some(None) => true,
            None => false,
        }
    }

    /// Aborts every request still running; their results never arrive.
    fn cancel_all(&self) {
        self.inner.cancel.cancel();
        self.inner.running.lock().clear();
    }

    /// How many submitted requests have not finished.
    #[getter]
    fn running(&self) -> usize {
        self.inner.running.lock().len()
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // Nobody can collect the results any more: stop the work.
        self.inner.cancel.cancel();
    }
}
