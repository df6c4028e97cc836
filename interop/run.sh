#!/usr/bin/env bash
# Go <-> Rust compatibility checks against the real go-libp2p v0.48.0 (see docs/dump-and-ops.md).
#   PSTORE_BIN     the Rust `pstore` binary (default: build it with cargo)
#   PSTORE_SKIP_GO=1  skip (with a message) when Go is not installed; otherwise that fails.
#   PSTORE_SEEDS   differential replay: how many seeded random scripts (default 200)
#   PSTORE_OPS     ops per script (default 300)
#   PSTORE_TEST_POSTGRES  a PostgreSQL URL: the go-ds-sql checks run over it as well as SQLite
#                  (.ci/test starts a throwaway server); without it they fail, unless
#                  PSTORE_SKIP_POSTGRES=1 says to run them over SQLite only
#   PSTORE_SQL_SEEDS  differential replay over each SQL store: how many scripts (default 12)
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

# Databases fsync every write; on tmpfs that costs nothing.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then work="$(mktemp -d -p /dev/shm)"; else work="$(mktemp -d)"; fi
trap 'rm -rf "$work"' EXIT
pstore="${PSTORE_BIN:-}"
if [ -z "$pstore" ]; then
  # Ask cargo where it put the binary (CARGO_TARGET_DIR may move it).
  pstore="$(cd "$root" && cargo build -q --bin pstore --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*pstore\)".*/\1/p' | tail -n 1)"
  [ -x "$pstore" ] || { echo "interop: could not build pstore" >&2; exit 1; }
fi
(cd "$here" && go build -o "$work/interop" .)
interop="$work/interop"

fail=0
# `pstore apply` exits 1 when an op of the script failed (the scripts hold such ops on purpose);
# its per-op errors are compared with Go's below, so only other exit codes stop this script.
# goleveldb with Strict: StrictAll, read-only: every database Rust wrote or changed must pass.
strict() { # name, dir
  if ! "$interop" open "$2" >"$work/strict.out" 2>&1; then
    echo "FAIL $1: goleveldb (StrictAll) refuses it"; cat "$work/strict.out"; fail=1
  fi
}
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
  strict "$scenario: migrated by Rust" "$work/$scenario.migrated"
  "$interop" dump "$work/$scenario.migrated" >"$work/$scenario.migrated.jsonl"
  check "$scenario: Go dump of a Rust-written database" "$work/$scenario.go.jsonl" "$work/$scenario.migrated.jsonl"
  # A dump loaded by Rust, and a GC pass by Rust: Go opens both strictly and reads the same.
  "$pstore" load "$work/$scenario.loaded" "$work/$scenario.go.jsonl" 2>/dev/null
  strict "$scenario: loaded by Rust" "$work/$scenario.loaded"
  "$interop" dump "$work/$scenario.loaded" >"$work/$scenario.loaded.jsonl"
  check "$scenario: Go dump of a database Rust loaded" "$work/$scenario.go.jsonl" "$work/$scenario.loaded.jsonl"
  "$pstore" gc "$work/$scenario.loaded" >/dev/null
  strict "$scenario: after a GC pass by Rust" "$work/$scenario.loaded"
  "$pstore" compact "$db" 2>/dev/null
  strict "$scenario: compacted by Rust" "$db"
  "$interop" dump "$db" >"$work/$scenario.compacted.jsonl"
  check "$scenario: Go dump after Rust compacted it" "$work/$scenario.go.jsonl" "$work/$scenario.compacted.jsonl"
done

# The committed fixtures are what this go-libp2p writes today (modulo fresh keys): same shape.
for scenario in sample gc bulk; do
  fixture="$root/testdata/go-v0.48.0/$scenario"
  "$pstore" dump --snapshot "$fixture" >"$work/$scenario.fixture.rs.jsonl"
  check "$scenario: Rust dump of the committed fixture" "$root/testdata/go-v0.48.0/$scenario.dump.jsonl" "$work/$scenario.fixture.rs.jsonl"
