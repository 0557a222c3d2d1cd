//! A response as it crosses to Python: plain Rust values until the thread that takes it (with the
//! GIL) converts them.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use reqwest::header::HeaderMap;
use reqwest::Version;

use super::pybytes::join_bytes;
use super::stream::BodyStream;
use crate::bridge::slot::IntoPython;
use crate::error::RxError;

/// Response head plus either the whole body or the stream that delivers it.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// The server's reason phrase when it is not the standard one (`Incoming::reason`).
    pub(crate) reason: Option<Bytes>,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    /// How many times the request was retried (see `http/retry.rs`).
    pub(crate) retries: u32,
}

pub(crate) enum Body {
    /// The whole body, as the chunks hyper produced (joined once, straight into a Python bytes).
    Buffered(Vec<Bytes>),
    /// The whole body, already the `bytes` Python will see (see `presized.rs`).
    Whole(Py<PyBytes>),
    Streamed(BodyStream),
}

fn http_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// A response's header block, kept in Rust until Python asks for it.
/// NOTE: building the list of (name, value) bytes eagerly cost ~1 µs per response on the
/// threads_8 row, and most callers read only the body.
#[pyclass(frozen, module = "requestx._requestx")]
pub(crate) struct RawHeaders {
    map: HeaderMap,
    reason: Option<Bytes>,
}

#[pymethods]
impl RawHeaders {
    /// The status line's reason phrase as the server sent it, or None when it is the standard
    /// one for the status (or the response is HTTP/2, which has none).
    #[getter]
    fn reason<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.reason.as_ref().map(|reason| PyBytes::new(py, reason))
    }

    /// `[(name, value), ...]` in order, names lower-case, repeated names kept.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (name, value) in self.map.iter() {
            list.append((
                PyBytes::new(py, name.as_str().as_bytes()),
                PyBytes::new(py, value.as_bytes()),
            ))?;
        }
        Ok(list)
    }

    /// The first value of `name` (case-insensitive), or None.
    fn get<'py>(&self, py: Python<'py>, name: &str) -> Option<Bound<'py, PyBytes>> {
        self.map.get(name).map(|v| PyBytes::new(py, v.as_bytes()))
    }
}

/// `(status, http_version, RawHeaders, body bytes | BodyStream, retries)`. No URL: with reqwest's
/// redirects off, the response's URL is always the request's, which Python already holds.
impl IntoPython for RawResponse {
    fn into_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let raw = *self;
        let headers = Py::new(
            py,
            RawHeaders {
                map: raw.headers,
                reason: raw.reason,
            },
        )?;
        let body: Py<PyAny> = match raw.body {
            Body::Buffered(chunks) => join_bytes(py, &chunks)?.into_any().unbind(),
            Body::Whole(bytes) => bytes.into_any(),
            Body::Streamed(stream) => Py::new(py, stream)?.into_any(),
        };
        let version = match raw.version {
            Version::HTTP_11 => pyo3::intern!(py, "HTTP/1.1").clone(),
            other => PyString::new(py, http_version(other)),
        };
        let tuple = PyTuple::new(
            py,
            [
                raw.status.into_pyobject(py)?.into_any().unbind(),
                version.into_any().unbind(),
                headers.into_any(),
                body,
                raw.retries.into_pyobject(py)?.into_any().unbind(),
            ],
        )?;
        Ok(tuple.into_any().unbind())
    }
}

/// A finished request as a value: its response tuple, or the exception instance it failed with.
pub(crate) fn outcome_value(
    py: Python<'_>,
    outcome: Result<RawResponse, RxError>,
) -> PyResult<Py<PyAny>> {
    match outcome {
        Ok(raw) => Box::new(raw).into_python(py),
        Err(err) => Ok(err.into_pyerr(py).into_value(py).into_any()),
    }
}
