//! `json_loads` (src/text/json.rs), called in the embedded interpreter, against `json.loads` on
//! the same bytes (the oracle, with the differences that are allowed, is src/json_oracle.py).
//!
//! Input: the document.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};
use requestx_fuzz::{run, strict, with_python};

static CHECK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fuzz_target!(|data: &[u8]| {
    with_python(|py| {
        let check = CHECK.get_or_init(py, || {
            let globals = PyDict::new(py);
            run(py, include_str!("../src/json_oracle.py"), &globals);
            globals.get_item("check").unwrap().unwrap().unbind()
        });
        let (ours, error) = match _requestx::fuzzing::json_loads(py, data) {
            Ok(value) => (Some(value), None),
            Err(err) => (None, Some(err.into_value(py))),
        };
        let verdict = check
            .call1(py, (PyBytes::new(py, data), ours, error, strict()))
            .unwrap();
        if !verdict.is_none(py) {
            panic!("{verdict}");
        }
    });
});
