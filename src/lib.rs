//! The native engine of requestx. This file is only the table of contents.

mod aiter;
mod batch;
mod bridge;
mod client;
mod decode;
mod error;
mod gate;
mod incoming;
mod json;
mod lines;
mod phases;
mod presized;
mod request;
mod response;
mod retry;
mod runtime;
mod sse;
mod stream;
mod upload;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _requestx(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::ClientCore>()?;
    m.add_class::<bridge::hub::Hub>()?;
    m.add_class::<bridge::op::Op>()?;
    m.add_class::<stream::BodyStream>()?;
    m.add_class::<response::RawHeaders>()?;
    m.add_class::<sse::SseDecoder>()?;
    m.add_class::<sse::ServerSentEvent>()?;
    m.add_class::<decode::Decoder>()?;
    m.add_class::<lines::LineDecoder>()?;
    m.add_class::<upload::BodySender>()?;
    m.add_class::<batch::Batch>()?;
    m.add_class::<retry::Retry>()?;
    m.add_function(wrap_pyfunction!(json::json_loads, m)?)?;
    m.add_function(wrap_pyfunction!(aiter::native_aiter, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_after_fork_child, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::hold_submissions, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::release_submissions, m)?)?;
    m.add_function(wrap_pyfunction!(presized::_before_exit, m)?)?;
    m.add_function(wrap_pyfunction!(presized::_presized_bodies, m)?)?;
    Ok(())
}
