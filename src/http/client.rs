//! `ClientCore`: one reqwest client (its connection pool) per Python client, rebuilt after fork.
//!
//! The Python `Client` and `AsyncClient` are thin faces over this one core; it owns the pool, the
//! connection limit and the cancellation token that closing the client fires.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use reqwest::header::HeaderMap;
use reqwest::Url;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::config::{Config, Live};
use super::conn_tasks::ConnTasks;
use super::request::{self, Delivery, Outgoing, Timeouts};
use super::retry::{self, Policy};
use super::tls::{load_identity, Tls, Verify};
use crate::body::decode::Bounds;
use crate::body::response::RawResponse;
use crate::bridge::driver::{self, Driver};
use crate::bridge::hub::Hub;
use crate::bridge::op::{self, Op, Spin};
use crate::bridge::runtime::{self, Job};
use crate::bridge::slot::{IntoPython, Slot};
use crate::error::{seconds, ErrorKind, RxError};

/// The longest `close()` waits for its aborted connection tasks to be dropped (an aborted task
/// is dropped at its worker's next turn: microseconds, unless the workers are stuck).
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A request checked and ready to run: what `ClientCore::prepare` makes of an `Outgoing`.
pub(crate) struct Prepared {
    pub(crate) request: reqwest::Request,
    pub(crate) timeouts: Timeouts,
    pub(crate) delivery: Delivery,
    pub(crate) policy: Option<Arc<Policy>>,
}

#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct ClientCore {
    config: Config,
    /// None once closed: dropping the reqwest client lets its pool close idle connections.
    live: Mutex<Option<Live>>,
    closed: CancellationToken,
    /// The last header list seen and its parsed form. Python never changes a header list in
    /// place (`Headers` installs a new list on every change), so the same list object means the
    /// same headers.
    /// NOTE: re-parsing the client's default headers was ~0.5 µs of every request.
    last_headers: Mutex<Option<(Py<PyList>, HeaderMap)>>,
    /// The last URL string seen and its parsed form (Python strings are immutable).
    /// NOTE: WHATWG parsing (with IDNA) was ~3% of a request's CPU when one URL is polled.
    last_url: Mutex<Option<(Py<PyString>, Url)>>,
    /// Where a blocking request runs when its thread waits alone: see `driven`.
    driven: Mutex<Option<Driven>>,
}

/// Where a blocking client's lone-thread requests (and the streams they return) run: a driver (a
/// current-thread runtime the calling thread drives) and the pool whose connections live on it.
/// NOTE: see `Driver`: a sequential blocking GET made two thread hand-overs on the engine.
struct Driven {
    driver: Arc<Driver>,
    live: Live,
}

impl ClientCore {
    fn url(&self, py: Python<'_>, url: &Bound<'_, PyString>) -> PyResult<Url> {
        if let Some((seen, parsed)) = self.last_url.lock().as_ref() {
            if seen.is(url) {
                return Ok(parsed.clone());
            }
        }
        let parsed = request::parse_url(py, &url.to_cow()?)?;
        *self.last_url.lock() = Some((url.clone().unbind(), parsed.clone()));
        Ok(parsed)
    }

    fn headers(&self, py: Python<'_>, list: &Bound<'_, PyList>) -> PyResult<HeaderMap> {
        if let Some((seen, map)) = self.last_headers.lock().as_ref() {
            if seen.is(list) {
                return Ok(map.clone());
            }
        }
        let map = request::parse_headers(py, list)?;
        *self.last_headers.lock() = Some((list.clone().unbind(), map.clone()));
        Ok(map)
    }

    /// The reqwest client of this fork generation; a forked child never reuses the parent's sockets.
    pub(crate) fn live(&self) -> Result<Live, RxError> {
        let generation = runtime::generation();
        let mut guard = self.live.lock();
        let Some(live) = guard.as_mut() else {
            return Err(RxError::client_closed());
        };
        if live.generation != generation {
            *live = self.config.build(generation)?;
        }
        Ok(live.clone())
    }

    /// Checks what a send call was given: the request, its timeouts, how its body is handed
    /// over and its retry policy.
    pub(crate) fn prepare(&self, py: Python<'_>, outgoing: Outgoing<'_>) -> PyResult<Prepared> {
        let Outgoing(method, url, headers, body, timeouts, delivery, retry) = outgoing;
        let url = self.url(py, &url)?;
        let headers = self.headers(py, &headers)?;
        let request = request::build(py, &method, url, headers, body.as_ref())?;
        Ok(Prepared {
            request,
            timeouts: Timeouts::from_args(timeouts)?,
            delivery,
            policy: retry::policy_of(retry),
        })
    }

