//! What the fuzz targets share: the embedded interpreter, how an input is cut into chunks, and the
//! switch that turns the known, reported divergences back into failures.

use std::ffi::CString;
use std::sync::{Once, OnceLock};

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Python run once when the interpreter starts: a stand-in `requestx` package with no directory,
/// so nothing of the real package (nor its copy of the engine) can load. `requestx._exceptions`
/// is the real file (it imports nothing of the engine): `RxError::into_pyerr` and `SseDecoder`
/// find their classes there and in `requestx._sse`, as they do in the package.
const SETUP: &str = r#"
import sys, types

package = types.ModuleType("requestx")
package.__path__ = []
sys.modules["requestx"] = package
exceptions = types.ModuleType("requestx._exceptions")
exec(compile(EXCEPTIONS_SOURCE, "requestx/_exceptions.py", "exec"), exceptions.__dict__)
sys.modules["requestx._exceptions"] = exceptions
sse = types.ModuleType("requestx._sse")
sse.SSEError = type("SSEError", (exceptions.TransportError,), {"__module__": "requestx._sse"})
sys.modules["requestx._sse"] = sse
"#;

static STARTED: Once = Once::new();

/// Runs `f` attached to the embedded interpreter (started, and set up, on the first call).
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    STARTED.call_once(|| {
        Python::initialize();
        Python::attach(|py| {
            let globals = PyDict::new(py);
            globals
                .set_item(
                    "EXCEPTIONS_SOURCE",
                    include_str!("../../requestx/_exceptions.py"),
                )
                .unwrap();
            run(py, SETUP, &globals);
        });
    });
    Python::attach(f)
}

/// Runs Python source in `globals`; a failure is a broken harness, not a finding.
pub fn run(py: Python<'_>, source: &str, globals: &Bound<'_, PyDict>) {
    let code = CString::new(source).expect("no NUL in the harness's Python");
    if let Err(err) = py.run(&code, Some(globals), None) {
        err.print(py);
        panic!("the harness's Python failed");
    }
}

/// `REQUESTX_FUZZ_STRICT=1`: the divergences already reported (each named where it is let
/// through) fail again, to check a fix.
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("REQUESTX_FUZZ_STRICT").is_some_and(|v| v == "1"))
}

/// Cuts `data` into chunks as `seed` says: 0 mod 4 whole, 1 byte by byte, else pseudo-random
/// lengths up to 1 + seed / 4, empty chunks included when `empty` allows them.
pub fn chunks(seed: u8, data: &[u8], empty: bool) -> Vec<&[u8]> {
    match seed % 4 {
        0 => return vec![data],
        1 => return data.chunks(1).collect(),
        _ => {}
    }
    let most = 1 + usize::from(seed / 4);
    // xorshift32: deterministic, so a saved input replays with the same cuts.
    let mut state = 0x9E37_79B9u32 ^ u32::from(seed) ^ (data.len() as u32).rotate_left(8);
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let mut n = (state as usize) % (most + 1);
        if n == 0 && !empty {
            n = 1;
        }
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}
