//! The tasks that drive a client's direct connections (every request no proxy applies to), so
//! that closing the client ends them.
//!
//! hyper runs each connection in a task of its own, which outlives the request that opened it: a
//! request that timed out mid-upload leaves its connection task flushing the body into a socket
//! the server no longer reads, until TCP gives up (~30 s, TCP_USER_TIMEOUT), holding the socket
//! and the body (a Python `bytes`) all that time. The direct client spawns those tasks through
//! `ConnTasks`, which keeps their handles; `ClientCore::close` aborts them and waits for them to
//! be dropped, which closes their sockets and releases their bodies before `close()` returns.
//!
//! reqwest (proxied requests) spawns its connection tasks itself, out of reach: those end when
//! their socket fails (see docs/design.md).

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::task::JoinHandle;

/// The executor of a direct client: `tokio::spawn`, keeping each task's handle.
#[derive(Clone, Default)]
pub(crate) struct ConnTasks {
    inner: Arc<Mutex<TaskList>>,
}

#[derive(Default)]
struct TaskList {
    handles: Vec<JoinHandle<()>>,
    /// The length at which finished tasks are next swept out: twice what remained after the last
    /// sweep, so a long-lived client that opens many connections keeps a list of the live ones at
    /// an amortized O(1) per connection.
    sweep_at: usize,
    closed: bool,
}

/// A list this short is never swept.
const FIRST_SWEEP: usize = 64;

impl<F> hyper::rt::Executor<F> for ConnTasks
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, task: F) {
        // NOTE: `map`, not an `async move { task.await; }` block, which holds `task` twice (as
        // its capture and as what it awaits): HTTP/2 spawns one of these per request (hyper's
        // response future, ~2.5 KB), copied into a task of twice its size.
        let handle = tokio::spawn(task.map(drop));
        let mut list = self.inner.lock();
        if list.closed {
            // Spawned by a request that was still finishing when the client closed.
            handle.abort();
            return;
        }
        if list.handles.len() >= list.sweep_at.max(FIRST_SWEEP) {
            list.handles.retain(|h| !h.is_finished());
            list.sweep_at = list.handles.len() * 2;
        }
        list.handles.push(handle);
    }
}

impl ConnTasks {
    /// Aborts every task (and any spawned from now on); the handles, to wait for their drop.
    pub(crate) fn abort_all(&self) -> Vec<JoinHandle<()>> {
        let mut list = self.inner.lock();
        list.closed = true;
        let handles = std::mem::take(&mut list.handles);
        for handle in &handles {
            handle.abort();
        }
        handles
    }

    /// Until every one of `handles` (aborted by `abort_all`) has been dropped by its runtime.
    pub(crate) async fn dropped(handles: Vec<JoinHandle<()>>) {
        for handle in handles {
            let _ = handle.await;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().handles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Executor;

    #[tokio::test]
    async fn abort_all_ends_running_tasks_and_refuses_new_ones() {
        let tasks = ConnTasks::default();
        let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        tasks.execute(async move {
            let _guard = dropped_tx; // dropped with the task: the receiver sees it
            std::future::pending::<()>().await;
        });
        for handle in tasks.abort_all() {
            assert!(handle.await.unwrap_err().is_cancelled());
        }
        assert!(dropped_rx.await.is_err());
        let (late_tx, late_rx) = tokio::sync::oneshot::channel::<()>();
        tasks.execute(async move {
            let _guard = late_tx;
            std::future::pending::<()>().await;
        });
        assert!(late_rx.await.is_err(), "a task spawned after close runs");
        assert_eq!(tasks.len(), 0);
    }

    #[tokio::test]
    async fn finished_tasks_are_swept_out() {
        let tasks = ConnTasks::default();
        for _ in 0..10_000 {
            tasks.execute(async {});
            tokio::task::yield_now().await;
        }
        assert!(
            tasks.len() <= 2 * FIRST_SWEEP,
            "{} handles kept",
            tasks.len()
        );
    }
}
