//! A streamed response body: one tokio task per response feeds a bounded channel.
//!
//! When the channel is full the task stops reading, so TCP (or HTTP/2) flow control slows the server
//! instead of memory growing. Python takes already-buffered chunks without any thread hop
//! (`next_nowait`) and parks on its hub or condvar only when the buffer is empty.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::IntoPyObjectExt;
use tokio::sync::{mpsc, Mutex, OwnedSemaphorePermit};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use super::incoming::{poll_once, Incoming};
use super::pybytes::join_bytes;
use crate::bridge::driver::Driver;
use crate::bridge::hub::Hub;
use crate::bridge::op::{Op, Spin};
use crate::bridge::slot::{IntoPython, Slot};
use crate::error::RxError;

/// NOTE: hyper hands over reads of 64 KiB to a few hundred KiB, so 16 chunks bound a stream's
/// buffer to a few MiB while keeping the socket busy between two Python reads (16 rather than 8:
/// room for a `LINGER_BYTES` batch of 64 KiB reads; 32 x 64 MiB downloads took 0.49-0.51 s of CPU
/// instead of 0.53-0.56).
const BUFFERED_CHUNKS: usize = 16;

/// NOTE: while a body flows in large reads, the reader is woken once per `LINGER_BYTES` (or when
/// the buffer is full, or `LINGER` after the socket ran dry) instead of each time the pump catches
/// up with the socket: a 64 MiB download woke Python ~700 times at ~64 KiB each, and lingering cut
/// the client's CPU time per download by a fifth (0.62 -> ~0.50 s for 32 x 64 MiB). Small reads
/// (an SSE event, a trickle) wake it at once, so event latency is unchanged.
const LINGER_BYTES: usize = 1 << 20;
const BULK_READ: usize = 32 << 10;
const LINGER: Duration = Duration::from_millis(1);

type ChunkResult = Result<Bytes, RxError>;
type Receiver = Arc<Mutex<mpsc::Receiver<ChunkResult>>>;
/// The one operation parked until the pump has something new (a chunk, an error, the end).
type Waiting = Arc<parking_lot::Mutex<Option<Arc<Slot>>>>;

#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct BodyStream {
    rx: Receiver,
    pump: AbortHandle,
    pending: Arc<parking_lot::Mutex<Option<RxError>>>,
    waiting: Waiting,
    /// The client's connection-limit permit: held until the body is read to its end (or fails)
    /// or the stream is closed, as httpx holds a connection until then, so `max_connections`
    /// also bounds responses still open (a request beyond it waits, or raises PoolTimeout).
    permit: parking_lot::Mutex<Option<OwnedSemaphorePermit>>,
    /// The driver the pump runs on (a blocking client's stream): a read drives it.
    driver: Option<Arc<Driver>>,
    /// The most bytes of buffered chunks one read joins (`COALESCE_BYTES` unless `set_batch`).
    batch: AtomicUsize,
}

/// What a parked reader is woken with: `next_nowait` has something to return (a chunk, an error
/// or the end). Python sees True.
struct News;

impl IntoPython for News {
    fn into_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        true.into_py_any(py)
    }
}

fn wake(waiting: &Waiting) {
    let parked = waiting.lock().take();
    if let Some(slot) = parked {
        slot.complete(Ok(News));
    }
}

/// The pump's end of the channel. Dropped when the pump finishes or is aborted (closed, garbage
/// collected, cancelled): the channel closes first, then a parked reader is woken to see it.
struct PumpEnd {
    tx: Option<mpsc::Sender<ChunkResult>>,
    waiting: Waiting,
}

