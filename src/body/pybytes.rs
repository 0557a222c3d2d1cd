//! A Python `bytes` written in place: allocated uninitialised, filled front to back (on any
//! thread), handed to Python only once every byte is written.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A `bytes` object being filled: created uninitialised, written front to back, handed to
/// Python only once every byte is written.
pub(crate) struct BytesBuffer {
    obj: Py<PyBytes>,
    start: *mut u8,
    capacity: usize,
    filled: usize,
}

// SAFETY: until `finish` returns it, the object is referenced by this value alone, so no Python
// code can observe its bytes while another thread writes them; the data pointer stays valid for
// the object's life (bytes never move or resize). Dropping `Py` off the GIL defers the decref.
unsafe impl Send for BytesBuffer {}

impl BytesBuffer {
    pub(crate) fn new_uninit(py: Python<'_>, capacity: usize) -> PyResult<Self> {
        let size = pyo3::ffi::Py_ssize_t::try_from(capacity)
            .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("body too large"))?;
        // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new bytes object of length n with
        // uninitialised contents (or NULL with an exception set); `finish` releases it only
        // after all n bytes were written.
        unsafe {
            let obj = pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            let start = pyo3::ffi::PyBytes_AsString(obj).cast::<u8>();
            if capacity >= HUGE_PAGE_MIN {
                advise_huge_pages(start, capacity);
            }
            Ok(Self {
                obj: Bound::from_owned_ptr(py, obj)
                    .cast_into_unchecked()
                    .unbind(),
                start,
                capacity,
                filled: 0,
            })
        }
    }

    /// Appends `chunk`; false (and nothing written) if it does not fit.
    pub(crate) fn extend(&mut self, chunk: &[u8]) -> bool {
        if chunk.len() > self.capacity - self.filled {
            return false;
        }
        // SAFETY: the destination range lies inside the object's `capacity` bytes (checked
        // above) and cannot overlap `chunk`, which hyper owns.
        unsafe {
            std::ptr::copy_nonoverlapping(chunk.as_ptr(), self.start.add(self.filled), chunk.len())
        };
        self.filled += chunk.len();
        true
    }

    /// The bytes object, once full; otherwise the buffer back.
    pub(crate) fn finish(self) -> Result<Py<PyBytes>, Self> {
        if self.filled == self.capacity {
            Ok(self.obj)
        } else {
            Err(self)
        }
    }

    /// What was written so far, as an owned copy (for a body that did not match its length).
    pub(crate) fn written(&self) -> Bytes {
        // SAFETY: the first `filled` bytes were written by `extend`.
        Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(self.start, self.filled) })
    }
}

/// NOTE: a large body lands in freshly mapped memory, and faulting it in 4 KiB at a time was the
/// largest cost of `download_buffered` (a third of its profile). Asking for transparent huge
/// pages first (the machine's THP mode is "madvise") faults it in 2 MiB at a time.
const HUGE_PAGE_MIN: usize = 8 << 20;

fn advise_huge_pages(start: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let begin = (start as usize).div_ceil(HUGE) * HUGE;
    let end = (start as usize + len) / HUGE * HUGE;
    if end > begin {
        // SAFETY: the range lies inside the allocation just made for this bytes object; madvise
        // only changes how the kernel backs those pages, never their contents or validity.
        unsafe { libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE) };
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