done

# Protocols written by go-libp2p v0.24.2 (map[string]struct {}, testdata/go-v0.24.2): current
# go-libp2p refuses them; Rust reads them, and after Rust's next change Go reads them too.
legacy_peer=12D3KooWLnZUpcaBwbz9uD1XsyyHnbXUrJRmxnsMiRnuCmvPix67
cp -r "$root/testdata/go-v0.24.2/legacy-protocols" "$work/legacy"
echo "{\"op\":\"remove_protocols\",\"peer\":\"$legacy_peer\",\"protocols\":[\"/none\"]}" >"$work/legacy-rm.ops"
echo "{\"op\":\"add_protocols\",\"peer\":\"$legacy_peer\",\"protocols\":[\"/ipfs/kad/1.0.0\"]}" >"$work/legacy-add.ops"
"$interop" apply "$work/legacy" "$work/legacy-rm.ops" >"$work/legacy-before.err"
"$pstore" apply "$work/legacy" "$work/legacy-add.ops" >"$work/legacy-rs.err" || [ $? = 1 ]
strict "legacy protocols: after Rust's change" "$work/legacy"
"$interop" apply "$work/legacy" "$work/legacy-rm.ops" >"$work/legacy-after.err"
if [ -s "$work/legacy-before.err" ] && [ ! -s "$work/legacy-rs.err" ] && [ ! -s "$work/legacy-after.err" ]; then
  echo "ok   legacy protocols: Go v0.48.0 refuses them, Rust reads and rewrites them, then Go reads them"
else
  echo "FAIL legacy protocols"; cat "$work"/legacy-*.err; fail=1
fi

# Mixed: Go writes, Rust mutates, Go mutates again, Rust reads; the same steps all in Go are
# the reference.
"$interop" gen 9001 300 >"$work/mixed-a.ops"
"$interop" gen 9002 300 >"$work/mixed-b.ops"
"$interop" write "$work/mixed-ref" sample
cp -r "$work/mixed-ref" "$work/mixed"
cp -r "$work/mixed-ref" "$work/mixed-start"
"$interop" apply "$work/mixed-ref" "$work/mixed-a.ops" >"$work/mixed-ref-a.err"
"$interop" apply "$work/mixed-ref" "$work/mixed-b.ops" >/dev/null
"$pstore" apply "$work/mixed" "$work/mixed-a.ops" >"$work/mixed-a.err" || [ $? = 1 ]
strict "mixed: after Rust's ops" "$work/mixed"
"$pstore" compact "$work/mixed" 2>/dev/null
strict "mixed: after Rust compacted" "$work/mixed"
"$interop" apply "$work/mixed" "$work/mixed-b.ops" >/dev/null
"$interop" dump "$work/mixed-ref" >"$work/mixed-ref.jsonl"
"$pstore" dump "$work/mixed" >"$work/mixed.jsonl"
check "mixed: Go writes, Rust mutates, Go mutates, Rust reads" "$work/mixed-ref.jsonl" "$work/mixed.jsonl"
if ! "$interop" compare-errors "$work/mixed-ref-a.err" "$work/mixed-a.err"; then fail=1; fi

# replay_verdict LABEL DIR: Go's dump of its own database (DIR/go.jsonl) against Go's dump of
# Rust's (rs-by-go) and Rust's dump of Go's (go-by-rs), and the per-op errors (go.err, rs.err);
# prints each difference, fails if there is one.
replay_verdict() {
  local verdict=0 other
  for other in rs-by-go go-by-rs; do
    if ! "$interop" compare "$2/go.jsonl" "$2/$other.jsonl" >"$2/cmp" 2>&1; then
      verdict=1; echo "FAIL $1, $other:"; cat "$2/cmp"
    fi
  done
  if ! "$interop" compare-errors "$2/go.err" "$2/rs.err" >"$2/cmp" 2>&1; then
    verdict=1; echo "FAIL $1: per-op errors differ"; cat "$2/cmp"
  fi
  return "$verdict"
}

