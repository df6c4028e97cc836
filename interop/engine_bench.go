package main

// The Go half of benches/compare_engine.sh: goleveldb on its own, in db_bench's shapes, with
// the keys, values and options of the C++ half (interop/cxx/leveldb_tool.cc bench) and the
// Rust half (benches/engine.rs): 19-byte keys /k/%016d over a key space of N, 100-byte values
// half compressible, Bloom filters of 10 bits a key, Snappy, 4 MiB write buffer. Prints
// "ROW MICROS_PER_OP" lines.

import (
	"fmt"
	"sync"
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

func benchKey(i uint64) []byte { return []byte(fmt.Sprintf("/k/%016d", i)) }

func benchValue(r *xorshift) []byte {
	v := make([]byte, 100)
	for i := 0; i < 50; i++ {
		v[i] = byte('a' + r.below(26))
		v[i+50] = v[i]
	}
	return v
}

func engineBench(dir string, n uint64) error {
	db, err := goleveldb.OpenFile(dir, &opt.Options{
		ErrorIfExist: true,
		Filter:       filter.NewBloomFilter(10),
		WriteBuffer:  4 << 20,
	})
	if err != nil {
		return err
	}
	defer db.Close()
	report := func(row string, d time.Duration, ops uint64) {
		fmt.Printf("%s %.3f\n", row, float64(d.Microseconds())/float64(ops))
	}
	fill := func(row string, threads int, perThread uint64, syncWrites bool, seed uint64) error {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, threads)
		for w := 0; w < threads; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := xorshift(seed + uint64(w)*7919 + 1)
				wo := &opt.WriteOptions{Sync: syncWrites}
				for i := uint64(0); i < perThread; i++ {
					if err := db.Put(benchKey(r.below(n)), benchValue(&r), wo); err != nil {
						errs[w] = err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		report(row, time.Since(start), perThread*uint64(threads))
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := fill("fillrandom", 1, n, false, 1); err != nil {
		return err
	}
	if err := fill("overwrite", 1, n, false, 2); err != nil {
		return err
	}
	r := xorshift(3)
	found := 0
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		if _, err := db.Get(benchKey(r.below(n)), nil); err == nil {
			found++
		}
	}
	report("readrandom", time.Since(start), n)
	if found == 0 {
		return fmt.Errorf("readrandom found nothing")
	}
	start = time.Now()
	it := db.NewIterator(nil, nil)
	entries := uint64(0)
	for it.Next() {
		entries++
	}
	it.Release()
	report("readseq", time.Since(start), entries)
	if err := fill("fillrandom-8-threads", 8, n/8, false, 4); err != nil {
		return err
	}
	if err := fill("fillsync", 1, 2000, true, 5); err != nil {
		return err
	}
	return fill("fillsync-8-threads", 8, 1000, true, 6)
}
