package main

import (
	"context"
	"fmt"
	"os"
	"time"

	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// mockClock is pstoreds' clock, under the harness's control. After fires at once, so the GC's
// initial delay never holds it back.
type mockClock struct{ now time.Time }

func (c *mockClock) Now() time.Time { return c.now }

func (c *mockClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.now.Add(d)
	return ch
}

// startTime is the clock's start for every script and scenario (docs/dump-and-ops.md).
var startTime = time.Unix(1750000000, 0)

// openPeerstore opens go-libp2p's pstoreds over go-ds-leveldb at dir, with the GC off.
func openPeerstore(dir string, clock *mockClock) (peerstore.Peerstore, *leveldb.Datastore, error) {
	// An existing database must open cleanly: go-ds-leveldb would silently "recover" it.
	if _, err := os.Stat(dir); err == nil {
		if err := openStrict(dir); err != nil {
			return nil, nil, err
		}
	}
	store, err := leveldb.NewDatastore(dir, nil)
	if err != nil {
		return nil, nil, err
	}
	ps, err := newPeerstore(store, clock)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return ps, store, nil
}

// newPeerstore opens go-libp2p's pstoreds on store with its defaults, the GC goroutine off and
// the cache off. go-libp2p's ARC cache can hold what the store no longer does: a record deleted
// for having no addresses keeps its CertifiedRecord in the cache, and the next AddAddrs writes
// that old signed record back. With the cache off, Go's outcome is what its store says, which
// is what this project implements (README, "Deliberate differences").
func newPeerstore(store *leveldb.Datastore, clock *mockClock) (peerstore.Peerstore, error) {
	opts := pstoreds.DefaultOpts()
	opts.GCPurgeInterval = 0
	opts.CacheSize = 0
	opts.Clock = clock
	return pstoreds.NewPeerstore(context.Background(), store, opts)
}

// openStrict opens dir with goleveldb directly, without go-ds-leveldb's silent RecoverFile,
// reads every entry with all checksums verified, and fails if goleveldb finds anything wrong.
func openStrict(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	db, err := goleveldb.OpenFile(dir, &opt.Options{ErrorIfMissing: true, ReadOnly: true, Strict: opt.StrictAll})
	if err != nil {
		return fmt.Errorf("goleveldb refuses %s: %w", dir, err)
	}
	defer db.Close()
	it := db.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictAll})
	n := 0
	for it.Next() {
		n++
	}
	it.Release()
	if err := it.Error(); err != nil {
		return fmt.Errorf("goleveldb failed reading %s after %d entries: %w", dir, n, err)
	}
	return nil
}
