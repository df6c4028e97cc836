// Command interop drives the real go-libp2p v0.48.0 datastore-backed peerstore (pstoreds over
// go-ds-leveldb) so that the Rust pstoreds crate can be checked against it, both ways:
//
//	interop write DIR SCENARIO   build a database through go-libp2p's public API
//	interop dump DIR             print the canonical dump (docs/dump-and-ops.md)
//	interop open DIR             open with goleveldb, no recovery; fail loudly if corrupt
//	interop leveldb-list DIR [--strict]  every entry, hex, as goleveldb reads it (StrictAll)
//	interop leveldb-write DIR SEED OPS    a seeded random goleveldb workload; prints the model
//	interop leveldb-bench DIR N          goleveldb in db_bench's shapes (benches/compare_engine.sh)
//	interop compare A B          compare two canonical dumps, print the first difference
//	interop apply DIR OPS [--gc-lookahead DURATION]  replay an op script through go-libp2p
//	interop gen SEED N           a seeded random op script of N ops (differential replay)
//	interop throughput STORE THREADS SECONDS  writes/s and reads/s (benches/compare_sql.sh)
//	interop scale-populate DIR N SEED | scale-open DIR | scale-churn DIR SECONDS THREADS READ%
//	                             the scale and stall runs of benches/compare_scale.sh
//
// A store is a LevelDB directory, sqlite:FILE or a PostgreSQL URL (table: $INTEROP_TABLE,
// default blocks).
//
// Nothing here re-implements go-libp2p: every write goes through pstoreds' public API.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; {
	case cmd == "write" && len(args) == 2:
		err = write(args[0], args[1])
	case cmd == "dump" && len(args) == 1:
		err = dump(args[0], os.Stdout)
	case cmd == "open" && len(args) == 1:
		err = openStrict(args[0])
	case cmd == "leveldb-list" && (len(args) == 1 || len(args) == 2 && args[1] == "--strict"):
		err = leveldbList(args[0], len(args) == 2)
	case cmd == "leveldb-write" && len(args) == 3:
		var seed, ops uint64
		if _, err = fmt.Sscan(args[1], &seed); err == nil {
			if _, err = fmt.Sscan(args[2], &ops); err == nil {
				err = leveldbWrite(args[0], seed, ops)
			}
		}
	case cmd == "leveldb-bench" && len(args) == 2:
		var n uint64
		if _, err = fmt.Sscan(args[1], &n); err == nil {
			err = engineBench(args[0], n)
		}
	case cmd == "compare" && len(args) == 2:
		err = compare(args[0], args[1])
	case cmd == "apply" && (len(args) == 2 || len(args) == 4 && args[2] == "--gc-lookahead"):
		var lookahead time.Duration
		if len(args) == 4 {
			// A Go duration (20s, 1h), as pstore apply takes it.
			if lookahead, err = time.ParseDuration(args[3]); err != nil {
				break
			}
		}
		err = apply(args[0], args[1], lookahead)
	case cmd == "compare-errors" && len(args) == 2:
		err = compareErrors(args[0], args[1])
	case cmd == "gen" && len(args) == 2:
		var seed, n int64
		if _, err = fmt.Sscan(args[0], &seed); err == nil {
			if _, err = fmt.Sscan(args[1], &n); err == nil {
				err = gen(seed, int(n), os.Stdout)
			}
		}
	case cmd == "throughput" && len(args) == 3:
		var threads int
		var seconds float64
		if _, err = fmt.Sscan(args[1], &threads); err == nil {
			if _, err = fmt.Sscan(args[2], &seconds); err == nil {
				err = throughput(args[0], threads, seconds)
			}
		}
	case cmd == "scale-populate" && len(args) == 3:
		var n, seed int64
		if _, err = fmt.Sscan(args[1], &n); err == nil {
			if _, err = fmt.Sscan(args[2], &seed); err == nil {
				err = scalePopulate(args[0], int(n), seed)
			}
		}
	case cmd == "scale-open" && len(args) == 1:
		err = scaleOpen(args[0])
	case cmd == "scale-churn" && len(args) == 4:
		var seconds float64
		var threads, readPercent int
		if _, err = fmt.Sscan(args[1], &seconds); err == nil {
			if _, err = fmt.Sscan(args[2], &threads); err == nil {
				if _, err = fmt.Sscan(args[3], &readPercent); err == nil {
					err = scaleChurn(args[0], seconds, threads, readPercent)
				}
			}
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: interop write DIR SCENARIO | dump DIR | open DIR | compare DUMP_A DUMP_B | apply DIR OPS [--gc-lookahead DURATION] | gen SEED N")
	fmt.Fprintln(os.Stderr, "scenarios:", scenarioNames())
	os.Exit(2)
}
