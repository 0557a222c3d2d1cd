//! `Op`: the Python handle of one submitted operation, and the blocking wait used by threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use super::slot::{Outcome, Slot};
use crate::runtime::{self, Job};

/// NOTE: 50 ms slices keep Ctrl-C responsive (well under the 100 ms goal) while costing a GIL
/// round trip only 20 times a second on a long request.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// NOTE: before sleeping on the condvar a blocked thread yields the CPU for up to this long.
/// A loopback response usually lands within it, and a thread that never slept skips the futex
/// wake-up and the idle-core exit: sequential sync GETs against nginx went from ~12,500 to
/// ~14,000-17,500 req/s on the 2-core reference VM (client pinned to one core). Bounded, so a
/// slow request costs at most this much CPU.
const SPIN_BUDGET: Duration = Duration::from_micros(150);

#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct Op {
    pub(crate) slot: Arc<Slot>,
    pub(crate) id: u64,
    /// Whether a waiter may yield the CPU for it before sleeping (see `SPIN_BUDGET`).
    spins: bool,
}

impl Op {
    pub(crate) fn new(slot: Arc<Slot>, id: u64) -> Self {
        Self {
            slot,
            id,
            spins: true,
        }
    }

    /// An op fed by a busy tokio task (a body being streamed either way, a pool's doorbell): a
    /// waiter that yields only takes the core from the task it waits for.
    /// NOTE: streamed 64 MiB downloads, client pinned to one core: ~2,750 MiB/s with the yields,
    /// ~3,050 without.
    pub(crate) fn without_spin(slot: Arc<Slot>, id: u64) -> Self {
        Self {
            slot,
            id,
            spins: false,
        }
    }
}

#[pymethods]
impl Op {
    /// The id its hub reports when it completes.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// True once the operation has completed (its result waits in `take`).
    #[getter]
    fn done(&self) -> bool {
        self.slot.is_done()
    }

    /// Yields the CPU (GIL released) until the operation completes or `micros` pass; True if it
    /// completed. For an event loop with nothing else to run (see `_bridge`).
    fn spin(&self, py: Python<'_>, micros: u64) -> bool {
        if !self.spins {
            return self.slot.is_done();
        }
        let slot = self.slot.clone();
        py.detach(move || slot.spin(Duration::from_micros(micros)))
    }

    /// Cancels the operation and aborts its tokio task; False if it had already completed.
    fn cancel(&self) -> bool {
        self.slot.cancel()
    }

    /// Blocks this thread (GIL released, signals checked) until the operation completes, then
    /// returns its result as `take` does. Ops made `without_spin` sleep at once.
    /// NOTE: with spinning, a 64-in-flight map made two sched_yield calls per request.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let outcome = wait_slot(py, &self.slot, None, self.spins)?;
        crate::response::outcome_into_py(py, outcome)
    }

    /// The completed result (or its exception). Call once, after the hub reported the id.
    fn take(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.slot.take() {
            Some(outcome) => crate::response::outcome_into_py(py, outcome),
            None => Err(PyRuntimeError::new_err("operation not complete")),
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        // An abandoned operation (its waiter vanished) must not keep running.
        self.slot.cancel();
    }
}

/// Submits `job` and waits for its slot with the GIL released, checking signals between slices;
/// a signal handler's exception (KeyboardInterrupt) cancels the operation and propagates.
/// NOTE: the submission (which may wake a parked tokio worker, a futex syscall) happens after the
/// GIL is released, so other Python threads run meanwhile.
pub(crate) fn run_blocking(py: Python<'_>, job: Job) -> PyResult<Outcome> {
    let slot = job.slot.clone();
    wait_slot(py, &slot, Some(job), true)
}

/// Waits for `slot` (submitting `job` first, without the GIL, if given).
pub(crate) fn wait_slot(
    py: Python<'_>,
    slot: &Arc<Slot>,
    mut job: Option<Job>,
    spin: bool,
) -> PyResult<Outcome> {
    // Spinning only pays when this is the only blocked thread; with several, they would take the
    // core from the tokio worker that serves them (threads_8 fell from 36k to 28k req/s).
    let waiting = BlockedThread::enter();
    let mut spin = spin && waiting.alone;
    loop {
        let waited = slot.clone();
        let first = std::mem::replace(&mut spin, false);
        let submit = job.take();
        let done = py.detach(move || {
            if let Some(job) = submit {
                runtime::engine().submit(job);
            }
            (first && waited.spin(SPIN_BUDGET)) || waited.wait_slice(SIGNAL_SLICE)
        });
        if done {
            return slot
                .take()
                .ok_or_else(|| PyRuntimeError::new_err("operation cancelled"));
        }
        if let Err(err) = py.check_signals() {
            slot.cancel();
            return Err(err);
        }
    }
}

static BLOCKED: AtomicUsize = AtomicUsize::new(0);

/// Counts the threads blocked in `wait_blocking`; `alone` when this one is the only one.
struct BlockedThread {
    alone: bool,
}

impl BlockedThread {
    fn enter() -> Self {
        Self {
            alone: BLOCKED.fetch_add(1, Ordering::AcqRel) == 0,
        }
    }
}

impl Drop for BlockedThread {
    fn drop(&mut self) {
        BLOCKED.fetch_sub(1, Ordering::AcqRel);
    }
}
