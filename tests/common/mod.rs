//! Helpers shared by the end-to-end tests of the `kennel` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The repository root, read when the test runs (cargo sets it): a test binary reused from
/// another checkout sharing the target folder must not read that checkout's files.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    )
}

/// Runs the binary with `args` in `dir`.
pub fn kennel(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kennel"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run kennel")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Fails with both streams when the command did not succeed.
#[track_caller]
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}
