//! `ClientCore`: one reqwest client (its connection pool) per Python client, rebuilt after fork.
//!
//! The Python `Client` and `AsyncClient` are thin faces over this one core; it owns the pool, the
//! connection limit and the cancellation token that closing the client fires.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use reqwest::header::HeaderMap;
use reqwest::Url;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::bridge::hub::{waiter_for, Hub};
use crate::bridge::op::{run_blocking, Op};
use crate::bridge::slot::{Slot, Waiter};
use crate::error::{ErrorKind, RxError};
use crate::phases::{ConnectDeadline, ConnectDeadlineLayer};
use crate::request::{self, Delivery, TimeoutArgs, Timeouts};
use crate::response::{outcome_into_py, Payload};
use crate::retry::{self, Policy, Retry};
use crate::runtime::{self, Job};

static OP_IDS: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_op_id() -> u64 {
    OP_IDS.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn closed_error() -> RxError {
    RxError::new(
        ErrorKind::ReadError,
        "the client was closed while the request was in flight",
    )
}

/// Settings fixed at construction, kept to rebuild the reqwest client in a forked child.
#[derive(Clone)]
struct Config {
    http1: bool,
    http2: bool,
    verify: Verify,
    check_hostname: bool,
    identity: Option<reqwest::Identity>,
    max_connections: Option<usize>,
    max_keepalive: Option<usize>,
    keepalive_expiry: Option<Duration>,
    connect_timeout: Option<Duration>,
    proxy: Option<String>,
    trust_env: bool,
}

#[derive(Clone)]
enum Verify {
    Off,
    System,
    Bundle(Vec<reqwest::Certificate>),
}

/// hyper-util's client over plain TCP: what reqwest runs underneath, without reqwest's layers.
pub(crate) type PlainClient = hyper_util::client::legacy::Client<
    ConnectDeadline<hyper_util::client::legacy::connect::HttpConnector>,
    reqwest::Body,
>;

/// What one fork generation uses: the clients and the connection-limit semaphore.
#[derive(Clone)]
pub(crate) struct Live {
    generation: u64,
    pub(crate) client: reqwest::Client,
    /// For http:// URLs when no proxy can apply and HTTP/1.1 is allowed.
    /// NOTE: reqwest parses every request's URL twice more (its redirect layer, then the
    /// response URL) and clones its service stack per request; skipping it for plain HTTP took
    /// the 64-in-flight map benchmark from ~62k to ~75k req/s (client pinned to one core).
    pub(crate) plain: Option<PlainClient>,
    pub(crate) permits: Option<Arc<Semaphore>>,
}

fn tls_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // ring needs no C toolchain beyond cc; it is installed once per process for reqwest.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Config {
    fn build(&self, generation: u64) -> Result<Live, RxError> {
        tls_provider();
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .pool_max_idle_per_host(self.max_keepalive.unwrap_or(usize::MAX))
            .pool_idle_timeout(self.keepalive_expiry)
            .tcp_nodelay(true);
        // Per request (see phases.rs); the client's own connect timeout when a request has none.
        b = b.connector_layer(ConnectDeadlineLayer {
            fallback: self.connect_timeout,
        });
        b = match (self.http1, self.http2) {
            (false, true) => b.http2_prior_knowledge(),
            (true, false) => b.http1_only(),
            _ => b,
        };
        b = match &self.verify {
            Verify::Off => b.tls_danger_accept_invalid_certs(true),
            Verify::System => b,
            Verify::Bundle(certs) => b.tls_certs_only(certs.iter().cloned()),
        };
        if !self.check_hostname {
            b = b.tls_danger_accept_invalid_hostnames(true);
        }
        if let Some(identity) = &self.identity {
            b = b.identity(identity.clone());
        }
        if let Some(proxy) = &self.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str()).map_err(|e| {
                RxError::new(ErrorKind::ProxyError, format!("invalid proxy URL: {e}"))
            })?;
            b = b.proxy(proxy);
        } else if !self.trust_env {
            b = b.no_proxy();
        }
        let client = b.build().map_err(|e| RxError::from_reqwest(&e))?;
        Ok(Live {
            generation,
            client,
            plain: self.plain_client(),
            permits: self.max_connections.map(|n| Arc::new(Semaphore::new(n))),
        })
    }

    /// The plain-HTTP client, unless a proxy may apply to http:// or HTTP/1.1 is off.
    fn plain_client(&self) -> Option<PlainClient> {
        let env_proxy = || {
            ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
                .iter()
                .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        };
        if !self.http1 || self.proxy.is_some() || (self.trust_env && env_proxy()) {
            return None;
        }
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        // reqwest's TCP keepalive and user-timeout defaults, so both clients notice a dead peer alike.
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .timer(hyper_util::rt::TokioTimer::new())
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .pool_idle_timeout(self.keepalive_expiry)
                .pool_max_idle_per_host(self.max_keepalive.unwrap_or(usize::MAX))
                .build(ConnectDeadline::new(http, self.connect_timeout));
        Some(client)
    }
}