# Differential replay: the same seeded random script applied by Go to one database and by Rust
# to another, in both GC modes. Each side's database is read by both programs.
seeds="${PSTORE_SEEDS:-200}"
ops="${PSTORE_OPS:-300}"
replay_fail=0
for seed in $(seq 1 "$seeds"); do
  lookahead=0s
  if [ $((seed % 2)) = 1 ]; then lookahead=20s; fi
  s="$work/replay"
  rm -rf "$s" && mkdir -p "$s"
  "$interop" gen "$seed" "$ops" >"$s/ops"
  "$interop" apply "$s/go" "$s/ops" --gc-lookahead "$lookahead" >"$s/go.err"
  "$pstore" apply "$s/rs" "$s/ops" --gc-lookahead "$lookahead" >"$s/rs.err" || [ $? = 1 ]
  if ! "$interop" open "$s/rs" >"$s/strict" 2>&1; then
    echo "FAIL replay seed $seed: goleveldb (StrictAll) refuses Rust's database"; cat "$s/strict"; fail=1
  fi
  "$interop" dump "$s/go" >"$s/go.jsonl"
  "$interop" dump "$s/rs" >"$s/rs-by-go.jsonl"
  "$pstore" dump "$s/go" >"$s/go-by-rs.jsonl"
  ok=1
  replay_verdict "replay seed $seed (ops $ops, gc lookahead $lookahead)" "$s" || ok=0
  if [ "$ok" = 0 ]; then
    replay_fail=$((replay_fail + 1)); fail=1
    echo "  reproduce: go run ./interop gen $seed $ops > ops.jsonl; then apply it with both programs"
  fi
done
echo "ok   differential replay: $seeds seeds x $ops ops, $replay_fail differing"

# go-ds-sql (github.com/ipfs/go-ds-sql v0.3.0): go-libp2p's pstoreds over SQLite (modernc.org/sqlite)
# and PostgreSQL (lib/pq), both directions; Go and Rust taking turns on one store; the
# differential replay. A store is `sqlite:FILE` or the server's URL; tables are per check.
sql_bases=("sqlite:$work/SQL.db")
if [ -n "${PSTORE_TEST_POSTGRES:-}" ]; then
  sql_bases+=("$PSTORE_TEST_POSTGRES")
elif [ "${PSTORE_SKIP_POSTGRES:-}" = "1" ]; then
  echo "skip go-ds-sql over PostgreSQL: PSTORE_SKIP_POSTGRES=1"
else
  echo "FAIL go-ds-sql over PostgreSQL: no server (run the tests with .ci/test, or set PSTORE_TEST_POSTGRES)"
  fail=1
