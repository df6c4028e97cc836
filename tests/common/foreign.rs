//! The other two LevelDB implementations as judges of our files, and as writers of files for
//! us to read: C++ LevelDB 1.23 (Debian's `libleveldb-dev`, through `interop/cxx/leveldb_tool`,
//! built here by `interop/cxx/build.sh`) and goleveldb (through the Go harness's
//! `leveldb-list` and `leveldb-write`). Both print every entry as `HEXKEY HEXVALUE` lines.
//!
//! A machine without Go or without a C++ compiler and the package fails the tests that use
//! them, unless `PSTORE_SKIP_GO=1` or `PSTORE_SKIP_CXX=1` says to skip that judge.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every entry of a database, in key order.
pub type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// How goleveldb is to read a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoStrictness {
    /// `Strict: StrictAll`: any damage, a torn journal tail included, refuses the open.
    All,
    /// goleveldb's default (what go-ds-leveldb opens with): a torn journal tail is dropped.
    Default,
}

pub struct Judges {
    pub cxx: Option<PathBuf>,
    pub go: Option<PathBuf>,
}

fn skipped(var: &str) -> bool {
    std::env::var(var).as_deref() == Ok("1")
}

fn build_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("foreign-judges");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn build_cxx() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = build_dir().join("leveldb_tool");
    // Built once for all the test binaries: again only when its source is newer.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let sources = ["interop/cxx/leveldb_tool.cc", "interop/cxx/build.sh"].map(|f| root.join(f));
    if modified(&bin).is_some_and(|b| sources.iter().all(|s| modified(s).is_some_and(|s| s <= b))) {
        return Some(bin);
    }
    let built = Command::new("bash")
        .arg(root.join("interop/cxx/build.sh"))
        .arg(&bin)
        .status()
        .is_ok_and(|s| s.success());
    if built {
        return Some(bin);
    }
    assert!(
        skipped("PSTORE_SKIP_CXX"),
        "building the C++ LevelDB judge failed (interop/cxx/build.sh needs g++ and \
         libleveldb-dev; set PSTORE_SKIP_CXX=1 to skip it)"
    );
    None
}

fn build_go() -> Option<PathBuf> {
    if Command::new("go").arg("version").output().is_err() {
        assert!(
            skipped("PSTORE_SKIP_GO"),
            "go is not installed (set PSTORE_SKIP_GO=1 to skip the goleveldb judge)"
        );
        return None;
    }
    let bin = build_dir().join("interop");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop"))
        .status()
        .unwrap();
    assert!(status.success(), "building the Go harness");
    Some(bin)
}

/// The judges, built once per test binary.
pub fn judges() -> &'static Judges {
    static JUDGES: OnceLock<Judges> = OnceLock::new();
    JUDGES.get_or_init(|| Judges {
        cxx: build_cxx(),
        go: build_go(),
    })
}

fn parse(out: &[u8], who: &str) -> Entries {
    let text = std::str::from_utf8(out).unwrap();
    text.lines()
        .map(|line| {
            let (k, v) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("{who}: bad line {line:?}"));
            let hex = |s: &str| data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap();
            (hex(k), hex(v))
        })
        .collect()
}

fn run(cmd: &mut Command, who: &str) -> Result<Entries, String> {
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return Err(format!(
            "{who}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse(&out.stdout, who))
}

/// A copy of `dir` (without `LOCK` and the info logs) that a judge may open, recover and
/// rewrite without touching the original.
fn copy_of(dir: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name == "LOCK" || name.starts_with("LOG") {
            continue;
        }
        std::fs::copy(&p, into.join(&name)).unwrap();
    }
    into.to_path_buf()
}

impl Judges {
    /// What each available judge reads from (a copy of) `dir`: `("C++ LevelDB", entries)`,
    /// `("goleveldb", entries)`, or the error it refused the directory with.
    pub fn read(
        &self,
        dir: &Path,
        go: GoStrictness,
    ) -> Vec<(&'static str, Result<Entries, String>)> {
        let scratch = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        if let Some(cxx) = &self.cxx {
            let copy = copy_of(dir, &scratch.path().join("cxx"));
            let got = run(
                Command::new(cxx).arg("list").arg(&copy),
                "C++ LevelDB (paranoid_checks)",
            );
            seen.push(("C++ LevelDB", got));
        }
        if let Some(bin) = &self.go {
            let copy = copy_of(dir, &scratch.path().join("go"));
            let mut cmd = Command::new(bin);
            cmd.arg("leveldb-list").arg(&copy);
            if go == GoStrictness::All {
                cmd.arg("--strict");
            }
            seen.push(("goleveldb", run(&mut cmd, "goleveldb")));
        }
        seen
    }

    /// Asserts that every available judge opens `dir` and reads exactly `want`.
    pub fn assert_reads(&self, dir: &Path, go: GoStrictness, want: &Entries, ctx: &str) {
        for (who, got) in self.read(dir, go) {
            let got = got.unwrap_or_else(|e| panic!("{ctx}: {who} refuses our files: {e}"));
            if &got != want {
                let diff = want
                    .iter()
                    .find(|(k, v)| got.get(*k) != Some(v))
                    .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                    .or_else(|| {
                        got.keys()
                            .find(|k| !want.contains_key(*k))
                            .map(|k| format!("{} (extra)", String::from_utf8_lossy(k)))
                    });
                panic!(
                    "{ctx}: {who} reads {} entries, we wrote {}; first difference at {diff:?}",
                    got.len(),
                    want.len()
                );
            }
        }
    }

    /// C++ LevelDB runs its seeded random workload into the new directory `dir` and returns
    /// what it says the database holds (`None` when this judge is skipped).
    pub fn cxx_write(&self, dir: &Path, seed: u64, ops: u64) -> Option<Entries> {
        write_with(
            self.cxx.as_ref()?,
            "write",
            dir,
            seed,
            ops,
            "C++ LevelDB write",
        )
    }

    /// goleveldb runs its seeded random workload into the new directory `dir`.
    pub fn go_write(&self, dir: &Path, seed: u64, ops: u64) -> Option<Entries> {
        write_with(
            self.go.as_ref()?,
            "leveldb-write",
            dir,
            seed,
            ops,
            "goleveldb write",
        )
    }
}

fn write_with(
    bin: &Path,
    cmd: &str,
    dir: &Path,
    seed: u64,
    ops: u64,
    who: &str,
) -> Option<Entries> {
    let mut command = Command::new(bin);
    command
        .arg(cmd)
        .arg(dir)
        .arg(seed.to_string())
        .arg(ops.to_string());
    Some(run(&mut command, who).unwrap())
}
