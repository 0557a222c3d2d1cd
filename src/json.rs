//! JSON decoded straight from bytes into Python objects (no intermediate `serde_json::Value`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Object keys repeat across the records of a document; one Python string per distinct key.
type KeyCache<'de, 'py> = RefCell<HashMap<&'de str, Bound<'py, PyString>>>;

struct Value<'a, 'de, 'py> {
    py: Python<'py>,
    keys: &'a KeyCache<'de, 'py>,
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
        let py = self.0.py;
        Ok(self
            .0
            .keys
            .borrow_mut()
            .entry(v)
            .or_insert_with(|| PyString::new(py, v))
            .clone())
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
    let keys = RefCell::new(HashMap::new());
    let mut de = serde_json::Deserializer::from_slice(data);
    let result = Value { py, keys: &keys }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    result.map_err(|e| {
        let doc = String::from_utf8_lossy(data);
        let pos = line_col_to_pos(&doc, e.line(), e.column());
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

fn line_col_to_pos(doc: &str, line: usize, column: usize) -> usize {
    let start: usize = doc
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count())
        .sum();
    start + column.saturating_sub(1)
}
