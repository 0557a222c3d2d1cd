//! `Driver`: a current-thread tokio runtime that the blocked calling thread drives itself.
//!
//! A blocking call handed to the process's runtime costs two hand-overs between threads (to send,
//! and to complete); on one core each is a context switch. A thread that drives the runtime of
//! its work itself makes none: it writes the request, sleeps in `epoll_wait` until the answer is
//! readable and reads it. Everything spawned on a driver (a connection's task) runs only while
//! some thread drives it, so what work leaves behind between calls must be able to wait: an idle
//! connection (its news is taken in by `catch_up` before the next request), a stream's pump
//! (driven again by the next read of the stream).
//!
//! Several threads may drive one driver at once: tokio hands its core (the I/O driver and the
//! spawned tasks) to one of them, the others poll their own future when it is woken.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Builder, Runtime};

use super::op::{WaitingThreads, SIGNAL_SLICE, SPIN_BUDGET};

/// The threads driving a driver (any): a lone one spins first (`op::SPIN_BUDGET`); with
/// several, one spinning takes the core from the others.
static DRIVING: WaitingThreads = WaitingThreads::new();

/// How many threads are driving a driver right now.
pub(crate) fn driving_threads() -> usize {
    DRIVING.count()
}

/// Whether this thread may drive a driver: not while it runs inside a tokio runtime (a Python
/// callback of another Rust extension's runtime), where `block_on` would panic.
pub(crate) fn can_drive() -> bool {
    tokio::runtime::Handle::try_current().is_err()
}

/// Lets a driver take in the I/O that arrived while nobody drove it, and run the tasks that wakes,
/// before what follows: a connection whose peer closed it (or sent what nobody asked for) while
/// it was idle is seen closed before a request checks it out of its pool. On the engine the
/// connection's task sees it at once; here it would be seen only after the request was written
/// on it, which fails the request ("connection closed before message completed").
/// Two turns: the first polls the I/O driver and queues the woken tasks, the second runs them.
pub(crate) async fn catch_up() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

/// Polls `work`, letting the runtime take in I/O between polls without sleeping (a zero-timeout
/// `epoll_wait` per turn), until it ends (its output) or `budget` passes (None).
/// NOTE: a lone driving thread spins for `op::SPIN_BUDGET` first, as a lone blocked thread does:
/// sequential blocking GETs 17,079-17,279 req/s without it, 20,416-22,764 with it (A/B, nginx on
/// the other core).
async fn spin_on<F: Future>(mut work: Pin<&mut F>, budget: Duration) -> Option<F::Output> {
    let until = Instant::now() + budget;
    loop {
        if let Poll::Ready(out) =
            std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await
        {
            return Some(out);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::task::yield_now().await;
    }
}

pub(crate) struct Driver {
    /// None only while dropping.
    runtime: Option<Runtime>,
}

impl Driver {
    pub(crate) fn new() -> std::io::Result<Self> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .thread_name("requestx-blocking")
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("a driver's runtime lives until it drops")
    }

    /// Runs `work` to its end on this thread with the GIL released, checking signals between
    /// slices: a signal handler's exception (KeyboardInterrupt) drops `work` (which cancels it)
    /// and propagates.
    pub(crate) fn drive<F>(&self, py: Python<'_>, work: F) -> PyResult<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        if !can_drive() {
            return Err(PyRuntimeError::new_err(
                "a blocking requestx call was made on a thread that runs a tokio runtime",
            ));
        }
        let mut work = std::pin::pin!(work);
        let driving = DRIVING.enter();
        let mut spin = driving.alone;
        loop {
            let runtime = self.runtime();
            let slice = &mut work;
            let first = std::mem::replace(&mut spin, false);
            let out = py.detach(move || {
                runtime.block_on(async move {
                    if first {
                        if let Some(out) = spin_on(slice.as_mut(), SPIN_BUDGET).await {
                            return Some(out);
                        }
                    }
                    tokio::time::timeout(SIGNAL_SLICE, slice).await.ok()
                })
            });
            if let Some(out) = out {
                return Ok(out);
            }
            py.check_signals()?;
        }
    }

    /// Drives `work` on this thread (never the GIL's holder) until it ends or `limit` passes; true
    /// if it ended.
    pub(crate) fn wait(&self, work: impl Future<Output = ()>, limit: Duration) -> bool {
        self.runtime()
            .block_on(async move { tokio::time::timeout(limit, work).await.is_ok() })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Never waits. Inside a runtime's context (this one's, if the last handle went with a
        // future it ran) a shutdown could find the core taken, which panics: leaked then.
        if let Some(runtime) = self.runtime.take() {
            if !can_drive() {
                std::mem::forget(runtime);
            } else {
                runtime.shutdown_background();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn catch_up_runs_the_tasks_that_io_woke_before_what_follows() {
        // A task waiting on a socket, whose peer has already written: the byte is in before the
        // driven work starts, and one catch_up lets the task read it first.
        let driver = Driver::new().unwrap();
        let seen = Arc::new(AtomicBool::new(false));
        let (task_seen, work_seen) = (seen.clone(), seen.clone());
        assert!(driver.wait(
            async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let client = tokio::net::TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    client.readable().await.unwrap();
                    task_seen.store(true, Ordering::Release);
                });
                tokio::task::yield_now().await; // the task registers its interest
                server.try_write(b"x").unwrap();
                // Not driven meanwhile: the kernel has the byte, the runtime has not looked.
                std::thread::sleep(Duration::from_millis(20));
                assert!(!work_seen.load(Ordering::Acquire));
                catch_up().await;
                assert!(work_seen.load(Ordering::Acquire));
            },
            Duration::from_secs(5),
        ));
        assert!(seen.load(Ordering::Acquire));
    }

    #[test]
    fn wait_gives_up_at_its_limit_and_the_driver_drops_without_waiting() {
        let driver = Driver::new().unwrap();
        let started = Instant::now();
        assert!(!driver.wait(std::future::pending(), Duration::from_millis(30)));
        // A task still pending on its runtime (as an idle connection's) does not hold up the drop.
        assert!(driver.wait(
            async {
                tokio::spawn(std::future::pending::<()>());
            },
            Duration::from_secs(1)
        ));
        drop(driver);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_thread_inside_a_runtime_may_not_drive_and_a_driver_dropped_there_is_leaked() {
        assert!(can_drive());
        let outer = Builder::new_current_thread().build().unwrap();
        outer.block_on(async {
            assert!(!can_drive());
            drop(Driver::new().unwrap()); // leaked rather than shut down inside a runtime
        });
    }

    #[test]
    fn spin_on_ends_with_the_work_or_at_its_budget() {
        let driver = Driver::new().unwrap();
        assert!(driver.wait(
            async {
                let mut ready = std::pin::pin!(async { 7 });
                assert_eq!(spin_on(ready.as_mut(), SPIN_BUDGET).await, Some(7));
                let mut never = std::pin::pin!(std::future::pending::<()>());
                let started = Instant::now();
                assert_eq!(
                    spin_on(never.as_mut(), Duration::from_millis(5)).await,
                    None
                );
                assert!(started.elapsed() >= Duration::from_millis(5));
            },
            Duration::from_secs(5)
        ));
    }
}
