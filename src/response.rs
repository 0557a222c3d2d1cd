//! What a completed operation hands to Python: plain Rust values until the GIL holder converts them.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use reqwest::header::HeaderMap;
use reqwest::Version;

use crate::bridge::slot::Outcome;
use crate::presized::BytesBuffer;
use crate::stream::BodyStream;

/// Response head plus either the whole body or the stream that delivers it.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    /// How many times the request was retried (see `retry.rs`).
    pub(crate) retries: u32,
}

pub(crate) enum Body {
    /// The whole body, as the chunks hyper produced (joined once, straight into a Python bytes).
    Buffered(Vec<Bytes>),
    /// The whole body, already the `bytes` Python will see (see `presized.rs`).
    Whole(Py<PyBytes>),
    Streamed(BodyStream),
}

/// Every kind of result a slot can hold.
pub(crate) enum Payload {
    Response(Box<RawResponse>),
    /// A yes/no answer: an upload chunk was queued (false: the request stopped reading its
    /// body); a streamed body has news for `next_nowait`.
    Flag(bool),
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

/// `(status, http_version, RawHeaders, body bytes | BodyStream, retries)`. No URL: with reqwest's redirects
/// off, the response's URL is always the request's, which Python already holds.
fn response_into_py(py: Python<'_>, raw: RawResponse) -> PyResult<Py<PyAny>> {
    let headers = Py::new(py, RawHeaders { map: raw.headers })?;
    let body: Py<PyAny> = match raw.body {
        Body::Buffered(chunks) => join_bytes(py, &chunks)?.into_any().unbind(),
        Body::Whole(bytes) => bytes.into_any(),
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
            raw.retries.into_pyobject(py)?.into_any().unbind(),
        ],
    )?;
    Ok(tuple.into_any().unbind())
}

/// A finished request as a value: its response tuple, or the exception instance it failed with.
pub(crate) fn outcome_value(
    py: Python<'_>,
    outcome: Result<RawResponse, crate::error::RxError>,
) -> PyResult<Py<PyAny>> {
    match outcome {
        Ok(raw) => response_into_py(py, raw),
        Err(err) => Ok(err.into_pyerr(py).into_value(py).into_any()),
    }
}

/// Converts a finished outcome, raising the mapped httpx exception on failure.
pub(crate) fn outcome_into_py(py: Python<'_>, outcome: Outcome) -> PyResult<Py<PyAny>> {
    match outcome {
        Ok(Payload::Response(raw)) => response_into_py(py, *raw),
        Ok(Payload::Flag(sent)) => Ok(pyo3::types::PyBool::new(py, sent)
            .to_owned()
            .into_any()
            .unbind()),
        Err(err) => Err(err.into_pyerr(py)),
    }
}

/// One Python bytes holding `chunks` back to back, written in place: one copy, no zero-fill.
/// NOTE: joining into a BytesMut first and copying that into bytes cost a second pass over the
/// body; for the 64 MiB buffered download that was ~10 ms of ~70 ms.
pub(crate) fn join_bytes<'py>(py: Python<'py>, chunks: &[Bytes]) -> PyResult<Bound<'py, PyBytes>> {
    if let [only] = chunks {
        return Ok(PyBytes::new(py, only));
    }
    let mut buffer = BytesBuffer::new_uninit(py, chunks.iter().map(Bytes::len).sum())?;
    for chunk in chunks {
        buffer.extend(chunk);
    }
    buffer.finish().map(|obj| obj.into_bound(py)).map_err(|_| {
        pyo3::exceptions::PyRuntimeError::new_err("a body's chunks changed while being joined")
    })
}
