//! A streamed request body: Python pushes chunks into a bounded channel that hyper drains.
//!
//! The channel holds a few chunks, so memory stays flat however large the upload; a full channel
//! makes the pusher wait (GIL released, or on its event loop's hub), bounded by the write timeout.
//! An exception in the user's iterator aborts the body, and with it the request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::IntoPyObjectExt;
use tokio::sync::mpsc;

use crate::bridge::hub::Hub;
use crate::bridge::op::{Op, Spin};
use crate::bridge::runtime::{self, Job};
use crate::bridge::slot::{IntoPython, Slot};
use crate::error::{seconds, RxError};

/// NOTE: four chunks in flight keep hyper's writes busy between two Python pushes while holding at
/// most four of the caller's chunks (64 KiB each for files) in memory.
const QUEUED_CHUNKS: usize = 4;

type Item = Result<Bytes, std::io::Error>;

/// How a push of a chunk ended (the Op's result: True or False).
enum Pushed {
    /// The chunk is queued for hyper.
    Queued,
    /// The request no longer reads its body (it finished or failed): nothing was queued.
    Unread,
}

impl IntoPython for Pushed {
    fn into_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let queued = matches!(*self, Pushed::Queued);
        queued.into_py_any(py)
    }
}

#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct BodySender {
    tx: Mutex<Option<mpsc::Sender<Item>>>,
    rx: Mutex<Option<mpsc::Receiver<Item>>>,
    write_timeout: Option<Duration>,
}

impl BodySender {
    /// The body for reqwest; once only (a body is sent once).
    pub(crate) fn take_body(&self) -> Option<reqwest::Body> {
        let rx = self.rx.lock().take()?;
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Some(reqwest::Body::wrap_stream(stream))
    }

    fn sender(&self) -> Option<mpsc::Sender<Item>> {
        self.tx.lock().clone()
    }

    /// The job that waits for room in the channel, then queues `chunk`, and completes `slot`
    /// with how that went (`Pushed`).
    fn send_job(&self, chunk: Bytes, slot: Arc<Slot>) -> Job {
        let done = slot.clone();
        let tx = self.sender();
        let limit = self.write_timeout;
        let task = Box::pin(async move {
            let outcome = match tx {
                None => Ok(Pushed::Unread),
                Some(tx) => {
                    let send = tx.send(Ok(chunk));
                    let sent = match limit {
                        Some(limit) => tokio::time::timeout(limit, send)
                            .await
                            .map_err(|_| RxError::write_timeout()),
                        None => Ok(send.await),
                    };
                    sent.map(|r| match r {
                        Ok(()) => Pushed::Queued,
                        Err(_) => Pushed::Unread,
                    })
                }
            };
            done.complete(outcome);
        });
        Job { task, slot }
    }
}

#[pymethods]
impl BodySender {
    #[new]
    #[pyo3(signature = (write_timeout=None))]
    fn new(write_timeout: Option<f64>) -> PyResult<Self> {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let write_timeout = seconds(write_timeout, "timeout")?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(Some(rx)),
            write_timeout,
        })
    }

    /// Queues `chunk` if there is room now. None: full (wait with `send`/`wait_send`);
    /// False: the request stopped reading its body (it finished or failed); True: queued.
    fn send_nowait(&self, chunk: PyBackedBytes) -> Option<bool> {
        let Some(tx) = self.sender() else {
            return Some(false);
        };
        match tx.try_send(Ok(Bytes::from_owner(chunk))) {
            Ok(()) => Some(true),
            Err(mpsc::error::TrySendError::Full(_)) => None,
            Err(mpsc::error::TrySendError::Closed(_)) => Some(false),
        }
    }

    /// Queues `chunk`, blocking this thread (GIL released, signals checked) while the channel is
    /// full. False when the request stopped reading its body; WriteTimeout past the write timeout.
    fn send(&self, py: Python<'_>, chunk: PyBackedBytes) -> PyResult<Py<PyAny>> {
        // No yields first: the request task that drains the channel needs this core.
        let (op, slot) = Op::for_hub(None, Spin::No);
        op.run(py, self.send_job(Bytes::from_owner(chunk), slot))
    }

    /// As `send`, for an event loop: the Op's result is True (queued) or False.
    fn wait_send(&self, hub: &Hub, chunk: PyBackedBytes) -> Op {
        let (op, slot) = Op::for_hub(Some(hub), Spin::No);
        runtime::engine().submit(self.send_job(Bytes::from_owner(chunk), slot));
        op
    }

    /// Ends the body: hyper finishes the request once the queued chunks are written.
    fn close(&self) {
        self.tx.lock().take();
    }

    /// Aborts the body (the user's iterator raised). The sender is kept, never dropped, so hyper
    /// cannot mistake the abort for the end of the body; the caller also cancels the request.
    fn abort(&self) {
        if let Some(tx) = self.tx.lock().as_ref() {
            let _ = tx.try_send(Err(std::io::Error::other(
                "the request body's iterator raised",
            )));
        }
    }
}
