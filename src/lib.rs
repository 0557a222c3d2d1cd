//! The native engine of requestx. This file is only the table of contents.
//!
//! From the bottom up: `alloc` (the engine's memory allocator); `error` (every failure and its
//! exception class) and `bridge` (work into tokio, completions back to a waiting Python caller; no
//! HTTP); `body` (response and request bodies) on them; `http` (clients, requests, timeouts,
//! retries, the pool) on `body`; `text` (lines, server-sent events, JSON) beside `http`, on nothing
//! but itself.

#[cfg_attr(feature = "system-allocator", allow(dead_code))]
mod alloc;
mod body;
mod bridge;
mod error;
mod http;
mod text;

/// Entry points for the cargo-fuzz targets in fuzz/ (not built otherwise).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use pyo3::prelude::*;

/// Not with `system-allocator` (AddressSanitizer runs, which watch only the system allocator).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: alloc::SplitAlloc = alloc::SplitAlloc;

#[pymodule(gil_used = false)]
fn _requestx(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The exception classes of `requestx._exceptions`, checked now: a missing one fails the import.
    error::load_classes(m.py())?;
    m.add_class::<http::client::ClientCore>()?;
    m.add_class::<bridge::hub::Hub>()?;
    m.add_class::<bridge::op::Op>()?;
    m.add_class::<body::stream::BodyStream>()?;
    m.add_class::<body::response::RawHeaders>()?;
    m.add_class::<text::sse::SseDecoder>()?;
    m.add_class::<text::sse::ServerSentEvent>()?;
    m.add_class::<body::decode::Decoder>()?;
    m.add_class::<text::lines::LineDecoder>()?;
    m.add_class::<body::upload::BodySender>()?;
    m.add_class::<http::batch::Batch>()?;
    m.add_class::<http::retry::Retry>()?;
    m.add_function(wrap_pyfunction!(text::json::json_loads, m)?)?;
    m.add_function(wrap_pyfunction!(text::idna::idna_to_ascii, m)?)?;
    m.add_function(wrap_pyfunction!(text::native_aiter, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::runtime::_after_fork_child, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::runtime::hold_submissions, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::runtime::release_submissions, m)?)?;
    m.add_function(wrap_pyfunction!(body::presized::_before_exit, m)?)?;
    m.add_function(wrap_pyfunction!(body::presized::_presized_bodies, m)?)?;
    Ok(())
}
