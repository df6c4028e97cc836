//! TTLs as py-libp2p counts them (seconds, `int` or `float`, 0 = permanent) to Go's
//! nanoseconds, exactly: an `int` is multiplied, a `float` is converted from its exact binary
//! value and rounded to the nearest nanosecond.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use pstoreds::peerstore::Ttl;

const NANOS: i128 = 1_000_000_000;

/// Go nanoseconds for a non-negative number of seconds given exactly as `mantissa * 2^exp`.
fn scaled(mantissa: u64, exp: i32) -> i128 {
    let n = i128::from(mantissa) * NANOS;
    if exp >= 0 {
        if exp >= 64 || n.leading_zeros() <= exp as u32 + 1 {
            return i128::MAX;
        }
        n << exp
    } else {
        let shift = exp.unsigned_abs();
        if shift >= 127 {
            return 0;
        }
        // Round half up: add half of the last unit kept.
        (n + (1i128 << (shift - 1))) >> shift
    }
}

/// A float's exact value as `mantissa * 2^exp` (finite, non-negative floats only).
fn decompose(f: f64) -> (u64, i32) {
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    }
}

/// The Go TTL for a py-libp2p TTL: 0 is permanent (py-libp2p's `PERMANENT_ADDR_TTL`), a TTL
/// beyond Go's range is permanent too, a positive TTL shorter than a nanosecond is one
/// nanosecond (never zero, which Go reads as "remove"). `None` for a negative or non-finite
/// number, with the reason.
pub fn from_seconds(ttl: &Bound<'_, PyAny>) -> Result<Ttl, String> {
    let nanos: i128 = if ttl.is_instance_of::<PyBool>() {
        return Err("a TTL is a number of seconds, not a bool".into());
    } else if ttl.is_instance_of::<PyInt>() {
        match ttl.extract::<i64>() {
            Ok(s) if s < 0 => return Err(format!("a TTL cannot be negative ({s} s)")),
            Ok(s) => i128::from(s) * NANOS,
            Err(_) if ttl.lt(0).unwrap_or(false) => {
                return Err("a TTL cannot be negative".into());
            }
            Err(_) => i128::MAX,
        }
    } else if ttl.is_instance_of::<PyFloat>() {
        let f: f64 = ttl.extract().map_err(|e: PyErr| e.to_string())?;
        if !f.is_finite() || f < 0.0 {
            return Err(format!(
                "a TTL must be a finite number of seconds >= 0, not {f}"
            ));
        }
        let (m, e) = decompose(f);
        match scaled(m, e) {
            0 if f > 0.0 => 1,
            n => n,
        }
    } else {
        return Err(format!(
            "a TTL is a number of seconds (int or float), not {}",
            ttl.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ));
    };
    Ok(match nanos {
        0 => Ttl::PERMANENT,
        n if n >= i128::from(Ttl::CONNECTED.nanos()) => Ttl::PERMANENT,
        n => Ttl(n as i64),
    })
}

/// `ttl_nanos(seconds) -> int`: the Go nanoseconds a py-libp2p TTL is stored as.
#[pyfunction]
pub fn ttl_nanos(py: Python<'_>, seconds: &Bound<'_, PyAny>) -> PyResult<i64> {
    from_seconds(seconds)
        .map(Ttl::nanos)
        .map_err(|m| crate::errors::invalid(py, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float_nanos(f: f64) -> i128 {
        let (m, e) = decompose(f);
        scaled(m, e)
    }

    #[test]
    fn floats_convert_from_their_exact_value() {
        assert_eq!(float_nanos(1.0), 1_000_000_000);
        assert_eq!(float_nanos(0.5), 500_000_000);
        assert_eq!(float_nanos(7200.0), 7_200_000_000_000);
        // 0.1 is 0.1000000000000000055511151231257827...: 100,000,000 ns.
        assert_eq!(float_nanos(0.1), 100_000_000);
        // 1e-10 s is 0.1 ns: rounds to 0 (the caller turns a positive TTL into 1 ns).
        assert_eq!(float_nanos(1e-10), 0);
        assert_eq!(float_nanos(0.0), 0);
        assert_eq!(float_nanos(1e300), i128::MAX);
    }
}