/// A client certificate and its private key, both PEM (one file holding both, or two files).
fn load_identity(cert: &str, key: Option<&str>) -> PyResult<reqwest::Identity> {
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| PyOSError::new_err(format!("could not read {path:?}: {e}")))
    };
    let mut pem = read(cert)?;
    if let Some(key) = key {
        pem.push(b'\n');
        pem.extend(read(key)?);
    }
    reqwest::Identity::from_pem(&pem).map_err(|e| {
        PyValueError::new_err(format!("invalid client certificate or key {cert:?}: {e}"))
    })
}

fn load_bundle(path: &str) -> PyResult<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .map_err(|e| PyOSError::new_err(format!("could not read CA bundle {path:?}: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| PyValueError::new_err(format!("invalid CA bundle {path:?}: {e}")))?;
    if certs.is_empty() {
        return Err(PyValueError::new_err(format!(
            "no certificate in CA bundle {path:?}"
        )));
    }
    Ok(certs)
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
            return Err(RxError::new(ErrorKind::ReadError, "the client is closed"));
        };
        if live.generation != generation {
            *live = self.config.build(generation)?;
        }
        Ok(live.clone())
    }

    /// Checks what a send call was given: the request and its timeouts.
    pub(crate) fn request(
        &self,
        py: Python<'_>,
        method: &str,
        url: &Bound<'_, PyString>,
        headers: &Bound<'_, PyList>,
        body: Option<&Bound<'_, PyAny>>,
        timeouts: TimeoutArgs,
    ) -> PyResult<(reqwest::Request, Timeouts)> {
        let url = self.url(py, url)?;
        let headers = self.headers(py, headers)?;
        let request = request::build(py, method, url, headers, body)?;
        Ok((request, Timeouts::from_args(timeouts)?))
    }

    /// Fires when the client closes: every request and stream of the client watches it.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Checks what a send call was given and wraps it in the job that runs it.
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        py: Python<'_>,
        method: &str,
        url: &Bound<'_, PyString>,
        headers: &Bound<'_, PyList>,
        body: Option<&Bound<'_, PyAny>>,
        timeouts: TimeoutArgs,
        stream: Delivery,
        retry: Option<&Bound<'_, Retry>>,
        waiter: Waiter,
    ) -> PyResult<Job> {
        let (request, timeouts) = self.request(py, method, url, headers, body, timeouts)?;
        let policy = retry.map(|r| r.get().policy.clone());
        self.job(py, request, timeouts, stream, policy, waiter)
    }

    /// The job that runs `request` on the engine (retrying under `policy`) and completes its slot.
    fn job(
        &self,
        py: Python<'_>,
        request: reqwest::Request,
        timeouts: Timeouts,
        stream: Delivery,
        policy: Option<Arc<Policy>>,
        waiter: Waiter,
    ) -> PyResult<Job> {
        let live = self.live().map_err(|e| e.into_pyerr(py))?;
        let slot = Slot::new(waiter);
        let done = slot.clone();
        let closed = self.closed.clone();
        let task = Box::pin(async move {
            let work = retry::run(policy, request, |request| {
                request::execute(live.clone(), request, timeouts, stream, closed.clone())
            });
            let outcome = tokio::select! {
                biased;
                _ = closed.cancelled() => Err(closed_error()),
                r = work => r,
            };
            done.complete(outcome.map(|r| Payload::Response(Box::new(r))));
        });
        Ok(Job { task, slot })
    }
}

