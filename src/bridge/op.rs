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
        let slot = self.slot.clone();
        py.detach(move || slot.spin(Duration::from_micros(micros)))
    }

    /// Cancels the operation and aborts its tokio task; False if it had already completed.
    fn cancel(&self) -> bool {
        self.slot.cancel()
    }

    /// Blocks this thread (GIL released, signals checked) until the operation completes, then
    /// returns its result as `take` does. `spin=False` sleeps at once: for a consumer of many
    /// requests (a pool's doorbell), whose yields would only take the core from the engine.
    /// NOTE: with spinning, a 64-in-flight map made two sched_yield calls per request.
    #[pyo3(signature = (spin=true))]
    fn wait(&self, py: Python<'_>, spin: bool) -> PyResult<Py<PyAny>> {
        let outcome = wait_slot(py, &self.slot, None, spin)?;
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
