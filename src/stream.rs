//! A streamed response body: one tokio task per response feeds a bounded channel.
//!
//! When the channel is full the task stops reading, so TCP (or HTTP/2) flow control slows the server
//! instead of memory growing. Python takes already-buffered chunks without any thread hop
//! (`next_nowait`) and parks on its hub or condvar only when the buffer is empty.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, Mutex, OwnedSemaphorePermit};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::bridge::hub::Hub;
use crate::bridge::op::{run_blocking, Op};
use crate::bridge::slot::{Slot, Waiter};
use crate::error::{ErrorKind, RxError};
use crate::response::Payload;
use crate::runtime::{self, Job};

/// NOTE: hyper hands over reads of up to a few hundred KiB, so 8 chunks bound a stream's buffer
/// to a few MiB while keeping the socket busy between two Python reads.
const BUFFERED_CHUNKS: usize = 8;

type ChunkResult = Result<Bytes, RxError>;
type Receiver = Arc<Mutex<mpsc::Receiver<ChunkResult>>>;

#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct BodyStream {
    rx: Receiver,
    pump: AbortHandle,
}

/// Starts the task that moves `response`'s body into the channel; must run inside the runtime.
pub(crate) fn spawn_pump(
    response: reqwest::Response,
    read_timeout: Option<Duration>,
    permit: Option<OwnedSemaphorePermit>,
    closed: CancellationToken,
) -> BodyStream {
    let (tx, rx) = mpsc::channel(BUFFERED_CHUNKS);
    let task = tokio::spawn(async move {
        tokio::select! {
            biased;
            _ = closed.cancelled() => {
                let _ = tx.send(Err(crate::client::closed_error())).await;
            }
            _ = pump(response, read_timeout, &tx) => {}
        }
        drop(permit);
    });
    BodyStream {
        rx: Arc::new(Mutex::new(rx)),
        pump: task.abort_handle(),
    }
}

async fn pump(
    mut response: reqwest::Response,
    read_timeout: Option<Duration>,
    tx: &mpsc::Sender<ChunkResult>,
) {
    loop {
        let next = read_chunk(&mut response, read_timeout).await;
        let stop = !matches!(next, Ok(Some(_)));
        match next {
            Ok(Some(chunk)) if chunk.is_empty() => continue,
            Ok(Some(chunk)) => {
                if tx.send(Ok(chunk)).await.is_err() {
                    return; // the reader is gone: dropping `response` closes the connection
                }
            }
            Ok(None) => {}
            Err(err) => {
                let _ = tx.send(Err(err)).await;
            }
        }
        if stop {
            return;
        }
    }
}

/// One body read, bounded by the read timeout (httpx's read timeout is per read, not a total).
/// NOTE: a chunk that is already buffered is taken without arming a timer; most small bodies arrive
/// with their head, so the common path registers no timer at all.
pub(crate) async fn read_chunk(
    response: &mut reqwest::Response,
    read_timeout: Option<Duration>,
) -> Result<Option<Bytes>, RxError> {
    let mut chunk = std::pin::pin!(response.chunk());
    let ready = std::future::poll_fn(|cx| Poll::Ready(chunk.as_mut().poll(cx))).await;
    let result = match (ready, read_timeout) {
        (Poll::Ready(result), _) => result,
        (Poll::Pending, None) => chunk.await,
        (Poll::Pending, Some(limit)) => tokio::time::timeout(limit, chunk).await.map_err(|_| {
            RxError::new(
                ErrorKind::ReadTimeout,
                "timed out reading the response body",
            )
        })?,
    };
    result.map_err(|e| RxError::from_reqwest(&e))
}

fn chunk_outcome(next: Option<ChunkResult>) -> Result<Payload, RxError> {
    match next {
        Some(Ok(chunk)) => Ok(Payload::Chunk(Some(chunk))),
        Some(Err(err)) => Err(err),
        None => Ok(Payload::Chunk(None)),
    }
}

impl BodyStream {
    /// The job that takes the next chunk off the channel and completes its slot.
    fn next_job(&self, waiter: Waiter) -> Job {
        let slot = Slot::new(waiter);
        let rx = self.rx.clone();
        let done = slot.clone();
        let task = Box::pin(async move {
            let next = rx.lock().await.recv().await;
            done.complete(chunk_outcome(next));
        });
        Job { task, slot }
    }
}

#[pymethods]
impl BodyStream {
    /// A buffered chunk, `b""` at the end of the body, or None when the caller must wait.
    fn next_nowait(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        let Ok(mut rx) = self.rx.try_lock() else {
            return Ok(None);
        };
        match rx.try_recv() {
            Ok(Ok(chunk)) => Ok(Some(PyBytes::new(py, &chunk).unbind())),
            Ok(Err(err)) => Err(err.into_pyerr(py)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                Ok(Some(PyBytes::new(py, b"").unbind()))
            }
        }
    }

    /// Waits on an event loop's hub for the next chunk; the Op's result is the chunk (`b""` at end).
    fn submit_next(&self, hub: &Hub) -> Op {
        let id = crate::client::next_op_id();
        let job = self.next_job(Waiter::Hub {
            hub: hub.inner.clone(),
            id,
        });
        let slot = job.slot.clone();
        runtime::engine().submit(job);
        Op { slot, id }
    }

    /// Blocks this thread (GIL released, signals checked) for the next chunk; `b""` at the end.
    fn next_blocking(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(chunk) = self.next_nowait(py)? {
            return Ok(chunk.into_any());
        }
        let outcome = run_blocking(py, self.next_job(Waiter::Thread))?;
        crate::response::outcome_into_py(py, outcome)
    }

    /// Stops the transfer; an HTTP/1.1 connection with an unread body is closed, not pooled.
    fn close(&self) {
        self.pump.abort();
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        self.pump.abort();
    }
}