impl PumpEnd {
    /// Queues `item` without waking the reader; the reader is woken when the pump would wait
    /// (`wake_if_buffered`), when the buffer is full, or when the pump ends.
    /// NOTE: waking per chunk ping-ponged the core between the pump and Python once per hyper read;
    /// a reader woken when the socket runs dry takes everything read so far in one go.
    async fn send(&self, item: ChunkResult) -> bool {
        let Some(tx) = self.tx.as_ref() else {
            return false;
        };
        match tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(item)) => {
                wake(&self.waiting);
                tx.send(item).await.is_ok()
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Wakes a parked reader if chunks wait for it.
    fn wake_if_buffered(&self) {
        if let Some(tx) = self.tx.as_ref() {
            if tx.capacity() < tx.max_capacity() {
                wake(&self.waiting);
            }
        }
    }
}

impl Drop for PumpEnd {
    fn drop(&mut self) {
        self.tx.take();
        wake(&self.waiting);
    }
}

/// Starts the task that moves `response`'s body into the channel; must run inside the runtime.
/// NOTE: the pump wakes a parked reader itself, so a chunk costs no task spawn and no extra
/// thread wake-up (a task per chunk capped streamed downloads near 2,600 MiB/s).
pub(crate) fn spawn_pump(
    response: Incoming,
    read_timeout: Option<Duration>,
    permit: Option<OwnedSemaphorePermit>,
    closed: CancellationToken,
    already: Already,
    deadline: Option<tokio::time::Instant>,
    driver: Option<Arc<Driver>>,
) -> BodyStream {
    let (tx, rx) = mpsc::channel(BUFFERED_CHUNKS);
    let waiting: Waiting = Arc::default();
    let end = PumpEnd {
        tx: Some(tx),
        waiting: waiting.clone(),
    };
    let task = tokio::spawn(async move {
        tokio::select! {
            biased;
            _ = closed.cancelled() => {
                end.send(Err(RxError::closed_in_flight())).await;
            }
            () = crate::http::request::until(deadline) => {
                end.send(Err(RxError::total_timeout())).await;
            }
            _ = pump(response, read_timeout, &end, already) => {}
        }
        drop(end);
    });
    BodyStream {
        rx: Arc::new(Mutex::new(rx)),
        pump: task.abort_handle(),
        pending: Arc::default(),
        waiting,
        permit: parking_lot::Mutex::new(permit),
        driver,
        batch: AtomicUsize::new(COALESCE_BYTES),
    }
}

/// What was read of a body before its pump started: chunks, and the error that stopped them.
#[derive(Default)]
pub(crate) struct Already {
    pub(crate) chunks: Vec<Bytes>,
    pub(crate) failed: Option<RxError>,
}

/// NOTE: a body already complete when its head arrives is handed over whole, up to this size
/// (hyper has read it with the head): no pump task and no channel for a 100-byte answer.
const READY_MAX: usize = 1 << 20;

/// Reads what of `response`'s body is already in, without waiting. `Ok(chunks)`: the whole body;
/// `Err(already)`: the body goes on (or failed), and these chunks came first.
pub(crate) async fn ready_body(response: &mut Incoming) -> Result<Vec<Bytes>, Already> {
    let mut already = Already::default();
    let mut size = 0;
    loop {
        let chunk = std::pin::pin!(response.chunk());
        match poll_once(chunk).await {
            Poll::Ready(Ok(Some(piece))) => {
                size += piece.len();
                if !piece.is_empty() {
                    already.chunks.push(piece);
                }
                if size > READY_MAX {
                    return Err(already);
                }
            }
            Poll::Ready(Ok(None)) => return Ok(already.chunks),
            Poll::Ready(Err(err)) => {
                already.failed = Some(err);
                return Err(already);
            }
            Poll::Pending => return Err(already),
        }
    }
}

async fn pump(
    mut response: Incoming,
    read_timeout: Option<Duration>,
    end: &PumpEnd,
    already: Already,
) {
    for chunk in already.chunks {
        if !end.send(Ok(chunk)).await {
            return;
        }
    }
    if let Some(err) = already.failed {
        end.send(Err(err)).await;
        return;
    }
    let mut unwoken = 0; // bytes queued since the reader was last woken
    let mut bulk = false; // the last read was a large one: the body is flowing
    let mut linger: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        let mut read = std::pin::pin!(response.read(read_timeout));
        let ready = poll_once(read.as_mut()).await;
        let wake_now = match ready {
            Poll::Ready(_) => false,
            Poll::Pending => unwoken > 0 && (!bulk || unwoken >= LINGER_BYTES),
        };
        if wake_now {
            unwoken = 0;
            linger = None;
            end.wake_if_buffered();
        }
        let result = match ready {
            Poll::Ready(result) => result,
            Poll::Pending if unwoken == 0 => read.await,
            Poll::Pending => {
                // One timer per linger period, not per read.
                let timer = linger.get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
                let early = tokio::select! {
                    biased;
                    result = &mut read => Some(result),
                    _ = timer.as_mut() => None,
                };
                match early {
                    Some(result) => result,
                    None => {
                        unwoken = 0;
                        linger = None;
                        end.wake_if_buffered();
                        read.await
                    }
                }
            }
        };
        match result {
            Ok(Some(chunk)) if chunk.is_empty() => continue,
            Ok(Some(chunk)) => {
                bulk = chunk.len() >= BULK_READ;
                unwoken += chunk.len();
                if !end.send(Ok(chunk)).await {
                    return; // the reader is gone: dropping `response` closes the connection
                }
            }
            Ok(None) => break,
            Err(err) => {
                end.send(Err(err)).await;
                return;
            }
        }
    }
    // The body is complete: let hyper hand the connection back to its pool before the reader
    // hears of the end (it may send its next request at once, and a connection not back yet
    // would make that request open another one).
    drop(response);
    for _ in 0..HANDBACK_YIELDS {
        tokio::task::yield_now().await;
    }
}

