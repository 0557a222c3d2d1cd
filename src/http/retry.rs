//! `Retry`: which failures are tried again, and how long to wait first. Decided and slept here, in
//! the engine, so a retried request never goes back through Python.
//!
//! The rules are urllib3's (the reference its users know): a connection that never carried the
//! request is retried whatever the method; a failure after the request went out, and a status in
//! `status_forcelist`, only for the methods in `allowed_methods` (the idempotent ones by default).
//! The wait before the n-th retry is 0 for the first, then `backoff_factor * 2**(n-1)` plus up to
//! `backoff_jitter`, capped at `backoff_max`; a `Retry-After` on 413/429/503 (or on a listed
//! status) replaces it, also capped at `backoff_max` so a hostile server cannot park a request.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyFrozenSet;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Method;

use crate::body::response::RawResponse;
use crate::error::{ErrorKind, RxError};

/// The settings, shared by every request that uses them.
#[derive(Debug)]
pub(crate) struct Policy {
    total: u32,
    backoff_factor: f64,
    backoff_max: f64,
    backoff_jitter: f64,
    status_forcelist: HashSet<u16>,
    allowed_methods: Option<HashSet<String>>,
    respect_retry_after: bool,
}

const MAX_SECONDS: f64 = 1e9;
const IDEMPOTENT: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "PUT", "TRACE"];
const RETRY_AFTER_STATUSES: [u16; 3] = [413, 429, 503];

impl Policy {
    fn method_allowed(&self, method: &Method) -> bool {
        match &self.allowed_methods {
            None => true,
            Some(set) => set.contains(method.as_str()),
        }
    }

    /// Whether a failed attempt deserves another; `retries` is how many were made already.
    pub(crate) fn retry_error(&self, retries: u32, method: &Method, err: &RxError) -> bool {
        if retries >= self.total {
            return false;
        }
        match err.kind {
            // The request never reached the server: safe for any method.
            ErrorKind::ConnectError | ErrorKind::ConnectTimeout => true,
            ErrorKind::ReadError
            | ErrorKind::ReadTimeout
            | ErrorKind::WriteError
            | ErrorKind::RemoteProtocolError => self.method_allowed(method),
            _ => false,
        }
    }

    /// The wait before retrying a response with this status, or None when it is final.
    pub(crate) fn retry_status(
        &self,
        retries: u32,
        method: &Method,
        status: u16,
        headers: &HeaderMap,
    ) -> Option<Duration> {
        if retries >= self.total || !self.method_allowed(method) {
            return None;
        }
        let after = self
            .respect_retry_after
            .then(|| retry_after(headers))
            .flatten();
        let listed = self.status_forcelist.contains(&status);
        let told = after.is_some() && RETRY_AFTER_STATUSES.contains(&status);
        if !(listed || told) {
            return None;
        }
        Some(match after {
            Some(after) => after.min(Duration::from_secs_f64(self.backoff_max)),
            None => self.backoff(retries + 1),
        })
    }

    /// The wait before the `n`-th retry (1-based).
    pub(crate) fn backoff(&self, n: u32) -> Duration {
        if n <= 1 {
            return Duration::ZERO;
        }
        // 2**1100 is already infinite: the exponent is bounded, and 0 * inf (NaN) never reaches
        // the Duration.
        let mut secs = self.backoff_factor * 2f64.powi(n.min(1100) as i32 - 1);
        if !secs.is_finite() {
            secs = if self.backoff_factor == 0.0 {
                0.0
            } else {
                self.backoff_max
            };
        }
        if self.backoff_jitter > 0.0 {
            secs += unit_random() * self.backoff_jitter;
        }
        Duration::from_secs_f64(secs.clamp(0.0, self.backoff_max))
    }
}

/// Runs `attempt` until its outcome is final under `policy` (once without a policy, or when the
/// body cannot be replayed), sleeping the backoff between attempts; the response says how many
/// retries it took. Each attempt gets a fresh copy of `request`.
pub(crate) async fn run<F, Fut>(
    policy: Option<Arc<Policy>>,
    request: reqwest::Request,
    mut attempt: F,
) -> Result<RawResponse, RxError>
where
    F: FnMut(reqwest::Request) -> Fut,
    Fut: std::future::Future<Output = Result<RawResponse, RxError>>,
{
    let Some(policy) = policy else {
        return attempt(request).await;
    };
    let method = request.method().clone();
    let mut request = request;
    let mut retries = 0;
    loop {
        let spare = request.try_clone();
        let outcome = attempt(request).await;
        let wait = match (&spare, &outcome) {
            (None, _) => None, // a streamed body cannot be sent twice
            (Some(_), Ok(r)) => policy.retry_status(retries, &method, r.status, &r.headers),
            (Some(_), Err(e)) => policy
                .retry_error(retries, &method, e)
                .then(|| policy.backoff(retries + 1)),
        };
        let (Some(wait), Some(next)) = (wait, spare) else {
            return outcome.map(|mut r| {
                r.retries = retries;
                r
            });
        };
        drop(outcome); // a retried response's connection goes back to the pool (or is closed)
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        retries += 1;
        request = next;
    }
}

