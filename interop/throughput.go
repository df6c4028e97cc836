package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds"
	ma "github.com/multiformats/go-multiaddr"
)

// throughput is the Go half of benches/compare_sql.sh: go-libp2p's pstoreds with its default
// options (ARC cache of 1024 records, GC off for the run) over the store target names. For
// `seconds`, `threads` goroutines add one new address each to peers of their own (1,000 peers in
// all, an hour's TTL); then as many goroutines read Addrs of those peers. One JSON line:
// {"writes_per_s": ..., "stored_per_s": ..., "reads_per_s": ...} (stored: the addresses found
// afterwards, per second of the write phase; below writes_per_s when writes failed). The Rust
// half is benches/sql_throughput.rs: same peers, addresses, TTL and timing.
func throughput(target string, threads int, seconds float64) error {
	store, err := openStore(target)
	if err != nil {
		return err
	}
	defer store.Close()
	opts := pstoreds.DefaultOpts()
	opts.GCPurgeInterval = 0
	ps, err := pstoreds.NewPeerstore(context.Background(), store, opts)
	if err != nil {
		return err
	}
	defer ps.Close()
	const npeers = 1000
	peers := make([]peer.ID, npeers)
	for i := range peers {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return err
		}
		if peers[i], err = peer.IDFromPublicKey(pub); err != nil {
			return err
		}
	}
	window := time.Duration(seconds * float64(time.Second))
	run := func(op func(worker, i int) error) (float64, error) {
		var count atomic.Int64
		var first error
		var once sync.Once
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < threads; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; time.Since(start) < window; i++ {
					if err := op(w, i); err != nil {
						once.Do(func() { first = err })
						return
					}
					count.Add(1)
				}
			}(w)
		}
		wg.Wait()
		return float64(count.Load()) / time.Since(start).Seconds(), first
	}
	// Worker w owns the peers w, w+threads, ...; op i of it adds /ip4/10.<w>.<i/256>.<i%256>/tcp/4001.
	per := npeers / threads
	writes, err := run(func(w, i int) error {
		p := peers[w+threads*(i%per)]
		a := ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", w, (i/256)%256, i%256))
		ps.AddAddrs(p, []ma.Multiaddr{a}, time.Hour)
		return nil
	})
	if err != nil {
		return err
	}
	// go-libp2p's AddAddrs logs a failed write and returns nothing (and its cache keeps the
	// change): count what the store holds, through a second instance without a cache.
	check, err := plainPeerstore(store)
	if err != nil {
		return err
	}
	stored := 0
	for _, p := range peers {
		stored += len(check.Addrs(p))
	}
	reads, err := run(func(w, i int) error {
		ps.Addrs(peers[(w*7919+i*104729)%npeers])
		return nil
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"writes_per_s": writes, "reads_per_s": reads, "stored_per_s": float64(stored) / window.Seconds()})
}