/// NOTE: hyper returns a finished HTTP/1.1 connection to its pool two task hops after the body's
/// end (its connection task, then the pool's idle watcher); yielding this often first let a
/// request sent right after a stream's end reuse the connection instead of racing a new connect.
const HANDBACK_YIELDS: usize = 3;

/// NOTE: chunks already buffered are handed over together (up to this many bytes), so a fast
/// stream costs Python one iteration per batch instead of one per hyper read.
const COALESCE_BYTES: usize = 4 << 20;

/// Takes `first` and whatever else is already buffered, up to `batch` bytes. An error behind
/// buffered chunks waits in `pending` for the next call, so no data is lost before it.
fn gather(
    first: ChunkResult,
    rx: &mut mpsc::Receiver<ChunkResult>,
    pending: &parking_lot::Mutex<Option<RxError>>,
    batch: usize,
) -> Result<Vec<Bytes>, RxError> {
    let mut chunks = vec![first?];
    let mut size = chunks[0].len();
    while size < batch {
        match rx.try_recv() {
            Ok(Ok(chunk)) => {
                size += chunk.len();
                chunks.push(chunk);
            }
            Ok(Err(err)) => {
                *pending.lock() = Some(err);
                break;
            }
            Err(_) => break,
        }
    }
    Ok(chunks)
}

/// The longest a blocking client's `close()` of a stream drives its driver for the aborted pump
/// to be dropped (one turn, unless another thread holds the driver's core).
const CLOSE_DRIVE: Duration = Duration::from_millis(100);

impl BodyStream {
    /// `next` for a stream whose pump runs on a driver: this thread drives it until chunks, an
    /// error or the end come.
    fn next_driven(&self, py: Python<'_>, driver: &Driver) -> PyResult<Py<PyBytes>> {
        if let Some(chunk) = self.next_nowait(py)? {
            return Ok(chunk);
        }
        let rx = self.rx.clone();
        let pending = self.pending.clone();
        let batch = self.batch.load(Ordering::Relaxed);
        let got = driver.drive(py, async move {
            let mut rx = rx.lock().await;
            let first = rx.recv().await?;
            Some(gather(first, &mut rx, &pending, batch))
        })?;
        match got {
            Some(Ok(chunks)) => Ok(join_bytes(py, &chunks)?.unbind()),
            Some(Err(err)) => {
                self.release();
                Err(err.into_pyerr(py))
            }
            None => {
                self.release();
                Ok(PyBytes::new(py, b"").unbind())
            }
        }
    }

    /// Gives the connection-limit permit back (the body ended, failed or was closed).
    fn release(&self) {
        self.permit.lock().take();
    }

    /// Parks `slot` until the pump has news; completes it at once if there already is some.
    fn park(&self, slot: &Arc<Slot>) {
        *self.waiting.lock() = Some(slot.clone());
        let ready = self.pending.lock().is_some()
            || match self.rx.try_lock() {
                Ok(rx) => !rx.is_empty() || rx.is_closed(),
                Err(_) => true,
            };
        if ready {
            wake(&self.waiting);
        }
    }
}

