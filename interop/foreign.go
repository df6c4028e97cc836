package main

// goleveldb on its own, without go-libp2p: the judge of the files pstoreds' engine writes and
// a writer of databases for it to read (tests/leveldb_foreign.rs; C++ LevelDB's twin is
// interop/cxx/leveldb_tool.cc, and both print the same "HEXKEY HEXVALUE" lines).

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"sort"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// leveldbList opens dir with goleveldb (StrictAll when strict, else goleveldb's default
// strictness, which go-ds-leveldb opens with and which drops a torn journal tail), reads every
// entry with checksums verified and prints them in key order. Point reads go through the
// filters too.
func leveldbList(dir string, strict bool) error {
	o := &opt.Options{ErrorIfMissing: true, Filter: filter.NewBloomFilter(10)}
	ro := &opt.ReadOptions{}
	if strict {
		o.Strict = opt.StrictAll
		ro.Strict = opt.StrictAll
	}
	db, err := goleveldb.OpenFile(dir, o)
	if err != nil {
		return fmt.Errorf("goleveldb refuses %s: %w", dir, err)
	}
	defer db.Close()
	it := db.NewIterator(nil, ro)
	var keys, values [][]byte
	for it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
		values = append(values, append([]byte(nil), it.Value()...))
	}
	it.Release()
	if err := it.Error(); err != nil {
		return fmt.Errorf("goleveldb failed reading %s after %d entries: %w", dir, len(keys), err)
	}
	w := bufio.NewWriter(os.Stdout)
	for i, k := range keys {
		v, err := db.Get(k, ro)
		if err != nil {
			return fmt.Errorf("goleveldb get %x: %w", k, err)
		}
		if string(v) != string(values[i]) {
			return fmt.Errorf("goleveldb get %x disagrees with its iterator", k)
		}
		fmt.Fprintf(w, "%s %s\n", hex.EncodeToString(k), hex.EncodeToString(values[i]))
	}
	return w.Flush()
}

type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

func (x *xorshift) below(n uint64) uint64 { return x.next() % n }

func foreignKey(r *xorshift) string {
	i := r.below(2000)
	k := fmt.Sprintf("/k/%05d", i)
	if i%13 == 0 {
		k += "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	}
	return k
}

func foreignValue(r *xorshift) []byte {
	var n uint64
	switch r.below(10) {
	case 0:
	case 9:
		n = 3000 + r.below(6000)
	default:
		n = r.below(300)
	}
	v := make([]byte, n)
	random := r.below(3) == 0
	fill := byte('a' + r.below(26))
	for i := range v {
		if random {
			v[i] = byte(r.next())
		} else {
			v[i] = fill
		}
	}
	return v
}

// leveldbWrite runs a seeded random workload (puts, deletes, batches, syncs, range
// compactions, reopens) with a 64 KiB write buffer; the seed picks Bloom filters (odd) and no
// compression (divisible by 3). It prints what the database must hold.
func leveldbWrite(dir string, seed, ops uint64) error {
	r := xorshift(seed | 1)
	o := &opt.Options{ErrorIfExist: true, WriteBuffer: 64 << 10, Strict: opt.StrictAll}
	if seed%2 == 1 {
		o.Filter = filter.NewBloomFilter(10)
	}
	if seed%3 == 0 {
		o.Compression = opt.NoCompression
	}
	db, err := goleveldb.OpenFile(dir, o)
	if err != nil {
		return err
	}
	o.ErrorIfExist = false
	model := map[string][]byte{}
	for op := uint64(0); op < ops; op++ {
		wo := &opt.WriteOptions{Sync: r.below(50) == 0}
		switch pick := r.below(100); {
		case pick < 60:
			k, v := foreignKey(&r), foreignValue(&r)
			err = db.Put([]byte(k), v, wo)
			model[k] = v
		case pick < 80:
			k := foreignKey(&r)
			err = db.Delete([]byte(k), wo)
			delete(model, k)
		case pick < 98:
			b := new(goleveldb.Batch)
			n := 2 + r.below(20)
			for i := uint64(0); i < n; i++ {
				k := foreignKey(&r)
				if r.below(4) == 0 {
					b.Delete([]byte(k))
					delete(model, k)
				} else {
					v := foreignValue(&r)
					b.Put([]byte(k), v)
					model[k] = v
				}
			}
			err = db.Write(b, wo)
		case pick < 99:
			a, b := foreignKey(&r), foreignKey(&r)
			if b < a {
				a, b = b, a
			}
			err = db.CompactRange(util.Range{Start: []byte(a), Limit: []byte(b)})
		default:
			if err = db.Close(); err == nil {
				db, err = goleveldb.OpenFile(dir, o)
			}
		}
		if err != nil {
			return fmt.Errorf("op %d: %w", op, err)
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := bufio.NewWriter(os.Stdout)
	for _, k := range keys {
		fmt.Fprintf(w, "%s %s\n", hex.EncodeToString([]byte(k)), hex.EncodeToString(model[k]))
	}
	return w.Flush()
}
