//! Hex, as the dump, op scripts and messages write bytes: lower case out, either case in.

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The bytes of hex text (either case); `what` names the field in the error.
pub fn decode(text: &str, what: &str) -> Result<Vec<u8>, String> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|e| format!("{what} is not hex: {e}"))
}