#[pymethods]
impl BodyStream {
    /// The chunks already buffered (as one bytes), `b""` at the end of the body, or None when the
    /// caller must wait.
    fn next_nowait(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        if let Some(err) = self.pending.lock().take() {
            self.release();
            return Err(err.into_pyerr(py));
        }
        let Ok(mut rx) = self.rx.try_lock() else {
            return Ok(None);
        };
        match rx.try_recv() {
            Ok(first) => {
                let batch = self.batch.load(Ordering::Relaxed);
                let chunks = gather(first, &mut rx, &self.pending, batch).map_err(|e| {
                    self.release();
                    e.into_pyerr(py)
                })?;
                Ok(Some(join_bytes(py, &chunks)?.unbind()))
            }
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                self.release();
                Ok(Some(PyBytes::new(py, b"").unbind()))
            }
        }
    }

    /// From now on a read stops joining buffered chunks once it holds `limit` bytes.
    /// NOTE: the text iterators (`iter_lines`, `aiter_sse`, ...) ask for 256 KiB: a batch then
    /// stays in cache while it is decoded and split, and its bytes come from reused memory rather
    /// than fresh pages. `sse_lines`, 3 interleaved pairs: 1.72-1.79M -> 1.90-1.91M events/s, peak
    /// RSS 67-70 -> 46 MiB. Plain downloads keep 4 MiB: at 256 KiB `download` fell from
    /// 2,620-2,970 to 2,200-2,620 MiB/s (more wake-ups, 0.77 -> 0.89 s of CPU).
    fn set_batch(&self, limit: usize) {
        self.batch.store(limit.max(1), Ordering::Relaxed);
    }

    /// An Op that completes when `next_nowait` has something to return (a chunk, an error or the
    /// end); the hub reports it. Then call `next_nowait` again.
    fn wait_next(&self, hub: &Hub) -> PyResult<Op> {
        if self.driver.is_some() {
            return Err(PyRuntimeError::new_err(
                "a blocking client's stream cannot be read from an event loop",
            ));
        }
        let (op, slot) = Op::for_hub(Some(hub), Spin::No);
        self.park(&slot);
        Ok(op)
    }

    /// Blocks this thread (GIL released, signals checked) for the next chunks; `b""` at the end.
    fn next(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        if let Some(driver) = &self.driver {
            return self.next_driven(py, driver);
        }
        loop {
            if let Some(chunk) = self.next_nowait(py)? {
                return Ok(chunk);
            }
            let (op, slot) = Op::for_hub(None, Spin::No);
            self.park(&slot);
            op.wait(py)?;
        }
    }

    /// Stops the transfer; an HTTP/1.1 connection with an unread body is closed, not pooled.
    fn close(&self, py: Python<'_>) {
        self.pump.abort();
        self.release();
        wake(&self.waiting);
        if let Some(driver) = &self.driver {
            // The aborted pump (and the connection it holds) is dropped by the next drive: now.
            let pump = self.pump.clone();
            py.detach(|| {
                driver.wait(
                    async move {
                        while !pump.is_finished() {
                            tokio::task::yield_now().await;
                        }
                    },
                    CLOSE_DRIVE,
                )
            });
        }
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(len: usize) -> ChunkResult {
        Ok(Bytes::from(vec![b'x'; len]))
    }

    /// Buffered chunks of `lens`, then what each `gather` with `batch` took, in lengths.
    fn batches(lens: &[usize], batch: usize) -> Vec<Vec<usize>> {
        let (tx, mut rx) = mpsc::channel(lens.len().max(1));
        for &len in lens {
            tx.try_send(chunk(len)).unwrap();
        }
        let pending = parking_lot::Mutex::new(None);
        let mut taken = Vec::new();
        while let Ok(first) = rx.try_recv() {
            let chunks = gather(first, &mut rx, &pending, batch).unwrap();
            taken.push(chunks.iter().map(Bytes::len).collect());
        }
        taken
    }

    #[test]
    fn gather_joins_buffered_chunks_up_to_the_batch() {
        let k = 1 << 10;
        assert_eq!(
            batches(&[100 * k, 100 * k, 100 * k, 100 * k], 256 * k),
            vec![vec![100 * k, 100 * k, 100 * k], vec![100 * k]]
        );
        assert_eq!(
            batches(&[100 * k; 4], COALESCE_BYTES),
            vec![vec![100 * k; 4]]
        );
        // A chunk larger than the batch still comes whole, on its own.
        assert_eq!(
            batches(&[400 * k, 10 * k], 256 * k),
            vec![vec![400 * k], vec![10 * k]]
        );
    }

    #[test]
    fn gather_leaves_an_error_behind_the_chunks_for_the_next_read() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.try_send(chunk(10)).unwrap();
        tx.try_send(Err(RxError::closed_in_flight())).unwrap();
        let pending = parking_lot::Mutex::new(None);
        let first = rx.try_recv().unwrap();
        let chunks = gather(first, &mut rx, &pending, COALESCE_BYTES).unwrap();
        assert_eq!(chunks.len(), 1);
        assert!(pending.lock().is_some());
    }
}
