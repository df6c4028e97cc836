//! Metadata values: py-libp2p's `MetadataValue` (`str | int | float | bool | None`) as the gob
//! values go-libp2p stores (`string`, `int`, `float64`, `bool`, nil), and every gob value read
//! back as the closest Python value.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString};

use pstoreds::codec::gob::Value;

/// The gob value for a py-libp2p metadata value, or why it cannot be one.
pub fn to_gob(v: &Bound<'_, PyAny>) -> Result<Value, String> {
    if v.is_none() {
        Ok(Value::Nil)
    } else if v.is_instance_of::<PyBool>() {
        Ok(Value::Bool(v.extract().map_err(|e: PyErr| e.to_string())?))
    } else if v.is_instance_of::<PyInt>() {
        v.extract::<i64>()
            .map(Value::Int)
            .map_err(|_| "an int metadata value must fit in 64 bits (Go's int)".to_owned())
    } else if v.is_instance_of::<PyFloat>() {
        Ok(Value::Float64(
            v.extract().map_err(|e: PyErr| e.to_string())?,
        ))
    } else if v.is_instance_of::<PyString>() {
        Ok(Value::String(
            v.extract().map_err(|e: PyErr| e.to_string())?,
        ))
    } else {
        Err(format!(
            "MetadataValue must be str, int, float, bool, or None, got {}",
            v.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    }
}

/// A stored gob value of a type Python has no value for: its Go type name and its bytes, kept
/// as stored.
#[pyclass(frozen, module = "pstoreds._native")]
pub struct GoValue {
    /// The registered Go type name, if the value decoded far enough to show it.
    #[pyo3(get)]
    type_name: Option<String>,
    /// The gob bytes as stored.
    raw: Vec<u8>,
}

#[pymethods]
impl GoValue {
    /// The gob bytes as stored.
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.raw)
    }

    fn __repr__(&self) -> String {
        format!(
            "GoValue(type_name={:?}, {} bytes)",
            self.type_name.as_deref().unwrap_or("?"),
            self.raw.len()
        )
    }
}

/// The Python value of a stored gob value.
pub fn to_py(py: Python<'_>, v: Value) -> PyResult<Py<PyAny>> {
    match v {
        Value::Nil => Ok(py.None()),
        Value::Bool(b) => b.into_py_any(py),
        Value::String(s) => s.into_py_any(py),
        Value::Bytes(b) => PyBytes::new(py, &b).into_py_any(py),
        Value::Strings(s) => s.into_py_any(py),
        Value::Int(i) | Value::Int64(i) => i.into_py_any(py),
        Value::Int8(i) => i.into_py_any(py),
        Value::Int16(i) => i.into_py_any(py),
        Value::Int32(i) => i.into_py_any(py),
        Value::Uint(u) | Value::Uint64(u) | Value::Uintptr(u) => u.into_py_any(py),
        Value::Uint8(u) => u.into_py_any(py),
        Value::Uint16(u) => u.into_py_any(py),
        Value::Uint32(u) => u.into_py_any(py),
        Value::Float32(f) => f64::from(f).into_py_any(py),
        Value::Float64(f) => f.into_py_any(py),
        Value::Other(o) => GoValue {
            type_name: o.type_name,
            raw: o.raw,
        }
        .into_py_any(py),
    }
}
