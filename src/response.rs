//! What a completed operation hands to Python: plain Rust values until the GIL holder converts them.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use reqwest::header::HeaderMap;
use reqwest::Version;

use crate::bridge::slot::Outcome;
use crate::stream::BodyStream;

/// Response head plus either the whole body or the stream that delivers it.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) url: String,
    pub(crate) body: Body,
}

pub(crate) enum Body {
    Buffered(Bytes),
    Streamed(BodyStream),
}

/// Every kind of result a slot can hold.
pub(crate) enum Payload {
    Response(Box<RawResponse>),
    /// One body chunk; `None` at the end of the body.
    Chunk(Option<Bytes>),
    /// Whether an upload chunk was queued (false: the request stopped reading its body).
    Sent(bool),
}

pub(crate) fn http_version(version: Version) -> &'static str {
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
}

#[pymethods]
impl RawHeaders {
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

/// `(status, http_version, RawHeaders, body bytes | BodyStream, url)`.
fn response_into_py(py: Python<'_>, raw: RawResponse) -> PyResult<Py<PyAny>> {
    let headers = Py::new(py, RawHeaders { map: raw.headers })?;
    let body: Py<PyAny> = match raw.body {
        Body::Buffered(bytes) => PyBytes::new(py, &bytes).into_any().unbind(),
        Body::Streamed(stream) => Py::new(py, stream)?.into_any(),
    };
    let version = match raw.version {
        Version::HTTP_11 => pyo3::intern!(py, "HTTP/1.1").clone(),
        other => pyo3::types::PyString::new(py, http_version(other)),
    };
    let tuple = PyTuple::new(
        py,
        [
            raw.status.into_pyobject(py)?.into_any().unbind(),
            version.into_any().unbind(),
            headers.into_any(),
            body,
            raw.url.into_pyobject(py)?.into_any().unbind(),
        ],
    )?;
    Ok(tuple.into_any().unbind())
}

/// Converts a finished outcome, raising the mapped httpx exception on failure.
pub(crate) fn outcome_into_py(py: Python<'_>, outcome: Outcome) -> PyResult<Py<PyAny>> {
    match outcome {
        Ok(Payload::Response(raw)) => response_into_py(py, *raw),
        Ok(Payload::Chunk(Some(bytes))) => Ok(PyBytes::new(py, &bytes).into_any().unbind()),
        Ok(Payload::Chunk(None)) => Ok(PyBytes::new(py, b"").into_any().unbind()),
        Ok(Payload::Sent(sent)) => Ok(pyo3::types::PyBool::new(py, sent)
            .to_owned()
            .into_any()
            .unbind()),
        Err(err) => Err(err.into_pyerr(py)),
    }
}