/// `Retry-After` as seconds or an HTTP date; None when absent or unreadable.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate(value)?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 requires senders to use.
fn httpdate(value: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if year < 1970 || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), then seconds since the epoch.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + m * 60 + s))
}

/// A number in [0, 1) for jitter: xorshift over a process-wide state seeded from the clock.
fn unit_random() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The policy of `retry`, if given.
pub(crate) fn policy_of(retry: Option<Bound<'_, Retry>>) -> Option<Arc<Policy>> {
    retry.map(|r| r.get().policy.clone())
}

/// `requestx.Retry(total=3, backoff_factor=0.5, ...)`, given as `retries=` to a client, a call, or
/// a pool. Immutable, so one instance can be shared by every request that uses it.
#[pyclass(frozen, module = "requestx", name = "Retry")]
pub(crate) struct Retry {
    pub(crate) policy: Arc<Policy>,
}

#[pymethods]
impl Retry {
    #[new]
    #[pyo3(signature = (total=3, *, backoff_factor=0.5, backoff_max=120.0, backoff_jitter=0.0,
                        status_forcelist=None, allowed_methods=Some(IDEMPOTENT.iter().map(|m| m.to_string()).collect()),
                        respect_retry_after=true))]
    fn new(
        total: u32,
        backoff_factor: f64,
        backoff_max: f64,
        backoff_jitter: f64,
        status_forcelist: Option<Vec<u16>>,
        allowed_methods: Option<Vec<String>>,
        respect_retry_after: bool,
    ) -> PyResult<Self> {
        for (name, value) in [
            ("backoff_factor", backoff_factor),
            ("backoff_max", backoff_max),
            ("backoff_jitter", backoff_jitter),
        ] {
            // Bounded so every wait converts to a Duration (a year is already absurd).
            if !(0.0..=MAX_SECONDS).contains(&value) {
                return Err(PyValueError::new_err(format!(
                    "{name} must be a number of seconds between 0 and {MAX_SECONDS}, not {value}"
                )));
            }
        }
        let status_forcelist = status_forcelist.unwrap_or_else(|| vec![429, 502, 503, 504]);
        if let Some(bad) = status_forcelist.iter().find(|s| !(100..=999).contains(*s)) {
            return Err(PyValueError::new_err(format!(
                "status_forcelist holds an invalid status code: {bad}"
            )));
        }
        Ok(Self {
            policy: Arc::new(Policy {
                total,
                backoff_factor,
                backoff_max,
                backoff_jitter,
                status_forcelist: status_forcelist.into_iter().collect(),
                allowed_methods: allowed_methods
                    .map(|ms| ms.into_iter().map(|m| m.to_ascii_uppercase()).collect()),
                respect_retry_after,
            }),
        })
    }

    #[getter]
    fn total(&self) -> u32 {
        self.policy.total
    }

    #[getter]
    fn backoff_factor(&self) -> f64 {
        self.policy.backoff_factor
    }

    #[getter]
    fn backoff_max(&self) -> f64 {
        self.policy.backoff_max
    }

    #[getter]
    fn backoff_jitter(&self) -> f64 {
        self.policy.backoff_jitter
    }

    #[getter]
    fn status_forcelist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyFrozenSet>> {
        PyFrozenSet::new(py, self.policy.status_forcelist.iter())
    }

    #[getter]
    fn allowed_methods<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyFrozenSet>>> {
        self.policy
            .allowed_methods
            .as_ref()
            .map(|set| PyFrozenSet::new(py, set.iter()))
            .transpose()
    }

    #[getter]
    fn respect_retry_after(&self) -> bool {
        self.policy.respect_retry_after
    }

    /// The wait before the `n`-th retry when no `Retry-After` says otherwise (without jitter
    /// when `backoff_jitter` is 0).
    fn get_backoff_time(&self, n: u32) -> f64 {
        self.policy.backoff(n).as_secs_f64()
    }

    fn __repr__(&self) -> String {
        let p = &self.policy;
        let mut statuses: Vec<_> = p.status_forcelist.iter().collect();
        statuses.sort();
        format!(
            "Retry(total={}, backoff_factor={:?}, backoff_max={:?}, backoff_jitter={:?}, status_forcelist={:?}, respect_retry_after={})",
            p.total,
            p.backoff_factor,
            p.backoff_max,
            p.backoff_jitter,
            statuses,
            if p.respect_retry_after { "True" } else { "False" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let t = httpdate("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            784_111_777
        );
        assert!(httpdate("Sun, 06 Nov 1994 08:49:37 PST").is_none());
        assert!(httpdate("yesterday").is_none());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = Policy {
            total: 10,
            backoff_factor: 0.5,
            backoff_max: 3.0,
            backoff_jitter: 0.0,
            status_forcelist: HashSet::new(),
            allowed_methods: None,
            respect_retry_after: true,
        };
        let secs: Vec<f64> = (1..=5).map(|n| p.backoff(n).as_secs_f64()).collect();
        assert_eq!(secs, [0.0, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!(p.backoff(u32::MAX).as_secs_f64(), 3.0);
        let zero = Policy {
            backoff_factor: 0.0,
            ..p
        };
        assert_eq!(zero.backoff(5000), Duration::ZERO);
    }
}
