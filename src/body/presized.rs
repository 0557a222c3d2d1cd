//! Whole bodies written into the Python `bytes` that `Response.content` will be.
//!
//! NOTE: a buffered body used to be joined on the Python thread after its last chunk arrived:
//! for the 64 MiB `download_buffered` row that was ~10 ms of ~35 ms per body (faulting in fresh
//! memory and copying chunks long gone from cache), with the chunks and the bytes both alive
//! (2x the body in RSS). A large body whose length the head announces is now copied into its
//! `bytes` chunk by chunk on the tokio thread that received it, while the next chunk is on the
//! wire; the Python thread gets the finished object.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pyo3::prelude::*;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

use super::incoming::Incoming;
use super::pybytes::BytesBuffer;
use super::response::Body;
use crate::error::RxError;

/// Bodies at least this long (by Content-Length) are read into place. NOTE: at 1 MiB (the
/// referee's `json` body) reading into place and joining measured the same (221 vs 223 docs/s,
/// nine alternating runs), so the blocking-thread handoff is kept to bodies where the join shows.
pub(crate) const PRESIZED_MIN: u64 = 4 << 20;
/// A larger announced length is not allocated up front: a server's header alone must not reserve
/// more address space than this (the body then arrives as chunks, joined once).
pub(crate) const PRESIZED_MAX: u64 = 1 << 30;

/// Set by `_before_exit` (an `atexit` hook, so before the interpreter starts finalizing): from
/// then on no tokio thread attaches. `try_attach` alone cannot tell a finalizing interpreter
/// apart on the abi3 builds (its check needs 3.13), and a thread attaching then would hang.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Allocations past the `EXITING` check, possibly attached right now.
static ATTACHING: AtomicUsize = AtomicUsize::new(0);
/// Bodies handed to Python as read into place (for the tests: which path a body took).
static PRESIZED_BODIES: AtomicU64 = AtomicU64::new(0);

/// Allocates on a blocking thread: waiting there for the GIL (up to a switch interval while
/// Python runs) must not stall a tokio worker. None if the interpreter is gone or out of memory;
/// the body is then kept as chunks and joined on the Python thread as before.
fn allocate(capacity: usize) -> JoinHandle<Option<BytesBuffer>> {
    tokio::task::spawn_blocking(move || {
        // SeqCst on both sides: either `_before_exit` sees this count or this sees its flag.
        ATTACHING.fetch_add(1, Ordering::SeqCst);
        let buffer = if EXITING.load(Ordering::SeqCst) {
            None
        } else {
            Python::try_attach(|py| BytesBuffer::new_uninit(py, capacity).ok()).flatten()
        };
        ATTACHING.fetch_sub(1, Ordering::SeqCst);
        buffer
    })
}

/// Registered with `atexit`: stops new allocations and waits (GIL released, at most a second)
/// for those already attaching.
#[pyfunction]
pub(crate) fn _before_exit(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs(1);
        while ATTACHING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// How many bodies were read into place so far in this process.
#[pyfunction]
pub(crate) fn _presized_bodies() -> u64 {
    PRESIZED_BODIES.load(Ordering::Relaxed)
}

/// Where the body is going: the chunks so far until the `bytes` exists, then the `bytes`.
enum Sink {
    Waiting(JoinHandle<Option<BytesBuffer>>),
    Filling(BytesBuffer),
    Chunks,
}

/// Reads a body announced as `length` bytes. The `bytes` is allocated while the first chunks
/// arrive; they wait in `pending` until it exists. If the body is complete first (the GIL was
/// busy), the pool `permit` is released before waiting for it: Python needs the GIL to take the
/// response anyway, so waiting costs no latency, but it must not hold a connection slot. A body
/// longer or shorter than announced (hyper rejects both, so this is defence) is returned as chunks.
pub(crate) async fn read_presized(
    response: &mut Incoming,
    length: usize,
    read: Option<Duration>,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Body, RxError> {
    let mut sink = Sink::Waiting(allocate(length));
    let mut pending: Vec<Bytes> = Vec::new();
    while let Some(chunk) = response.read(read).await? {
        if !chunk.is_empty() {
            pending.push(chunk);
        }
        if matches!(&sink, Sink::Waiting(handle) if handle.is_finished()) {
            sink = settle(sink).await;
        }
        sink = drain(sink, &mut pending);
    }
    drop(permit);
    sink = settle(sink).await;
    Ok(match drain(sink, &mut pending) {
        Sink::Filling(buffer) => match buffer.finish() {
            Ok(obj) => {
                PRESIZED_BODIES.fetch_add(1, Ordering::Relaxed);
                Body::Whole(obj)
            }
            Err(short) => Body::Buffered(vec![short.written()]),
        },
        _ => Body::Buffered(pending),
    })
}

async fn settle(sink: Sink) -> Sink {
    match sink {
        Sink::Waiting(handle) => match handle.await {
            Ok(Some(buffer)) => Sink::Filling(buffer),
            _ => Sink::Chunks,
        },
        other => other,
    }
}

/// Moves the pending chunks into the `bytes`, if it exists; spills it back to chunks if they do
/// not fit.
fn drain(sink: Sink, pending: &mut Vec<Bytes>) -> Sink {
    let Sink::Filling(mut buffer) = sink else {
        return sink;
    };
    for (i, chunk) in pending.iter().enumerate() {
        if !buffer.extend(chunk) {
            pending.drain(..i);
            pending.insert(0, buffer.written());
            return Sink::Chunks;
        }
    }
    pending.clear();
    Sink::Filling(buffer)
}
