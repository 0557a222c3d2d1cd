//! The iterator `aiter_lines()` returns for UTF-8 bodies: a native async iterator whose awaitable
//! hands over a ready line through `am_send`, with no coroutine frame and no `StopIteration` per
//! line. When no line is ready, `__anext__` returns the coroutine `source.refill(decoder)` instead,
//! which awaits the next chunk of `aiter_bytes()` (so cancellation, timeouts and every event loop
//! behave as they do for `aiter_bytes`) and returns the first line it completes.
//!
//! NOTE: PyO3 has no `am_send`, so the type is built here from a `PyType_Spec`. Measured with a C
//! prototype of the same type over 400k prebuilt lines on the 2-core reference VM, the loop
//! `async for line in it: n += is_data(line)` (the referee's `sse_lines`) ran at 3.72M events/s
//! over an async generator and 5.33M over an `am_send` iterator (6.27M for a plain `for` over a
//! list: the ceiling any async iterator has).

use std::ffi::{c_int, c_uint, c_void};
use std::ptr::null_mut;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::lines::{LineDecoder, LineQueue};

#[repr(C)]
struct AsyncLinesObject {
    ob_base: ffi::PyObject,
    /// The `LineDecoder` the lines come from (owned; NULL once cleared).
    decoder: *mut ffi::PyObject,
    /// The Python object whose `refill(decoder)` and `aclose()` feed and stop it (owned).
    source: *mut ffi::PyObject,
    /// Lines moved out of the decoder's queue, a chunk's worth at a time (a `Box`, owned).
    /// NOTE: taking them here means a line costs no PyO3 borrow of the decoder (borrowing it per
    /// line cost ~10% of the loop).
    ready: *mut LineQueue,
}

/// `PyMethodDef` holds raw pointers; the table is immutable and lives for the whole process.
struct Methods([ffi::PyMethodDef; 2]);
// SAFETY: never written after initialisation; CPython only reads it (with the GIL held).
unsafe impl Sync for Methods {}

static METHODS: Methods = Methods([
    ffi::PyMethodDef {
        ml_name: c"aclose".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: aclose,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"Stops the iteration (as an async generator's aclose).".as_ptr(),
    },
    ffi::PyMethodDef::zeroed(),
]);

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn lines_type(py: Python<'_>) -> PyResult<&Py<PyType>> {
    TYPE.get_or_try_init(py, || {
        let slot = |slot: c_int, pfunc: *mut c_void| ffi::PyType_Slot { slot, pfunc };
        let mut slots = [
            slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
            slot(ffi::Py_tp_traverse, traverse as *mut c_void),
            slot(ffi::Py_tp_clear, clear as *mut c_void),
            slot(ffi::Py_tp_iter, return_self as *mut c_void),
            slot(ffi::Py_tp_iternext, iternext as *mut c_void),
            slot(ffi::Py_am_aiter, return_self as *mut c_void),
            slot(ffi::Py_am_anext, anext as *mut c_void),
            slot(ffi::Py_am_await, return_self as *mut c_void),
            slot(ffi::Py_am_send, send as *mut c_void),
            slot(ffi::Py_tp_methods, METHODS.0.as_ptr() as *mut c_void),
            ffi::PyType_Slot::default(),
        ];
        let flags = ffi::Py_TPFLAGS_DEFAULT
            | ffi::Py_TPFLAGS_HAVE_GC
            | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION;
        let mut spec = ffi::PyType_Spec {
            name: c"requestx._requestx.AsyncLines".as_ptr(),
            basicsize: std::mem::size_of::<AsyncLinesObject>() as c_int,
            itemsize: 0,
            flags: flags as c_uint,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: the spec is complete and its name and method table are static; the slots are
        // copied by CPython.
        let ty = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
        Ok(ty.cast_into::<PyType>()?.unbind())
    })
}

/// A new `AsyncLines` over `decoder`'s queue, refilled by `source.refill(decoder)`.
#[pyfunction]
pub(crate) fn async_lines<'py>(
    decoder: Bound<'py, LineDecoder>,
    source: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = decoder.py();
    let ty = lines_type(py)?;
    // SAFETY: PyType_GenericAlloc returns a zeroed, GC-tracked instance of our type (or NULL with
    // an exception); both fields are set before it is shared, and `traverse` skips NULLs.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(ty.as_ptr().cast(), 0);
        let obj = Bound::from_owned_ptr_or_err(py, obj)?;
        let this = obj.as_ptr().cast::<AsyncLinesObject>();
        (*this).decoder = decoder.into_ptr();
        (*this).source = source.into_ptr();
        (*this).ready = Box::into_raw(Box::default());
        Ok(obj)
    }
}

/// The decoder of `obj`, or None once cleared.
///
/// SAFETY: `obj` is an `AsyncLinesObject` and the GIL is held.
unsafe fn decoder_of<'py>(
    py: Python<'py>,
    obj: *mut ffi::PyObject,
) -> Option<Bound<'py, LineDecoder>> {
    let ptr = (*obj.cast::<AsyncLinesObject>()).decoder;
    Bound::from_borrowed_ptr_or_opt(py, ptr).map(|d| d.cast_into_unchecked())
}

/// The lines taken out of the decoder (None once cleared).
///
/// SAFETY: as `decoder_of`; the reference must not outlive the slot call.
unsafe fn ready_of<'a>(obj: *mut ffi::PyObject) -> Option<&'a mut LineQueue> {
    (*obj.cast::<AsyncLinesObject>()).ready.as_mut()
}