fi
pg_tables=()
n=0
sql_store() { # base, name: sets st and t to a store of its own (a new file, or a new table)
  n=$((n + 1))
  t="interop_$$_$n"
  case "$1" in
    sqlite:*) st="${1/SQL.db/$2.db}" ;;
    *) pg_tables+=("$t"); st="$1" ;;
  esac
}
sql_seeds="${PSTORE_SQL_SEEDS:-12}"
for base in "${sql_bases[@]}"; do
  case "$base" in sqlite:*) kind=SQLite ;; *) kind=PostgreSQL ;; esac
  for scenario in sample gc bulk; do
    sql_store "$base" "$scenario"
    INTEROP_TABLE="$t" "$interop" write "$st" "$scenario"
    INTEROP_TABLE="$t" "$interop" dump "$st" >"$work/sql.go.jsonl"
    "$pstore" --table "$t" dump "$st" >"$work/sql.rs.jsonl"
    check "$kind $scenario: Rust dump of a store go-libp2p wrote through go-ds-sql" "$work/sql.go.jsonl" "$work/sql.rs.jsonl"
    if [ "$scenario" != sample ]; then # sample makes fresh keys each time
      check "$kind $scenario: the same as over LevelDB" "$work/$scenario.go.jsonl" "$work/sql.go.jsonl"
    fi
    first="$st"; t1="$t"
    sql_store "$base" "$scenario-rs"; st2="$st"; t2="$t"; st="$first"; t="$t1"
    "$pstore" --table "$t2" migrate "$work/$scenario" "$st2" --to-table "$t2" 2>/dev/null
    INTEROP_TABLE="$t2" "$interop" dump "$st2" >"$work/sql.migrated.jsonl"
    check "$kind $scenario: Go dump of a store Rust wrote" "$work/$scenario.go.jsonl" "$work/sql.migrated.jsonl"
  done
  # One store, Go and Rust taking turns (as two nodes sharing it would): the mixed start
  # state, Rust mutates, Go mutates; both read what the all-Go reference on LevelDB holds.
  sql_store "$base" mixed
  "$pstore" --table "$t" migrate "$work/mixed-start" "$st" --to-table "$t" 2>/dev/null
  "$pstore" --table "$t" apply "$st" "$work/mixed-a.ops" >"$work/sql-mixed-a.err" || [ $? = 1 ]
  INTEROP_TABLE="$t" "$interop" apply "$st" "$work/mixed-b.ops" >/dev/null
  "$pstore" --table "$t" dump "$st" >"$work/sql-mixed.rs.jsonl"
  INTEROP_TABLE="$t" "$interop" dump "$st" >"$work/sql-mixed.go.jsonl"
  check "$kind mixed: Rust mutates, Go mutates; Rust reads" "$work/mixed-ref.jsonl" "$work/sql-mixed.rs.jsonl"
  check "$kind mixed: ... and Go reads" "$work/mixed-ref.jsonl" "$work/sql-mixed.go.jsonl"
  if ! "$interop" compare-errors "$work/mixed-ref-a.err" "$work/sql-mixed-a.err"; then fail=1; fi
  sql_replay_fail=0
  for seed in $(seq 1 "$sql_seeds"); do
    lookahead=0s
    if [ $((seed % 2)) = 1 ]; then lookahead=20s; fi
    "$interop" gen "$seed" "$ops" >"$work/sql.ops"
    sql_store "$base" "replay-go-$seed"; go_st="$st"; go_t="$t"
    sql_store "$base" "replay-rs-$seed"; rs_st="$st"; rs_t="$t"
    r="$work/sql-replay"
    mkdir -p "$r"
    INTEROP_TABLE="$go_t" "$interop" apply "$go_st" "$work/sql.ops" --gc-lookahead "$lookahead" >"$r/go.err"
    "$pstore" --table "$rs_t" apply "$rs_st" "$work/sql.ops" --gc-lookahead "$lookahead" >"$r/rs.err" || [ $? = 1 ]
    INTEROP_TABLE="$go_t" "$interop" dump "$go_st" >"$r/go.jsonl"
    INTEROP_TABLE="$rs_t" "$interop" dump "$rs_st" >"$r/rs-by-go.jsonl"
    "$pstore" --table "$go_t" dump "$go_st" >"$r/go-by-rs.jsonl"
    if ! replay_verdict "$kind replay seed $seed (gc lookahead $lookahead)" "$r"; then
      sql_replay_fail=$((sql_replay_fail + 1)); fail=1
    fi
  done
  echo "ok   $kind differential replay: $sql_seeds seeds x $ops ops, $sql_replay_fail differing"
done
if [ "${#pg_tables[@]}" -gt 0 ] && command -v psql >/dev/null 2>&1; then
  for t in "${pg_tables[@]}"; do echo "DROP TABLE IF EXISTS $t;"; done \
    | psql -q "$PSTORE_TEST_POSTGRES" >/dev/null 2>&1 || true
fi

if [ "$fail" != 0 ]; then
  echo "interop: differences found" >&2
  exit 1
fi
echo "interop: all checks passed"