    /// Fires when the client closes: every request and stream of the client watches it.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// A prepared request run under its client on `live`: retried under its policy, failed as
    /// closed when the client closes, and bounded by its total deadline.
    /// NOTE: boxed here, where it is made (~2.4 KB), so what runs it holds a pointer: captured by
    /// value in a job's task, it was copied into the task's state, the task into its box, and the
    /// future again into the awaiting state on the first poll (~7 KB of memmove per request;
    /// memmove was ~6% of an h2c request's CPU).
    fn work(
        &self,
        live: Live,
        prepared: Prepared,
    ) -> std::pin::Pin<
        Box<impl std::future::Future<Output = Result<RawResponse, RxError>> + Send + 'static>,
    > {
        let Prepared {
            request,
            timeouts,
            delivery: stream,
            policy,
        } = prepared;
        let closed = self.closed.clone();
        Box::pin(async move {
            let work = retry::run(policy, request, |request| {
                Box::pin(request::execute(
                    live.clone(),
                    request,
                    timeouts,
                    stream,
                    closed.clone(),
                ))
            });
            let outcome = tokio::select! {
                biased;
                _ = closed.cancelled() => Err(RxError::closed_in_flight()),
                r = work => r,
                () = request::until(timeouts.deadline) => Err(RxError::total_timeout()),
            };
            closed_wins(outcome, &closed)
        })
    }

    /// The job that runs a prepared request on the engine and completes its slot.
    fn job(&self, py: Python<'_>, prepared: Prepared, slot: Arc<Slot>) -> PyResult<Job> {
        let live = self.live().map_err(|e| e.into_pyerr(py))?;
        let work = self.work(live, prepared);
        let done = slot.clone();
        let task = Box::pin(async move { done.complete(work.await) });
        Ok(Job { task, slot })
    }

    /// As `close` for the driven pool. Its connections' tasks run only while a thread drives
    /// the driver, so the driver is shut down (every task dropped, every socket closed) unless a
    /// response still holds it; then it is driven until the aborted tasks are gone.
    fn close_driven(&self, py: Python<'_>) {
        let Some(driven) = self.driven.lock().take() else {
            return;
        };
        if driven.live.generation != runtime::generation() {
            std::mem::forget(driven); // a forked child's: its runtime is the parent's
            return;
        }
        let Driven { driver, live } = driven;
        let tasks = live.conn_tasks.abort_all();
        drop(live);
        match Arc::try_unwrap(driver) {
            Ok(driver) => py.detach(move || drop(driver)),
            Err(driver) => {
                py.detach(|| {
                    driver.wait(
                        async move {
                            ConnTasks::dropped(tasks).await;
                            // reqwest's connections (through a proxy) see their pool gone.
                            driver::catch_up().await;
                        },
                        CLOSE_WAIT,
                    )
                });
            }
        }
    }

    /// The driver of this fork generation and its pool, built on the first blocking request. Its
    /// pool is its own (its connections' tasks run on the driver), its connection limit the
    /// engine pool's: the two are one client's.
    fn driven(&self) -> Result<(Arc<Driver>, Live), RxError> {
        let generation = runtime::generation();
        let mut guard = self.driven.lock();
        if let Some(driven) = guard.take() {
            if driven.live.generation == generation {
                let pair = (driven.driver.clone(), driven.live.clone());
                *guard = Some(driven);
                return Ok(pair);
            }
            // A forked child's: its runtime is the parent's, so nothing of it is dropped.
            std::mem::forget(driven);
        }
        let shared = self.live()?;
        let mut live = self.config.build_parts(generation)?;
        live.permits = shared.permits.clone();
        live.h2_origins = shared.h2_origins.clone();
        let driver = Arc::new(Driver::new().map_err(|e| {
            RxError::new(
                ErrorKind::ConnectError,
                format!("cannot start a runtime: {e}"),
            )
        })?);
        live.driver = Some(driver.clone());
        let live = Live::new(live);
        *guard = Some(Driven {
            driver: driver.clone(),
            live: live.clone(),
        });
        Ok((driver, live))
    }
}

/// A request that failed because its client closed fails as closed: `close()` fires the token,
/// then aborts the connections, and a worker already polling the request can see the aborted
/// connection ("dispatch task is gone") before the token.
pub(crate) fn closed_wins<T>(
    outcome: Result<T, RxError>,
    closed: &CancellationToken,
) -> Result<T, RxError> {
    match outcome {
        Err(_) if closed.is_cancelled() => Err(RxError::closed_in_flight()),
        outcome => outcome,
    }
}