#[pymethods]
impl ClientCore {
    #[new]
    #[pyo3(signature = (*, http1, http2, verify, max_connections, max_keepalive, keepalive_expiry,
                        connect_timeout, proxy, trust_env, ca_der=None, check_hostname=true, cert=None))]
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
    ) -> PyResult<Self> {
        if !http1 && !http2 {
            return Err(PyValueError::new_err(
                "at least one of http1 or http2 must be enabled",
            ));
        }
        let verify = match (verify.as_deref(), ca_der) {
            (None, _) => Verify::Off,
            (Some(_), Some(ders)) => Verify::Bundle(
                ders.iter()
                    .map(|der| reqwest::Certificate::from_der(der))
                    .collect::<Result<_, _>>()
                    .map_err(|e| PyValueError::new_err(format!("invalid CA certificate: {e}")))?,
            ),
            (Some(""), None) => Verify::System,
            (Some(path), None) => Verify::Bundle(load_bundle(path)?),
        };
        let identity = cert
            .map(|(cert, key)| load_identity(&cert, key.as_deref()))
            .transpose()?;
        let secs = |v: Option<f64>| {
            v.map(|s| {
                Duration::try_from_secs_f64(s)
                    .map_err(|_| PyValueError::new_err(format!("invalid duration: {s}")))
            })
            .transpose()
        };
        if max_connections.is_some_and(|n| n == 0 || n > Semaphore::MAX_PERMITS) {
            return Err(PyValueError::new_err(format!(
                "max_connections must be between 1 and {}",
                Semaphore::MAX_PERMITS
            )));
        }
        let config = Config {
            http1,
            http2,
            verify,
            check_hostname,
            identity,
            max_connections,
            max_keepalive,
            keepalive_expiry: secs(keepalive_expiry)?,
            connect_timeout: secs(connect_timeout)?,
            proxy,
            trust_env,
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
        })
    }

    /// Sends and blocks this thread (GIL released, Ctrl-C honoured) until the response is in.
    #[pyo3(signature = (method, url, headers, body, timeouts, stream=Delivery::Whole, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn send_blocking(
        &self,
        py: Python<'_>,
        method: &str,
        url: Bound<'_, PyString>,
        headers: Bound<'_, PyList>,
        body: Option<Bound<'_, PyAny>>,
        timeouts: TimeoutArgs,
        stream: Delivery,
        retry: Option<Bound<'_, Retry>>,
    ) -> PyResult<Py<PyAny>> {
        let job = self.prepare(
            py,
            method,
            &url,
            &headers,
            body.as_ref(),
            timeouts,
            stream,
            retry.as_ref(),
            Waiter::Thread,
        )?;
        let outcome = run_blocking(py, job)?;
        outcome_into_py(py, outcome)
    }

    /// Sends and returns at once. With a hub, the hub reports the Op's id when the response is
    /// in; without one, a thread waits with `Op.wait()` (after feeding a streamed body).
    #[pyo3(signature = (hub, method, url, headers, body, timeouts, stream=Delivery::Whole, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn send_async(
        &self,
        py: Python<'_>,
        hub: Option<&Hub>,
        method: &str,
        url: Bound<'_, PyString>,
        headers: Bound<'_, PyList>,
        body: Option<Bound<'_, PyAny>>,
        timeouts: TimeoutArgs,
        stream: Delivery,
        retry: Option<Bound<'_, Retry>>,
    ) -> PyResult<Op> {
        let id = next_op_id();
        let waiter = waiter_for(hub, id);
        let job = self.prepare(
            py,
            method,
            &url,
            &headers,
            body.as_ref(),
            timeouts,
            stream,
            retry.as_ref(),
            waiter,
        )?;
        let slot = job.slot.clone();
        if hub.is_some() {
            runtime::engine().submit_or_hold(job);
        } else {
            runtime::engine().submit(job); // a thread waits for it: never held
        }
        Ok(Op::new(slot, id))
    }

    /// Aborts every in-flight request and stream of this client and lets its pool close.
    fn close(&self) {
        self.closed.cancel();
        self.live.lock().take();
    }

    #[getter]
    fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }
}
