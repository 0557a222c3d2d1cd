//! A streamed request body: Python pushes chunks into a bounded channel that hyper drains.
//!
//! The channel holds a few chunks, so memory stays flat however large the upload; a full channel
//! makes the pusher wait (GIL released, or on its event loop's hub), bounded by the write timeout.
//! An exception in the user's iterator aborts the body, and with it the request.

use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use tokio::sync::mpsc;

use crate::bridge::hub::{waiter_for, Hub};
use crate::bridge::op::{wait_slot, Op};
use crate::bridge::slot::{Slot, Waiter};
use crate::error::{ErrorKind, RxError};
use crate::response::Payload;
use crate::runtime::{self, Job};

/// NOTE: four chunks in flight keep hyper's writes busy between two Python pushes while holding at
/// most four of the caller's chunks (64 KiB each for files) in memory.
const QUEUED_CHUNKS: usize = 4;

type Item = Result<Bytes, std::io::Error>;

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

    /// The job that waits for room in the channel, then queues `chunk`. Completes with
    /// `Chunk(Some(_))` when queued and `Chunk(None)` when the request no longer reads its body.
    fn send_job(&self, chunk: Bytes, waiter: Waiter) -> Job {
        let slot = Slot::new(waiter);
        let done = slot.clone();
        let tx = self.sender();
        let limit = self.write_timeout;
        let task = Box::pin(async move {
            let outcome = match tx {
                None => Ok(Payload::Flag(false)),
                Some(tx) => {
                    let send = tx.send(Ok(chunk));
                    let sent = match limit {
                        Some(limit) => tokio::time::timeout(limit, send).await.map_err(|_| {
                            RxError::new(
                                ErrorKind::WriteTimeout,
                                "timed out sending the request body",
                            )
                        }),
                        None => Ok(send.await),
                    };
                    sent.map(|r| Payload::Flag(r.is_ok()))
                }
            };
            done.complete(outcome);
        });
        Job { task, slot }
    }
}

fn accepted(py: Python<'_>, outcome: Result<Payload, RxError>) -> PyResult<bool> {
    match outcome {
        Ok(Payload::Flag(sent)) => Ok(sent),
        Ok(_) => Ok(false),
        Err(err) => Err(err.into_pyerr(py)),
    }
}

#[pymethods]
impl BodySender {
    #[new]
    #[pyo3(signature = (write_timeout=None))]
    fn new(write_timeout: Option<f64>) -> PyResult<Self> {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let write_timeout = write_timeout
            .map(|s| {
                Duration::try_from_secs_f64(s).map_err(|_| {
                    pyo3::exceptions::PyValueError::new_err(format!("invalid timeout: {s}"))
                })
            })
            .transpose()?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(Some(rx)),
            write_timeout,
        })
    }

    /// Queues `chunk` if there is room now. None: full (wait with `send_blocking`/`submit_send`);
    /// False: the request stopped reading its body (it finished or failed); True: queued.
    fn try_send(&self, chunk: PyBackedBytes) -> Option<bool> {
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
    fn send_blocking(&self, py: Python<'_>, chunk: PyBackedBytes) -> PyResult<bool> {
        let job = self.send_job(Bytes::from_owner(chunk), Waiter::Thread);
        let slot = job.slot.clone();
        // No yields first: the request task that drains the channel needs this core.
        let outcome = wait_slot(py, &slot, Some(job), false)?;
        accepted(py, outcome)
    }

    /// As `send_blocking`, for an event loop: the Op's result is True (queued) or False.
    fn submit_send(&self, hub: &Hub, chunk: PyBackedBytes) -> Op {
        let id = crate::client::next_op_id();
        let job = self.send_job(Bytes::from_owner(chunk), waiter_for(Some(hub), id));
        let slot = job.slot.clone();
        runtime::engine().submit(job);
        Op::without_spin(slot, id)
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
