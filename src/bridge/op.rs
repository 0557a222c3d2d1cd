//! `Op`: the Python handle of one operation, the one place operations are made, and the blocking
//! wait used by threads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use super::hub::Hub;
use super::runtime::{self, Job};
use super::slot::{Outcome, Slot, Waiter};
use crate::error::RxError;

/// NOTE: 50 ms slices keep Ctrl-C responsive (well under the 100 ms goal) while costing a GIL
/// round trip only 20 times a second on a long request.
pub(crate) const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// NOTE: before sleeping on the condvar a blocked thread yields the CPU for up to this long.
/// A loopback response usually lands within it, and a thread that never slept skips the futex
/// wake-up and the idle-core exit: sequential sync GETs against nginx went from ~12,500 to
/// ~14,000-17,500 req/s on the 2-core reference VM (client pinned to one core). Bounded, so a
/// slow request costs at most this much CPU.
pub(crate) const SPIN_BUDGET: Duration = Duration::from_micros(150);

/// Whether a waiter may yield the CPU for an operation before sleeping (see `SPIN_BUDGET`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spin {
    /// A request: its answer often lands within the budget.
    Yes,
    /// An operation fed by a busy tokio task (a body being streamed either way, a pool's
    /// doorbell): a waiter that yields only takes the core from the task it waits for.
    /// NOTE: streamed 64 MiB downloads, client pinned to one core: ~2,750 MiB/s with the yields,
    /// ~3,050 without.
    No,
}

static OP_IDS: AtomicU64 = AtomicU64::new(1);

#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct Op {
    slot: Arc<Slot>,
    id: u64,
    spin: Spin,
}

impl Op {
    /// A new operation that `hub`'s loop waits for (without a hub: a thread, in `wait`). Returns
    /// the Op for its waiter and the slot for whatever completes it (the job that runs it, a
    /// stream's pump, a pool's results).
    pub(crate) fn for_hub(hub: Option<&Hub>, spin: Spin) -> (Self, Arc<Slot>) {
        let id = OP_IDS.fetch_add(1, Ordering::Relaxed);
        let waiter = match hub {
            Some(hub) => Waiter::Hub {
                hub: hub.inner.clone(),
                id,
            },
            None => Waiter::Thread,
        };
        let slot = Slot::new(waiter);
        (
            Self {
                slot: slot.clone(),
                id,
                spin,
            },
            slot,
        )
    }

    /// Submits `job` (the work that completes this op) and waits for it as `wait` does.
    /// NOTE: the submission (which may wake a parked tokio worker, a futex syscall) happens after
    /// the GIL is released, so other Python threads run meanwhile.
    pub(crate) fn run(&self, py: Python<'_>, job: Job) -> PyResult<Py<PyAny>> {
        self.block(py, Some(job))
    }

    /// Waits for the slot with the GIL released, checking signals between slices (submitting
    /// `job` first, without the GIL, if given); a signal handler's exception (KeyboardInterrupt)
    /// cancels the operation and propagates.
    fn block(&self, py: Python<'_>, mut job: Option<Job>) -> PyResult<Py<PyAny>> {
        // Spinning only pays when this is the only blocked thread; with several, they would take
        // the core from the tokio worker that serves them (threads_8 fell from 36k to 28k req/s).
        let waiting = BLOCKED.enter();
        let mut spin = self.spin == Spin::Yes && waiting.alone;
        loop {
            let slot = &self.slot;
            let first = std::mem::replace(&mut spin, false);
            let submit = job.take();
            let done = py.detach(move || {
                if let Some(job) = submit {
                    runtime::engine().submit(job);
                }
                (first && slot.spin(SPIN_BUDGET)) || slot.wait_slice(SIGNAL_SLICE)
            });
            if done {
                return self.result(py);
            }
            if let Err(err) = py.check_signals() {
                self.slot.cancel();
                return Err(err);
            }
        }
    }

    /// The result (or its exception), once; OperationCancelled if the operation was cancelled.
    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.slot.take() {
            Some(outcome) => into_py(py, outcome),
            None if self.slot.is_cancelled() => Err(RxError::cancelled().into_pyerr(py)),
            None if self.slot.is_done() => Err(PyRuntimeError::new_err(
                "the operation's result was already taken",
            )),
            None => Err(PyRuntimeError::new_err("operation not complete")),
        }
    }
}

/// A completed operation as Python sees it: its value, or its exception raised.
fn into_py(py: Python<'_>, outcome: Outcome) -> PyResult<Py<PyAny>> {
    match outcome {
        Ok(value) => value.into_python(py),
        Err(err) => Err(err.into_pyerr(py)),
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
        if self.spin == Spin::No {
            return self.slot.is_done();
        }
        py.detach(|| self.slot.spin(Duration::from_micros(micros)))
    }

    /// Cancels the operation and aborts its tokio task; False if it had already completed.
    fn cancel(&self) -> bool {
        self.slot.cancel()
    }

    /// Blocks this thread (GIL released, signals checked) until the operation completes, then
    /// returns its result as `take` does. Ops made with `Spin::No` sleep at once.
    /// NOTE: with spinning, a 64-in-flight map made two sched_yield calls per request.
    pub(crate) fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.block(py, None)
    }

    /// The completed result (or its exception). Call once, after the hub reported the id.
    fn take(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.result(py)
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        // An abandoned operation (its waiter vanished) must not keep running.
        self.slot.cancel();
    }
}

/// The threads blocked in `Op::block`.
static BLOCKED: WaitingThreads = WaitingThreads::new();

/// How many threads are blocked in an operation's wait right now.
pub(crate) fn blocked_threads() -> usize {
    BLOCKED.count()
}

/// A count of the threads waiting in one way (blocked on an op, driving a driver).
pub(crate) struct WaitingThreads(AtomicUsize);

impl WaitingThreads {
    pub(crate) const fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Counts this thread in until the guard drops; its `alone` says whether it is the only one.
    pub(crate) fn enter(&self) -> Waiting<'_> {
        Waiting {
            alone: self.0.fetch_add(1, Ordering::AcqRel) == 0,
            count: self,
        }
    }
}

/// One thread counted in a `WaitingThreads`.
pub(crate) struct Waiting<'a> {
    pub(crate) alone: bool,
    count: &'a WaitingThreads,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.0.fetch_sub(1, Ordering::AcqRel);
    }
}
