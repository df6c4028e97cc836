#!/usr/bin/env bash
# Go <-> Rust compatibility checks against the real go-libp2p v0.48.0 (see INTEROP.md).
#   PSTORE_BIN     the Rust `pstore` binary (default: build it with cargo)
#   PSTORE_SKIP_GO=1  skip (with a message) when Go is not installed; otherwise that fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

if ! command -v go >/dev/null 2>&1; then
  if [ "${PSTORE_SKIP_GO:-}" = "1" ]; then
    echo "interop: go is not installed; skipped because PSTORE_SKIP_GO=1"
    exit 0
  fi
  echo "interop: go is not installed (set PSTORE_SKIP_GO=1 to skip these checks)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pstore="${PSTORE_BIN:-}"
if [ -z "$pstore" ]; then
  (cd "$root" && cargo build -q --bin pstore)
  pstore="$root/target/debug/pstore"
fi
(cd "$here" && go build -o "$work/interop" .)
interop="$work/interop"

fail=0
check() { # name, expected dump, actual dump
  if ! "$interop" compare "$2" "$3" >"$work/cmp.out" 2>&1; then
    echo "FAIL $1"; cat "$work/cmp.out"; fail=1
  else
    echo "ok   $1 ($(cat "$work/cmp.out"))"
  fi
}

for scenario in sample gc bulk; do
  db="$work/$scenario"
  "$interop" write "$db" "$scenario"
  "$interop" dump "$db" >"$work/$scenario.go.jsonl"
  # Rust reads what Go wrote.
  "$pstore" dump "$db" >"$work/$scenario.rs.jsonl"
  check "$scenario: Rust dump of a Go-written database" "$work/$scenario.go.jsonl" "$work/$scenario.rs.jsonl"
  # Go reads what Rust wrote: a fresh LevelDB written by Rust, then the Go one compacted by Rust.
  "$pstore" migrate "$db" "$work/$scenario.migrated" 2>/dev/null
  "$interop" open "$work/$scenario.migrated"
  "$interop" dump "$work/$scenario.migrated" >"$work/$scenario.migrated.jsonl"
  check "$scenario: Go dump of a Rust-written database" "$work/$scenario.go.jsonl" "$work/$scenario.migrated.jsonl"
  "$pstore" compact "$db"
  "$interop" open "$db"
  "$interop" dump "$db" >"$work/$scenario.compacted.jsonl"
  check "$scenario: Go dump after Rust compacted it" "$work/$scenario.go.jsonl" "$work/$scenario.compacted.jsonl"
done

# The committed fixtures are what this go-libp2p writes today (modulo fresh keys): same shape.
for scenario in sample gc bulk; do
  fixture="$root/testdata/go-v0.48.0/$scenario"
  "$pstore" dump --snapshot "$fixture" >"$work/$scenario.fixture.rs.jsonl"
  check "$scenario: Rust dump of the committed fixture" "$root/testdata/go-v0.48.0/$scenario.dump.jsonl" "$work/$scenario.fixture.rs.jsonl"
done

if [ "$fail" != 0 ]; then
  echo "interop: differences found" >&2
  exit 1
fi
echo "interop: all checks passed"