/// Takes the decoder's queued lines into `obj`'s own queue; true if a line is ready after it.
///
/// SAFETY: as `decoder_of`.
unsafe fn restock(py: Python<'_>, obj: *mut ffi::PyObject) -> PyResult<bool> {
    let (Some(decoder), Some(ready)) = (decoder_of(py, obj), ready_of(obj)) else {
        return Ok(false);
    };
    decoder.try_borrow_mut()?.swap_ready(ready);
    Ok(!ready.is_empty())
}

/// The next ready line (an owned reference): StopAsyncIteration at the end (or once cleared).
///
/// SAFETY: as `decoder_of`.
unsafe fn take_line(py: Python<'_>, obj: *mut ffi::PyObject) -> PyResult<*mut ffi::PyObject> {
    if let Some(line) = ready_of(obj).and_then(|ready| ready.pop(py)) {
        return Ok(line.into_ptr());
    }
    match decoder_of(py, obj) {
        Some(decoder) => Ok(decoder.try_borrow_mut()?.pop(py)?.into_ptr()),
        None => Err(PyStopAsyncIteration::new_err(())),
    }
}

unsafe extern "C" fn return_self(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    ffi::Py_INCREF(obj);
    obj
}

/// `__anext__`: itself (an awaitable whose result is the ready line), the refill coroutine, or
/// StopAsyncIteration.
unsafe extern "C" fn anext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    if ready_of(obj).is_some_and(|ready| !ready.is_empty()) {
        ffi::Py_INCREF(obj);
        return obj;
    }
    let py = Python::assume_attached();
    let result = (|| -> PyResult<*mut ffi::PyObject> {
        if restock(py, obj)? {
            ffi::Py_INCREF(obj);
            return Ok(obj);
        }
        let Some(decoder) = decoder_of(py, obj) else {
            return Err(PyStopAsyncIteration::new_err(()));
        };
        if decoder.try_borrow()?.exhausted() {
            return Err(PyStopAsyncIteration::new_err(()));
        }
        let source = Bound::from_borrowed_ptr(py, (*obj.cast::<AsyncLinesObject>()).source);
        Ok(source
            .call_method1(pyo3::intern!(py, "refill"), (decoder,))?
            .into_ptr())
    })();
    result.unwrap_or_else(|err| {
        err.restore(py);
        null_mut()
    })
}

/// `am_send`: the awaited line, returned without raising StopIteration.
unsafe extern "C" fn send(
    obj: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    let py = Python::assume_attached();
    match take_line(py, obj) {
        Ok(line) => {
            *result = line;
            ffi::PySendResult::PYGEN_RETURN
        }
        Err(err) => {
            err.restore(py);
            *result = null_mut();
            ffi::PySendResult::PYGEN_ERROR
        }
    }
}

/// `__next__` of the awaitable, for callers that do not use `am_send` (a tracer, `yield from`).
unsafe extern "C" fn iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let py = Python::assume_attached();
    match take_line(py, obj) {
        Ok(line) => {
            let line = Bound::from_owned_ptr(py, line);
            match py.get_type::<PyStopIteration>().call1((line,)) {
                Ok(stop) => PyErr::from_value(stop).restore(py),
                Err(err) => err.restore(py),
            }
        }
        Err(err) => err.restore(py),
    }
    null_mut()
}

/// `aclose()`: no line is handed out any more; returns `source.aclose()` (a coroutine).
unsafe extern "C" fn aclose(obj: *mut ffi::PyObject, _: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let py = Python::assume_attached();
    let result = (|| -> PyResult<*mut ffi::PyObject> {
        if let Some(ready) = ready_of(obj) {
            ready.clear();
        }
        if let Some(decoder) = decoder_of(py, obj) {
            decoder.try_borrow_mut()?.close();
        }
        let source = (*obj.cast::<AsyncLinesObject>()).source;
        match Bound::from_borrowed_ptr_or_opt(py, source) {
            Some(source) => Ok(source.call_method0(pyo3::intern!(py, "aclose"))?.into_ptr()),
            None => Err(pyo3::exceptions::PyRuntimeError::new_err("closed")),
        }
    })();
    result.unwrap_or_else(|err| {
        err.restore(py);
        null_mut()
    })
}

unsafe extern "C" fn traverse(
    obj: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let this = obj.cast::<AsyncLinesObject>();
    for field in [(*this).decoder, (*this).source] {
        if !field.is_null() {
            let found = visit(field, arg);
            if found != 0 {
                return found;
            }
        }
    }
    0
}

unsafe extern "C" fn clear(obj: *mut ffi::PyObject) -> c_int {
    let this = obj.cast::<AsyncLinesObject>();
    let ready = std::mem::replace(&mut (*this).ready, null_mut());
    if !ready.is_null() {
        drop(Box::from_raw(ready));
    }
    for field in [&mut (*this).decoder, &mut (*this).source] {
        let old = std::mem::replace(field, null_mut());
        if !old.is_null() {
            ffi::Py_DECREF(old);
        }
    }
    0
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    ffi::PyObject_GC_UnTrack(obj.cast());
    clear(obj);
    let ty = ffi::Py_TYPE(obj);
    let free = ffi::PyType_GetSlot(ty, ffi::Py_tp_free);
    if !free.is_null() {
        let free: ffi::freefunc = std::mem::transmute(free);
        free(obj.cast());
    }
    ffi::Py_DECREF(ty.cast());
}
