//! Text out of a body: lines ([`lines`]), server-sent events ([`sse`]), the native async
//! iterator over either ([`aiter`]), JSON ([`json`]), and IDNA host names for `URL` ([`idna`]).

pub(crate) mod aiter;
pub(crate) mod idna;
pub(crate) mod json;
pub(crate) mod lines;
pub(crate) mod sse;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use self::lines::LineDecoder;
use self::sse::SseDecoder;

/// A native async iterator over `decoder`'s items (a `LineDecoder` or an `SseDecoder`), fed by
/// `source.refill(decoder, iterator)` and stopped by `source.aclose()`.
#[pyfunction]
pub(crate) fn native_aiter<'py>(
    decoder: Bound<'py, PyAny>,
    source: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(lines) = decoder.cast::<LineDecoder>() {
        return aiter::new_iterator(lines.clone(), source);
    }
    if let Ok(events) = decoder.cast::<SseDecoder>() {
        return aiter::new_iterator(events.clone(), source);
    }
    Err(PyTypeError::new_err(
        "expected a LineDecoder or an SseDecoder",
    ))
}