#[pymethods]
impl ClientCore {
    #[new]
    #[pyo3(signature = (*, http1, http2, verify, max_connections, max_keepalive, keepalive_expiry,
                        connect_timeout, proxy, trust_env, ca_der=None, check_hostname=true, cert=None,
                        max_headers=1000, max_decompressed_size=None,
                        max_decompression_ratio=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        http1: bool,
        http2: bool,
        verify: Option<String>,
        max_connections: Option<usize>,
        max_keepalive: Option<usize>,
        keepalive_expiry: Option<f64>,
        connect_timeout: Option<f64>,
        proxy: Option<String>,
        trust_env: bool,
        ca_der: Option<Vec<Vec<u8>>>,
        check_hostname: bool,
        cert: Option<(String, Option<String>)>,
        max_headers: usize,
        max_decompressed_size: Option<u64>,
        max_decompression_ratio: Option<f64>,
    ) -> PyResult<Self> {
        if !http1 && !http2 {
            return Err(PyValueError::new_err(
                "at least one of http1 or http2 must be enabled",
            ));
        }
        let verify = Verify::from_args(verify.as_deref(), ca_der)?;
        let identity = cert
            .map(|(cert, key)| load_identity(&cert, key.as_deref()))
            .transpose()?;
        if max_connections.is_some_and(|n| n == 0 || n > Semaphore::MAX_PERMITS) {
            return Err(PyValueError::new_err(format!(
                "max_connections must be between 1 and {}",
                Semaphore::MAX_PERMITS
            )));
        }
        let config = Config {
            http1,
            http2,
            tls: Tls::new(&verify, check_hostname, identity, http1, http2)
                .map_err(|e| PyValueError::new_err(format!("invalid TLS settings: {e}")))?,
            max_connections,
            max_keepalive,
            keepalive_expiry: seconds(keepalive_expiry, "duration")?,
            connect_timeout: seconds(connect_timeout, "duration")?,
            proxy,
            trust_env,
            max_headers,
            decode_bounds: Bounds {
                max_size: max_decompressed_size,
                max_ratio: max_decompression_ratio,
            },
        };
        let live = config
            .build(runtime::generation())
            .map_err(|e| e.into_pyerr(py))?;
        Ok(Self {
            config,
            live: Mutex::new(Some(live)),
            closed: CancellationToken::new(),
            last_headers: Mutex::new(None),
            last_url: Mutex::new(None),
            driven: Mutex::new(None),
        })
    }

    /// Sends `outgoing` and blocks this thread (GIL released, Ctrl-C honoured) until the
    /// response is in.
    fn send(&self, py: Python<'_>, outgoing: Outgoing<'_>) -> PyResult<Py<PyAny>> {
        let prepared = self.prepare(py, outgoing)?;
        if driver::driving_threads() + op::blocked_threads() == 0 && driver::can_drive() {
            // No other thread waits on a request: this thread drives it (and, for a streamed
            // body, each read of it); threads that wait together share the engine.
            // NOTE: 8 threads on one core driving one driver: 24,900-25,300 req/s, against
            // 27,400-28,100 on the engine (tokio hands the driver's core from thread to thread).
            let (driver, live) = self.driven().map_err(|e| e.into_pyerr(py))?;
            let work = self.work(live, prepared);
            let outcome = driver.drive(py, async move {
                driver::catch_up().await;
                work.await
            })?;
            return match outcome {
                Ok(response) => Box::new(response).into_python(py),
                Err(err) => Err(err.into_pyerr(py)),
            };
        }
        let (op, slot) = Op::for_hub(None, Spin::Yes);
        let job = self.job(py, prepared, slot)?;
        op.run(py, job)
    }

    /// Sends `outgoing` and returns its Op at once. With a hub, the hub reports the Op's id when
    /// the response is in; without one, a thread waits with `Op.wait()` (after feeding a
    /// streamed body).
    fn submit(&self, py: Python<'_>, hub: Option<&Hub>, outgoing: Outgoing<'_>) -> PyResult<Op> {
        let prepared = self.prepare(py, outgoing)?;
        let (op, slot) = Op::for_hub(hub, Spin::Yes);
        let job = self.job(py, prepared, slot)?;
        if hub.is_some() {
            runtime::engine().submit_or_hold(job);
        } else {
            runtime::engine().submit(job); // a thread waits for it: never held
        }
        Ok(op)
    }

    /// Aborts every in-flight request and stream of this client and closes its connections: the
    /// tasks of its direct connections are aborted and waited for (briefly, the GIL released),
    /// so their sockets are closed and the bodies they were sending released when this returns.
    fn close(&self, py: Python<'_>) {
        self.closed.cancel();
        self.close_driven(py);
        let Some(live) = self.live.lock().take() else {
            return;
        };
        let tasks = live.conn_tasks.abort_all();
        let generation = live.generation;
        drop(live);
        // A forked child's tasks belong to the parent's runtime, which runs no more.
        if tasks.is_empty() || generation != runtime::generation() {
            return;
        }
        py.detach(|| runtime::engine().wait(ConnTasks::dropped(tasks), CLOSE_WAIT));
    }

    #[getter]
    fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }
}
