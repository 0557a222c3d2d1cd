//! One in-flight operation: its state, its result and the handle that aborts its tokio task.
//!
//! Completion and cancellation race through one compare-and-swap on `state`; exactly one wins, so a
//! late completion never touches a cancelled waiter and a late cancel never loses a result.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use pyo3::prelude::*;
use tokio::task::AbortHandle;

use super::hub::HubInner;
use crate::error::RxError;

const PENDING: u8 = 0;
const DONE: u8 = 1;
const CANCELLED: u8 = 2;

/// Who is told about the completion.
pub(crate) enum Waiter {
    /// An event loop: push this id onto its hub.
    Hub { hub: Arc<HubInner>, id: u64 },
    /// A plain thread blocked in [`Slot::wait_slice`].
    Thread,
}

/// What a completed operation hands over: plain Rust data until the thread that takes it (with
/// the GIL) makes it a Python object. Each kind of operation has its own type (a response, an
/// upload's verdict on a chunk, a stream's news, a pool's results waiting).
pub(crate) trait IntoPython: Send {
    fn into_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

pub(crate) type Outcome = Result<Box<dyn IntoPython>, RxError>;

pub(crate) struct Slot {
    state: AtomicU8,
    result: Mutex<Option<Outcome>>,
    cond: Condvar,
    waiter: Waiter,
    abort: Mutex<Option<AbortHandle>>,
}

impl Slot {
    pub(crate) fn new(waiter: Waiter) -> Arc<Self> {
        Arc::new(Self {
            state: AtomicU8::new(PENDING),
            result: Mutex::new(None),
            cond: Condvar::new(),
            waiter,
            abort: Mutex::new(None),
        })
    }

    /// Stores the result and wakes the waiter, unless the operation was cancelled first.
    pub(crate) fn complete<T: IntoPython + 'static>(&self, outcome: Result<T, RxError>) {
        let outcome: Outcome = outcome.map(|value| Box::new(value) as Box<dyn IntoPython>);
        {
            let mut result = self.result.lock();
            if self
                .state
                .compare_exchange(PENDING, DONE, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Cancelled: the outcome is dropped here, on a tokio thread, without the GIL (a
                // bytes read into place goes to pyo3's pool, released at the next attach).
                return;
            }
            *result = Some(outcome);
        }
        match &self.waiter {
            Waiter::Hub { hub, id } => hub.push(*id),
            Waiter::Thread => {
                self.cond.notify_all();
            }
        }
    }

    /// Cancels if still pending and aborts the task. True when the cancel won the race.
    pub(crate) fn cancel(&self) -> bool {
        let won = self
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            if let Some(handle) = self.abort.lock().take() {
                handle.abort();
            }
        }
        won
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    /// Registers the task's abort handle; aborts at once if a cancel came first.
    pub(crate) fn set_abort(&self, handle: AbortHandle) {
        *self.abort.lock() = Some(handle);
        if self.is_cancelled() {
            if let Some(handle) = self.abort.lock().take() {
                handle.abort();
            }
        }
    }

    /// Yields the CPU until done or `budget` passes (call without the GIL). True when done.
    pub(crate) fn spin(&self, budget: Duration) -> bool {
        let start = Instant::now();
        loop {
            for _ in 0..16 {
                if self.state.load(Ordering::Acquire) != PENDING {
                    return true;
                }
                std::thread::yield_now();
            }
            if start.elapsed() >= budget {
                return false;
            }
        }
    }

    /// Blocks (call without the GIL) until done or `slice` passes. True when done.
    pub(crate) fn wait_slice(&self, slice: Duration) -> bool {
        let mut result = self.result.lock();
        if self.state.load(Ordering::Acquire) == PENDING {
            self.cond.wait_for(&mut result, slice);
        }
        self.state.load(Ordering::Acquire) != PENDING
    }

    /// The result, once. `None` if not complete, cancelled, or already taken.
    pub(crate) fn take(&self) -> Option<Outcome> {
        self.result.lock().take()
    }
}
