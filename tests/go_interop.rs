//! Runs `interop/run.sh`: real go-libp2p v0.48.0 writes databases that this crate must dump
//! identically, and opens (without recovery) and dumps databases this crate wrote. Needs Go;
//! without it the test fails unless PSTORE_SKIP_GO=1.

use std::path::Path;
use std::process::Command;

#[test]
fn go_and_rust_read_each_others_databases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("bash")
        .arg(root.join("interop/run.sh"))
        .env("PSTORE_BIN", env!("CARGO_BIN_EXE_pstore"))
        .output()
        .expect("running interop/run.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "interop/run.sh failed:\n{stdout}\n{stderr}"
    );
}
