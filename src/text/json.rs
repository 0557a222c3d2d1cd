//! JSON decoded straight from bytes into Python objects (no intermediate `serde_json::Value`).

use std::cell::RefCell;
use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Object keys repeat across the records of a document, in the same order: one Python string per
/// distinct key, found by predicting the key after the previous one, else by a short scan.
/// NOTE: a hash map here (SipHash, then FNV) cost 11% of a decode in hashing and probing; the
/// prediction hits on nearly every key of record-shaped documents.
struct KeyCache<'de, 'py> {
    entries: Vec<(&'de str, Bound<'py, PyString>)>,
    next: usize,
}

const MAX_CACHED_KEYS: usize = 64;

impl<'de, 'py> KeyCache<'de, 'py> {
    fn get(&mut self, py: Python<'py>, key: &'de str) -> Bound<'py, PyString> {
        if let Some((k, s)) = self.entries.get(self.next) {
            if *k == key {
                self.next += 1;
                return s.clone();
            }
        }
        if let Some(i) = self.entries.iter().position(|(k, _)| *k == key) {
            self.next = i + 1;
            return self.entries[i].1.clone();
        }
        let s = PyString::new(py, key);
        if self.entries.len() < MAX_CACHED_KEYS {
            self.entries.push((key, s.clone()));
            self.next = self.entries.len();
        }
        s
    }
}

struct Value<'a, 'de, 'py> {
    py: Python<'py>,
    keys: &'a RefCell<KeyCache<'de, 'py>>,
}

impl<'a, 'de, 'py> Clone for Value<'a, 'de, 'py> {
    fn clone(&self) -> Self {
        Self {
            py: self.py,
            keys: self.keys,
        }
    }
}

impl<'de, 'py> DeserializeSeed<'de> for Value<'_, 'de, 'py> {
    type Value = Bound<'py, PyAny>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

struct Key<'a, 'de, 'py>(Value<'a, 'de, 'py>);

impl<'de, 'py> DeserializeSeed<'de> for Key<'_, 'de, 'py> {
    type Value = Bound<'py, PyString>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for Key<'_, 'de, 'py> {
    type Value = Bound<'py, PyString>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(self.0.keys.borrow_mut().get(self.0.py, v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0.py, v))
    }
}

impl<'de, 'py> Visitor<'de> for Value<'_, 'de, 'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(pyo3::types::PyBool::new(self.py, v).to_owned().into_any())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        v.into_pyobject(self.py)
            .map(Bound::into_any)
            .map_err(E::custom)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        v.into_pyobject(self.py)
            .map(Bound::into_any)
            .map_err(E::custom)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        v.into_pyobject(self.py)
            .map(Bound::into_any)
            .map_err(E::custom)
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.py, v).into_any())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(8));
        while let Some(item) = seq.next_element_seed(self.clone())? {
            items.push(item);
        }
        PyList::new(self.py, items)
            .map(Bound::into_any)
            .map_err(serde::de::Error::custom)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.py);
        while let Some(key) = map.next_key_seed(Key(self.clone()))? {
            let value = map.next_value_seed(self.clone())?;
            dict.set_item(key, value)
                .map_err(serde::de::Error::custom)?;
        }
        Ok(dict.into_any())
    }
}

/// Decodes UTF-8 JSON bytes. Raises `json.JSONDecodeError`, as `json.loads` would.
#[pyfunction]
pub(crate) fn json_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let keys = RefCell::new(KeyCache {
        entries: Vec::new(),
        next: 0,
    });
    let mut de = serde_json::Deserializer::from_slice(data);
    let result = {
        let _paused = GcPause::new();
        Value { py, keys: &keys }
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v))
    };
    result.map_err(|e| {
        let doc = String::from_utf8_lossy(data);
        let pos = line_col_to_pos(data, e.line(), e.column());
        match py
            .import("json")
            .and_then(|m| m.getattr("JSONDecodeError"))
            .and_then(|cls| cls.call1((e.to_string(), doc.as_ref(), pos)))
        {
            Ok(exc) => PyErr::from_value(exc),
            Err(err) => err,
        }
    })
}

/// The position `JSONDecodeError.pos` gives (in characters) of serde's line and column (the
/// column counts bytes: a document beyond ASCII was placed too far).
fn line_col_to_pos(data: &[u8], line: usize, column: usize) -> usize {
    let start: usize = data
        .split_inclusive(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let end = (start + column.saturating_sub(1)).min(data.len());
    String::from_utf8_lossy(&data[..end]).chars().count()
}

/// Pauses Python's cyclic garbage collector while a document's objects are built.
/// NOTE: a decode allocates thousands of dicts and lists, each counted towards a generation-0
/// collection that then walks all of them: 18% of a 1 MiB decode. JSON cannot form cycles, so
/// nothing is lost by collecting after instead of during.
struct GcPause {
    was_enabled: bool,
}

impl GcPause {
    fn new() -> Self {
        // SAFETY: called with the GIL held (this module's functions always are); both calls are in
        // the stable ABI since 3.10 and have no other preconditions.
        let was_enabled = unsafe { pyo3::ffi::PyGC_Disable() } == 1;
        Self { was_enabled }
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: as above; the GIL is still held when the guard drops.
            unsafe { pyo3::ffi::PyGC_Enable() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_col_to_pos;

    #[test]
    fn positions_count_characters_not_bytes() {
        // Found by the fuzz target `json`: serde's column counts bytes, Python's pos characters.
        assert_eq!(line_col_to_pos("[1,\n\"é\", x]".as_bytes(), 2, 7), 9);
        assert_eq!(line_col_to_pos(b"[1, x]", 1, 5), 4);
    }
}
