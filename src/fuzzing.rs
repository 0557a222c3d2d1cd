//! Narrow entry points for the cargo-fuzz targets in fuzz/ (feature `fuzzing`, never in a wheel):
//! each reaches one parser the way the engine or Python reaches it; the rest of the crate stays
//! private.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};

/// The most one decoding step returns (`body::decode::STEP_OUTPUT`).
pub const STEP_OUTPUT: usize = crate::body::decode::STEP_OUTPUT;

/// `json_loads` as Python calls it (`Response.json()`, `ServerSentEvent.json()`).
pub fn json_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    crate::text::json::json_loads(py, data)
}

/// The `SseDecoder` class: its methods are `#[pymethods]`, so targets call them through Python.
pub fn sse_decoder_type(py: Python<'_>) -> Bound<'_, PyType> {
    py.get_type::<crate::text::sse::SseDecoder>()
}

/// The `LineDecoder` class (called through Python, as `SseDecoder`).
pub fn line_decoder_type(py: Python<'_>) -> Bound<'_, PyType> {
    py.get_type::<crate::text::lines::LineDecoder>()
}

/// The `Decoder` class, Content-Encoding's Python face (called through Python).
pub fn decoder_type(py: Python<'_>) -> Bound<'_, PyType> {
    py.get_type::<crate::body::decode::Decoder>()
}

/// `http::request::parse_headers` on `[(name, value), ...]` as bytes (the shape Python sends):
/// the resulting map's entries in its iteration order, or the exception it raised.
pub fn parse_headers(
    py: Python<'_>,
    pairs: &[(&[u8], &[u8])],
) -> PyResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let items = pairs
        .iter()
        .map(|(name, value)| PyTuple::new(py, [PyBytes::new(py, name), PyBytes::new(py, value)]))
        .collect::<PyResult<Vec<_>>>()?;
    let map = crate::http::request::parse_headers(py, &PyList::new(py, items)?)?;
    Ok(map
        .iter()
        .map(|(name, value)| (name.as_str().as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect())
}

/// A Content-Encoding chain (`body::decode::Chain`); errors are the `RxError`'s text
/// (`"DecodingError: ..."`).
pub struct Chain(crate::body::decode::Chain);

impl Chain {
    /// For a Content-Encoding header value's bytes, read as `decode_buffered` reads them; None
    /// when there is nothing to undo.
    pub fn for_header(
        value: &[u8],
        max_size: Option<u64>,
        max_ratio: Option<f64>,
    ) -> Result<Option<Self>, String> {
        let bounds = crate::body::decode::Bounds {
            max_size,
            max_ratio,
        };
        crate::body::decode::Chain::for_header(&String::from_utf8_lossy(value), bounds)
            .map(|chain| chain.map(Self))
            .map_err(|e| e.to_string())
    }

    pub fn step(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        self.0.step(input).map_err(|e| e.to_string())
    }

    pub fn end_step(&mut self) -> Result<Vec<u8>, String> {
        self.0.end_step().map_err(|e| e.to_string())
    }

    /// The buffered path (`decode_buffered`): the whole body at once.
    pub fn decode_all(self, chunks: &[&[u8]]) -> Result<Vec<u8>, String> {
        let chunks: Vec<bytes::Bytes> = chunks
            .iter()
            .map(|c| bytes::Bytes::copy_from_slice(c))
            .collect();
        self.0.decode_all(&chunks).map_err(|e| e.to_string())
    }
}
